//! The draft path of large messages through the binary: a part taken out
//! of the draft goes in one request under 3 MB and through an upload
//! session from 3 MB (the look-alike refuses a smaller session, as Graph
//! does), every byte delivered; a draft whose attachment or `send` fails
//! is deleted, and a failed delete does not hide the first failure.

use super::*;

/// A message whose largest attachment (3.5 MB) goes through an upload
/// session, the next (2.5 MB) is taken out of the draft too but posted,
/// and the smallest (1.5 MB) stays in the draft; with the three contents.
fn three_sizes(to: &str) -> (Vec<u8>, [Vec<u8>; 3]) {
    let big = noise(3_500_000, 21);
    let mid = noise(2_500_000, 22);
    let small = noise(1_500_000, 23);
    let message = with_attachments(
        to,
        &[("big.bin", &big), ("mid.bin", &mid), ("small.bin", &small)],
    );
    (message, [big, mid, small])
}

#[test]
fn parts_under_3_mb_are_posted_and_larger_ones_uploaded_every_byte_delivered() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("graph-parts");
    let syslog = SyslogCapture::new(&scratch);
    let conf = graph_conf(sb, &scratch, &syslog, "", "");
    let (message, [big, mid, small]) = three_sizes("parts@example.com");
    let run = sendmail(&["-C", &conf, "-v", "parts@example.com"], &message);
    run.expect(0);
    let lines: Vec<&str> = run.stderr.lines().collect();
    let sessions: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("/attachments/createUploadSession "))
        .collect();
    assert_eq!(sessions.len(), 1, "{}", run.stderr);
    assert!(sessions[0].contains("big.bin"), "{}", sessions[0]);
    let posted: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("/attachments Authorization: Bearer <redacted>"))
        .collect();
    assert_eq!(posted.len(), 1, "{}", run.stderr);
    assert!(posted[0].contains("mid.bin"), "{}", posted[0]);
    assert!(
        !run.stderr.contains("small.bin"),
        "small.bin stays in the draft"
    );
    assert!(run.stderr.contains("PUT <uploadUrl>"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("/upload/"),
        "no uploadUrl in the transcript"
    );
    assert!(!run.stderr.contains("DELETE"), "nothing to clean up");
    let mut tokens = 0;
    for entry in std::fs::read_dir(scratch.join("cache")).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        if let Some(token) = text.lines().find_map(|l| l.strip_prefix("token ")) {
            tokens += 1;
            assert!(!common::leaks(&run.output(), token), "the token leaked");
        }
    }
    assert_eq!(tokens, 1, "Graph's token, checked against the transcript");
    let got = sb.graph_mail_for("parts@example.com");
    assert_eq!(got.len(), 1);
    let delivered = &got[0].message;
    assert!(
        attachment(delivered, "big.bin") == big,
        "big.bin, byte for byte"
    );
    assert!(
        attachment(delivered, "mid.bin") == mid,
        "mid.bin, byte for byte"
    );
    assert!(
        attachment(delivered, "small.bin") == small,
        "small.bin, byte for byte"
    );
    assert!(one_line(&syslog).contains("outcome=delivered"));
}

/// Sends the three-sized message with `faults` queued; returns the run,
/// the log line of the message and the look-alike's counters after it.
fn failing(
    ex: &Sandbox,
    name: &str,
    faults: &str,
    rcpt: &str,
) -> (common::Run, String, serde_json::Value) {
    let scratch = Scratch::new(name);
    let syslog = SyslogCapture::new(&scratch);
    let conf = graph_conf(ex, &scratch, &syslog, "", "");
    ex.graph_faults(faults);
    let (message, _) = three_sizes(rcpt);
    let run = sendmail(&["-C", &conf, "-v", rcpt], &message);
    let line = syslog.lines().join("\n");
    (run, line, ex.graph_stats())
}

#[test]
fn a_draft_whose_session_upload_attachment_or_send_fails_is_deleted() {
    let sb = sandbox();
    let ex = sb.exclusive();
    for at in ["session", "upload", "attachment", "send"] {
        let rcpt = format!("fail-{at}@example.com");
        let before = ex.graph_stats()["deleted"].as_u64().unwrap();
        let (run, log, stats) = failing(
            &ex,
            &format!("graph-fail-{at}"),
            &format!(r#"[{{"at":"{at}","status":500,"code":"InternalServerError"}}]"#),
            &rcpt,
        );
        run.expect(75);
        assert!(log.contains("cause=graph-unavailable"), "{at}: {log}");
        assert!(run.stderr.contains("InternalServerError"), "{}", run.stderr);
        assert_eq!(stats["faults_pending"], 0, "{at}: the fault struck");
        assert_eq!(stats["drafts"], 0, "{at}: no draft left behind");
        assert_eq!(stats["deleted"].as_u64().unwrap(), before + 1, "{at}");
        assert!(run.stderr.contains("graph: DELETE "), "{}", run.stderr);
        assert!(
            ex.graph_mail_for(&rcpt).is_empty(),
            "{at}: nothing delivered"
        );
    }
}

#[test]
fn a_failed_delete_is_a_warning_and_the_first_failure_is_reported() {
    let sb = sandbox();
    let ex = sb.exclusive();
    // (delete's fault, a warning): a 404 means the draft is gone already.
    let cases = [
        (r#"{"status":409,"code":"ErrorIrresolvableConflict"}"#, true),
        (r#"{"status":404,"code":"ErrorItemNotFound"}"#, false),
    ];
    for (i, (fault, warned)) in cases.into_iter().enumerate() {
        let rcpt = format!("fail-delete-{i}@example.com");
        let (run, log, stats) = failing(
            &ex,
            &format!("graph-fail-delete-{i}"),
            &format!(
                r#"[{{"at":"upload","status":500,"code":"InternalServerError"}},
                    {}]"#,
                fault.replacen('{', r#"{"at":"delete","#, 1)
            ),
            &rcpt,
        );
        // The upload's 500 (temporary, 75), not the delete's 409 or 404.
        run.expect(75);
        assert!(log.contains("cause=graph-unavailable"), "{log}");
        assert_eq!(log.contains("could not be deleted"), warned, "{log}");
        assert_eq!(log.contains("ErrorIrresolvableConflict"), warned, "{log}");
        assert_eq!(stats["faults_pending"], 0, "{fault}");
        assert_eq!(
            stats["deleted"], 0,
            "{fault}: the look-alike deleted nothing"
        );
        assert!(ex.graph_mail_for(&rcpt).is_empty());
    }
}
