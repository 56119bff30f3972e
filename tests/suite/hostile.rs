//! Hostile input through the real binary: every case ends in a clear error
//! or a correct send, never a crash, a hang, an injected SMTP command or
//! unbounded memory. The scripted peer records exactly what crossed the
//! wire (commands and raw DATA bytes).

use crate::common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::fake_smtp::{Behaviour, FakeSmtp, Record, sandbox_identity};
use common::sandbox::sandbox;
use common::{BIN, Run, Scratch, s, sendmail};

/// A fake peer and a configuration pointing at it.
struct Peer {
    fake: FakeSmtp,
    conf: std::path::PathBuf,
    _scratch: Scratch,
}

fn peer(name: &str) -> Peer {
    let sb = sandbox();
    let fake = FakeSmtp::start(Behaviour::good(sandbox_identity(&sb.dir)));
    let scratch = Scratch::new(name);
    let mut settings = sb.peer_settings(&scratch, fake.port);
    settings.timeout = 30;
    let conf = settings.write(&scratch);
    Peer {
        fake,
        conf,
        _scratch: scratch,
    }
}

impl Peer {
    fn send(&self, args: &[&str], input: &[u8]) -> Run {
        let mut all = vec!["-C", s(&self.conf)];
        all.extend_from_slice(args);
        let run = sendmail(&all, input);
        assert_no_crash(&run);
        run
    }
}

#[track_caller]
fn assert_no_crash(run: &Run) {
    assert!(
        ![101, -1, 70].contains(&run.code),
        "crashed or killed (exit {}): {}",
        run.code,
        run.stderr
    );
}

/// Only the client's own verbs crossed the wire, and no command carries a
/// piece of a payload that was meant to be injected.
#[track_caller]
fn assert_no_injection(record: &Record) {
    const VERBS: &[&str] = &[
        "EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "QUIT", "RSET",
    ];
    for command in &record.commands {
        let verb = command.split([' ', ':']).next().unwrap_or("");
        assert!(
            command.is_empty() || VERBS.contains(&verb) || !command.contains(' '),
            "unexpected command on the wire: {command:?} in {:?}",
            record.commands
        );
        assert!(
            !command.contains("injected") && !command.contains('\0'),
            "injected: {command:?}"
        );
    }
}

fn rcpts(record: &Record) -> Vec<String> {
    record
        .commands
        .iter()
        .filter_map(|c| c.strip_prefix("RCPT TO:"))
        .map(str::to_string)
        .collect()
}

