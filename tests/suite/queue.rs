//! The queue on the send path, end to end: the built binary queues what
//! cannot go now (token endpoint down, SMTP 421, 451, a connection dropped
//! in DATA, a recipient refused for now), keeps what is refused for good in
//! `failed/`, moves damaged files aside, gives up after `max_age`, and says
//! so when the queue is missing or broken; later runs deliver byte for
//! byte. Against the sandbox's real Postfix and token endpoint, and the
//! scripted peer for faults.

use crate::common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::fake_smtp::{Behaviour, FakeSmtp};
use common::queue::*;
use common::sandbox::sandbox;
use common::{BIN, Scratch, run_as, s, sendmail};

#[test]
fn token_endpoint_down_queues_and_q_delivers_it_byte_exact() {
    let sb = sandbox();
    let sb = sb.exclusive();
    let setup = Setup::new("token-down");
    let conf = setup.config("postfix.conf", Target::Postfix, "");
    let rcpt = "queue-token-down@example.com";
    sb.control("mode", r#"{"mode": "status", "status": 503}"#);

    let message = b"Subject: kept for later\nTo: queue-token-down@example.com\n\nfirst line\n.dot line\nlast\n";
    let run = sendmail(&["-C", s(&conf), "-i", rcpt], message);
    run.expect(0);
    assert_eq!(run.output(), "", "a queued message prints nothing");
    let log = setup.syslog.lines().join("\n");
    assert!(log.contains("outcome=queued"), "{log}");
    assert!(log.contains("exit=EX_OK"), "{log}");
    assert!(
        log.contains("503") || log.contains("AADSTS90006"),
        "the reason: {log}"
    );

    let id = setup.only_id();
    let listing = mailq(&conf).stdout;
    assert!(listing.contains(&id), "{listing}");
    assert!(listing.contains(rcpt), "{listing}");
    assert!(listing.contains("(1 attempt, next try in "), "{listing}");
    let queued = lf(&setup.queued_message("msg", &id));
    assert!(queued.starts_with(b"Subject: kept for later\n"));
    assert!(queued.ends_with(b"\n\nfirst line\n.dot line\nlast\n"));

    // Still down: -q tries, fails, keeps it, counts the attempt.
    let out = flush(&conf).stdout;
    assert!(out.contains("0 delivered, 1 deferred"), "{out}");
    assert!(mailq(&conf).stdout.contains("(2 attempts, next try in "));

    sb.control("mode", r#"{"mode": "normal"}"#);
    let out = flush(&conf).stdout;
    assert!(
        out.contains("1 delivered, 0 deferred, 0 failed; 0 left"),
        "{out}"
    );
    let got = sb.wait_for_mail(rcpt, 1);
    assert_eq!(got.len(), 1);
    // Postfix prepends its Received field and changes nothing else.
    let delivered = &got[0].message;
    assert!(delivered.starts_with(b"Received: "));
    assert!(
        delivered.ends_with(&queued),
        "delivered bytes differ from the queued ones:\n{}",
        got[0].text()
    );
    let extra = &delivered[..delivered.len() - queued.len()];
    let extra = String::from_utf8_lossy(extra);
    assert!(
        extra.lines().skip(1).all(|l| l.starts_with(['\t', ' '])),
        "only the Received field was added: {extra}"
    );
    assert_eq!(mailq(&conf).stdout, "Mail queue is empty\n");
    assert!(setup.area("msg").is_empty() && setup.area("state").is_empty());
    assert!(setup.area("tmp").is_empty(), "{:?}", setup.area("tmp"));
}

#[test]
fn smtp_421_451_and_a_drop_in_data_are_queued_then_delivered_once() {
    let sb = sandbox();
    let _shared = sb.shared();
    let large: Vec<u8> = {
        let mut m = b"Subject: large\n\n".to_vec();
        for n in 0..40_000 {
            m.extend_from_slice(format!("line {n:06} of a message cut in the middle\n").as_bytes());
        }
        m
    };
    /// Name, the fault, the message.
    type Case = (&'static str, Box<dyn Fn(&mut Behaviour)>, Vec<u8>);
    let cases: Vec<Case> = vec![
        (
            "421",
            Box::new(|b| b.greeting = "421 4.3.2 Service not active".into()),
            b"Subject: a\n\nafter a 421\n".to_vec(),
        ),
        (
            "451",
            Box::new(|b| b.final_reply = "451 4.3.0 Error: queue file write error".into()),
            b"Subject: b\n\nafter a 451\n".to_vec(),
        ),
        (
            "drop",
            Box::new(|b| b.drop_in_data_after = Some(100_000)),
            large,
        ),
    ];
    for (name, fault, message) in cases {
        let setup = Setup::new(&format!("fault-{name}"));
        let mut behaviour = good();
        fault(&mut behaviour);
        let bad = FakeSmtp::start(behaviour);
        let conf = setup.config("bad.conf", Target::Fake(bad.port), "");
        let run = sendmail(&["-C", s(&conf), "-i", "a@example.com"], &message);
        run.expect(0);
        let log = setup.syslog.lines().join("\n");
        assert!(log.contains("outcome=queued"), "{name}: {log}");
        let id = setup.only_id();
        let queued = setup.queued_message("msg", &id);
        assert!(
            lf(&queued).ends_with(&message[message.iter().position(|&b| b == b'\n').unwrap()..]),
            "{name}: the queue holds the whole message"
        );

        let fine = FakeSmtp::start(good());
        let conf = setup.config("good.conf", Target::Fake(fine.port), "");
        flush(&conf);
        flush(&conf);
        let record = fine.record();
        assert_eq!(record.messages.len(), 1, "{name}: delivered exactly once");
        assert_eq!(record.messages[0], crlf(&queued), "{name}: byte for byte");
        assert!(setup.area("msg").is_empty(), "{name}");
    }
}

#[test]
fn a_permanent_refusal_is_kept_in_failed_and_never_retried() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("permanent");
    let mut behaviour = good();
    behaviour.final_reply = "554 5.6.0 Message rejected by content policy".into();
    let fake = FakeSmtp::start(behaviour);
    let conf = setup.config("fake.conf", Target::Fake(fake.port), "");

    // Live: the exit code says so, the message is kept for the administrator.
    let run = sendmail(
        &["-C", s(&conf), "a@example.com"],
        b"Subject: no\n\nrefused\n",
    );
    run.expect(69);
    assert!(run.stderr.contains("554 5.6.0"), "{}", run.stderr);
    assert!(setup.area("msg").is_empty());
    let failed = setup.area("failed");
    assert_eq!(failed.len(), 2, "{failed:?}");
    let id = failed[0].clone();
    assert_eq!(failed[1], format!("{id}.reason"));
    let reason = fs::read_to_string(setup.queue.join("failed").join(&failed[1])).unwrap();
    assert!(reason.contains("554 5.6.0 Message rejected"), "{reason}");
    for name in &failed {
        let mode = fs::metadata(setup.queue.join("failed").join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o007, 0, "{name}: nothing for others ({mode:o})");
        assert_eq!(mode & 0o111, 0, "{name}: not executable ({mode:o})");
    }
    let dir_mode = fs::metadata(setup.queue.join("failed"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        dir_mode & 0o007,
        0,
        "failed/ is closed to others ({dir_mode:o})"
    );
    assert!(lf(&setup.queued_message("failed", &id)).ends_with(b"\n\nrefused\n"));
    let log = setup.syslog.lines().join("\n");
    assert!(log.contains(&format!("queue-id={id}")), "{log}");
    assert!(log.contains("outcome=failed"), "{log}");

    // Queued first (server down), then refused by a queue run: failed/, once.
    let down = setup.config("down.conf", Target::Closed, "");
    queue_messages(&down, "b@example.com", 1);
    let out = flush(&conf).stdout;
    assert!(out.contains("0 delivered, 0 deferred, 1 failed"), "{out}");
    let log = setup.syslog.lines().join("\n");
    assert!(
        log.lines()
            .any(|l| l.starts_with("<19>") && l.contains("outcome=failed")),
        "given up at error level (mail.err): {log}"
    );
    flush(&conf);
    assert_eq!(fake.record().messages.len(), 2, "no retry after a 5xx");
    assert_eq!(setup.area("failed").len(), 4);
    assert_eq!(
        mailq(&conf).stdout.lines().next(),
        Some("Mail queue is empty")
    );
}

#[test]
fn a_message_older_than_max_age_moves_to_failed() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("max-age");
    let down = setup.config("down.conf", Target::Closed, "max_age = 3600\n");
    queue_messages(&down, "old@example.com", 2);
    // Make the first one eleven days old (same width: the size check holds).
    let ids = setup.area("msg");
    let path = setup.queue.join("msg").join(&ids[0]);
    let text = fs::read(&path).unwrap();
    let head_end = text.windows(2).position(|w| w == b"\n\n").unwrap();
    let head = String::from_utf8(text[..head_end].to_vec()).unwrap();
    let arrival: u64 = head
        .lines()
        .find_map(|l| l.strip_prefix("arrival "))
        .unwrap()
        .parse()
        .unwrap();
    let older = head.replace(
        &format!("arrival {arrival}"),
        &format!("arrival {}", arrival - 11 * 86_400),
    );
    let mut edited = older.into_bytes();
    edited.extend_from_slice(&text[head_end..]);
    fs::write(&path, edited).unwrap();
    setup.syslog.lines();

    let out = flush(&down).stdout;
    assert!(out.contains("0 delivered, 1 deferred, 1 failed"), "{out}");
    assert_eq!(setup.area("msg"), vec![ids[1].clone()]);
    assert!(setup.area("failed").contains(&ids[0]));
    let reason = fs::read_to_string(
        setup
            .queue
            .join("failed")
            .join(format!("{}.reason", ids[0])),
    )
    .unwrap();
    assert!(
        reason.contains("gave up after 2 attempts in 11d"),
        "{reason}"
    );
    let log = setup.syslog.lines().join("\n");
    let line = log
        .lines()
        .find(|l| l.contains(&ids[0]))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(line.starts_with("<19>"), "error level: {line}");
    assert!(
        line.contains("cause=expired") && line.contains("outcome=failed"),
        "{line}"
    );
}

#[test]
fn corrupt_truncated_and_foreign_files_are_moved_aside() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("corrupt");
    let down = setup.config("down.conf", Target::Closed, "");
    queue_messages(&down, "c@example.com", 2);
    let ids = setup.area("msg");
    let msg = setup.queue.join("msg");
    // Cut the second message short, as a torn write would.
    let whole = fs::read(msg.join(&ids[1])).unwrap();
    fs::write(msg.join(&ids[1]), &whole[..whole.len() - 5]).unwrap();
    fs::write(
        msg.join("0000000000000000ABCD"),
        b"\x00\x01 not a queue file",
    )
    .unwrap();
    fs::write(msg.join("0000000000000000ABCE"), b"").unwrap();
    fs::write(msg.join("README"), b"someone's notes").unwrap();
    let listing = mailq(&down).stdout;
    assert!(listing.contains(&ids[0]), "{listing}");
    assert!(
        listing.contains("0000000000000000ABCD is not a valid queue file"),
        "{listing}"
    );

    let fake = FakeSmtp::start(good());
    let conf = setup.config("good.conf", Target::Fake(fake.port), "");
    let out = flush(&conf).stdout;
    assert!(out.contains("1 delivered"), "{out}");
    assert!(out.contains("4 moved to corrupt/"), "{out}");
    assert_eq!(sequence_numbers(&fake.record().messages), vec![0]);
    assert!(setup.area("msg").is_empty());
    let corrupt = setup.area("corrupt");
    for name in [
        ids[1].as_str(),
        "0000000000000000ABCD",
        "0000000000000000ABCE",
        "README",
    ] {
        assert!(corrupt.iter().any(|c| c == name), "{name} in {corrupt:?}");
    }
    let log = setup.syslog.lines().join("\n");
    assert!(log.contains("is not a valid queue file"), "{log}");
    assert!(mailq(&conf).stdout.contains("4 files in"));
}

#[test]
fn a_temporarily_refused_recipient_is_queued_alone() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("partial");
    let mut behaviour = good();
    behaviour
        .rcpt_replies
        .insert("later@example.com".into(), "451 4.2.1 Mailbox busy".into());
    let fake = FakeSmtp::start(behaviour);
    let conf = setup.config("fake.conf", Target::Fake(fake.port), "");
    let run = sendmail(
        &["-C", s(&conf), "now@example.com", "later@example.com"],
        b"Subject: two\n\nfor both\n",
    );
    run.expect(0);
    assert_eq!(fake.record().messages.len(), 1);
    let listing = mailq(&conf).stdout;
    let waiting: Vec<&str> = listing
        .lines()
        .filter(|l| l.starts_with(' '))
        .map(str::trim)
        .collect();
    assert_eq!(waiting, vec!["later@example.com"], "{listing}");

    let fine = FakeSmtp::start(good());
    let conf = setup.config("good.conf", Target::Fake(fine.port), "");
    flush(&conf);
    let record = fine.record();
    assert_eq!(record.messages.len(), 1);
    let rcpts: Vec<&String> = record
        .commands
        .iter()
        .filter(|c| c.starts_with("RCPT"))
        .collect();
    assert_eq!(rcpts.len(), 1, "{rcpts:?}");
    assert!(rcpts[0].contains("later@example.com"));
}

