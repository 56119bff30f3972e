//! The configuration file end to end: text in, [`Config`] or a located
//! error out, and the credential resolved from it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::cause::Cause;
use crate::error::Result;

const MINIMAL: &str = r#"
tenant = "contoso.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
client_secret = "abc~+/=.def"
user = "alerts@contoso.com"
"#;

fn parse_str(text: &str) -> Result<Config> {
    parse(text, Path::new("test.conf"))
}

#[track_caller]
fn err(text: &str, needle: &str) {
    match parse_str(text) {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(e) => {
            assert_eq!(e.exit_code(), 78);
            assert!(
                e.message().contains(needle),
                "{:?} lacks {needle:?}",
                e.message()
            );
        }
    }
}

#[test]
fn minimal_file_gets_every_default() {
    let c = parse_str(MINIMAL).unwrap();
    assert_eq!(c.from, "alerts@contoso.com");
    assert_eq!(c.smtp.host, "smtp.office365.com");
    assert_eq!(c.smtp.port, 587);
    assert_eq!(c.smtp.tls, TlsMode::StartTls);
    assert_eq!(c.smtp.timeout, Duration::from_secs(60));
    assert_eq!(
        c.token.url,
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    );
    assert_eq!(c.token.scope, "https://outlook.office365.com/.default");
    assert_eq!(c.token.grace, Duration::from_secs(900));
    assert_eq!(
        c.token.cache_dir,
        PathBuf::from("/var/cache/oauth2-sendmail")
    );
    assert_eq!(c.token.proxy, None);
    assert_eq!(c.queue, None);
    assert_eq!(c.addresses.default_domain, "contoso.com");
    assert_eq!(c.addresses.from_policy, FromPolicy::Rewrite);
    assert!(!c.addresses.allow_from_override);
    assert_eq!(c.max_message_size, 35 * 1024 * 1024);
    assert_eq!(c.client_secret().unwrap().expose(), "abc~+/=.def");
}

#[test]
fn the_full_example_file_parses() {
    let text = include_str!("../../sendmail.conf.example");
    let c = parse_str(text).unwrap();
    assert_eq!(c.client_id, "11111111-2222-3333-4444-555555555555");
}

#[test]
fn queue_keys_and_defaults() {
    let c = parse_str(&format!("{MINIMAL}[queue]\ndir = \"/q\"\n")).unwrap();
    let q = c.queue.unwrap();
    assert_eq!(q.dir, PathBuf::from("/q"));
    assert_eq!(q.max_age, Duration::from_secs(432_000));
    assert_eq!(q.rate_limit, 30);
    assert_eq!(q.flush_budget, Duration::from_secs(2));
    let c = parse_str(&format!(
        "{MINIMAL}[queue]\ndir = \"/q\"\nrate_limit = 0\nflush_budget = 0\nmax_age = 60\n"
    ))
    .unwrap();
    let q = c.queue.unwrap();
    assert_eq!(
        (q.rate_limit, q.flush_budget.as_secs(), q.max_age.as_secs()),
        (0, 0, 60)
    );
}

#[test]
fn implicit_tls_defaults_to_465() {
    let c = parse_str(&format!("{MINIMAL}[smtp]\ntls = \"tls\"\n")).unwrap();
    assert_eq!((c.smtp.tls, c.smtp.port), (TlsMode::Implicit, 465));
}

#[test]
fn errors_name_file_line_and_key() {
    let table: &[(&str, &str)] = &[
        (
            "[smtp]\nport = 70000\n",
            "test.conf:7: smtp.port: must be between 1 and 65535",
        ),
        (
            "[smtp]\nport = \"x\"\n",
            "test.conf:7: smtp.port: wrong type",
        ),
        (
            "[smtp]\nrelay = \"x\"\n",
            "test.conf:7: smtp.relay: unknown key `relay`",
        ),
        (
            "[smtp]\ntls = \"ssl\"\n",
            "smtp.tls: must be starttls, tls or none",
        ),
        (
            "[smtp]\ntls = \"none\"\n",
            "smtp.tls: none is allowed only towards a loopback",
        ),
        (
            "[token]\nurl = \"http://x/\"\n",
            "token.url: must be an https:// URL",
        ),
        ("[token]\ngrace = -1\n", "token.grace: must be between"),
        (
            "[queue]\nrate_limit = -1\n",
            "queue.rate_limit: must be between",
        ),
        (
            "[queue]\nflush_budget = 61\n",
            "queue.flush_budget: must be between",
        ),
        ("[queue]\nmax_age = 10\n", "queue.max_age: must be between"),
        (
            "[token]\nassertion_alg = \"ES256\"\n",
            "token.assertion_alg: must be PS256 or RS256",
        ),
        ("[token]\nproxy = \"socks://x\"\n", "token.proxy"),
        (
            "[addresses]\nfrom_policy = \"x\"\n",
            "addresses.from_policy",
        ),
        (
            "[addresses]\ndefault_domain = \"x y\"\n",
            "addresses.default_domain",
        ),
        (
            "[addresses]\nallow_from_override = \"yes\"\n",
            "addresses.allow_from_override: wrong type",
        ),
        ("bogus = 1\n", "test.conf:6: bogus: unknown key"),
        (
            "max_message_size = 1000\n",
            "max_message_size: must be between",
        ),
        (
            "max_message_size = 2000000000\n",
            "max_message_size: must be between",
        ),
        ("max_message_size = \"35M\"\n", "max_message_size"),
        ("[smtp\n", "test.conf:6"),
    ];
    for (tail, needle) in table {
        err(&format!("{MINIMAL}{tail}"), needle);
    }
}

