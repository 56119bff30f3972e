//! `oauth2-sendmail --check` against the sandbox's real servers (and the
//! scripted peer for what Postfix will not do): a good configuration
//! passes, each broken one fails at the right step with the right hint,
//! and `--json` says the same as the text.

use crate::common;

use std::io::Seek;
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::Value;

use common::fake_smtp::{Behaviour, FakeSmtp, sandbox_identity, untrusted_identity};
use common::sandbox::{Sandbox, sandbox};
use common::{BIN, Run, Scratch, Settings, SyslogCapture, leaks, s, sendmail};

mod broken;

/// Writes the configuration readable by its owner only, with a token cache
/// directory laid out as the package does (so neither earns a warning).
fn write_private(settings: &Settings, scratch: &Scratch) -> PathBuf {
    let conf = settings.write(scratch);
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).unwrap();
    if !settings.cache_dir.exists() {
        std::fs::create_dir_all(&settings.cache_dir).unwrap();
        std::fs::set_permissions(&settings.cache_dir, std::fs::Permissions::from_mode(0o2770))
            .unwrap();
    }
    conf
}

fn check(conf: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["--check", "-C", s(conf)];
    args.extend_from_slice(extra);
    sendmail(&args, b"")
}

fn json(conf: &Path) -> Value {
    let run = check(conf, &["--json"]);
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("--json output is JSON ({e}): {}", run.stdout))
}

/// (title, verdict) of each step line of the text report.
fn text_verdicts(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("  ")?;
            let verdict = match rest.get(..5)? {
                "ok   " => "pass",
                "warn " => "warn",
                "FAIL " => "fail",
                "skip " => "skip",
                _ => return None,
            };
            let title = rest.get(5..23)?.trim_end().to_string();
            Some((title, verdict.to_string()))
        })
        .collect()
}

