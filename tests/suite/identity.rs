//! Credentials without a secret, through the real binary and the sandbox:
//! a federated assertion (workload identity federation) that rotates, an
//! Azure managed identity from the IMDS look-alike, an Azure Arc identity
//! through the agent look-alike's key-file challenge, and national-cloud
//! presets. Tokens are accepted by the sandbox's Dovecot, so each kind
//! delivers through Postfix. (Secrets: delivery.rs; certificates:
//! certificate.rs.)

use crate::common;

use common::sandbox::{Sandbox, sandbox};
use common::{Scratch, SyslogCapture, leaks, s, sendmail, write_private};

/// A configuration like `sb.settings()` writes, with the client secret
/// replaced by `credential` (whole lines) and, when `keep_ids` is false,
/// without tenant and client_id.
fn config_with(sb: &Sandbox, scratch: &Scratch, credential: &str, keep_ids: bool) -> String {
    let settings = sb.settings(scratch);
    let mut text = settings.render().replace(
        &format!("client_secret = \"{}\"\n", settings.secret),
        credential,
    );
    if !keep_ids {
        text = text
            .replace(&format!("tenant = \"{}\"\n", settings.tenant), "")
            .replace(&format!("client_id = \"{}\"\n", settings.client_id), "");
    }
    text
}

fn write_config(scratch: &Scratch, text: &str) -> String {
    let path = scratch.join("sendmail.conf");
    write_private(&path, text);
    s(&path).to_string()
}

/// A federated assertion from the sandbox's issuer; `req` as the control API takes it.
fn assertion(sb: &Sandbox, req: &str) -> String {
    sb.control("federated_assertion", req)["assertion"]
        .as_str()
        .expect("the sandbox mints assertions")
        .to_string()
}

fn clear_cache(scratch: &Scratch) {
    let _ = std::fs::remove_dir_all(scratch.join("cache"));
}

fn message(to: &str) -> String {
    format!("To: {to}\nSubject: identity\n\nbody\n")
}

