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

/// Runs one send with `faults` queued at Graph; returns (exit, output, log line).
fn with_faults(name: &str, faults: &str, top: &str, rcpt: &str) -> (i32, String, String) {
    let sb = sandbox();
    let ex = sb.exclusive();
    let scratch = Scratch::new(name);
    let syslog = SyslogCapture::new(&scratch);
    let conf = graph_conf(&ex, &scratch, &syslog, top, "");
    ex.graph_faults(faults);
    let run = sendmail(&["-C", &conf, rcpt], b"Subject: fault\n\nx\n");
    let lines = syslog.lines();
    let line = lines
        .iter()
        .find(|l| l.contains("outcome="))
        .cloned()
        .unwrap_or_default();
    (run.code, run.output(), line)
}

#[test]
fn each_graph_refusal_has_its_exit_code_and_cause() {
    let sb = sandbox();
    let mailbox = |user: &str| format!("user = \"{user}\"\nfrom = \"{user}\"\n");
    // (name, faults, top-level keys, exit, cause)
    let cases: Vec<(&str, &str, String, i32, &str)> = vec![
        (
            "401",
            r#"[{"status":401,"code":"InvalidAuthenticationToken"},{"status":401,"code":"InvalidAuthenticationToken"}]"#,
            String::new(),
            77,
            "graph-token-rejected",
        ),
        (
            "403-scope",
            "[]",
            mailbox("other@contoso.test"),
            77,
            "graph-access-denied",
        ),
        (
            "404-licence",
            "[]",
            mailbox("unlicensed@contoso.test"),
            78,
            "graph-mailbox-not-enabled",
        ),
        (
            "404-user",
            "[]",
            mailbox("nobody@contoso.test"),
            78,
            "graph-mailbox-not-found",
        ),
        (
            "413",
            r#"[{"status":413,"code":"ErrorMessageSizeExceeded"}]"#,
            String::new(),
            65,
            "graph-message-too-large",
        ),
        (
            "503",
            r#"[{"status":503,"code":"ServiceUnavailable"}]"#,
            String::new(),
            75,
            "graph-throttled",
        ),
        (
            "504",
            r#"[{"status":504,"code":"GatewayTimeout"}]"#,
            String::new(),
            75,
            "graph-timeout",
        ),
    ];
    for (name, faults, top, exit, cause) in cases {
        // A user line in `top` comes before the settings' own: TOML would
        // refuse the duplicate, so those cases write their own file.
        let (code, output, line) = if top.is_empty() {
            with_faults(&format!("graph-{name}"), faults, "", "fault@example.com")
        } else {
            let _shared = sb.shared();
            let scratch = Scratch::new(&format!("graph-{name}"));
            let syslog = SyslogCapture::new(&scratch);
            let text = std::fs::read_to_string(graph_conf(sb, &scratch, &syslog, "", "")).unwrap();
            let text = text
                .lines()
                .filter(|l| !l.starts_with("user = "))
                .collect::<Vec<_>>()
                .join("\n");
            let path = scratch.join("other.conf");
            write_private(&path, &format!("{top}{text}\n"));
            let run = sendmail(&["-C", s(&path), "fault@example.com"], b"Subject: f\n\nx\n");
            let line = syslog
                .lines()
                .into_iter()
                .find(|l| l.contains("outcome="))
                .unwrap_or_default();
            (run.code, run.output(), line)
        };
        assert_eq!(code, exit, "{name}: {output}");
        assert!(line.contains(&format!("cause={cause}")), "{name}: {line}");
        assert!(line.contains("transport=graph"), "{name}: {line}");
        assert!(output.contains("hint:"), "{name}: {output}");
        assert!(!output.contains(&sb.str("client_secret")));
    }
    assert!(sb.graph_mail_for("fault@example.com").is_empty());
}

#[test]
fn the_from_graph_refuses_is_send_as_denied() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("graph-sendas");
    let syslog = SyslogCapture::new(&scratch);
    let conf = graph_conf(
        sb,
        &scratch,
        &syslog,
        "",
        "\n[addresses]\nfrom_policy = \"keep\"\n",
    );
    let run = sendmail(
        &["-C", &conf, "sendas@example.com"],
        b"From: boss@contoso.test\nSubject: s\n\nx\n",
    );
    run.expect(77);
    assert!(run.stderr.contains("ErrorSendAsDenied"), "{}", run.stderr);
    assert!(one_line(&syslog).contains("cause=graph-send-as-denied"));
}

#[test]
fn a_revoked_cached_token_is_renewed_once() {
    let sb = sandbox();
    let ex = sb.exclusive();
    let scratch = Scratch::new("graph-renew");
    let syslog = SyslogCapture::new(&scratch);
    let conf = graph_conf(&ex, &scratch, &syslog, "", "");
    sendmail(&["-C", &conf, "renew@example.com"], b"Subject: 1\n\nx\n").expect(0);
    ex.control("revoke", "{}");
    sendmail(&["-C", &conf, "renew@example.com"], b"Subject: 2\n\nx\n").expect(0);
    assert_eq!(ex.graph_mail_for("renew@example.com").len(), 2);
    assert_eq!(ex.token_requests(), 2, "one fetch, one renewal");
}

#[test]
fn throttled_then_accepted_is_delivered_once() {
    let sb = sandbox();
    let (code, output, line) = with_faults(
        "graph-429",
        r#"[{"status":429,"code":"ApplicationThrottled","headers":{"Retry-After":"1"}}]"#,
        "",
        "throttled@example.com",
    );
    assert_eq!(code, 0, "{output}");
    assert!(line.contains("outcome=delivered"), "{line}");
    assert_eq!(sb.graph_mail_for("throttled@example.com").len(), 1);
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