fn json_verdicts(json: &Value) -> Vec<(String, String)> {
    json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["title"].as_str().unwrap().to_string(),
                s["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn step<'a>(json: &'a Value, id: &str) -> &'a Value {
    json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id}: {json:#}"))
}

/// Runs text and JSON, checks they agree and that the first failure is
/// `id` with `exit`, `cause` and a hint naming `fix`; returns the JSON.
#[track_caller]
fn fails_at(conf: &Path, id: &str, exit: i32, cause: &str, fix: &str) -> Value {
    let text = check(conf, &[]);
    text.expect(exit);
    let json = json(conf);
    assert_eq!(
        text_verdicts(&text.stdout),
        json_verdicts(&json),
        "text and JSON agree: {}",
        text.stdout
    );
    assert_eq!(json["exit"], exit);
    assert_eq!(json["failed"][0], id, "{json:#}");
    assert_eq!(json["cause"], cause, "{json:#}");
    let failed = step(&json, id);
    let hint = failed["hint"].as_str().unwrap_or("");
    assert!(hint.contains(fix), "{id}: hint names {fix:?}: {hint}");
    assert!(
        text.stdout.contains(&format!("hint: {hint}")),
        "the text shows the hint: {}",
        text.stdout
    );
    json
}

#[test]
fn a_good_configuration_passes_without_reading_stdin_or_touching_the_cache() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("check-good");
    let syslog = SyslogCapture::new(&scratch);
    let mut settings = sb.settings(&scratch);
    settings.syslog_socket = Some(syslog.path.clone());
    let conf = write_private(&settings, &scratch);

    // stdin is a file; reading any of it would move the shared offset.
    let input_path = scratch.join("stdin");
    std::fs::write(&input_path, "Subject: not for --check\n\nbody\n").unwrap();
    let mut input = std::fs::File::open(&input_path).unwrap();
    let output = Command::new(BIN)
        .args(["--check", "-C", s(&conf)])
        .stdin(Stdio::from(input.try_clone().unwrap()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert_eq!(input.stream_position().unwrap(), 0, "--check read stdin");

    assert!(stdout.contains("Result: all checks passed"), "{stdout}");
    assert!(
        !stdout.contains("FAIL") && !stdout.contains('\x1b'),
        "{stdout}"
    );
    let verdicts = text_verdicts(&stdout);
    for title in [
        "configuration",
        "file permissions",
        "credential",
        "token",
        "token audience",
        "token roles",
        "token tenant",
        "token application",
        "SMTP server",
        "SMTP login",
        "token cache",
        "queue",
    ] {
        assert!(
            verdicts.contains(&(title.to_string(), "pass".to_string())),
            "{title} passes: {stdout}"
        );
    }
    for want in [
        "valid for 3599 s",
        "https://outlook.office365.com (Exchange Online)",
        "SMTP.SendAsApp",
        &format!("{} (tenant is set to the domain", sb.str("tenant_id")),
        "STARTTLS: TLSv1.",
        "certificate O=oauth2-sendmail sandbox, CN=localhost",
        "235 2.7.0 Authentication successful",
        "no queue configured",
    ] {
        assert!(stdout.contains(want), "{want:?} in {stdout}");
    }
    assert!(!leaks(&stdout, &sb.str("client_secret")));
    assert_eq!(
        std::fs::read_dir(scratch.join("cache")).unwrap().count(),
        0,
        "--check neither reads nor writes the token cache"
    );
    assert!(
        syslog.lines().is_empty(),
        "a check without --to logs nothing"
    );
}

#[test]
fn json_parses_and_agrees_with_the_text() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("check-json");
    let conf = write_private(&sb.settings(&scratch), &scratch);
    let text = check(&conf, &[]);
    text.expect(0);
    let json = json(&conf);
    assert_eq!(json["ok"], true);
    assert_eq!(json["exit"], 0);
    assert_eq!(json["exit_name"], "EX_OK");
    assert_eq!(json["failed"], serde_json::json!([]));
    assert_eq!(text_verdicts(&text.stdout), json_verdicts(&json));
    let ids: Vec<&str> = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "config",
            "permissions",
            "credential",
            "tenant",
            "token",
            "token.aud",
            "token.roles",
            "token.tid",
            "token.appid",
            "smtp.connect",
            "smtp.tls",
            "smtp.auth",
            "cache",
            "queue",
            "limits"
        ]
    );
    assert!(step(&json, "token")["seconds"].as_f64().unwrap() > 0.0);
    assert!(
        step(&json, "smtp.tls")["details"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d.as_str().unwrap().starts_with("valid until "))
    );
}

/// Settings that point at the scripted peer.
fn fake_settings(sb: &Sandbox, fake: &FakeSmtp, scratch: &Scratch) -> PathBuf {
    write_private(&sb.peer_settings(scratch, fake.port), scratch)
}

#[test]
fn no_starttls_fails_at_tls_and_sends_no_credential() {
    let sb = sandbox();
    let _shared = sb.shared();
    let mut b = Behaviour::good(sandbox_identity(&sb.dir));
    b.offer_starttls = false;
    let fake = FakeSmtp::start(b);
    let scratch = Scratch::new("check-nostarttls");
    let conf = fake_settings(sb, &fake, &scratch);
    let json = fails_at(&conf, "smtp.tls", 76, "starttls-missing", "smtp.port");
    assert_eq!(step(&json, "smtp.auth")["verdict"], "skip");
    let r = fake.record();
    assert!(
        r.tokens.is_empty() && !r.commands.iter().any(|c| c.starts_with("AUTH")),
        "{:?}",
        r.commands
    );
}

#[test]
fn an_untrusted_certificate_fails_at_tls_and_sends_no_credential() {
    let sb = sandbox();
    let _shared = sb.shared();
    let fake = FakeSmtp::start(Behaviour::good(untrusted_identity()));
    let scratch = Scratch::new("check-untrusted");
    let conf = fake_settings(sb, &fake, &scratch);
    let json = fails_at(&conf, "smtp.tls", 76, "tls-untrusted", "ca_file");
    assert!(
        step(&json, "smtp.tls")["summary"]
            .as_str()
            .unwrap()
            .contains("TLS with localhost failed")
    );
    assert!(fake.record().tokens.is_empty());
}

