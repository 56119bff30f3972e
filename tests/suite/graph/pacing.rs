//! Graph sends under the fleet limits: paced by the rate, counted in the
//! metrics, and held to their own connection slots.

use super::*;

/// The mailbox's file name key (`limits::files::mailbox_key`: FNV-1a of
/// the mailbox in lower case).
fn mailbox_key(mailbox: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in mailbox.to_ascii_lowercase().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[test]
fn graph_sends_are_paced_by_the_rate_and_counted_in_the_metrics() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("graph-paced");
    let syslog = SyslogCapture::new(&scratch);
    let queue = scratch.join("queue");
    let metrics = scratch.join("o2s.prom");
    let conf = graph_conf(
        sb,
        &scratch,
        &syslog,
        &format!("metrics_file = \"{}\"\n", metrics.display()),
        &format!(
            "\n[queue]\ndir = \"{}\"\n\n[limits]\nrate = 1\n",
            queue.display()
        ),
    );
    for n in 1..=2 {
        let rcpt = format!("paced-{n}@example.com");
        let message = format!("To: {rcpt}\nSubject: p{n}\n\nx\n");
        sendmail(&["-C", &conf, &rcpt], message.as_bytes()).expect(0);
    }
    assert_eq!(sb.graph_mail_for("paced-1@example.com").len(), 1);
    assert!(
        sb.graph_mail_for("paced-2@example.com").is_empty(),
        "the second message of the minute waits in the queue"
    );
    let log = syslog.lines().join("\n");
    assert!(log.contains("limit of 1 messages a minute"), "{log}");
    // A queue run shares the minute's budget with the live sends.
    let run = sendmail(&["-C", &conf, "-q"], b"");
    run.expect(0);
    assert!(
        run.stdout.contains("0 delivered") && run.stdout.contains("limits.rate"),
        "{}",
        run.stdout
    );
    let text = std::fs::read_to_string(&metrics).unwrap();
    let a = "{account=\"default\"";
    for (outcome, cause) in [("delivered", "none"), ("queued", "limits")] {
        let want = format!(
            "oauth2_sendmail_messages_total{a},outcome=\"{outcome}\",cause=\"{cause}\"}} 1\n"
        );
        assert!(text.contains(&want), "{want} in {text}");
    }
}

#[test]
fn graph_requests_take_their_own_connection_slots() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("graph-slots");
    let syslog = SyslogCapture::new(&scratch);
    let queue = scratch.join("queue");
    let conf = graph_conf(
        sb,
        &scratch,
        &syslog,
        "",
        &format!(
            "\n[queue]\ndir = \"{}\"\n\n[limits]\nconnections = 1\n",
            queue.display()
        ),
    );
    let cache = scratch.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let key = mailbox_key(&sb.str("user"));
    // The one SMTP slot is taken: a Graph send does not count it.
    let smtp_slot = Holder::lock(&cache.join(format!("slot.{key}.0")));
    let message = b"To: slot-1@example.com\nSubject: s\n\nx\n";
    sendmail(&["-C", &conf, "slot-1@example.com"], message).expect(0);
    assert_eq!(sb.graph_mail_for("slot-1@example.com").len(), 1);
    drop(smtp_slot);
    // The one Graph slot is taken: the send waits, then is queued.
    let _graph_slot = Holder::lock(&cache.join(format!("graph-slot.{key}.0")));
    let message = b"To: slot-2@example.com\nSubject: s\n\nx\n";
    sendmail(&["-C", &conf, "slot-2@example.com"], message).expect(0);
    assert!(sb.graph_mail_for("slot-2@example.com").is_empty());
    let log = syslog.lines().join("\n");
    assert!(
        log.contains("all 1 Graph requests of") && log.contains("outcome=queued"),
        "{log}"
    );
}

/// A process the test started that holds the exclusive lock on a file;
/// killed (by its PID) when dropped.
struct Holder(std::process::Child);

impl Holder {
    fn lock(path: &std::path::Path) -> Holder {
        use std::io::BufRead;
        let script = "import fcntl, sys, time\n\
                      f = open(sys.argv[1], 'a+')\n\
                      fcntl.flock(f, fcntl.LOCK_EX)\n\
                      print('held', flush=True)\n\
                      time.sleep(120)\n";
        let mut child = std::process::Command::new("python3")
            .args(["-c", script, s(path)])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "held");
        Holder(child)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
