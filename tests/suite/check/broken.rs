//! `--check` of broken configurations: each fails at the right step,
//! with the right exit code, cause and hint, and skips what depends on it.

use super::*;

/// A broken configuration of the sandbox's main client, made by `change`.
fn broken(name: &str, change: impl FnOnce(&Sandbox, &mut Settings)) -> (Scratch, PathBuf) {
    let sb = sandbox();
    let scratch = Scratch::new(name);
    let mut settings = sb.settings(&scratch);
    change(sb, &mut settings);
    let conf = write_private(&settings, &scratch);
    (scratch, conf)
}

#[test]
fn wrong_secret_fails_at_the_token() {
    let _shared = sandbox().shared();
    let (_s, conf) = broken("wrong-secret", |_, s| {
        s.secret = "wrong~secret.value".into()
    });
    let json = fails_at(
        &conf,
        "token",
        78,
        "secret-invalid",
        "Value (not the Secret ID)",
    );
    let token = step(&json, "token");
    assert!(token["summary"].as_str().unwrap().contains("AADSTS7000215"));
    assert!(token["summary"].as_str().unwrap().contains("trace ID"));
    // The failure points at --explain's text for it.
    let details: Vec<&str> = token["details"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d.as_str())
        .collect();
    assert!(
        details.contains(&"more: oauth2-sendmail --explain 'AADSTS7000215'")
            && details
                .iter()
                .any(|d| d.starts_with("means: Entra refused the client secret"))
            && details
                .iter()
                .any(|d| d.starts_with("likely causes: the Secret ID was pasted")),
        "{details:?}"
    );
    for id in ["token.aud", "token.roles", "smtp.auth"] {
        assert_eq!(step(&json, id)["verdict"], "skip", "{id}");
    }
    // The server and its TLS are still checked without a token.
    assert_eq!(step(&json, "smtp.connect")["verdict"], "pass");
}

#[test]
fn expired_secret_fails_at_the_token() {
    let _shared = sandbox().shared();
    let (_s, conf) = broken("expired-secret", |sb, s| {
        let client = sb.client("expired_secret");
        s.client_id = client["client_id"].as_str().unwrap().into();
        s.secret = client["client_secret"].as_str().unwrap().into();
    });
    fails_at(&conf, "token", 78, "secret-expired", "create a new one");
}

#[test]
fn wrong_tenant_fails_at_the_token() {
    let _shared = sandbox().shared();
    let (_s, conf) = broken("wrong-tenant", |_, s| {
        s.tenant = "fabrikam.onmicrosoft.com".into();
    });
    fails_at(
        &conf,
        "token",
        78,
        "tenant-unknown",
        "Directory (tenant) ID",
    );
}

#[test]
fn common_tenant_is_refused_by_the_configuration_already() {
    let _shared = sandbox().shared();
    let (_s, conf) = broken("common-tenant", |_, s| s.tenant = "organizations".into());
    let json = fails_at(&conf, "config", 78, "config-invalid", "sendmail.conf(5)");
    let summary = step(&json, "config")["summary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        summary.contains("tenant: organizations cannot be used for client credentials"),
        "{summary}"
    );
}

#[test]
fn unknown_client_fails_at_the_token() {
    let _shared = sandbox().shared();
    let (_s, conf) = broken("unknown-client", |_, s| {
        s.client_id = "99999999-9999-4999-8999-999999999999".into();
    });
    fails_at(
        &conf,
        "token",
        78,
        "client-unknown",
        "Application (client) ID",
    );
}

#[test]
fn wrong_scope_fails_at_the_token() {
    let _shared = sandbox().shared();
    let (_s, conf) = broken("wrong-scope", |_, s| {
        // Lands in the [token] section, the last one written. (Graph's
        // scope is a valid one: the sandbox grants it, for transport = graph.)
        s.extra = "scope = \"https://outlook.office365.com/SMTP.Send\"\n".into();
    });
    fails_at(
        &conf,
        "token",
        78,
        "scope-invalid",
        "https://outlook.office365.com/.default",
    );
}

#[test]
fn a_token_without_the_role_warns_then_the_login_fails() {
    let _shared = sandbox().shared();
    let (_s, conf) = broken("no-role", |sb, s| {
        let client = sb.client("no_role");
        s.client_id = client["client_id"].as_str().unwrap().into();
        s.secret = client["client_secret"].as_str().unwrap().into();
    });
    let json = fails_at(&conf, "smtp.auth", 77, "token-no-role", "SMTP.SendAsApp");
    let roles = step(&json, "token.roles");
    assert_eq!(
        roles["verdict"], "warn",
        "no roles claim is a warning: {roles}"
    );
    assert!(roles["hint"].as_str().unwrap().contains("admin consent"));
    assert_eq!(json["warnings"][0], "token.roles");
}

#[test]
fn a_wrong_mailbox_fails_at_the_login() {
    let _shared = sandbox().shared();
    let (_s, conf) = broken("wrong-mailbox", |_, s| s.user = "other@contoso.test".into());
    let json = fails_at(
        &conf,
        "smtp.auth",
        77,
        "mailbox-not-permitted",
        "Add-MailboxPermission",
    );
    // Every claim is right: the fault is on the mailbox side.
    for id in ["token.aud", "token.roles", "token.tid", "token.appid"] {
        assert_eq!(step(&json, id)["verdict"], "pass", "{id}");
    }
}

#[test]
fn a_pasted_secret_id_fails_at_the_credential_without_asking_entra() {
    let sb = sandbox();
    let sb = sb.exclusive();
    let (_s, conf) = broken("secret-id", |_, s| {
        s.secret = "8f2c1d3e-4b5a-4c6d-9e7f-0a1b2c3d4e5f".into();
    });
    fails_at(
        &conf,
        "credential",
        78,
        "secret-is-id",
        "copy the Value column",
    );
    assert_eq!(sb.token_requests(), 0);
}

#[test]
fn a_secret_every_user_can_read_fails_the_permissions() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("world-readable");
    let settings = sb.settings(&scratch);
    let conf = write_private(&settings, &scratch);
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let json = fails_at(&conf, "permissions", 78, "secret-exposed", "chmod 0640");
    assert!(
        step(&json, "permissions")["summary"]
            .as_str()
            .unwrap()
            .contains("readable by every local user")
    );
    // Everything after it is still checked.
    assert_eq!(step(&json, "smtp.auth")["verdict"], "pass");
}

#[test]
fn a_missing_configuration_fails_first_and_skips_the_rest() {
    let scratch = Scratch::new("no-config");
    let conf = scratch.join("absent.conf");
    let json = fails_at(
        &conf,
        "config",
        78,
        "config-unreadable",
        "readable by root and the oauth2-sendmail group",
    );
    let steps = json["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 15, "the same steps as a good run");
    assert!(steps[1..].iter().all(|s| s["verdict"] == "skip"));
    let run = check(&conf, &["--to", "admin@example.com"]);
    run.expect(78);
    assert!(run.stdout.contains("skip test message"), "{}", run.stdout);
}

#[test]
fn a_bad_key_names_file_line_and_key() {
    let scratch = Scratch::new("bad-key");
    let conf = scratch.join("sendmail.conf");
    std::fs::write(
        &conf,
        "tenant = \"contoso.com\"\nclient_id = \"nope\"\nclient_secret = \"x\"\nuser = \"a@contoso.com\"\n",
    )
    .unwrap();
    let json = fails_at(&conf, "config", 78, "config-invalid", "sendmail.conf(5)");
    let summary = step(&json, "config")["summary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(summary.contains("sendmail.conf:2: client_id"), "{summary}");
}