#[test]
fn an_unusable_queue_exits_75_and_never_pretends() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("unusable");
    fs::write(setup.scratch.join("file"), b"in the way").unwrap();
    let blocked = setup.scratch.join("file").join("queue");
    let write = |name: &str, target| {
        let conf = setup.config(name, target, "");
        let text = fs::read_to_string(&conf).unwrap();
        fs::write(
            &conf,
            text.replace(
                &setup.queue.display().to_string(),
                &blocked.display().to_string(),
            ),
        )
        .unwrap();
        conf
    };
    let down = write("down.conf", Target::Closed);
    let run = sendmail(&["-C", s(&down), "u@example.com"], b"Subject: u\n\nx\n");
    run.expect(75);
    assert!(run.stderr.contains("could not be queued"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&blocked.display().to_string()),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    let log = setup.syslog.lines().join("\n");
    assert!(log.contains("cause=queue-write-failed"), "{log}");

    // A broken queue does not stop mail that can go now.
    let fake = FakeSmtp::start(good());
    let conf = write("good.conf", Target::Fake(fake.port));
    sendmail(&["-C", s(&conf), "u@example.com"], b"Subject: u\n\nx\n").expect(0);
    assert_eq!(fake.record().messages.len(), 1);
    let q = sendmail(&["-C", s(&conf), "-q"], b"");
    q.expect(73);
    assert!(q.stderr.contains("cannot use the queue"), "{}", q.stderr);
}

#[test]
fn without_a_queue_the_queue_modes_say_so() {
    let scratch = Scratch::new("no-queue");
    let mut settings = sandbox().settings(&scratch);
    settings.port = closed_port();
    let conf = settings.write(&scratch);
    for args in [&["-bp"][..], &["-q"], &["--queue-run"]] {
        let mut all = vec!["-C", s(&conf)];
        all.extend_from_slice(args);
        let run = sendmail(&all, b"");
        run.expect(0);
        assert!(
            run.stdout.contains("no queue is configured"),
            "{args:?}: {}",
            run.stdout
        );
    }
    let mailq = scratch.join("mailq");
    std::os::unix::fs::symlink(BIN, &mailq).unwrap();
    let run = run_as(s(&mailq), &["-C", s(&conf)], b"", &[]);
    run.expect(0);
    assert!(
        run.stdout.contains("no queue is configured"),
        "{}",
        run.stdout
    );
    // And a temporary failure exits 75, as before.
    let _shared = sandbox().shared();
    sendmail(&["-C", s(&conf), "a@example.com"], b"Subject: x\n\ny\n").expect(75);
}
