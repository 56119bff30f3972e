//! The queue, end to end: the built binary queues what cannot go now and
//! delivers it later, against the sandbox's real Postfix (and its token
//! endpoint, switched off on demand) and, for faults and counting, the
//! scripted peer. Includes crash safety (`kill -9` of queue runs) and two
//! runs at once.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::fake_smtp::{Behaviour, FakeSmtp, sandbox_identity};
use common::sandbox::sandbox;
use common::{BIN, Run, Scratch, SyslogCapture, run_as, s, sendmail};

/// Where a configuration sends mail.
#[derive(Clone, Copy)]
enum Target {
    /// The sandbox's Postfix.
    Postfix,
    /// A scripted peer on this port.
    Fake(u16),
    /// A port nobody listens on: every send fails temporarily.
    Closed,
}

/// A test's scratch directory with a queue and a syslog socket in it.
struct Setup {
    scratch: Scratch,
    queue: PathBuf,
    syslog: SyslogCapture,
}

impl Setup {
    fn new(name: &str) -> Setup {
        let scratch = Scratch::new(name);
        let queue = scratch.join("queue");
        let syslog = SyslogCapture::new(&scratch);
        Setup {
            scratch,
            queue,
            syslog,
        }
    }

    /// Writes configuration `name` for `target`, with `queue_keys` (TOML
    /// lines) after the queue's `dir`.
    fn config(&self, name: &str, target: Target, queue_keys: &str) -> PathBuf {
        let mut settings = sandbox().settings(&self.scratch);
        settings.syslog_socket = Some(self.syslog.path.clone());
        match target {
            Target::Postfix => {}
            Target::Fake(port) => {
                settings.host = "localhost".into();
                settings.port = port;
                settings.timeout = 10;
            }
            Target::Closed => settings.port = closed_port(),
        }
        settings.extra = format!(
            "\n[queue]\ndir = \"{}\"\n{queue_keys}",
            self.queue.display()
        );
        let path = self.scratch.join(name);
        fs::write(&path, settings.render()).unwrap();
        path
    }

    /// File names in a queue area, sorted.
    fn area(&self, name: &str) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.queue.join(name))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The one queued message's id.
    fn only_id(&self) -> String {
        let ids = self.area("msg");
        assert_eq!(ids.len(), 1, "one queued message expected: {ids:?}");
        ids[0].clone()
    }

    /// The message bytes of a queued file (after its head).
    fn queued_message(&self, area: &str, id: &str) -> Vec<u8> {
        let bytes = fs::read(self.queue.join(area).join(id)).unwrap();
        let start = bytes.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
        bytes[start..].to_vec()
    }

    /// Sets a retry-state field of every queued message (`next 0` makes them due).
    fn edit_states(&self, key: &str, value: &str) {
        for id in self.area("state") {
            let path = self.queue.join("state").join(&id);
            let text = fs::read_to_string(&path).unwrap();
            let edited: String = text
                .lines()
                .map(|l| match l.split_once(' ') {
                    Some((k, _)) if k == key => format!("{key} {value}\n"),
                    _ => format!("{l}\n"),
                })
                .collect();
            fs::write(&path, edited).unwrap();
        }
    }
}

/// A loopback port with nothing listening on it.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Message number `n`, recognisable by its `X-Seq` field.
fn numbered(n: usize) -> Vec<u8> {
    format!("Subject: queued {n}\nX-Seq: {n}\n\nbody of message {n}\n.leading dot\n").into_bytes()
}

/// The `X-Seq` numbers in messages the scripted peer received.
fn sequence_numbers(messages: &[Vec<u8>]) -> Vec<usize> {
    messages
        .iter()
        .filter_map(|m| {
            let text = String::from_utf8_lossy(m);
            text.lines()
                .find_map(|l| l.strip_prefix("X-Seq: "))
                .and_then(|n| n.trim().parse().ok())
        })
        .collect()
}

