//! `credential_access = "service"` as the packages run it: the queue
//! service is the `oauth2-sendmail` system user (here [`SERVICE`], another
//! unprivileged uid whose primary group is the set-group-ID group), which
//! cannot read a `root:root 0600` secret; systemd hands it a private copy
//! (`LoadCredential=`, emulated by [`Install::systemd_credential`]) found
//! through `$CREDENTIALS_DIRECTORY`. Set-group-ID callers, with an empty
//! environment, only use the tokens it caches.

use crate::common;
use crate::setgid::assert_no_secrets;

use common::queue::{detached, eventually};
use common::sandbox::sandbox;
use common::setgid::*;
use std::path::Path;

/// The configuration's first lines for a service-only secret at `path`.
fn service_only(path: &str) -> String {
    format!("client_secret_file = \"{path}\"\ncredential_access = \"service\"")
}

#[test]
fn with_service_only_credentials_callers_use_cached_tokens_and_queue_without_one() {
    let sb = sandbox();
    let sb = sb.exclusive();
    let install = Install::new("setgid-service");
    // As the packages make it: the directory and every area, root's.
    let queue = install.queue_areas();
    // The secret stays root's alone: neither callers nor the service user
    // may read it; systemd (PID 1, root) reads it for the service.
    let secret_text = sb.str("client_secret");
    let secret = install.put("client-secret", secret_text.as_bytes(), 0, 0o600);
    assert!(!can_read(USER, &secret));
    assert!(!can_read(SERVICE, &secret));
    let credentials = install.systemd_credential("client-secret", secret_text.as_bytes());
    let credentials = credentials.to_str().unwrap();
    assert!(!can_read(
        USER,
        &Path::new(credentials).join("client-secret")
    ));
    install.put("ca.pem", &std::fs::read(sb.ca_file()).unwrap(), 0, 0o644);
    let top = service_only("credential:client-secret");
    let with_queue = install.config_text(&sb, &top, true)
        + &format!("\n[queue]\ndir = \"{}\"\n", queue.display());
    install.put("sendmail.conf", with_queue.as_bytes(), GROUP, 0o640);

    // A cold cache: the caller loads the configuration without a
    // credentials directory, does not try the credential, and the message
    // waits. A directory it names itself is dropped with its environment.
    let own = install.scratch.join("callers-credentials");
    std::fs::create_dir_all(&own).unwrap();
    std::fs::write(own.join("client-secret"), "the caller's guess").unwrap();
    chown(&own.join("client-secret"), USER.0, USER.1, 0o400);
    chown(&own, USER.0, USER.1, 0o700);
    let cold = install.run(
        Some(USER),
        &["-i", "service-1@example.com"],
        b"Subject: 1\n\nx\n",
        &[("CREDENTIALS_DIRECTORY", own.to_str().unwrap())],
    );
    cold.expect(0);
    assert_eq!(sb.token_requests(), 0, "a caller never asks for a token");
    let queued = std::fs::read_dir(queue.join("msg"))
        .unwrap()
        .flatten()
        .count();
    assert_eq!(queued, 1, "the message is in the queue");

    // The queue service (the service user, with systemd's copy) renews the
    // token for callers and delivers the waiting message (-q: now, not
    // after the message's retry delay).
    let service_env = [("CREDENTIALS_DIRECTORY", credentials)];
    let first = install.run(Some(SERVICE), &["-q"], b"", &service_env);
    first.expect(0);
    assert_eq!(sb.token_requests(), 1, "{}", first.output());
    sb.wait_for_mail("service-1@example.com", 1);
    let warm = install.cached_token();

    // Now a caller sends at once with the cached token.
    let live = install.run(
        Some(USER),
        &["-i", "service-2@example.com"],
        b"Subject: 2\n\nx\n",
        &[],
    );
    live.expect(0);
    sb.wait_for_mail("service-2@example.com", 1);
    assert_eq!(
        sb.token_requests(),
        1,
        "the caller used the service's token"
    );

    // A second queue run finds the token fresh enough and leaves it.
    install
        .run(Some(SERVICE), &["--queue-run"], b"", &service_env)
        .expect(0);
    assert_eq!(sb.token_requests(), 1);

    // --check by root at a shell: systemd handed the credential to the
    // service only, so it says how to check it there, and asks no token.
    let check = install.run(None, &["--check"], b"", &[]);
    assert!(
        check
            .stdout
            .contains("LoadCredential=client-secret:FILE oauth2-sendmail --check"),
        "{}",
        check.stdout
    );
    assert_eq!(sb.token_requests(), 1, "{}", check.stdout);
    // In the service's context it passes the credential.
    let check = install.run(Some(SERVICE), &["--check"], b"", &service_env);
    assert!(
        check
            .stdout
            .contains("handed over by systemd to this service only"),
        "{}",
        check.stdout
    );

    // Without a queue, a caller with no valid token exits 75 (EX_TEMPFAIL).
    for entry in std::fs::read_dir(&install.cache).unwrap().flatten() {
        std::fs::remove_file(entry.path()).unwrap();
    }
    let no_queue = install.config_text(&sb, &top, true);
    install.put("sendmail.conf", no_queue.as_bytes(), GROUP, 0o640);
    let requests = sb.token_requests();
    let run = install.run(
        Some(USER),
        &["-i", "service-3@example.com"],
        b"Subject: 3\n\nx\n",
        &[],
    );
    run.expect(75);
    assert!(run.stderr.contains("credential_access"), "{}", run.stderr);
    assert_eq!(sb.token_requests(), requests);
    assert_no_secrets(&[&cold, &first, &live, &run], &secret_text, &warm);
}

