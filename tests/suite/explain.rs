//! `--explain` through the real binary: the text as argument or on stdin,
//! text and JSON output, exit 0 when something was recognised and 1 when
//! nothing was, no configuration needed, and the same for a caller the
//! program runs set-group-ID for. The scanner itself is table-tested in
//! `src/explain/tests.rs`.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use common::{Scratch, s, sendmail};

const POSTFIX: &str = "Nov 22 10:00:01 web1 postfix/smtp[1234]: 4BX1C2D3E4: to=<ops@example.com>, relay=smtp.office365.com[52.96.1.2]:587, dsn=4.7.0, status=deferred (SASL authentication failed; server smtp.office365.com[52.96.1.2] said: 535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [BN9PR03CA0123.namprd03.prod.outlook.com])";

const TOKEN: &str = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.","error_codes":[7000215]}"#;

#[test]
fn an_argument_is_explained() {
    let run = sendmail(&["--explain", POSTFIX], b"");
    run.expect(0);
    for words in [
        "Exchange Online SMTP reply (line 1): cause smtp-auth-disabled",
        "seen: 535 5.7.139 Authentication unsuccessful",
        "means: SMTP AUTH",
        "1. the tenant was created after January 2020",
        "Security Defaults",
        "Set-CASMailbox -Identity <user> -SmtpClientAuthenticationDisabled $false",
        "transport = \"graph\"",
        "exit 77 EX_NOPERM",
    ] {
        assert!(run.stdout.contains(words), "{words:?} in {}", run.stdout);
    }
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

/// Our own syslog lines name causes no Microsoft reply carries; each is
/// explained, with what it ends in.
#[test]
fn our_own_syslog_causes_are_explained() {
    let log = "Dec  2 10:00:00 web1 oauth2-sendmail[4242]: queue-id=6670A from=<a@x> outcome=queued cause=token-service-only\n\
               Dec  2 10:00:01 web1 oauth2-sendmail[4243]: queue-id=6670B from=<a@x> outcome=queued cause=background\n\
               Dec  2 10:00:02 web1 oauth2-sendmail[4244]: from=<a@x> outcome=failed exit=EX_CONFIG cause=managed-identity-missing\n";
    let run = sendmail(&["--explain"], log.as_bytes());
    run.expect(0);
    for words in [
        "oauth2-sendmail's own cause (line 1): cause token-service-only",
        "systemctl status oauth2-sendmail-queue.timer",
        "ends in: exit 75 (EX_TEMPFAIL)",
        "(line 2): cause background",
        "ends in: the message is queued: exit 0",
        "(line 3): cause managed-identity-missing",
        "azcmagent connect",
    ] {
        assert!(run.stdout.contains(words), "{words:?} in {}", run.stdout);
    }
    let json = sendmail(&["--explain", "--json", "cause=recipients-budget"], b"");
    json.expect(0);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let finding = &doc["findings"][0];
    assert_eq!(finding["source"], "oauth2-sendmail");
    assert_eq!(
        finding["exit"],
        serde_json::Value::Null,
        "a warning exits with nothing"
    );
    assert_eq!(finding["ends_in"], "a warning: nothing stops");
}

#[test]
fn stdin_is_read_when_there_is_no_argument() {
    let input = format!("unrelated first line\n{TOKEN}\n{POSTFIX}\n");
    let run = sendmail(&["--explain"], input.as_bytes());
    run.expect(0);
    let secret = run
        .stdout
        .find("Entra ID AADSTS7000215 (line 2): cause secret-invalid");
    let smtp = run.stdout.find("(line 3): cause smtp-auth-disabled");
    assert!(
        secret.is_some() && smtp > secret,
        "both, in order: {}",
        run.stdout
    );
    assert!(run.stdout.contains("Value (not the Secret ID)"));
}

#[test]
fn json_lists_every_finding() {
    let input = format!("{TOKEN}\n{POSTFIX}\n{{\"error\":{{\"code\":\"ErrorSendAsDenied\"}}}}\n");
    let run = sendmail(&["--explain", "--json"], input.as_bytes());
    run.expect(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(doc["recognised"], 3);
    let findings = doc["findings"].as_array().unwrap();
    let summary: Vec<(&str, &str, u64)> = findings
        .iter()
        .map(|f| {
            (
                f["source"].as_str().unwrap(),
                f["cause"].as_str().unwrap(),
                f["exit"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("entra", "secret-invalid", 78),
            ("exchange", "smtp-auth-disabled", 77),
            ("graph", "send-as-denied", 77),
        ]
    );
    assert_eq!(findings[0]["aadsts"], 7_000_215);
    assert!(findings[1]["causes"].as_array().unwrap().len() >= 2);
    assert!(findings[2]["fix"].as_str().unwrap().contains("SendAs"));
}

#[test]
fn unrelated_text_exits_1() {
    let run = sendmail(
        &[
            "--explain",
            "Nov 22 10:00:01 web1 postfix/smtp[1]: 4BX1: to=<a@example.com>, relay=mx.example.com[192.0.2.1]:25, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 12345)",
        ],
        b"",
    );
    run.expect(1);
    assert!(
        run.stdout
            .contains("No Entra ID, Exchange Online or Microsoft Graph failure recognised")
    );
    let run = sendmail(&["--explain", "--json"], b"hello\n");
    run.expect(1);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["recognised"], 0);
}

#[test]
fn an_unknown_aadsts_code_is_named_but_not_recognised() {
    let run = sendmail(
        &["--explain", "AADSTS99999999: something Entra added later"],
        b"",
    );
    run.expect(1);
    assert!(
        run.stdout
            .contains("AADSTS99999999: not in oauth2-sendmail's catalogue"),
        "{}",
        run.stdout
    );
}

#[test]
fn no_configuration_is_read() {
    // -C naming a file that does not exist changes nothing.
    let run = sendmail(
        &["-C", "/nonexistent/sendmail.conf", "--explain", POSTFIX],
        b"",
    );
    run.expect(0);
    assert!(run.stdout.contains("smtp-auth-disabled"));
}

#[test]
fn explain_goes_alone_and_json_only_with_it_or_check() {
    let run = sendmail(&["--json", "a@example.com"], b"");
    run.expect(64);
    assert!(
        run.stderr.contains("--json goes with --check or --explain"),
        "{}",
        run.stderr
    );
}

/// A caller the binary runs set-group-ID for gets the same explanation:
/// --explain needs no rights and reads no file.
#[test]
fn a_set_group_id_caller_needs_nothing() {
    const GROUP: u32 = 3_999_200;
    const USER: u32 = 3_999_201;
    let scratch = Scratch::new("explain-setgid");
    std::fs::set_permissions(&scratch.path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let binary = scratch.join("sendmail");
    common::copy_binary(&binary);
    std::os::unix::fs::chown(&binary, Some(0), Some(GROUP)).unwrap();
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o2755)).unwrap();
    let output = Command::new(s(&binary))
        .args(["--explain", POSTFIX])
        .uid(USER)
        .gid(USER)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("cause smtp-auth-disabled"), "{stdout}");
}
