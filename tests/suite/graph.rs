//! Microsoft Graph as the transport, end to end: the built binary against
//! the sandbox's Graph look-alike (sandbox/graph.py), which checks tokens,
//! roles, the mailbox scope and the From as Graph does and "delivers"
//! what it accepts into a directory, one copy per recipient. Graph sends
//! are paced (`[limits]`, Graph slots of their own) and counted as SMTP
//! sends are.

use crate::common;

use common::fake_smtp::{Behaviour, FakeSmtp, sandbox_identity};
use common::queue::crlf;
use common::sandbox::{Sandbox, sandbox};
use common::{Scratch, SyslogCapture, s, sendmail, write_private};

mod drafts;
mod pacing;
mod refusals;

/// A configuration for Graph: `top` (top-level keys) first, then the
/// sandbox settings, `[graph] url`, and `extra` sections.
fn graph_conf(
    sb: &Sandbox,
    scratch: &Scratch,
    syslog: &SyslogCapture,
    top: &str,
    extra: &str,
) -> String {
    let mut settings = sb.settings(scratch);
    settings.syslog_socket = Some(syslog.path.clone());
    settings.extra = format!("\n[graph]\nurl = \"{}\"\n{extra}", sb.str("graph_url"));
    let path = scratch.join("sendmail.conf");
    let top = if top.contains("transport") {
        top.to_string()
    } else {
        format!("transport = \"graph\"\n{top}")
    };
    write_private(&path, &format!("{top}{}", settings.render()));
    s(&path).to_string()
}

/// The one syslog line about the message.
fn one_line(syslog: &SyslogCapture) -> String {
    let lines: Vec<String> = syslog
        .lines()
        .into_iter()
        .filter(|l| l.contains("outcome="))
        .collect();
    assert_eq!(lines.len(), 1, "one line per message: {lines:?}");
    lines[0].clone()
}

#[test]
fn a_small_message_arrives_byte_for_byte() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("graph-exact");
    let syslog = SyslogCapture::new(&scratch);
    let conf = graph_conf(sb, &scratch, &syslog, "", "");
    let message = format!(
        "From: {user}\nTo: exact@example.com\nSubject: =?UTF-8?B?Q2Fmw6k=?=\n\
         Date: Tue, 01 Dec 2026 10:00:00 +0000\nMessage-ID: <exact.1@example.com>\n\
         X-Custom: kept\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n\
         line one\n.\n..two dots\nCaf\u{e9}\n",
        user = sb.str("user")
    );
    let run = sendmail(
        &["-C", &conf, "-i", "exact@example.com"],
        message.as_bytes(),
    );
    run.expect(0);
    assert_eq!(run.output(), "");
    let got = sb.graph_mail_for("exact@example.com");
    assert_eq!(got.len(), 1, "one copy");
    assert_eq!(got[0].sender, sb.str("user"));
    assert_eq!(
        String::from_utf8_lossy(&got[0].message),
        String::from_utf8_lossy(&crlf(message.as_bytes())),
        "the message as written (CRLF line ends)"
    );
    let line = one_line(&syslog);
    for want in [
        "outcome=delivered",
        "transport=graph",
        "graph=\"202 Accepted request-id=",
        "accepted for delivery, not yet delivered",
        "to=<exact@example.com>",
    ] {
        assert!(line.contains(want), "{want}: {line}");
    }
    // The request-id in the log is the one Graph logged for the message.
    let id = line
        .split("request-id=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let graph_log = std::fs::read_to_string(sb.info["logs"]["graph"].as_str().unwrap()).unwrap();
    assert!(
        graph_log.contains(&format!("request-id={id} -> 202")),
        "{id}"
    );
}

