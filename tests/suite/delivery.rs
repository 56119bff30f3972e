//! End to end against real servers on loopback: the built binary, Postfix
//! (submission with STARTTLS) with Dovecot validating XOAUTH2 tokens, and
//! the HTTPS token endpoint of the sandbox.

use crate::common;

use common::sandbox::sandbox;
use common::{Scratch, SyslogCapture, leaks, s, sendmail};

/// Reads the cached token a run left behind (to check it never leaked).
fn cached_token(scratch: &Scratch) -> String {
    let dir = scratch.join("cache");
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        if let Some(token) = text.lines().find_map(|l| l.strip_prefix("token ")) {
            return token.to_string();
        }
    }
    panic!("no cached token in {}", dir.display());
}

#[test]
fn bcc_removed_date_and_message_id_added_both_recipients_served() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("e2e");
    let syslog = SyslogCapture::new(&scratch);
    let mut settings = sb.settings(&scratch);
    settings.syslog_socket = Some(syslog.path.clone());
    let conf = settings.write(&scratch);
    let message = "To: e2e-to@example.com\nBcc: e2e-bcc@example.com\nSubject: hi\n\nbody\n";

    let run = sendmail(&["-C", s(&conf), "-t", "-i"], message.as_bytes());
    run.expect(0);
    assert_eq!(run.output(), "", "a successful send prints nothing");

    for rcpt in ["e2e-to@example.com", "e2e-bcc@example.com"] {
        let got = sb.wait_for_mail(rcpt, 1);
        assert_eq!(got.len(), 1, "{rcpt}: exactly one copy");
        let m = &got[0];
        assert_eq!(m.sender, sb.str("user"), "envelope sender is the mailbox");
        assert_eq!(
            m.field("Bcc"),
            None,
            "{rcpt}: Bcc must be removed:\n{}",
            m.header()
        );
        assert_eq!(m.field("To").as_deref(), Some("e2e-to@example.com"));
        assert_eq!(m.field("Subject").as_deref(), Some("hi"));
        assert!(
            m.field("Date").is_some_and(|d| d.ends_with("+0000")),
            "{}",
            m.header()
        );
        assert!(
            m.field("Message-ID")
                .is_some_and(|id| id.starts_with('<') && id.ends_with('>'))
        );
        assert_eq!(m.field("From"), Some(sb.str("user")));
        assert_eq!(m.body(), b"body\n", "body bytes unchanged");
    }

    let lines = syslog.lines();
    assert_eq!(lines.len(), 1, "one syslog line per message: {lines:?}");
    let line = &lines[0];
    assert!(line.contains("outcome=delivered"), "{line}");
    assert!(
        line.contains("to=<e2e-to@example.com>,<e2e-bcc@example.com>"),
        "{line}"
    );
    assert!(line.contains("smtp=\"250"), "{line}");
    let token = cached_token(&scratch);
    for text in [&run.output(), line] {
        assert!(!leaks(text, &token) && !leaks(text, &sb.str("client_secret")));
    }
}

#[test]
fn second_send_reuses_the_cached_token() {
    let sb = sandbox();
    let sb = sb.exclusive();
    let scratch = Scratch::new("reuse");
    let conf = sb.settings(&scratch).write(&scratch);
    for n in 0..2 {
        sendmail(
            &["-C", s(&conf), "-i", "reuse@example.com"],
            format!("Subject: {n}\n\nx\n").as_bytes(),
        )
        .expect(0);
    }
    sb.wait_for_mail("reuse@example.com", 2);
    assert_eq!(
        sb.token_requests(),
        1,
        "the second send must use the cached token"
    );
}

