//! Graph's refusals and transient failures through the binary: each has
//! its exit code and cause; a revoked token is renewed once; throttling
//! and unavailability end in exactly one delivery.

use super::*;

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