#[test]
fn recipients_are_exactly_the_envelope_with_argv_and_bcc_unseen() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("graph-argv");
    let syslog = SyslogCapture::new(&scratch);
    let conf = graph_conf(sb, &scratch, &syslog, "", "");
    // Cc names someone the caller did not ask to send to; argv adds a
    // recipient the header does not show.
    let message = "To: argv-to@example.com\nCc: argv-not-me@example.com\nSubject: argv\n\nhi\n";
    sendmail(
        &[
            "-C",
            &conf,
            "argv-to@example.com",
            "argv-hidden@example.com",
        ],
        message.as_bytes(),
    )
    .expect(0);
    assert!(
        sb.graph_mail_for("argv-not-me@example.com").is_empty(),
        "not in the envelope"
    );
    for rcpt in ["argv-to@example.com", "argv-hidden@example.com"] {
        let got = sb.graph_mail_for(rcpt);
        assert_eq!(got.len(), 1, "{rcpt}");
        let header = got[0].text();
        assert!(
            !header.contains("argv-hidden"),
            "{rcpt} sees the hidden one: {header}"
        );
        assert!(!header.contains("argv-not-me"), "{header}");
        assert!(header.contains("To: argv-to@example.com\r\n"), "{header}");
    }
}

#[test]
fn minus_t_with_bcc_reaches_everyone_and_hides_the_bcc() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("graph-t");
    let syslog = SyslogCapture::new(&scratch);
    let conf = graph_conf(sb, &scratch, &syslog, "", "");
    let message =
        "To: t-to@example.com\nCc: t-cc@example.com\nBcc: t-bcc@example.com\nSubject: t\n\nhi\n";
    sendmail(&["-C", &conf, "-t"], message.as_bytes()).expect(0);
    for rcpt in ["t-to@example.com", "t-cc@example.com", "t-bcc@example.com"] {
        let got = sb.graph_mail_for(rcpt);
        assert_eq!(got.len(), 1, "{rcpt}");
        assert!(
            !got[0].text().contains("t-bcc"),
            "{rcpt}: {}",
            got[0].text()
        );
    }
}

#[test]
fn an_alias_target_gets_the_message_and_the_alias_name_does_not() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("graph-alias");
    let syslog = SyslogCapture::new(&scratch);
    let aliases = scratch.join("aliases");
    std::fs::write(&aliases, "root: graph-root@example.com\n").unwrap();
    let extra = format!(
        "\n[addresses]\naliases = \"{}\"\ndefault_domain = \"graph-alias.example\"\n",
        aliases.display()
    );
    let conf = graph_conf(sb, &scratch, &syslog, "", &extra);
    sendmail(&["-C", &conf, "root"], b"To: root\nSubject: cron\n\nout\n").expect(0);
    let got = sb.graph_mail_for("graph-root@example.com");
    assert_eq!(got.len(), 1);
    assert!(
        sb.graph_mail_for("root@graph-alias.example").is_empty(),
        "the bare To: root"
    );
    assert!(!got[0].text().contains("Bcc"), "{}", got[0].text());
}