#[test]
fn check_says_when_the_service_user_cannot_read_the_credential() {
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("setgid-service-owner");
    install.add_service_user();
    let secret_text = sb.str("client_secret");
    // The arrangement the 0.1 documentation gave: root:root 0600, named
    // directly. The packaged service user cannot read it.
    let secret = install.put("client-secret", secret_text.as_bytes(), 0, 0o600);
    install.put("ca.pem", &std::fs::read(sb.ca_file()).unwrap(), 0, 0o644);
    let top = service_only(&format!("{ETC}/client-secret"));
    let text = install.config_text(sb, &top, true);
    install.put("sendmail.conf", text.as_bytes(), GROUP, 0o640);
    let check = install.run(None, &["--check"], b"", &[]);
    assert_ne!(check.code, 0, "{}", check.stdout);
    for words in [
        "the queue service runs as the oauth2-sendmail user",
        "systemctl edit oauth2-sendmail-queue.service",
        "LoadCredential=client-secret:/etc/oauth2-sendmail/client-secret",
        "client_secret_file = \"credential:client-secret\"",
    ] {
        assert!(check.stdout.contains(words), "{words}: {}", check.stdout);
    }

    // Owned by the service user instead (where there is no systemd to
    // hand it over): the service reads it, --check agrees, and a
    // set-group-ID caller, which never opens it, is not refused for an
    // owner other than root.
    chown(&secret, SERVICE.0, SERVICE.1, 0o400);
    assert!(!can_read(USER, &secret));
    let check = install.run(None, &["--check"], b"", &[]);
    assert!(
        check
            .stdout
            .contains(&format!("readable by uid {} only", SERVICE.0)),
        "{}",
        check.stdout
    );
    let before = sb.token_requests();
    let warmed = install.run(Some(SERVICE), &["-q"], b"", &[]);
    warmed.expect(0);
    assert!(sb.token_requests() > before, "{}", warmed.output());
    let caller = install.run(
        Some(USER),
        &["-i", "service-owner@example.com"],
        b"Subject: o\n\nx\n",
        &[],
    );
    caller.expect(0);
    sb.wait_for_mail("service-owner@example.com", 1);
    assert_no_secrets(
        &[&check, &warmed, &caller],
        &secret_text,
        &install.cached_token(),
    );
}