#[test]
fn required_keys_and_their_checks() {
    let client = "client_id = \"11111111-2222-3333-4444-555555555555\"\n";
    let base = "client_secret = \"s\"\nuser = \"a@b.c\"\n";
    err(&format!("{client}{base}"), "missing required key tenant");
    err(
        &format!("tenant = \"t.com\"\n{base}"),
        "missing required key client_id",
    );
    err(
        &format!("tenant = \"t.com\"\n{client}user = \"a@b.c\"\n"),
        "missing required key client_secret_file",
    );
    err(
        &format!("tenant = \"t.com\"\n{client}client_secret = \"s\"\n"),
        "missing required key user",
    );
    err(
        &format!("tenant = \"common\"\n{client}{base}"),
        "cannot be used for client credentials",
    );
    err(
        &format!("tenant = \"not a tenant\"\n{client}{base}"),
        "tenant: must be",
    );
    err(
        &format!("tenant = \"t.com\"\nclient_id = \"abc\"\n{base}"),
        "client_id: must be the Application",
    );
    err(
        &format!("tenant = \"t.com\"\n{client}{base}client_secret_file = \"/x\"\n"),
        "only one of",
    );
    err(
        &format!("tenant = \"t.com\"\n{client}client_secret = \"\"\nuser = \"a@b.c\"\n"),
        "client_secret: must not be empty",
    );
    err(
        &format!("tenant = \"t.com\"\n{client}{base}from = \"a b@c\"\n"),
        "from:",
    );
    err(
        &format!("tenant = \"t.com\"\n{client}user = \"x\"\ncertificate_file = \"c.pem\"\n"),
        "private_key_file",
    );
}

#[test]
fn errors_never_quote_the_value() {
    let text = "tenant = \"t.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\nclient_secret = 12345678\nuser = \"a@b.c\"\n";
    let e = parse_str(text).unwrap_err();
    assert!(
        e.message().contains("client_secret: wrong type"),
        "{}",
        e.message()
    );
    assert!(!e.message().contains("12345678"), "{}", e.message());
}

#[test]
fn a_hidden_file_gets_no_parser_words() {
    let text = format!("{MINIMAL}[smtp\n");
    let root = parse_for(&text, Path::new("t.conf"), Audience::Root).unwrap_err();
    let caller = parse_for(&text, Path::new("t.conf"), Audience::Caller).unwrap_err();
    assert_eq!(caller.message(), "t.conf:6: syntax error");
    assert_ne!(root.message(), caller.message());
}

#[test]
fn credential_paths_resolve_against_the_credentials_directory() {
    let text = MINIMAL.replace(
        "client_secret = \"abc~+/=.def\"",
        "client_secret_file = \"credential:client-secret\"",
    );
    let mut c = parse_str(&text).unwrap();
    let e = resolve_credentials(&mut c.clone(), None).unwrap_err();
    assert!(
        e.message().contains("needs $CREDENTIALS_DIRECTORY"),
        "{}",
        e.message()
    );
    resolve_credentials(&mut c, Some(Path::new("/run/credentials/x.service"))).unwrap();
    assert_eq!(
        c.credential,
        Credential::SecretFile(PathBuf::from("/run/credentials/x.service/client-secret"))
    );
    for bad in [
        "credential:",
        "credential:../x",
        "credential:a/b",
        "credential:..",
    ] {
        let text = MINIMAL.replace(
            "client_secret = \"abc~+/=.def\"",
            &format!("client_secret_file = \"{bad}\""),
        );
        let mut c = parse_str(&text).unwrap();
        let e = resolve_credentials(&mut c, Some(Path::new("/run/c"))).unwrap_err();
        assert!(
            e.message().contains("must name a credential"),
            "{bad}: {}",
            e.message()
        );
    }
    // Other paths are left alone.
    let mut c = parse_str(MINIMAL).unwrap();
    resolve_credentials(&mut c, None).unwrap();
}