#[test]
fn federated_assertion_delivers_and_is_read_again_at_every_request() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("federated");
    let file = scratch.join("azure-identity-token");
    std::fs::write(&file, assertion(sb, "{}")).unwrap();
    let federated_id = sb.info["federated"]["client_id"].as_str().unwrap();
    let text = config_with(
        sb,
        &scratch,
        &format!("client_assertion_file = \"{}\"\n", s(&file)),
        true,
    )
    .replace(&sb.str("client_id"), federated_id);
    let conf = write_config(&scratch, &text);

    let to = "federated-1@example.com";
    sendmail(&["-C", &conf, "-t"], message(to).as_bytes()).expect(0);
    assert_eq!(sb.wait_for_mail(to, 1).len(), 1);

    // Rotation: the provider replaces the file. One with another subject is
    // refused by Entra, which proves the file is read again; the fix names
    // what the assertion carries.
    let foreign = assertion(sb, r#"{"subject":"system:serviceaccount:other:app"}"#);
    std::fs::write(&file, &foreign).unwrap();
    clear_cache(&scratch);
    let run = sendmail(
        &["-C", &conf, "federated-2@example.com"],
        b"Subject: x\n\nx\n",
    );
    run.expect(78);
    assert!(run.stderr.contains("AADSTS70021"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("subject system:serviceaccount:other:app")
            && run.stderr.contains("api://AzureADTokenExchange"),
        "the hint names the assertion's claims: {}",
        run.stderr
    );
    assert!(!leaks(&run.output(), &foreign), "the assertion never shows");

    // The next rotation is good again.
    std::fs::write(&file, assertion(sb, "{}")).unwrap();
    clear_cache(&scratch);
    let to = "federated-3@example.com";
    sendmail(&["-C", &conf, "-t"], message(to).as_bytes()).expect(0);
    assert_eq!(sb.wait_for_mail(to, 1).len(), 1);
}

#[test]
fn federated_assertion_faults_say_what_to_fix() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("federated-faults");
    let file = scratch.join("token");
    let federated_id = sb.info["federated"]["client_id"].as_str().unwrap();
    let text = config_with(
        sb,
        &scratch,
        &format!("client_assertion_file = \"{}\"\n", s(&file)),
        true,
    )
    .replace(&sb.str("client_id"), federated_id);
    let conf = write_config(&scratch, &text);
    let send = || sendmail(&["-C", &conf, "faults@example.com"], b"Subject: x\n\nx\n");

    let run = send();
    run.expect(78);
    assert!(
        run.stderr.contains("cannot read client_assertion_file")
            && run.stderr.contains("AZURE_FEDERATED_TOKEN_FILE"),
        "{}",
        run.stderr
    );

    std::fs::write(&file, assertion(sb, r#"{"expired":true}"#)).unwrap();
    let run = send();
    run.expect(75);
    assert!(run.stderr.contains("expired at"), "{}", run.stderr);

    std::fs::write(&file, assertion(sb, r#"{"wrong_key":true}"#)).unwrap();
    let run = send();
    run.expect(78);
    assert!(
        run.stderr.contains("AADSTS700027") && run.stderr.contains("signature"),
        "{}",
        run.stderr
    );

    std::fs::write(&file, assertion(sb, r#"{"not_yet":true}"#)).unwrap();
    let run = send();
    assert!(
        run.stderr.contains("AADSTS700024") && run.stderr.contains("clock"),
        "{}",
        run.stderr
    );
    std::fs::write(&file, "not a token\n").unwrap();
    let run = send();
    run.expect(78);
    assert!(run.stderr.contains("holds no JWT"), "{}", run.stderr);
}

#[test]
fn azure_managed_identity_needs_no_tenant_client_or_secret() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("imds");
    let syslog = SyslogCapture::new(&scratch);
    let imds = sb.info["managed"]["imds_url"].as_str().unwrap();
    let base = config_with(sb, &scratch, "managed_identity = \"azure\"\n", false)
        .replace(
            "syslog_socket = \"\"",
            &format!("syslog_socket = \"{}\"", s(&syslog.path)),
        )
        .replace("[token]\n", &format!("[token]\nimds_url = \"{imds}\"\n"));
    assert!(
        !base
            .lines()
            .any(|l| l.starts_with("tenant") || l.starts_with("client_id")),
        "{base}"
    );
    let conf = write_config(&scratch, &base);
    let to = "imds-system@example.com";
    let run = sendmail(&["-C", &conf, "-t"], message(to).as_bytes());
    run.expect(0);
    assert_eq!(sb.wait_for_mail(to, 1).len(), 1);
    let lines = syslog.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("outcome=delivered")
                && l.contains("credential=managed-identity-azure")),
        "the syslog line names the credential kind: {lines:?}"
    );

    // A user-assigned identity is named by its client ID.
    let user_id = sb.info["managed"]["user_client_id"].as_str().unwrap();
    clear_cache(&scratch);
    let conf = write_config(&scratch, &format!("client_id = \"{user_id}\"\n{base}"));
    let to = "imds-user@example.com";
    sendmail(&["-C", &conf, "-t"], message(to).as_bytes()).expect(0);
    assert_eq!(sb.wait_for_mail(to, 1).len(), 1);

    // One this VM does not have.
    clear_cache(&scratch);
    let conf = write_config(
        &scratch,
        &format!("client_id = \"99999999-9999-4999-8999-999999999999\"\n{base}"),
    );
    let run = sendmail(&["-C", &conf, "nobody@example.com"], b"Subject: x\n\nx\n");
    run.expect(78);
    assert!(
        run.stderr.contains("Identity not found") && run.stderr.contains("user-assigned"),
        "{}",
        run.stderr
    );
}

#[test]
fn imds_url_must_stay_on_this_machine() {
    let sb = sandbox();
    let scratch = Scratch::new("imds-url");
    let text = config_with(sb, &scratch, "managed_identity = \"azure\"\n", false).replace(
        "[token]\n",
        "[token]\nimds_url = \"http://metadata.example.com/metadata/identity/oauth2/token\"\n",
    );
    let conf = write_config(&scratch, &text);
    let run = sendmail(&["-C", &conf, "x@example.com"], b"Subject: x\n\nx\n");
    run.expect(78);
    assert!(
        run.stderr.contains("token.imds_url") && run.stderr.contains("169.254.169.254"),
        "{}",
        run.stderr
    );
}

#[test]
fn azure_arc_identity_answers_the_key_file_challenge_as_root() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("arc");
    let managed = &sb.info["managed"];
    let text = config_with(sb, &scratch, "managed_identity = \"arc\"\n", false).replace(
        "[token]\n",
        &format!(
            "[token]\narc_url = \"{}\"\narc_key_dir = \"{}\"\n",
            managed["arc_url"].as_str().unwrap(),
            managed["arc_key_dir"].as_str().unwrap()
        ),
    );
    let conf = write_config(&scratch, &text);
    let to = "arc@example.com";
    let run = sendmail(&["-C", &conf, "-v", "-t"], message(to).as_bytes());
    run.expect(0);
    assert_eq!(sb.wait_for_mail(to, 1).len(), 1);
    assert!(
        run.stderr.contains("Azure Arc managed identity"),
        "{}",
        run.stderr
    );

    // The agent's key files are 0640, root and the himds group only.
    let dir = managed["arc_key_dir"].as_str().unwrap();
    let key = std::fs::read_dir(dir).unwrap().flatten().next().unwrap();
    use std::os::unix::fs::MetadataExt;
    let meta = key.metadata().unwrap();
    assert_eq!((meta.mode() & 0o777, meta.uid()), (0o640, 0));
    let secret = std::fs::read_to_string(key.path()).unwrap();
    assert!(!leaks(&run.output(), secret.trim()), "the key never shows");

    // A challenge naming a file outside arc_key_dir is refused.
    clear_cache(&scratch);
    let conf = write_config(&scratch, &text.replace(dir, s(&scratch.join("elsewhere"))));
    let run = sendmail(&["-C", &conf, "x@example.com"], b"Subject: x\n\nx\n");
    assert!(run.stderr.contains("not a .key file in"), "{}", run.stderr);
}

/// Makes the sandbox tenant a GCC High one (its OpenID configuration and
/// the Exchange resource it accepts) for the guard's life.
fn gcc_high(sb: &Sandbox) -> common::sandbox::Exclusive<'_> {
    let exclusive = sb.exclusive();
    exclusive.control(
        "mode",
        r#"{"mode":"normal","tenant_region_scope":"USGov","tenant_region_sub_scope":"DODCON"}"#,
    );
    exclusive
}

#[test]
fn national_cloud_preset_derives_its_scope_and_delivers() {
    let sb = sandbox();
    let sb = gcc_high(sb);
    let scratch = Scratch::new("gcc-high");
    // token.url and smtp.host point at the sandbox (explicit keys win);
    // the scope comes from the preset.
    let text = format!("cloud = \"gcc-high\"\n{}", sb.settings(&scratch).render());
    let conf = write_config(&scratch, &text);
    let to = "gcc-high@example.com";
    let run = sendmail(&["-C", &conf, "-v", "-t"], message(to).as_bytes());
    run.expect(0);
    assert!(
        run.stderr
            .contains("scope=https://outlook.office365.us/.default"),
        "{}",
        run.stderr
    );
    assert_eq!(sb.wait_for_mail(to, 1).len(), 1);

    // The same tenant with the global preset: Entra refuses across clouds.
    clear_cache(&scratch);
    let conf = write_config(&scratch, &sb.settings(&scratch).render());
    let run = sendmail(&["-C", &conf, "x@example.com"], b"Subject: x\n\nx\n");
    run.expect(78);
    assert!(run.stderr.contains("AADSTS900382"), "{}", run.stderr);
}

#[test]
fn check_reports_the_tenant_and_catches_a_cloud_mismatch() {
    let sb = sandbox();
    let sb = gcc_high(sb);
    let scratch = Scratch::new("check-cloud");
    let conf = write_config(&scratch, &sb.settings(&scratch).render());
    let run = sendmail(&["-C", &conf, "--check"], b"");
    run.expect(78);
    let tenant_id = sb.str("tenant_id");
    assert!(
        run.stdout.contains(&format!(
            "tenant {} = {tenant_id} is in the GCC High cloud",
            sb.str("tenant")
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("cloud = \"gcc-high\""),
        "{}",
        run.stdout
    );

    let text = format!("cloud = \"gcc-high\"\n{}", sb.settings(&scratch).render());
    let conf = write_config(&scratch, &text);
    let run = sendmail(&["-C", &conf, "--check"], b"");
    run.expect(0);
    assert!(
        run.stdout
            .contains("GCC High cloud (tenant_region_scope USGov, sub-scope DODCON)"),
        "{}",
        run.stdout
    );
}

#[test]
fn check_names_and_checks_each_credential_kind() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("check-kinds");
    let file = scratch.join("token");
    std::fs::write(&file, assertion(sb, "{}")).unwrap();
    let federated_id = sb.info["federated"]["client_id"].as_str().unwrap();
    let text = config_with(
        sb,
        &scratch,
        &format!("client_assertion_file = \"{}\"\n", s(&file)),
        true,
    )
    .replace(&sb.str("client_id"), federated_id);
    let conf = write_config(&scratch, &text);
    let run = sendmail(&["-C", &conf, "--check"], b"");
    run.expect(0);
    assert!(
        run.stdout.contains("federated assertion in")
            && run
                .stdout
                .contains("subject system:serviceaccount:mail:oauth2-sendmail"),
        "{}",
        run.stdout
    );
    std::fs::write(&file, assertion(sb, r#"{"expired":true}"#)).unwrap();
    let run = sendmail(&["-C", &conf, "--check"], b"");
    run.expect(75);
    assert!(run.stdout.contains("expired at"), "{}", run.stdout);

    let imds = sb.info["managed"]["imds_url"].as_str().unwrap();
    let text = config_with(sb, &scratch, "managed_identity = \"azure\"\n", false)
        .replace("[token]\n", &format!("[token]\nimds_url = \"{imds}\"\n"));
    let conf = write_config(&scratch, &text);
    let run = sendmail(&["-C", &conf, "--check"], b"");
    run.expect(0);
    assert!(
        run.stdout
            .contains("Azure managed identity (system-assigned)"),
        "{}",
        run.stdout
    );
    // Nothing listens on port 9 of loopback.
    let conf = write_config(
        &scratch,
        &text.replace(imds, "http://127.0.0.1:9/metadata/identity/oauth2/token"),
    );
    let run = sendmail(&["-C", &conf, "--check"], b"");
    run.expect(75);
    assert!(run.stdout.contains("no answer"), "{}", run.stdout);
}

mod hve {
    //! High Volume Email refuses a token with about 10 minutes or less left
    //! (`501 5.5.127`): a scripted peer gives that reply, since Postfix will not.

    use super::common::fake_smtp::{Behaviour, FakeSmtp, sandbox_identity};
    use super::common::sandbox::sandbox;
    use super::common::{Scratch, s, sendmail};

    fn peer(replies: &[&str]) -> (FakeSmtp, Scratch, std::path::PathBuf) {
        let sb = sandbox();
        let mut b = Behaviour::good(sandbox_identity(&sb.dir));
        b.auth_replies = replies.iter().map(|r| r.to_string()).collect();
        let fake = FakeSmtp::start(b);
        let scratch = Scratch::new("hve");
        let mut settings = sb.settings(&scratch);
        settings.host = "localhost".into();
        settings.port = fake.port;
        let conf = settings.write(&scratch);
        (fake, scratch, conf)
    }

    #[test]
    fn a_token_will_expire_soon_reply_is_survived_with_a_fresh_token() {
        let _shared = sandbox().shared();
        let (fake, _scratch, conf) = peer(&[
            "501 5.5.127 Token will expire soon",
            "235 2.7.0 Authentication successful",
        ]);
        sendmail(
            &["-C", s(&conf), "hve@contoso.test"],
            b"Subject: hve\n\nx\n",
        )
        .expect(0);
        let r = fake.record();
        assert_eq!(r.tokens.len(), 2, "{:?}", r.commands);
        assert_ne!(r.tokens[0], r.tokens[1], "the retry uses a new token");
        assert_eq!(r.messages.len(), 1);
    }

    #[test]
    fn the_retry_happens_once() {
        let _shared = sandbox().shared();
        let (fake, _scratch, conf) = peer(&["501 5.5.127 Token will expire soon"]);
        let run = sendmail(
            &["-C", s(&conf), "hve@contoso.test"],
            b"Subject: hve\n\nx\n",
        );
        assert_ne!(run.code, 0, "{}", run.stderr);
        assert!(run.stderr.contains("5.5.127"), "{}", run.stderr);
        let r = fake.record();
        assert_eq!(r.tokens.len(), 2, "one retry, no loop: {:?}", r.commands);
        assert!(r.messages.is_empty());
    }
}
