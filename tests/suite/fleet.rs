//! Issue 16 through the real binary: delivery modes (`-odb`, `-odq`,
//! `delivery`), the detached process killed with SIGKILL, and the pacing
//! of `[limits]` (connections under 12 simultaneous sends, rate, the
//! daily recipient budget).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::fake_smtp::FakeSmtp;
use crate::common::queue::{Setup, Target, detached, eventually, flush, good};
use crate::common::sandbox::sandbox;
use crate::common::{s, sendmail};

/// The slot file name of the binary (`limits/slots.rs`): FNV-1a of the
/// mailbox in lower case.
pub fn slot_file(cache: &Path, mailbox: &str, i: u32) -> PathBuf {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in mailbox.to_ascii_lowercase().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    cache.join(format!("slot.{hash:016x}.{i}"))
}

/// Holds connection slot `i` of the sandbox's mailbox, as a sender in
/// the middle of a session would.
fn hold_slot(setup: &Setup, i: u32) -> File {
    let cache = setup.scratch.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let file = File::create(slot_file(&cache, &sandbox().str("user"), i)).unwrap();
    file.try_lock().unwrap();
    file
}

/// Puts top-level keys in front of a configuration file.
pub fn with_top_level(conf: &Path, keys: &str) {
    let text = std::fs::read_to_string(conf).unwrap();
    crate::common::write_private(conf, &format!("{keys}\n{text}"));
}

fn message(to: &str, subject: &str) -> Vec<u8> {
    format!("To: {to}\nSubject: {subject}\n\nbody of {subject}\n").into_bytes()
}

#[test]
fn background_delivery_returns_before_it_delivers_exactly_once() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("odb");
    let conf = setup.config("c.conf", Target::Postfix, "[limits]\nconnections = 1\n");
    let to = "odb@example.com";
    // The only connection slot is taken: delivery cannot start before the
    // caller has its exit code.
    let slot = hold_slot(&setup, 0);
    sendmail(&["-C", s(&conf), "-odb", "-t"], &message(to, "background")).expect(0);
    let id = setup.only_id();
    assert!(sb.mail_for(to).is_empty());
    let log = setup.syslog.lines().join("\n");
    assert!(
        log.contains("outcome=queued") && log.contains("background"),
        "{log}"
    );
    drop(slot);
    let got = sb.wait_for_mail(to, 1);
    assert!(got[0].text().contains("body of background"));
    eventually("the queue is empty", || setup.area("msg").is_empty());
    eventually("the detached process ended", || detached(&id).is_empty());
    // Delivered once: a queue run finds nothing to send again.
    let out = flush(&conf).stdout;
    assert!(out.contains("0 delivered"), "{out}");
    assert_eq!(sb.mail_for(to).len(), 1);
}

#[test]
fn delivery_key_background_works_like_odb() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("delivery-key");
    let conf = setup.config("c.conf", Target::Postfix, "");
    with_top_level(&conf, "delivery = \"background\"");
    let to = "delivery-key@example.com";
    sendmail(&["-C", s(&conf), "-t"], &message(to, "by key")).expect(0);
    sb.wait_for_mail(to, 1);
    eventually("the queue is empty", || setup.area("msg").is_empty());
    // -odi wins over the key: handed to the server before the exit.
    sendmail(&["-C", s(&conf), "-odi", "-t"], &message(to, "now")).expect(0);
    assert!(setup.area("msg").is_empty());
    assert_eq!(sb.wait_for_mail(to, 2).len(), 2);
}

#[test]
fn killing_the_detached_process_loses_nothing() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("odb-kill");
    let conf = setup.config("c.conf", Target::Postfix, "[limits]\nconnections = 1\n");
    let to = "odb-kill@example.com";
    let slot = hold_slot(&setup, 0);
    sendmail(&["-C", s(&conf), "-odb", "-t"], &message(to, "killed")).expect(0);
    let id = setup.only_id();
    eventually("the detached process runs", || !detached(&id).is_empty());
    for pid in detached(&id) {
        let status = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
    eventually("the detached process is gone", || detached(&id).is_empty());
    drop(slot);
    assert_eq!(setup.only_id(), id, "still queued");
    assert!(sb.mail_for(to).is_empty());
    let out = flush(&conf).stdout;
    assert!(out.contains("1 delivered"), "{out}");
    assert_eq!(sb.wait_for_mail(to, 1).len(), 1);
}

