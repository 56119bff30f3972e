//! Item 4 and the size limit: `max_message_size`, the server's SIZE, a
//! 552 in the middle of DATA, SIZE= declared when the size is known.

use super::{good, settings_for};
use crate::common::fake_smtp::FakeSmtp;
use crate::common::queue::{Setup, Target};
use crate::common::sandbox::sandbox;
use crate::common::{Scratch, s, sendmail};

// ---- 4. SIZE, and the size limit ------------------------------------------

/// A configuration for `target` with a queue and `top` (top-level keys).
fn queued_config(setup: &Setup, name: &str, target: Target, top: &str) -> std::path::PathBuf {
    let path = setup.config(name, target, "");
    let text = std::fs::read_to_string(&path).unwrap();
    crate::common::write_private(&path, &format!("{top}{text}"));
    path
}

/// A message of about `octets` octets, in lines of 76.
fn big_message(subject: &str, octets: usize) -> Vec<u8> {
    let mut m = format!("Subject: {subject}\n\n").into_bytes();
    let line = [b'y'; 75];
    while m.len() < octets {
        m.extend_from_slice(&line);
        m.push(b'\n');
    }
    m
}

/// Nothing of the message anywhere in the queue.
#[track_caller]
fn nothing_kept(setup: &Setup) {
    for area in ["msg", "state", "failed", "tmp"] {
        assert!(
            setup.area(area).is_empty(),
            "{area}: {:?}",
            setup.area(area)
        );
    }
}

#[test]
fn a_message_over_max_message_size_is_refused_and_never_queued() {
    let sb = sandbox();
    let _shared = sb.shared();
    let fake = FakeSmtp::start(good());
    let setup = Setup::new("max-size");
    let conf = queued_config(
        &setup,
        "up.conf",
        Target::Fake(fake.port),
        "max_message_size = 100000\n",
    );
    let run = sendmail(
        &["-C", s(&conf), "big@example.com"],
        &big_message("big", 400_000),
    );
    run.expect(65);
    assert!(run.stderr.contains("max_message_size"), "{}", run.stderr);
    assert!(
        run.stderr.contains("larger than 100000 octets"),
        "{}",
        run.stderr
    );
    assert!(fake.record().messages.is_empty());
    nothing_kept(&setup);
    // With the server down the message would be queued: the limit holds there too.
    let down = queued_config(
        &setup,
        "down.conf",
        Target::Closed,
        "max_message_size = 100000\n",
    );
    let run = sendmail(
        &["-C", s(&down), "big@example.com"],
        &big_message("big", 400_000),
    );
    run.expect(65);
    nothing_kept(&setup);
    // A message under the limit still goes.
    let run = sendmail(
        &["-C", s(&conf), "small@example.com"],
        &big_message("small", 90_000),
    );
    run.expect(0);
    assert_eq!(fake.record().messages.len(), 1);
}

#[test]
fn a_message_over_the_servers_size_is_refused_early() {
    let sb = sandbox();
    let _shared = sb.shared();
    let mut b = good();
    b.size_limit = 100_000;
    let fake = FakeSmtp::start(b);
    let setup = Setup::new("server-size");
    let conf = queued_config(&setup, "up.conf", Target::Fake(fake.port), "");
    let run = sendmail(
        &["-C", s(&conf), "big@example.com"],
        &big_message("big", 400_000),
    );
    run.expect(65);
    assert!(run.stderr.contains("SIZE"), "{}", run.stderr);
    let r = fake.record();
    assert!(r.messages.is_empty(), "DATA was never ended");
    nothing_kept(&setup);
}

/// RFC 1870 counts a message with CRLF line ends, as it leaves: one just
/// under the server's SIZE as read (LF ends) but over it on the wire is
/// refused before it is uploaded, not with a 552 after.
#[test]
fn the_servers_size_counts_line_ends_as_crlf() {
    let sb = sandbox();
    let _shared = sb.shared();
    let mut b = good();
    b.size_limit = 100_000;
    let fake = FakeSmtp::start(b);
    let setup = Setup::new("server-size-crlf");
    let conf = queued_config(&setup, "up.conf", Target::Fake(fake.port), "");
    let message = big_message("crlf", 99_000);
    assert!(message.len() < 100_000 && message.len() + message.len() / 76 > 100_000);
    let run = sendmail(&["-C", s(&conf), "crlf@example.com"], &message);
    run.expect(65);
    assert!(run.stderr.contains("SIZE"), "{}", run.stderr);
    assert!(fake.record().messages.is_empty(), "DATA was never ended");
    nothing_kept(&setup);
}

#[test]
fn a_552_in_the_middle_of_data_is_read_and_is_permanent() {
    let sb = sandbox();
    let _shared = sb.shared();
    let mut b = good();
    b.refuse_in_data_after = Some((
        50_000,
        "552 5.3.4 Message size exceeds fixed maximum message size".into(),
    ));
    let fake = FakeSmtp::start(b);
    let setup = Setup::new("size-552");
    let conf = queued_config(&setup, "up.conf", Target::Fake(fake.port), "");
    let run = sendmail(
        &["-C", s(&conf), "big@example.com"],
        &big_message("big", 3_000_000),
    );
    run.expect(65);
    assert!(run.stderr.contains("552 5.3.4"), "{}", run.stderr);
    // Never queued to be uploaded again for days.
    assert!(setup.area("msg").is_empty(), "{:?}", setup.area("msg"));
}

#[test]
fn size_is_declared_when_it_is_known() {
    let sb = sandbox();
    let _shared = sb.shared();
    // A queued message's size is known: the queue run declares it.
    let setup = Setup::new("declare-size");
    let down = setup.config("down.conf", Target::Closed, "");
    let message = big_message("sized", 5_000);
    sendmail(&["-C", s(&down), "sized@example.com"], &message).expect(0);
    let fake = FakeSmtp::start(good());
    let up = setup.config("up.conf", Target::Fake(fake.port), "");
    sendmail(&["-C", s(&up), "-q"], b"").expect(0);
    let r = fake.record();
    let mail: Vec<&String> = r
        .commands
        .iter()
        .filter(|c| c.starts_with("MAIL FROM:"))
        .collect();
    assert_eq!(mail.len(), 1, "{:?}", r.commands);
    let declared: u64 = mail[0]
        .split_whitespace()
        .find_map(|p| p.strip_prefix("SIZE="))
        .unwrap_or_else(|| panic!("no SIZE= in {}", mail[0]))
        .parse()
        .unwrap();
    assert!(
        declared >= message.len() as u64,
        "{declared} for {}",
        message.len()
    );
    // The -bs client's SIZE= is passed on.
    let fake = FakeSmtp::start(good());
    let scratch = Scratch::new("bs-size");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    let input = "EHLO c\r\nMAIL FROM:<a@example.com> SIZE=4321 BODY=8BITMIME\r\nRCPT TO:<b@example.com>\r\nDATA\r\nSubject: s\r\n\r\nbody\r\n.\r\nQUIT\r\n";
    let run = sendmail(&["-C", s(&conf), "-bs"], input.as_bytes());
    run.expect(0);
    assert!(run.stdout.contains("250-SIZE 36700160"), "{}", run.stdout);
    let r = fake.record();
    let mail = r
        .commands
        .iter()
        .find(|c| c.starts_with("MAIL FROM:"))
        .unwrap();
    assert!(mail.contains("SIZE=4321"), "{mail}");
}