#[test]
fn unavailable_is_queued_and_delivered_once_by_the_queue_run() {
    let sb = sandbox();
    let ex = sb.exclusive();
    let scratch = Scratch::new("graph-queue");
    let syslog = SyslogCapture::new(&scratch);
    let queue = scratch.join("queue");
    let conf = graph_conf(
        &ex,
        &scratch,
        &syslog,
        "",
        &format!("\n[queue]\ndir = \"{}\"\n", queue.display()),
    );
    ex.graph_faults(r#"[{"status":503,"code":"ServiceUnavailable"}]"#);
    let message = b"To: queued@example.com\nSubject: q\n\nqueued body\n";
    sendmail(&["-C", &conf, "queued@example.com"], message).expect(0);
    assert!(ex.graph_mail_for("queued@example.com").is_empty());
    assert!(one_line(&syslog).contains("outcome=queued"));
    make_due(&queue);
    sendmail(&["-C", &conf, "-q"], b"").expect(0);
    let got = ex.graph_mail_for("queued@example.com");
    assert_eq!(got.len(), 1, "delivered once");
    assert!(got[0].text().ends_with("queued body\r\n"));
    sendmail(&["-C", &conf, "-q"], b"").expect(0);
    assert_eq!(
        ex.graph_mail_for("queued@example.com").len(),
        1,
        "and only once"
    );
}

/// Makes every queued message due now.
fn make_due(queue: &std::path::Path) {
    for entry in std::fs::read_dir(queue.join("state")).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let edited: String = text
            .lines()
            .map(|l| {
                if l.starts_with("next ") {
                    "next 0\n".to_string()
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        write_private(&entry.path(), &edited);
    }
}

#[test]
fn a_live_graph_send_flushes_due_queued_messages() {
    let sb = sandbox();
    let ex = sb.exclusive();
    let scratch = Scratch::new("graph-flush");
    let syslog = SyslogCapture::new(&scratch);
    let queue = scratch.join("queue");
    let conf = graph_conf(
        &ex,
        &scratch,
        &syslog,
        "",
        &format!("\n[queue]\ndir = \"{}\"\n", queue.display()),
    );
    ex.graph_faults(r#"[{"status":503,"code":"ServiceUnavailable"}]"#);
    sendmail(
        &["-C", &conf, "flush-queued@example.com"],
        b"Subject: first\n\nx\n",
    )
    .expect(0);
    assert!(ex.graph_mail_for("flush-queued@example.com").is_empty());
    make_due(&queue);
    sendmail(
        &["-C", &conf, "flush-live@example.com"],
        b"Subject: second\n\nx\n",
    )
    .expect(0);
    assert_eq!(ex.graph_mail_for("flush-live@example.com").len(), 1);
    assert_eq!(
        ex.graph_mail_for("flush-queued@example.com").len(),
        1,
        "flushed after the live send"
    );
}

#[test]
fn an_smtp_dialogue_on_stdin_goes_through_graph() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("graph-bs");
    let syslog = SyslogCapture::new(&scratch);
    let conf = graph_conf(sb, &scratch, &syslog, "", "");
    let dialogue = "EHLO client.test\r\nMAIL FROM:<x@client.test>\r\nRCPT TO:<bs@example.com>\r\nDATA\r\nSubject: bs\r\n\r\nover -bs\r\n.\r\nQUIT\r\n";
    let run = sendmail(&["-C", &conf, "-bs"], dialogue.as_bytes());
    run.expect(0);
    assert!(run.stdout.contains("250"), "{}", run.stdout);
    let got = sb.graph_mail_for("bs@example.com");
    assert_eq!(got.len(), 1, "{}", run.stdout);
    assert!(got[0].text().contains("over -bs"));
}

#[test]
fn auto_falls_back_to_graph_on_5_7_139_and_remembers_it() {
    let sb = sandbox();
    let _shared = sb.shared();
    let mut behaviour = Behaviour::good(sandbox_identity(&sb.dir));
    behaviour.auth_replies = vec![
        "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.".into(),
    ];
    let peer = FakeSmtp::start(behaviour);
    let scratch = Scratch::new("graph-auto");
    let syslog = SyslogCapture::new(&scratch);
    let mut settings = sb.settings(&scratch);
    settings.host = "localhost".into();
    settings.port = peer.port;
    settings.syslog_socket = Some(syslog.path.clone());
    settings.extra = format!("\n[graph]\nurl = \"{}\"\n", sb.str("graph_url"));
    let conf = scratch.join("sendmail.conf");
    write_private(
        &conf,
        &format!("transport = \"auto\"\n{}", settings.render()),
    );

    sendmail(&["-C", s(&conf), "auto@example.com"], b"Subject: 1\n\nx\n").expect(0);
    assert_eq!(sb.graph_mail_for("auto@example.com").len(), 1);
    let connections = peer.record().connections;
    assert_eq!(connections, 1, "SMTP was tried first");
    let lines = syslog.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("sending through Microsoft Graph")),
        "{lines:?}"
    );

    sendmail(&["-C", s(&conf), "auto@example.com"], b"Subject: 2\n\nx\n").expect(0);
    assert_eq!(sb.graph_mail_for("auto@example.com").len(), 2);
    assert_eq!(peer.record().connections, 1, "the choice is remembered");
}

#[test]
fn auto_does_not_switch_on_a_rejected_token() {
    let sb = sandbox();
    let _shared = sb.shared();
    let mut behaviour = Behaviour::good(sandbox_identity(&sb.dir));
    behaviour.auth_replies = vec!["535 5.7.3 Authentication unsuccessful".into()];
    let peer = FakeSmtp::start(behaviour);
    let scratch = Scratch::new("graph-auto-573");
    let syslog = SyslogCapture::new(&scratch);
    let mut settings = sb.settings(&scratch);
    settings.host = "localhost".into();
    settings.port = peer.port;
    settings.syslog_socket = Some(syslog.path.clone());
    settings.extra = format!("\n[graph]\nurl = \"{}\"\n", sb.str("graph_url"));
    let conf = scratch.join("sendmail.conf");
    write_private(
        &conf,
        &format!("transport = \"auto\"\n{}", settings.render()),
    );
    let run = sendmail(
        &["-C", s(&conf), "auto573@example.com"],
        b"Subject: 1\n\nx\n",
    );
    run.expect(77);
    assert!(sb.graph_mail_for("auto573@example.com").is_empty());
}

#[test]
fn check_proves_token_role_and_mailbox_and_sends_with_to() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("graph-check");
    let syslog = SyslogCapture::new(&scratch);
    let conf = graph_conf(sb, &scratch, &syslog, "", "");
    let run = sendmail(&["-C", &conf, "--check", "--to", "check@example.com"], b"");
    run.expect(0);
    for want in [
        "Graph token audience https://graph.microsoft.com",
        "Mail.Send",
        "is reachable through Microsoft Graph",
        "skip SMTP server",
    ] {
        assert!(run.stdout.contains(want), "{want}: {}", run.stdout);
    }
    assert_eq!(sb.graph_mail_for("check@example.com").len(), 1);
}