/// CRLF line ends, as the scripted peer records a message (and as the
/// message is on the wire).
fn crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 20);
    for &b in &lf(bytes) {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// LF line ends, as Postfix's capture stores a message.
fn lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for (i, &b) in bytes.iter().enumerate() {
        if !(b == b'\r' && bytes.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}

/// Queues `count` numbered messages through `conf` (a config whose server is down).
fn queue_messages(conf: &Path, recipient: &str, count: usize) {
    queue_numbers(conf, recipient, 0..count);
}

/// Queues the messages numbered `numbers`.
fn queue_numbers(conf: &Path, recipient: &str, numbers: std::ops::Range<usize>) {
    for n in numbers {
        let run = sendmail(&["-C", s(conf), "-i", recipient], &numbered(n));
        run.expect(0);
    }
}

fn good() -> Behaviour {
    Behaviour::good(sandbox_identity(&sandbox().dir))
}

fn mailq(conf: &Path) -> Run {
    let run = sendmail(&["-C", s(conf), "-bp"], b"");
    run.expect(0);
    run
}

fn flush(conf: &Path) -> Run {
    let run = sendmail(&["-C", s(conf), "-q"], b"");
    run.expect(0);
    run
}

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
fn a_421_mid_session_stops_the_run_and_leaves_the_rest() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("throttle");
    let down = setup.config("down.conf", Target::Closed, "");
    queue_messages(&down, "t@example.com", 5);
    setup.edit_states("next", "0");
    let mut behaviour = good();
    behaviour.mail_reply_after = Some((2, "421 4.3.2 Service not available, too busy".into()));
    let busy = FakeSmtp::start(behaviour);
    let conf = setup.config("busy.conf", Target::Fake(busy.port), "");
    let out = sendmail(&["-C", s(&conf), "--queue-run"], b"");
    out.expect(0);
    assert_eq!(out.output(), "", "--queue-run is quiet");
    assert_eq!(sequence_numbers(&busy.record().messages), vec![0, 1]);
    assert_eq!(busy.record().connections, 1);
    let listing = mailq(&conf).stdout;
    assert_eq!(listing.matches("(2 attempts").count(), 1, "{listing}");
    assert_eq!(
        listing.matches("(1 attempt,").count(),
        2,
        "untouched: {listing}"
    );
    assert!(listing.contains("421 4.3.2"), "{listing}");

    let fine = FakeSmtp::start(good());
    let conf = setup.config("good.conf", Target::Fake(fine.port), "");
    flush(&conf);
    let mut seen = sequence_numbers(&fine.record().messages);
    seen.sort_unstable();
    assert_eq!(seen, vec![2, 3, 4], "the rest, once each");
}

#[test]
fn queue_run_takes_only_due_messages_and_q_takes_all() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("due");
    let down = setup.config("down.conf", Target::Closed, "");
    queue_messages(&down, "d@example.com", 3);
    let fake = FakeSmtp::start(good());
    let conf = setup.config("good.conf", Target::Fake(fake.port), "");
    sendmail(&["-C", s(&conf), "--queue-run"], b"").expect(0);
    assert_eq!(fake.record().connections, 0, "nothing was due");
    assert_eq!(setup.area("msg").len(), 3);
    let first = setup.area("state")[0].clone();
    let path = setup.queue.join("state").join(&first);
    let text = fs::read_to_string(&path).unwrap();
    let due: String = text
        .lines()
        .map(|l| {
            if l.starts_with("next ") {
                "next 0\n".into()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(&path, due).unwrap();
    sendmail(&["-C", s(&conf), "--queue-run"], b"").expect(0);
    assert_eq!(fake.record().messages.len(), 1, "only the due one");
    flush(&conf);
    assert_eq!(fake.record().messages.len(), 3);
    assert!(setup.area("msg").is_empty());
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
fn after_a_live_delivery_due_messages_follow_over_the_same_session() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("flush");
    let down = setup.config("down.conf", Target::Closed, "");
    queue_messages(&down, "f@example.com", 3);
    // A minute passes: their retry time comes.
    setup.edit_states("next", "0");
    let fake = FakeSmtp::start(good());
    let conf = setup.config("good.conf", Target::Fake(fake.port), "");
    sendmail(&["-C", s(&conf), "-i", "f@example.com"], &numbered(99)).expect(0);
    let record = fake.record();
    assert_eq!(record.connections, 1, "one session for all");
    assert_eq!(sequence_numbers(&record.messages), vec![99, 0, 1, 2]);
    assert!(setup.area("msg").is_empty());
}

#[test]
fn two_concurrent_runs_deliver_each_of_50_messages_exactly_once() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("concurrent");
    let rcpt = "queue-concurrent@example.com";
    let down = setup.config("down.conf", Target::Closed, "rate_limit = 0\n");
    queue_messages(&down, rcpt, 50);
    let conf = setup.config("postfix.conf", Target::Postfix, "rate_limit = 0\n");
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let conf = conf.clone();
            std::thread::spawn(move || sendmail(&["-C", s(&conf), "-q"], b""))
        })
        .collect();
    let outputs: Vec<Run> = runs.into_iter().map(|h| h.join().unwrap()).collect();
    for run in &outputs {
        run.expect(0);
    }
    let got = sb.wait_for_mail(rcpt, 50);
    // Late duplicates would arrive within moments.
    std::thread::sleep(Duration::from_millis(500));
    let got = if got.len() == 50 {
        sb.mail_for(rcpt)
    } else {
        got
    };
    let mut seen: Vec<usize> = got
        .iter()
        .filter_map(|m| m.field("X-Seq").and_then(|v| v.parse().ok()))
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..50).collect::<Vec<_>>(), "each exactly once");
    eprintln!(
        "two concurrent runs: {} / {}",
        outputs[0].stdout.trim(),
        outputs[1].stdout.trim()
    );
    assert!(setup.area("msg").is_empty());
}