/// The DATA encoding of `body` as RFC 5321 wants it: every line end CRLF,
/// a leading dot doubled, a final CRLF.
fn wire(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at_start = true;
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if at_start && b == b'.' {
            out.push(b'.');
        }
        at_start = false;
        match b {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if body.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                at_start = true;
            }
            b'\n' => {
                out.extend_from_slice(b"\r\n");
                at_start = true;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    if !at_start {
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[test]
fn command_line_addresses_with_cr_lf_or_brackets_are_refused_before_connecting() {
    let sb = sandbox();
    let _shared = sb.shared();
    let p = peer("argv-addresses");
    for bad in [
        "a@example.com>\r\nNOOP injected\r\nRCPT TO:<b@example.com",
        "a@example.com\nNOOP injected",
        "a@example.com\rNOOP",
        "a<b@example.com",
        "a>b@example.com",
        "a@example.com\tb@example.com",
        "a\u{7f}@example.com",
    ] {
        let run = p.send(&["-i", bad], b"Subject: x\n\nx\n");
        run.expect(65);
        assert!(
            run.stderr.contains("malformed recipient"),
            "{bad:?}: {}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    }
    // The sender too (-f, where the configuration lets it through).
    assert_eq!(p.fake.record().connections, 0, "nothing reached the server");
}

#[test]
fn header_addresses_cannot_inject_commands() {
    let sb = sandbox();
    let _shared = sb.shared();
    let p = peer("header-addresses");
    let headers: &[&[u8]] = &[
        b"To: a@example.com\0NOOP injected\n",
        b"To: <a@example.com\r>\n",
        b"To: a@example.com\rNOOP injected\n",
        b"To: <a@example.com>\r\r\nNOOP injected\n",
        b"To: \"x\r\nNOOP injected\" <a@example.com>\n",
        b"To: a@example.com>, <NOOP injected\n",
        b"To: =?utf-8?q?x=0D=0ANOOP_injected?= <a@example.com>\n",
        b"To: <<a@example.com>>\n",
        b"To: a@example.com\nCc: <b@example.com\0>\n",
    ];
    for header in headers {
        let mut message = header.to_vec();
        message.extend_from_slice(b"Subject: hostile\n\nbody\n");
        let run = p.send(&["-t", "-i"], &message);
        assert!(
            run.code == 0 || run.code == 65,
            "{:?}: exit {} {}",
            String::from_utf8_lossy(header),
            run.code,
            run.stderr
        );
        if run.code == 65 {
            assert!(run.stderr.contains("malformed address"), "{}", run.stderr);
        }
    }
    let record = p.fake.record();
    assert_no_injection(&record);
    for rcpt in rcpts(&record) {
        assert!(
            rcpt.starts_with('<')
                && rcpt.ends_with('>')
                && rcpt[1..rcpt.len() - 1]
                    .chars()
                    .all(|c| !c.is_control() && !c.is_whitespace() && c != '<' && c != '>'),
            "{rcpt:?}"
        );
    }
}

#[test]
fn a_full_name_with_a_line_break_is_refused() {
    let sb = sandbox();
    let _shared = sb.shared();
    let p = peer("full-name");
    for name in ["Cron\nBcc: evil@example.com", "Cron\r\nX: y", "Cron\r"] {
        let run = p.send(&["-F", name, "-i", "a@example.com"], b"x\n");
        run.expect(64);
        assert!(run.stderr.contains("-F"), "{}", run.stderr);
    }
    assert_eq!(p.fake.record().connections, 0);
}

#[test]
fn a_recipient_starting_with_a_dash_needs_double_dash() {
    let sb = sandbox();
    let _shared = sb.shared();
    let p = peer("dash");
    let run = p.send(&["-i", "-weird@example.com"], b"Subject: d\n\nx\n");
    run.expect(64);
    assert_eq!(p.fake.record().connections, 0);
    p.send(&["-i", "--", "-weird@example.com"], b"Subject: d\n\nx\n")
        .expect(0);
    assert_eq!(rcpts(&p.fake.record()), ["<-weird@example.com>"]);
}

#[test]
fn ten_thousand_recipients_are_all_sent() {
    let sb = sandbox();
    let _shared = sb.shared();
    let p = peer("many");
    // 20,000 recipients in a day: past the default daily budget.
    let text = std::fs::read_to_string(&p.conf).unwrap();
    crate::common::write_private(
        &p.conf,
        &format!("{text}\n[limits]\nrecipients_per_day = 0\n"),
    );
    let recipients: Vec<String> = (0..10_000).map(|n| format!("r{n}@example.com")).collect();
    let mut args = vec!["-i"];
    args.extend(recipients.iter().map(String::as_str));
    p.send(&args, b"Subject: many\n\nx\n").expect(0);
    // The same through the header, with -t.
    let to = recipients.join(",\n ");
    let message = format!("To: {to}\nSubject: many\n\nx\n");
    p.send(&["-t", "-i"], message.as_bytes()).expect(0);
    let record = p.fake.record();
    let sent = rcpts(&record);
    assert_eq!(sent.len(), 20_000);
    assert_eq!(sent[9_999], "<r9999@example.com>");
    assert_eq!(record.messages.len(), 2);
    assert_no_injection(&record);
}

#[test]
fn a_one_megabyte_header_line_is_folded_or_refused_never_sent_broken() {
    let sb = sandbox();
    let _shared = sb.shared();
    let p = peer("long-line");
    // A megabyte of words: folded at white space into lines of at most 998 octets.
    let words = "word ".repeat(200_000);
    let message = format!("X-Long: {words}\nSubject: long\n\nbody\n");
    p.send(&["-i", "a@example.com"], message.as_bytes())
        .expect(0);
    let record = p.fake.record();
    let raw = String::from_utf8_lossy(&record.raw_messages[0]).into_owned();
    assert!(
        raw.lines().all(|l| l.len() <= 998),
        "no line over 998 octets went out"
    );
    let unfolded: String = raw
        .split("\r\n\r\n")
        .next()
        .unwrap()
        .replace("\r\n ", " ")
        .replace("\r\n\t", "\t");
    assert!(
        unfolded.contains(words.trim_end()),
        "unfolding gives back the field"
    );

    // A megabyte without white space cannot be folded: refused, nothing sent.
    let solid = format!("X-Long: {}\nSubject: long\n\nbody\n", "a".repeat(1_000_000));
    let run = p.send(&["-i", "a@example.com"], solid.as_bytes());
    run.expect(65);
    assert!(
        run.stderr.contains("no space to fold it at"),
        "{}",
        run.stderr
    );

    let too_big = format!("X-Long: {}\n\nbody\n", "a".repeat(1_100_000));
    let run = p.send(&["-i", "a@example.com"], too_big.as_bytes());
    run.expect(65);
    assert!(
        run.stderr.contains("larger than 1024 KiB"),
        "{}",
        run.stderr
    );
    assert_eq!(p.fake.record().messages.len(), 1);
}

#[test]
fn a_hundred_megabyte_header_block_is_refused_after_reading_little() {
    let sb = sandbox();
    let _shared = sb.shared();
    let p = peer("huge-header");
    let mut child = Command::new(BIN)
        .args(["-C", s(&p.conf), "-i", "a@example.com"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Stream 100 MB of header fields and no body; count what the binary took.
    let writer = std::thread::spawn(move || {
        let line = format!("X-Filler: {}\n", "f".repeat(1000));
        let mut written = 0usize;
        while written < 100 * 1024 * 1024 {
            if stdin.write_all(line.as_bytes()).is_err() {
                break;
            }
            written += line.len();
        }
        written
    });
    let output = child.wait_with_output().unwrap();
    let written = writer.join().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(65), "{stderr}");
    assert!(stderr.contains("larger than 1024 KiB"), "{stderr}");
    assert!(
        written < 8 * 1024 * 1024,
        "the binary stopped reading at the limit, not at 100 MB: {written} bytes taken"
    );
    assert_eq!(p.fake.record().connections, 0);
}

/// Deterministic bytes that look like nothing in particular.
fn garbage(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn binary_garbage_invalid_utf8_and_nul_bytes_are_sent_byte_for_byte() {
    let sb = sandbox();
    let _shared = sb.shared();
    let p = peer("binary");
    let mut bodies: Vec<Vec<u8>> = vec![
        b"before\0after\n\0\0\nend".to_vec(),
        b"caf\xe9 \xff\xfe\x80 \xc3\x28\n.\n..\n\r.\r\n".to_vec(),
    ];
    for seed in 1..=4 {
        bodies.push(garbage(64 * 1024, seed));
    }
    for body in &bodies {
        let mut message = b"Subject: caf\xe9 \xff\nTo: a@example.com\n\n".to_vec();
        message.extend_from_slice(body);
        p.send(&["-t", "-i"], &message).expect(0);
    }
    let record = p.fake.record();
    assert_eq!(record.raw_messages.len(), bodies.len());
    for (raw, body) in record.raw_messages.iter().zip(&bodies) {
        let mut expected = b"\r\n".to_vec();
        expected.extend_from_slice(&wire(body));
        assert!(
            raw.ends_with(&expected),
            "the body arrives as sent (CRLF-normalised, dot-stuffed)"
        );
        assert!(
            raw.windows(8).any(|w| w == b"caf\xe9 \xff\r\n"),
            "the raw header bytes are kept"
        );
    }
    assert_no_injection(&record);
}

#[test]
fn garbage_without_any_header_is_handled() {
    let sb = sandbox();
    let _shared = sb.shared();
    let p = peer("garbage");
    for seed in 10..14 {
        let run = p.send(&["-i", "a@example.com"], &garbage(16 * 1024, seed));
        run.expect(0);
    }
    // Without -t and without recipients there is nothing to do: a usage error.
    let run = p.send(&["-t"], &garbage(4096, 99));
    assert!(
        run.code == 64 || run.code == 65,
        "{}: {}",
        run.code,
        run.stderr
    );
    let record = p.fake.record();
    assert_eq!(record.messages.len(), 4);
    assert_no_injection(&record);
}

#[test]
fn a_body_line_with_a_lone_dot_cannot_end_data_early() {
    let sb = sandbox();
    let _shared = sb.shared();
    let p = peer("dot");
    let body = b"one\r\n.\r\nMAIL FROM:<evil@example.com>\r\nNOOP injected\r\n.\nlast\n";
    let mut message = b"Subject: dots\n\n".to_vec();
    message.extend_from_slice(body);
    p.send(&["-i", "a@example.com"], &message).expect(0);
    let record = p.fake.record();
    assert_eq!(record.messages.len(), 1);
    assert!(record.raw_messages[0].ends_with(&wire(body)));
    assert_no_injection(&record);
    assert_eq!(
        record
            .commands
            .iter()
            .filter(|c| c.starts_with("MAIL"))
            .count(),
        1
    );
}