#[test]
fn check_names_a_missing_mail_send_role() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("graph-check-role");
    let syslog = SyslogCapture::new(&scratch);
    let conf = graph_conf(sb, &scratch, &syslog, "", "");
    let client = sb.client("no_role");
    let text = std::fs::read_to_string(&conf)
        .unwrap()
        .replace(&sb.str("client_id"), client["client_id"].as_str().unwrap())
        .replace(
            &sb.str("client_secret"),
            client["client_secret"].as_str().unwrap(),
        );
    write_private(std::path::Path::new(&conf), &text);
    let run = sendmail(&["-C", &conf, "--check"], b"");
    run.expect(77);
    assert!(run.stdout.contains("no Mail.Send role"), "{}", run.stdout);
    assert!(run.stdout.contains("ErrorAccessDenied"), "{}", run.stdout);
}

/// `n` bytes of a fixed pseudo-random sequence.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A multipart message with a text part and base64 attachments `(name, bytes)`.
fn with_attachments(to: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    use base64::Engine as _;
    let mut m = format!(
        "To: {to}\r\nSubject: large\r\nX-Report: kept\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b0undary\"\r\n\r\n\
         --b0undary\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee the attachments\r\n"
    )
    .into_bytes();
    for (name, bytes) in files {
        m.extend_from_slice(
            format!(
                "--b0undary\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\n\
                 Content-Disposition: attachment; filename=\"{name}\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n"
            )
            .as_bytes(),
        );
        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
        for line in text.as_bytes().chunks(76) {
            m.extend_from_slice(line);
            m.extend_from_slice(b"\r\n");
        }
    }
    m.extend_from_slice(b"--b0undary--\r\n");
    m
}

/// The decoded bytes of the attachment `name` in a delivered message.
fn attachment(message: &[u8], name: &str) -> Vec<u8> {
    use base64::Engine as _;
    let text = String::from_utf8_lossy(message);
    let at = text
        .find(&format!("filename=\"{name}\""))
        .unwrap_or_else(|| panic!("no attachment {name}"));
    let body = &text[at..];
    let start = body.find("\r\n\r\n").unwrap() + 4;
    let end = body[start..].find("\r\n--").unwrap() + start;
    let clean: String = body[start..end].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(clean)
        .unwrap()
}

#[test]
fn a_25_mib_message_with_a_15_mb_attachment_arrives_intact() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("graph-large");
    let syslog = SyslogCapture::new(&scratch);
    let conf = graph_conf(sb, &scratch, &syslog, "", "");
    let big = noise(15_000_000, 7);
    let other = noise(4_300_000, 11);
    let message = with_attachments(
        "large@example.com",
        &[("big.bin", &big), ("other.bin", &other)],
    );
    assert!(message.len() >= 25 * 1024 * 1024, "{}", message.len());
    sendmail(&["-C", &conf, "large@example.com"], &message).expect(0);
    let got = sb.graph_mail_for("large@example.com");
    assert_eq!(got.len(), 1);
    let delivered = &got[0].message;
    assert!(
        attachment(delivered, "big.bin") == big,
        "the 15 MB attachment, byte for byte"
    );
    assert!(attachment(delivered, "other.bin") == other);
    let text = String::from_utf8_lossy(delivered);
    for kept in ["Subject: large", "X-Report: kept", "see the attachments"] {
        assert!(text.contains(kept), "{kept}");
    }
    let line = one_line(&syslog);
    assert!(
        line.contains("outcome=delivered") && line.contains("transport=graph"),
        "{line}"
    );
}