#[test]
fn a_hundred_messages_flush_over_few_sessions_within_the_rate_limit() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("hundred");
    let down = setup.config("down.conf", Target::Closed, "");
    queue_messages(&down, "h@example.com", 100);
    let fake = FakeSmtp::start(good());
    let limited = setup.config("limited.conf", Target::Fake(fake.port), "rate_limit = 40\n");
    let out = flush(&limited).stdout;
    assert!(out.contains("40 delivered"), "{out}");
    assert!(out.contains("60 left in the queue"), "{out}");
    assert!(out.contains("limit of 40 messages a minute"), "{out}");
    assert_eq!(fake.record().messages.len(), 40);
    // The minute is not over: another run sends nothing, opens nothing.
    let out = flush(&limited).stdout;
    assert!(out.contains("0 delivered"), "{out}");
    assert_eq!(fake.record().connections, 1);
    let unlimited = setup.config(
        "unlimited.conf",
        Target::Fake(fake.port),
        "rate_limit = 0\n",
    );
    let out = flush(&unlimited).stdout;
    assert!(out.contains("60 delivered"), "{out}");
    let record = fake.record();
    let mut seen = sequence_numbers(&record.messages);
    seen.sort_unstable();
    assert_eq!(seen, (0..100).collect::<Vec<_>>());
    eprintln!(
        "100 queued messages went over {} SMTP sessions",
        record.connections
    );
    assert_eq!(record.connections, 2);
    let rsets = record.commands.iter().filter(|c| *c == "RSET").count();
    assert_eq!(rsets, 0, "no refusal, so no RSET between messages");
}

#[test]
fn kill_9_during_queue_runs_loses_nothing() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("kill");
    // Queueing also caches the token, so the runs spend their time on the queue.
    let down = setup.config("down.conf", Target::Closed, "rate_limit = 0\n");
    queue_messages(&down, "k@example.com", 20);
    let mut behaviour = good();
    // A slow 250 makes each run send only a message or two before the kill,
    // and widens the window between the server's 250 and the removal.
    behaviour.final_reply_delay = Some(Duration::from_millis(40));
    let fake = FakeSmtp::start(behaviour);
    let conf = setup.config("good.conf", Target::Fake(fake.port), "rate_limit = 0\n");
    let started = Instant::now();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        ^ u64::from(std::process::id());
    let mut random = seed | 1;
    let spawn = || {
        Command::new(BIN)
            .args(["-C", s(&conf), "-q"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // Calibration, and the first kill: right after the server has the
    // first message, before its 250 (a duplicate in the making). Later
    // kills fall anywhere from start-up to a few messages in.
    let mut child = spawn();
    let first = Instant::now();
    while fake.record().messages.is_empty() {
        assert!(
            first.elapsed() < Duration::from_secs(30),
            "no message arrived"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let to_first_message = first.elapsed();
    child.kill().unwrap();
    child.wait().unwrap();
    let window = to_first_message + Duration::from_millis(300);
    let (mut killed, mut queued) = (1, 20);
    for _ in 1..50 {
        // Every kill cuts into a queue of 20: refill it once it drains.
        if setup.area("msg").is_empty() {
            queue_numbers(&down, "k@example.com", queued..queued + 20);
            queued += 20;
        }
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        let delay = Duration::from_micros(random % window.as_micros() as u64);
        let mut child = spawn();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            killed += 1;
        }
        child.wait().unwrap();
    }
    let out = flush(&conf).stdout;
    assert!(out.contains("; 0 left in the queue"), "{out}");
    let record = fake.record();
    let mut seen = sequence_numbers(&record.messages);
    seen.sort_unstable();
    let mut distinct = seen.clone();
    distinct.dedup();
    assert_eq!(
        distinct,
        (0..queued).collect::<Vec<_>>(),
        "every message arrived"
    );
    let duplicates = seen.len() - distinct.len();
    eprintln!(
        "kill -9: {killed} of 50 runs killed (seed {seed}, first message after {:?}), \
         {} deliveries of {queued} messages ({duplicates} duplicates), {} temporary files \
         left, {:.1} s",
        to_first_message,
        seen.len(),
        setup.area("tmp").len(),
        started.elapsed().as_secs_f64()
    );
    assert!(setup.area("msg").is_empty(), "none left behind");
    assert!(setup.area("failed").is_empty() && setup.area("corrupt").is_empty());
    assert!(killed > 0, "the test killed no run");
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