#[test]
fn a_graph_caller_never_uses_a_credential_it_could_read() {
    let sb = sandbox();
    let sb = sb.exclusive();
    let install = Install::new("setgid-service-graph");
    // The 0.1 arrangement, readable through the set-group-ID group: with
    // `credential_access = "service"` a caller must still leave it alone,
    // whichever transport the account uses.
    let secret_text = sb.str("client_secret");
    install.put("client-secret", secret_text.as_bytes(), GROUP, 0o640);
    install.put("ca.pem", &std::fs::read(sb.ca_file()).unwrap(), 0, 0o644);
    let top = format!(
        "transport = \"graph\"\n{}",
        service_only(&format!("{ETC}/client-secret"))
    );
    let text = install.config_text(&sb, &top, true)
        + &format!("\n[graph]\nurl = \"{}\"\n", sb.str("graph_url"));
    install.put("sendmail.conf", text.as_bytes(), GROUP, 0o640);

    let before = sb.token_requests();
    let run = install.run(
        Some(USER),
        &["-i", "service-graph@example.com"],
        b"Subject: g\n\nx\n",
        &[],
    );
    run.expect(75);
    assert!(run.stderr.contains("credential_access"), "{}", run.stderr);
    assert_eq!(sb.token_requests(), before, "{}", run.output());
    assert!(sb.graph_mail_for("service-graph@example.com").is_empty());

    assert_no_secrets(&[&run], &secret_text, "");
}

#[test]
fn a_background_send_waits_for_the_services_token_and_then_uses_it() {
    let sb = sandbox();
    let sb = sb.exclusive();
    let install = Install::new("setgid-service-odb");
    let queue = install.queue_areas();
    // Readable through the group, as in 0.1: only credential_access keeps
    // the caller's detached process from using it.
    let secret_text = sb.str("client_secret");
    install.put("client-secret", secret_text.as_bytes(), GROUP, 0o640);
    install.put("ca.pem", &std::fs::read(sb.ca_file()).unwrap(), 0, 0o644);
    let top = service_only(&format!("{ETC}/client-secret"));
    let text = install.config_text(&sb, &top, true)
        + &format!("\n[queue]\ndir = \"{}\"\n", queue.display());
    install.put("sendmail.conf", text.as_bytes(), GROUP, 0o640);
    let waiting = || {
        std::fs::read_dir(queue.join("msg"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
    };

    // A cold cache: the caller's detached process may not fetch a token,
    // so the message waits in the queue, neither sent nor given up.
    let cold = install.run(
        Some(USER),
        &["-odb", "-i", "odb-service-1@example.com"],
        b"Subject: 1\n\nx\n",
        &[],
    );
    cold.expect(0);
    let ids = waiting();
    assert_eq!(ids.len(), 1, "{}", cold.output());
    eventually("the detached process ended", || {
        detached(&ids[0]).is_empty()
    });
    assert_eq!(waiting(), ids, "still queued");
    assert_eq!(std::fs::read_dir(queue.join("failed")).unwrap().count(), 0);
    assert_eq!(sb.token_requests(), 0, "nobody used the credential");

    // The queue service fetches the token and sends the waiting message.
    install.run(Some(SERVICE), &["-q"], b"", &[]).expect(0);
    sb.wait_for_mail("odb-service-1@example.com", 1);
    assert_eq!(sb.token_requests(), 1);

    // Warm: the next background send goes out with the cached token.
    let warm = install.run(
        Some(USER),
        &["-odb", "-i", "odb-service-2@example.com"],
        b"Subject: 2\n\nx\n",
        &[],
    );
    warm.expect(0);
    sb.wait_for_mail("odb-service-2@example.com", 1);
    eventually("the queue is empty", || waiting().is_empty());
    assert_eq!(sb.token_requests(), 1, "the cached token was used");
    assert_no_secrets(&[&cold, &warm], &secret_text, &install.cached_token());
}