#[test]
fn twenty_parallel_sends_with_a_cold_cache_make_one_token_request() {
    let sb = sandbox();
    let sb = sb.exclusive();
    let scratch = Scratch::new("parallel");
    let conf = sb.settings(&scratch).write(&scratch);
    let handles: Vec<_> = (0..20)
        .map(|n| {
            let conf = conf.clone();
            std::thread::spawn(move || {
                sendmail(
                    &["-C", s(&conf), "-i", &format!("parallel-{n}@example.com")],
                    b"Subject: p\n\nx\n",
                )
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap().expect(0);
    }
    for n in 0..20 {
        sb.wait_for_mail(&format!("parallel-{n}@example.com"), 1);
    }
    assert_eq!(
        sb.token_requests(),
        1,
        "one token request for 20 cold sends"
    );
}

#[test]
fn a_25_mb_message_arrives_intact() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("large");
    let conf = sb.settings(&scratch).write(&scratch);
    let mut body = Vec::with_capacity(26 * 1024 * 1024);
    let mut n = 0u64;
    while body.len() < 25 * 1024 * 1024 {
        // Lines of varying length, some starting with a dot, none exactly ".".
        n += 1;
        let line = format!(
            "{}line {n} {}\n",
            if n.is_multiple_of(7) { "." } else { "" },
            "x".repeat((n % 120) as usize)
        );
        body.extend_from_slice(line.as_bytes());
    }
    let mut message = b"Subject: large\n\n".to_vec();
    message.extend_from_slice(&body);
    sendmail(&["-C", s(&conf), "-i", "large@example.com"], &message).expect(0);
    let got = sb.wait_for_mail("large@example.com", 1);
    assert!(
        got[0].body() == body.as_slice(),
        "the 25 MB body arrived changed ({} vs {} bytes)",
        got[0].body().len(),
        body.len()
    );
}

#[test]
fn implicit_tls_port_works() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("implicit");
    let mut settings = sb.settings(&scratch);
    settings.port = sb.port("smtps_port");
    settings.tls = "tls";
    let conf = settings.write(&scratch);
    sendmail(
        &["-C", s(&conf), "implicit@example.com"],
        b"Subject: implicit\n\nhello\n",
    )
    .expect(0);
    assert_eq!(
        sb.wait_for_mail("implicit@example.com", 1)[0].body(),
        b"hello\n"
    );
}

#[test]
fn lone_dot_ends_the_message_without_dash_i() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("dot");
    let conf = sb.settings(&scratch).write(&scratch);
    sendmail(
        &["-C", s(&conf), "dot@example.com"],
        b"Subject: dot\n\nbefore\n.\nafter\n",
    )
    .expect(0);
    sendmail(
        &["-C", s(&conf), "-i", "dot-i@example.com"],
        b"Subject: dot\n\nbefore\n.\nafter\n",
    )
    .expect(0);
    assert_eq!(
        sb.wait_for_mail("dot@example.com", 1)[0].body(),
        b"before\n"
    );
    assert_eq!(
        sb.wait_for_mail("dot-i@example.com", 1)[0].body(),
        b"before\n.\nafter\n"
    );
}

#[test]
fn entra_errors_name_the_code_the_ids_and_the_fix() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("entra");
    let syslog = SyslogCapture::new(&scratch);
    /// change to the settings, exit code, text in the message, text in the hint.
    type Case<'a> = (Box<dyn Fn(&mut common::Settings)>, i32, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            Box::new(|c| c.secret = "wrong-secret".into()),
            78,
            "AADSTS7000215",
            "Value",
        ),
        (
            Box::new(|c| c.client_id = "99999999-9999-9999-9999-999999999999".into()),
            78,
            "AADSTS700016",
            "Application (client) ID",
        ),
        (
            Box::new(|c| c.tenant = "nosuchtenant.onmicrosoft.com".into()),
            78,
            "AADSTS90002",
            "Directory (tenant) ID",
        ),
        (
            Box::new(|c| {
                c.client_id = sandbox().client("expired_secret")["client_id"]
                    .as_str()
                    .unwrap()
                    .into();
                c.secret = sandbox().client("expired_secret")["client_secret"]
                    .as_str()
                    .unwrap()
                    .into();
            }),
            78,
            "AADSTS7000222",
            "expired",
        ),
    ];
    for (change, code, text, hint) in cases {
        let mut settings = sb.settings(&scratch);
        settings.syslog_socket = Some(syslog.path.clone());
        change(&mut settings);
        let conf = settings.write(&scratch);
        let run = sendmail(&["-C", s(&conf), "entra@example.com"], b"Subject: x\n\nx\n");
        run.expect(code);
        let err = &run.stderr;
        assert!(err.contains(text), "{err}");
        assert!(
            err.contains("trace ID") && err.contains("correlation ID"),
            "{err}"
        );
        assert!(err.contains("hint:") && err.contains(hint), "{err}");
        assert_eq!(err.lines().count(), 1, "one stderr line: {err}");
        assert!(!leaks(err, &settings.secret), "the secret leaked: {err}");
    }
    for line in syslog.lines() {
        assert!(line.contains("outcome=failed"), "{line}");
        assert!(
            !leaks(&line, &sb.str("client_secret")) && !line.contains("wrong-secret"),
            "{line}"
        );
    }
}