#[test]
fn with_service_access_callers_keep_the_credential_name_unresolved() {
    let text = MINIMAL.replace(
        "client_secret = \"abc~+/=.def\"",
        "client_secret_file = \"credential:client-secret\"\ncredential_access = \"service\"",
    );
    let mut c = parse_str(&text).unwrap();
    // A set-group-ID caller has no $CREDENTIALS_DIRECTORY: it loads the
    // configuration, and the name stays a name, never a file to open.
    resolve_credentials(&mut c, None).unwrap();
    assert_eq!(
        c.credential.systemd_name(),
        Some(("client_secret_file", "client-secret"))
    );
    let e = c.client_secret().unwrap_err();
    assert_eq!(e.cause(), Some(Cause::CredentialServiceOnly));
    // The queue service, which systemd hands it to, reads the copy.
    let mut c = parse_str(&text).unwrap();
    resolve_credentials(&mut c, Some(Path::new("/run/credentials/q.service"))).unwrap();
    assert_eq!(c.credential.systemd_name(), None);
    // A bad name is refused even where it stays unresolved.
    let bad = text.replace("credential:client-secret", "credential:../x");
    let e = resolve_credentials(&mut parse_str(&bad).unwrap(), None).unwrap_err();
    assert!(e.message().contains("must name a credential"));
}

#[test]
fn tls_none_is_fine_on_loopback() {
    for host in ["localhost", "127.0.0.1", "::1"] {
        let c = parse_str(&format!(
            "{MINIMAL}[smtp]\nhost = \"{host}\"\ntls = \"none\"\n"
        ))
        .unwrap();
        assert_eq!(c.smtp.port, 25);
    }
}

#[test]
fn secret_file_is_read_on_demand() {
    let dir = crate::testing::TempDir::new("cfg");
    let file = dir.join("secret");
    std::fs::write(&file, "s3cr~t+/=\n").unwrap();
    let text = MINIMAL.replace(
        "client_secret = \"abc~+/=.def\"",
        &format!("client_secret_file = \"{}\"", file.display()),
    );
    let c = parse_str(&text).unwrap();
    assert_eq!(c.client_secret().unwrap().expose(), "s3cr~t+/=");
    std::fs::write(&file, "\n").unwrap();
    assert!(
        c.client_secret()
            .unwrap_err()
            .message()
            .contains("is empty")
    );
}

#[test]
fn cloud_presets_set_hosts_and_scope_and_explicit_keys_win() {
    let table = [
        (
            "gcc-high",
            "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token",
            "smtp.office365.us",
            "https://outlook.office365.us/.default",
        ),
        (
            "china",
            "https://login.partner.microsoftonline.cn/contoso.onmicrosoft.com/oauth2/v2.0/token",
            "smtp.partner.outlook.cn",
            "https://partner.outlook.cn/.default",
        ),
    ];
    for (cloud, url, host, scope) in table {
        let c = parse_str(&format!("cloud = \"{cloud}\"\n{MINIMAL}")).unwrap();
        assert_eq!(c.cloud.name(), cloud);
        assert_eq!(c.token.url, url);
        assert_eq!(c.smtp.host, host);
        assert_eq!(c.token.scope, scope);
    }
    let c = parse_str(&format!(
        "cloud = \"dod\"\n{MINIMAL}\n[smtp]\nhost = \"smtp.example.mil\"\n[token]\nscope = \"https://x.example/.default\"\n"
    ))
    .unwrap();
    assert_eq!(c.smtp.host, "smtp.example.mil");
    assert_eq!(c.token.scope, "https://x.example/.default");
    assert!(c.token.url.starts_with("https://login.microsoftonline.us/"));
    assert_eq!(parse_str(MINIMAL).unwrap().cloud, cloud::Cloud::Global);
    err(
        &format!("cloud = \"usgov\"\n{MINIMAL}"),
        "cloud: must be global, gcc-high, dod or china",
    );
}

const USER_ONLY: &str = "user = \"alerts@contoso.com\"\n";