#[test]
fn implicit_tls_is_checked_too() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("check-implicit");
    let mut settings = sb.settings(&scratch);
    settings.port = sb.port("smtps_port");
    settings.tls = "tls";
    let conf = write_private(&settings, &scratch);
    let json = json(&conf);
    assert_eq!(json["ok"], true, "{json:#}");
    let tls = step(&json, "smtp.tls")["summary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(tls.starts_with("implicit TLS: TLSv1."), "{tls}");
}

#[test]
fn an_unwritable_cache_fails_for_the_user_who_runs_the_check() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("check-cache");
    std::fs::set_permissions(&scratch.path, std::fs::Permissions::from_mode(0o755)).unwrap();
    const NOBODY: u32 = 65534;
    // What nobody needs to read, in a place nobody can reach; the secret
    // in a file only nobody can read (an inline one would be exposed).
    let ca = scratch.join("ca.pem");
    std::fs::copy(sb.ca_file(), &ca).unwrap();
    let secret = scratch.join("secret");
    std::fs::write(&secret, sb.str("client_secret")).unwrap();
    chown(&secret, Some(NOBODY), Some(NOBODY)).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let binary = scratch.join("oauth2-sendmail");
    common::copy_binary(&binary);
    let cache = scratch.join("cache");
    std::fs::create_dir(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut settings = sb.settings(&scratch);
    settings.ca_file = Some(ca);
    let text = settings.render().replace(
        &format!("client_secret = \"{}\"", sb.str("client_secret")),
        &format!("client_secret_file = \"{}\"", secret.display()),
    );
    let conf = scratch.join("sendmail.conf");
    std::fs::write(&conf, text).unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();

    let output = Command::new(&binary)
        .args(["--check", "--json", "-C", s(&conf)])
        .uid(NOBODY)
        .gid(NOBODY)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(output.status.code(), Some(73), "{json:#}");
    assert_eq!(json["failed"], serde_json::json!(["cache"]), "{json:#}");
    assert_eq!(json["cause"], "cache-unwritable");
    let cache_step = step(&json, "cache");
    assert!(
        cache_step["summary"]
            .as_str()
            .unwrap()
            .contains("is not writable: Permission denied"),
        "{cache_step}"
    );
    assert!(
        cache_step["hint"]
            .as_str()
            .unwrap()
            .contains("install -d -m 2770 -o root -g oauth2-sendmail")
    );
    assert_eq!(step(&json, "smtp.auth")["verdict"], "pass");
}

#[test]
fn check_to_sends_a_test_message_and_logs_it() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("check-to");
    let syslog = SyslogCapture::new(&scratch);
    let mut settings = sb.settings(&scratch);
    settings.syslog_socket = Some(syslog.path.clone());
    let conf = write_private(&settings, &scratch);
    let run = check(&conf, &["--to", "check-to@example.com"]);
    run.expect(0);
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("test message"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(
        line.starts_with("  ok   test message       accepted for check-to@example.com: 250"),
        "{line}"
    );
    let got = sb.wait_for_mail("check-to@example.com", 1);
    assert!(
        got[0]
            .field("Subject")
            .is_some_and(|s| s.starts_with("oauth2-sendmail test message from ")),
        "{}",
        got[0].header()
    );
    assert_eq!(got[0].sender, sb.str("user"));
    let lines = syslog.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("outcome=delivered") && lines[0].contains("to=<check-to@example.com>")
    );
}

#[test]
fn check_to_needs_a_full_address() {
    let scratch = Scratch::new("check-to-bad");
    let run = check(&scratch.join("x.conf"), &["--to", "not an address"]);
    run.expect(64);
    assert!(run.stderr.contains("--to"), "{}", run.stderr);
}