#[test]
fn queue_mode_only_spools_and_a_run_delivers() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("odq");
    let fake = FakeSmtp::start(good());
    let conf = setup.config("c.conf", Target::Fake(fake.port), "");
    sendmail(
        &["-C", s(&conf), "-odq", "-t"],
        &message("q@example.com", "q"),
    )
    .expect(0);
    setup.only_id();
    assert_eq!(fake.record().connections, 0, "no session for -odq");
    let out = flush(&conf).stdout;
    assert!(out.contains("1 delivered"), "{out}");
    assert_eq!(fake.record().messages.len(), 1);
    assert!(setup.area("msg").is_empty());
}

#[test]
fn without_a_queue_background_says_so_and_delivers_now() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = crate::common::Scratch::new("odb-noqueue");
    let conf = sb.settings(&scratch).write(&scratch);
    let to = "odb-noqueue@example.com";
    let run = sendmail(&["-C", s(&conf), "-odb", "-t"], &message(to, "fg"));
    run.expect(0);
    assert!(
        run.stderr.contains("needs [queue] dir") && run.stderr.contains("foreground"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert_eq!(sb.wait_for_mail(to, 1).len(), 1);
}

#[test]
fn twelve_simultaneous_sends_use_at_most_three_connections() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("conn-limit");
    let mut behaviour = good();
    // Sessions that last a while overlap.
    behaviour.final_reply_delay = Some(Duration::from_millis(300));
    let fake = FakeSmtp::start(behaviour);
    let conf = setup.config(
        "c.conf",
        Target::Fake(fake.port),
        "rate_limit = 0\n[limits]\nconnections = 3\n",
    );
    let senders: Vec<_> = (0..12)
        .map(|i| {
            let conf = conf.clone();
            std::thread::spawn(move || {
                sendmail(
                    &["-C", s(&conf), "-t"],
                    &message("c@example.com", &format!("n{i}")),
                )
            })
        })
        .collect();
    for sender in senders {
        sender.join().unwrap().expect(0);
    }
    let record = fake.record();
    // Counted by transaction, not by connection: the client frees its slot
    // after QUIT, which the peer's thread may read after it has accepted
    // the next client's connection.
    assert!(
        record.max_in_transaction <= 3,
        "{} transactions at once",
        record.max_in_transaction
    );
    // A send that found no slot in time waits in the queue (exit 0).
    let queued = setup.area("msg").len();
    assert_eq!(record.messages.len() + queued, 12);
    flush(&conf);
    assert_eq!(fake.record().messages.len(), 12);
    eprintln!(
        "12 simultaneous sends: at most {} transactions at once, {queued} waited in the queue",
        record.max_in_transaction
    );
}

#[test]
fn the_rate_counts_live_sends_and_holds_the_rest_in_the_queue() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("rate");
    let fake = FakeSmtp::start(good());
    let conf = setup.config("c.conf", Target::Fake(fake.port), "[limits]\nrate = 2\n");
    for i in 0..3 {
        sendmail(
            &["-C", s(&conf), "-t"],
            &message("r@example.com", &format!("r{i}")),
        )
        .expect(0);
    }
    assert_eq!(fake.record().messages.len(), 2);
    setup.only_id();
    let log = setup.syslog.lines().join("\n");
    assert!(log.contains("limit of 2 messages a minute"), "{log}");
    // The queue run shares the minute's budget: nothing more goes now.
    let out = flush(&conf).stdout;
    assert!(
        out.contains("0 delivered") && out.contains("limits.rate"),
        "{out}"
    );
}

#[test]
fn the_old_name_rate_limit_still_paces_live_sends() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("rate-old");
    let fake = FakeSmtp::start(good());
    let conf = setup.config("c.conf", Target::Fake(fake.port), "rate_limit = 1\n");
    for i in 0..2 {
        sendmail(
            &["-C", s(&conf), "-t"],
            &message("r@example.com", &format!("o{i}")),
        )
        .expect(0);
    }
    assert_eq!(fake.record().messages.len(), 1);
    setup.only_id();
}