#[test]
fn a_token_without_the_role_is_refused_by_the_server() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("norole");
    let mut settings = sb.settings(&scratch);
    let client = sb.client("no_role");
    settings.client_id = client["client_id"].as_str().unwrap().into();
    settings.secret = client["client_secret"].as_str().unwrap().into();
    let conf = settings.write(&scratch);
    let run = sendmail(
        &["-C", s(&conf), "-v", "norole@example.com"],
        b"Subject: x\n\nx\n",
    );
    run.expect(77);
    assert!(run.stderr.contains("535"), "{}", run.stderr);
    assert!(
        run.stderr.contains("SMTP.SendAsApp"),
        "the hint names the permission: {}",
        run.stderr
    );
    // Sandbox tokens are JWTs ("eyJ….eyJ….sig"); none may appear, the rejected one included.
    assert!(
        !run.output().contains(".eyJ"),
        "-v must not show the token: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("AUTH XOAUTH2 <redacted>"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_mailbox_the_application_may_not_use_is_refused() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("mailbox");
    let mut settings = sb.settings(&scratch);
    settings.user = "other@contoso.test".into();
    let conf = settings.write(&scratch);
    let run = sendmail(
        &["-C", s(&conf), "mailbox@example.com"],
        b"Subject: x\n\nx\n",
    );
    run.expect(77);
    assert!(run.stderr.contains("535"), "{}", run.stderr);
}

#[test]
fn token_endpoint_down_or_hanging_is_a_temporary_failure() {
    let sb = sandbox();
    let sb = sb.exclusive();
    let scratch = Scratch::new("down");
    let mut settings = sb.settings(&scratch);
    settings.token_timeout = 2;
    let conf = settings.write(&scratch);
    for mode in [
        r#"{"mode":"status","status":503}"#,
        r#"{"mode":"close"}"#,
        r#"{"mode":"hang"}"#,
    ] {
        sb.control("mode", mode);
        let run = sendmail(&["-C", s(&conf), "down@example.com"], b"Subject: x\n\nx\n");
        run.expect(75);
        assert!(run.stderr.contains("token"), "{mode}: {}", run.stderr);
    }
    sb.control("mode", r#"{"mode":"normal"}"#);
    let unreachable = {
        let mut s2 = settings.clone();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        s2.token_url = format!("https://127.0.0.1:{port}/{{tenant}}/oauth2/v2.0/token");
        s2.write(&scratch)
    };
    let run = sendmail(
        &["-C", s(&unreachable), "down@example.com"],
        b"Subject: x\n\nx\n",
    );
    run.expect(75);
    assert!(run.stderr.contains("unreachable"), "{}", run.stderr);
}

#[test]
fn a_revoked_cached_token_is_replaced_once() {
    let sb = sandbox();
    let sb = sb.exclusive();
    let scratch = Scratch::new("revoked");
    let conf = sb.settings(&scratch).write(&scratch);
    sendmail(
        &["-C", s(&conf), "revoked@example.com"],
        b"Subject: 1\n\nx\n",
    )
    .expect(0);
    let first = cached_token(&scratch);
    sb.control("revoke", "{}");
    sendmail(
        &["-C", s(&conf), "revoked@example.com"],
        b"Subject: 2\n\nx\n",
    )
    .expect(0);
    assert_ne!(
        cached_token(&scratch),
        first,
        "the rejected token was replaced"
    );
    assert_eq!(sb.token_requests(), 2);
    sb.wait_for_mail("revoked@example.com", 2);
}

#[test]
fn expires_in_as_a_string_is_understood() {
    let sb = sandbox();
    let sb = sb.exclusive();
    sb.control("mode", r#"{"mode":"normal","expires_in_as_string":true}"#);
    let scratch = Scratch::new("string");
    let conf = sb.settings(&scratch).write(&scratch);
    sendmail(
        &["-C", s(&conf), "string@example.com"],
        b"Subject: s\n\nx\n",
    )
    .expect(0);
    sendmail(
        &["-C", s(&conf), "string@example.com"],
        b"Subject: s\n\nx\n",
    )
    .expect(0);
    assert_eq!(sb.token_requests(), 1);
}