#[test]
fn credentials_without_a_secret() {
    let c = parse_str(&format!("managed_identity = \"azure\"\n{USER_ONLY}")).unwrap();
    assert_eq!(c.credential, Credential::Managed(ManagedIdentity::Azure));
    assert_eq!((c.tenant.as_str(), c.client_id.as_str()), ("", ""));
    assert_eq!(
        c.token.imds_url,
        "http://169.254.169.254/metadata/identity/oauth2/token"
    );
    assert_eq!(
        c.token.arc_url,
        "http://127.0.0.1:40342/metadata/identity/oauth2/token"
    );
    assert_eq!(c.credential_access, CredentialAccess::Callers);
    let c = parse_str(&format!(
        "managed_identity = \"azure\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\n{USER_ONLY}\n[token]\nimds_url = \"http://[::1]:8080/m\"\n"
    ))
    .unwrap();
    assert_eq!(c.client_id, "11111111-2222-3333-4444-555555555555");
    let c = parse_str(&format!(
        "tenant = \"contoso.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\nclient_assertion_file = \"/var/run/secrets/azure/tokens/azure-identity-token\"\ncredential_access = \"service\"\n{USER_ONLY}"
    ))
    .unwrap();
    assert_eq!(
        c.credential,
        Credential::FederatedAssertion(PathBuf::from(
            "/var/run/secrets/azure/tokens/azure-identity-token"
        ))
    );
    assert_eq!(c.credential_access, CredentialAccess::Service);

    let table: &[(&str, &str)] = &[
        (
            "managed_identity = \"aws\"\n",
            "managed_identity: must be azure or arc",
        ),
        (
            "managed_identity = \"arc\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\n",
            "only its system-assigned identity",
        ),
        (
            "managed_identity = \"azure\"\nclient_secret = \"x\"\n",
            "set only one of",
        ),
        (
            "client_assertion_file = \"/t\"\n",
            "missing required key tenant",
        ),
        (
            "managed_identity = \"azure\"\n[token]\nimds_url = \"http://metadata.example/x\"\n",
            "token.imds_url: must be an http:// URL on 169.254.169.254",
        ),
        (
            "managed_identity = \"arc\"\n[token]\narc_url = \"http://169.254.169.254/x\"\n",
            "token.arc_url: must be an http:// URL on a loopback address",
        ),
        (
            "managed_identity = \"azure\"\n[token]\nimds_url = \"https://127.0.0.1/x\"\n",
            "token.imds_url",
        ),
        (
            "managed_identity = \"azure\"\ncredential_access = \"everyone\"\n",
            "credential_access: must be callers or service",
        ),
    ];
    for (keys, needle) in table {
        // Top-level keys first, then `user`, then any section.
        let text = match keys.split_once("[token]") {
            Some((top, section)) => format!("{top}{USER_ONLY}[token]{section}"),
            None => format!("{keys}{USER_ONLY}"),
        };
        err(&text, needle);
    }
    err(
        &format!("credential_access = \"service\"\n{MINIMAL}"),
        "move the secret to client_secret_file",
    );
}

#[test]
fn fleet_keys_and_their_defaults() {
    let c = parse_str(MINIMAL).unwrap();
    assert_eq!(c.delivery, DeliveryMode::Foreground);
    assert_eq!(
        (c.metrics_file.clone(), c.client_secret_expires),
        (None, None)
    );
    assert_eq!(
        c.limits,
        LimitsConfig {
            connections: 3,
            rate: 30,
            recipients_per_day: 10_000
        }
    );
    let c = parse_str(&format!(
        "delivery = \"background\"\nmetrics_file = \"/var/lib/prometheus/node-exporter/o2s.prom\"\nclient_secret_expires = \"2027-06-30\"\n{MINIMAL}[queue]\ndir = \"/q\"\nrate_limit = 12\n[limits]\nconnections = 1\nrecipients_per_day = 500\n"
    ))
    .unwrap();
    assert_eq!(c.delivery, DeliveryMode::Background);
    assert_eq!(c.client_secret_expires, Some(1_814_313_600 + 86_399));
    assert_eq!(
        (
            c.limits.connections,
            c.limits.rate,
            c.limits.recipients_per_day
        ),
        (1, 12, 500),
        "queue.rate_limit is the old name of limits.rate"
    );
    assert_eq!(c.queue.unwrap().rate_limit, 12);
    let c = parse_str(&format!(
        "{MINIMAL}[queue]\nrate_limit = 12\n[limits]\nrate = 5\n"
    ))
    .unwrap();
    assert_eq!(c.limits.rate, 5, "the new name wins");
    assert_eq!(
        parse_str(&format!("metrics_file = \"\"\n{MINIMAL}"))
            .unwrap()
            .metrics_file,
        None
    );
}

#[test]
fn bad_fleet_values_name_line_and_key() {
    for (text, needle) in [
        (
            "delivery = \"later\"\n",
            "t.conf:1: delivery: must be foreground, background or queue",
        ),
        (
            "metrics_file = \"relative.prom\"\n",
            "metrics_file: must be an absolute file path",
        ),
        (
            "client_secret_expires = \"30.06.2027\"\n",
            "client_secret_expires: must be a date like 2027-06-30",
        ),
    ] {
        let e = parse(&format!("{text}{MINIMAL}"), Path::new("t.conf")).unwrap_err();
        assert!(e.message().contains(needle), "{}", e.message());
    }
    err(
        &format!("{MINIMAL}[limits]\nconnections = 100\n"),
        "limits.connections: must be between 0 and 64",
    );
    err(
        &format!("{MINIMAL}[limits]\nrate = -1\n"),
        "limits.rate: must be between",
    );
    err(&format!("{MINIMAL}[limits]\nburst = 1\n"), "burst");
}