#[test]
fn a_large_message_without_mail_readwrite_names_the_permission() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("graph-large-rw");
    let syslog = SyslogCapture::new(&scratch);
    let conf = graph_conf(sb, &scratch, &syslog, "", "");
    let client = sb.client("graph_send_only");
    let text = std::fs::read_to_string(&conf)
        .unwrap()
        .replace(&sb.str("client_id"), client["client_id"].as_str().unwrap())
        .replace(
            &sb.str("client_secret"),
            client["client_secret"].as_str().unwrap(),
        );
    write_private(std::path::Path::new(&conf), &text);
    let message = with_attachments("large-rw@example.com", &[("big.bin", &noise(4_000_000, 3))]);
    let run = sendmail(&["-C", &conf, "large-rw@example.com"], &message);
    run.expect(77);
    assert!(run.stderr.contains("Mail.ReadWrite"), "{}", run.stderr);
    assert!(one_line(&syslog).contains("cause=graph-no-readwrite"));
    assert!(sb.graph_mail_for("large-rw@example.com").is_empty());
}

#[test]
fn the_verbose_transcript_shows_graph_and_never_the_token() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("graph-v");
    let syslog = SyslogCapture::new(&scratch);
    let conf = graph_conf(sb, &scratch, &syslog, "", "");
    let run = sendmail(
        &["-C", &conf, "-v", "verbose@example.com"],
        b"Subject: v\n\nx\n",
    );
    run.expect(0);
    for want in [
        "graph: POST ",
        "Authorization: Bearer <redacted>",
        "HTTP 202 request-id=",
        "not yet delivered",
    ] {
        assert!(run.stderr.contains(want), "{want}: {}", run.stderr);
    }
    let mut tokens = 0;
    for entry in std::fs::read_dir(scratch.join("cache")).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        if let Some(token) = text.lines().find_map(|l| l.strip_prefix("token ")) {
            tokens += 1;
            assert!(!common::leaks(&run.output(), token), "the token leaked");
            assert!(!syslog.lines().iter().any(|l| common::leaks(l, token)));
        }
    }
    assert_eq!(tokens, 1, "one cache entry, Graph's");
}

#[test]
fn a_cold_send_fetches_the_token_while_connecting_and_reuses_that_connection() {
    let sb = sandbox();
    let ex = sb.exclusive();
    let scratch = Scratch::new("graph-cold");
    let syslog = SyslogCapture::new(&scratch);
    let conf = graph_conf(&ex, &scratch, &syslog, "", "");
    sendmail(&["-C", &conf, "cold@example.com"], b"Subject: cold\n\nx\n").expect(0);
    let log = std::fs::read_to_string(ex.info["logs"]["graph"].as_str().unwrap()).unwrap();
    let port = |prefix: &str| {
        log.lines()
            .rev()
            .find(|l| l.contains(prefix))
            .and_then(|l| l.split("client-port=").nth(1))
            .and_then(|p| p.split(' ').next())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no {prefix} line in graph.log"))
    };
    assert_eq!(port("HEAD /v1.0/"), port("POST sendMail"), "one connection");
    assert_eq!(ex.token_requests(), 1);
    // A warm cache needs no warm-up: no new HEAD.
    let heads = log.matches("HEAD /v1.0/").count();
    sendmail(&["-C", &conf, "cold@example.com"], b"Subject: warm\n\nx\n").expect(0);
    let log = std::fs::read_to_string(ex.info["logs"]["graph"].as_str().unwrap()).unwrap();
    assert_eq!(log.matches("HEAD /v1.0/").count(), heads);
}