#[test]
fn a_certificate_credential_shows_its_thumbprint() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("check-cert");
    let client = sb.client("certificate");
    let mut settings = sb.settings(&scratch);
    settings.client_id = client["client_id"].as_str().unwrap().into();
    let text = settings.render().replace(
        &format!("client_secret = \"{}\"", sb.str("client_secret")),
        &format!(
            "certificate_file = \"{}\"\nprivate_key_file = \"{}\"",
            client["certificate_file"].as_str().unwrap(),
            client["private_key_file"].as_str().unwrap(),
        ),
    );
    let conf = scratch.join("sendmail.conf");
    std::fs::write(&conf, text).unwrap();
    let json = json(&conf);
    let credential = step(&json, "credential");
    assert_eq!(credential["verdict"], "pass", "{credential}");
    let sha1 = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(client["x5t"].as_str().unwrap().trim_end_matches('='))
        .unwrap();
    let hex: String = sha1.iter().map(|b| format!("{b:02X}")).collect();
    assert!(
        credential["details"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d.as_str().unwrap().ends_with(&hex)),
        "the portal's thumbprint {hex}: {credential}"
    );
}

#[test]
fn verbose_check_shows_the_transcript_with_credentials_redacted() {
    let sb = sandbox();
    let _shared = sb.shared();
    let fake = FakeSmtp::start(Behaviour::good(sandbox_identity(&sb.dir)));
    let scratch = Scratch::new("check-verbose");
    let conf = fake_settings(sb, &fake, &scratch);
    let run = check(&conf, &["-v", "--to", "v@example.com"]);
    run.expect(0);
    for want in [
        "* token: POST ",
        "client_secret=<redacted>",
        "* token: HTTP 200, expires_in 3599 s, access_token=<redacted> (",
        "smtp< 220 fake.test ESMTP ready",
        "smtp> EHLO ",
        "smtp> STARTTLS",
        "* TLS established: TLSv1.",
        "smtp> AUTH XOAUTH2 <redacted>",
        "smtp< 235 2.7.0 Authentication successful",
        "smtp> MAIL FROM:<alerts@contoso.test>",
        "smtp> RCPT TO:<v@example.com>",
        "* message data: ",
        "smtp> .",
        "smtp< 250 2.0.0 OK queued",
    ] {
        assert!(run.stderr.contains(want), "{want:?} in {}", run.stderr);
    }
    let tokens = fake.record().tokens;
    assert_eq!(tokens.len(), 1);
    for text in [&run.stdout, &run.stderr] {
        assert!(!leaks(text, &tokens[0]) && !leaks(text, &sb.str("client_secret")));
    }
}

#[test]
fn verbose_shows_entras_error_with_its_ids() {
    let sb = sandbox();
    let sb = sb.exclusive();
    let body = serde_json::json!({
        "error": "invalid_client",
        "error_description": "AADSTS7000222: The provided client secret keys for app 'x' are expired.\r\nTrace ID: t-7000222\r\nCorrelation ID: c-7000222\r\nTimestamp: 2026-11-22 10:00:00Z",
        "error_codes": [7000222],
        "timestamp": "2026-11-22 10:00:00Z",
        "trace_id": "t-7000222",
        "correlation_id": "c-7000222",
    });
    let mode = serde_json::json!({"mode": "status", "status": 401, "body": body});
    sb.control("mode", &mode.to_string());
    let scratch = Scratch::new("check-verbose-entra");
    let conf = write_private(&sb.settings(&scratch), &scratch);
    let run = sendmail(
        &["-v", "-C", s(&conf), "a@example.com"],
        b"Subject: x\n\nx\n",
    );
    run.expect(78);
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("* token: HTTP 401"))
        .unwrap_or_else(|| panic!("{}", run.stderr));
    for want in [
        "invalid_client",
        "AADSTS7000222",
        "trace ID t-7000222",
        "correlation ID c-7000222",
    ] {
        assert!(line.contains(want), "{want} in {line}");
    }
}

#[test]
fn a_configured_queue_shows_its_size() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("check-queue");
    let mut settings = sb.settings(&scratch);
    settings.extra = format!("\n[queue]\ndir = \"{}\"\n", scratch.join("queue").display());
    let conf = write_private(&settings, &scratch);
    let run = check(&conf, &[]);
    run.expect(0);
    assert!(
        run.stdout.contains("0 messages queued, 0 in failed/"),
        "{}",
        run.stdout
    );
}