#[test]
fn without_a_queue_a_send_over_the_rate_exits_75() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = crate::common::Scratch::new("rate-noqueue");
    let fake = FakeSmtp::start(good());
    let mut settings = sb.peer_settings(&scratch, fake.port);
    settings.extra = "\n[limits]\nrate = 1\n".into();
    let conf = settings.write(&scratch);
    sendmail(&["-C", s(&conf), "-t"], &message("n@example.com", "one")).expect(0);
    let run = sendmail(&["-C", s(&conf), "-t"], &message("n@example.com", "two"));
    run.expect(75);
    assert!(run.stderr.contains("limits.rate"), "{}", run.stderr);
    assert_eq!(fake.record().messages.len(), 1);
}

#[test]
fn the_daily_budget_warns_from_80_percent_and_queues_beyond() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("daily");
    let fake = FakeSmtp::start(good());
    let conf = setup.config(
        "c.conf",
        Target::Fake(fake.port),
        "[limits]\nrecipients_per_day = 5\n",
    );
    let send = |to: &[&str]| {
        sendmail(
            &[&["-C", s(&conf), "-i", "--"], to].concat(),
            b"Subject: d\n\nd\n",
        )
    };
    send(&["a@example.com", "b@example.com", "c@example.com"]).expect(0);
    assert!(
        !setup
            .syslog
            .lines()
            .join("\n")
            .contains("recipients_per_day")
    );
    send(&["d@example.com"]).expect(0);
    let log = setup.syslog.lines().join("\n");
    assert!(log.contains("4 of the 5 recipients a day"), "{log}");
    send(&["e@example.com", "f@example.com"]).expect(0);
    assert_eq!(fake.record().messages.len(), 2);
    setup.only_id();
    let log = setup.syslog.lines().join("\n");
    assert!(
        log.contains("outcome=queued") && log.contains("recipients_per_day"),
        "{log}"
    );
    // A queue run keeps to the budget too.
    let out = flush(&conf).stdout;
    assert!(
        out.contains("0 delivered") && out.contains("recipients_per_day"),
        "{out}"
    );
}

#[test]
fn an_smtp_dialogue_is_paced_too() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("bs-rate");
    let fake = FakeSmtp::start(good());
    let conf = setup.config("c.conf", Target::Fake(fake.port), "[limits]\nrate = 1\n");
    let from = sb.str("user");
    let one = |n: u32| {
        format!(
            "MAIL FROM:<{from}>\r\nRCPT TO:<bs@example.com>\r\nDATA\r\nSubject: {n}\r\n\r\nx\r\n.\r\n"
        )
    };
    let dialogue = format!("EHLO client.example\r\n{}{}QUIT\r\n", one(1), one(2));
    let run = sendmail(&["-C", s(&conf), "-bs"], dialogue.as_bytes());
    run.expect(0);
    // EHLO, then MAIL, RCPT and the end of data of each: all 250, the
    // second message's because it is safely queued.
    let ok = run.stdout.lines().filter(|l| l.starts_with("250 ")).count();
    assert_eq!(ok, 7, "{}", run.stdout);
    assert_eq!(fake.record().messages.len(), 1, "{}", run.stdout);
    setup.only_id();
    let log = setup.syslog.lines().join("\n");
    assert!(log.contains("limits.rate"), "{log}");
}

#[test]
fn deliver_queued_takes_only_a_queue_id() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("deliver-queued");
    let conf = setup.config("c.conf", Target::Closed, "");
    for bad in ["../../../etc/passwd", "", "msg/X"] {
        let run = sendmail(&["-C", s(&conf), "--deliver-queued", bad], b"");
        run.expect(64);
        assert!(run.stderr.contains("one queue id"), "{}", run.stderr);
    }
    // A queue id that is not (or no longer) queued: nothing to do.
    sendmail(
        &["-C", s(&conf), "--deliver-queued", "0123456789ABC0123456"],
        b"",
    )
    .expect(0);
}
