//! The privilege model end to end: the built binary installed set-group-ID
//! in a temporary prefix, run by an unprivileged user against the sandbox.
//!
//! Layout, as the package makes it: binary `root:GROUP 2755`; configuration
//! and secret `root:GROUP 0640`; token cache `root:GROUP 2770`. The test
//! user and group are numeric IDs no account uses (no /etc/passwd entry is
//! needed, and none is left behind). The binary reads its configuration
//! only from /etc/oauth2-sendmail (`-C` is refused to such a user), so each
//! run happens in a private mount namespace where a read-only overlay puts
//! the prefix's `etc/oauth2-sendmail` over /etc; nothing on the machine
//! changes. Needs root, as the sandbox does.

use crate::common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::sandbox::sandbox;
use common::setgid::*;
use common::{Run, leaks, s};

#[track_caller]
pub(crate) fn assert_no_secrets(outputs: &[&Run], secret: &str, token: &str) {
    for run in outputs {
        let text = run.output();
        assert!(!leaks(&text, secret), "the client secret leaked: {text}");
        assert!(!leaks(&text, token), "the token leaked: {text}");
        // Nor a piece of the token long enough to matter (its signature).
        let signature = token.rsplit('.').next().unwrap_or(token);
        assert!(!leaks(&text, signature), "the token leaked: {text}");
    }
}

#[test]
fn a_user_sends_through_the_setgid_binary_but_reads_no_secret() {
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("setgid-send");
    let conf = install.configure(sb, &format!("client_secret_file = \"{ETC}/client-secret\""));

    let sent = install.run(
        Some(USER),
        &["-v", "-i", "setgid-user@example.com"],
        b"Subject: from an unprivileged user\n\nhello\n",
        &[],
    );
    sent.expect(0);
    let got = sb.wait_for_mail("setgid-user@example.com", 1);
    assert_eq!(got[0].sender, sb.str("user"));
    assert!(
        sent.stderr.contains("AUTH XOAUTH2"),
        "-v shows the dialogue: {}",
        sent.stderr
    );

    // The token is cached, shared with the group, owned by nobody else's eyes.
    let token = install.cached_token();
    let cache_file = std::fs::read_dir(&install.cache)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| !p.to_string_lossy().ends_with(".lock"))
        .unwrap();
    let meta = std::fs::metadata(&cache_file).unwrap();
    assert_eq!(
        (meta.gid(), meta.mode() & 0o777),
        (GROUP, 0o660),
        "{}",
        cache_file.display()
    );

    // The user cannot read any of it directly.
    assert!(!can_read(USER, &conf), "the configuration is readable");
    assert!(!can_read(USER, &install.etc.join("client-secret")));
    assert!(!can_list(USER, &install.cache), "the cache is listable");
    assert!(!can_read(USER, &cache_file), "the cached token is readable");
    // ... though the permissions are not simply closed to everyone:
    assert!(can_read(USER, &install.etc.join("ca.pem")));

    // A second send uses the cached token; errors and -v output show no secret.
    let again = install.run(
        Some(USER),
        &["-v", "-i", "setgid-user@example.com"],
        b"Subject: again\n\nhello\n",
        &[],
    );
    again.expect(0);
    let bad_rcpt = install.run(Some(USER), &["-v", "a@x>\r\nRCPT TO:<b@y"], b"x\n", &[]);
    bad_rcpt.expect(65);
    let no_rcpt = install.run(Some(USER), &["-v"], b"Subject: x\n\nx\n", &[]);
    no_rcpt.expect(64);
    let dash_c = install.run(Some(USER), &["-C", s(&conf), "a@example.com"], b"x\n", &[]);
    dash_c.expect(77);
    assert_no_secrets(
        &[&sent, &again, &bad_rcpt, &no_rcpt, &dash_c],
        &sb.str("client_secret"),
        &token,
    );
}

#[test]
fn dash_c_exits_77_without_opening_the_file() {
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("setgid-dash-c");
    install.configure(sb, &format!("client_secret_file = \"{ETC}/client-secret\""));
    // A FIFO: opening it for reading would block until the deadline.
    let fifo = install.scratch.join("x.conf");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    chown(&fifo, USER.0, USER.1, 0o644);
    let run = install.run(Some(USER), &["-C", s(&fifo), "a@example.com"], b"x\n", &[]);
    run.expect(77);
    assert!(run.stderr.contains("-C is refused"), "{}", run.stderr);
    // Root may still use -C (the FIFO is not needed for that: a real file).
    let conf = install.scratch.join("root.conf");
    std::fs::write(&conf, install.config_with_secret_file(sb, true)).unwrap();
    chown(&conf, 0, 0, 0o600);
    install
        .run(
            None,
            &["-C", s(&conf), "-i", "setgid-root-c@example.com"],
            b"Subject: c\n\nx\n",
            &[],
        )
        .expect(0);
}

/// Variables that steer OpenSSL, proxies, systemd credentials, the dynamic
/// linker and the program's surroundings.
fn hostile_environment(install: &Install, ca: &str) -> Vec<(String, String)> {
    let bad_conf = install.scratch.join("openssl.cnf");
    std::fs::write(
        &bad_conf,
        "openssl_conf = c\n[c]\nssl_conf = s\n[s]\nsystem_default = d\n[d]\nMinProtocol = TLSv1.3\nCipherString = NULL\nCiphersuites = \n",
    )
    .unwrap();
    let creds = install.scratch.join("creds");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::write(creds.join("client-secret"), "wrong~secret").unwrap();
    let dead_proxy = "http://127.0.0.1:9";
    [
        ("SSL_CERT_FILE", ca.to_string()),
        ("SSL_CERT_DIR", install.scratch.path.display().to_string()),
        ("OPENSSL_CONF", bad_conf.display().to_string()),
        ("OPENSSL_MODULES", "/nonexistent".into()),
        ("HTTPS_PROXY", dead_proxy.into()),
        ("https_proxy", dead_proxy.into()),
        ("HTTP_PROXY", dead_proxy.into()),
        ("ALL_PROXY", dead_proxy.into()),
        ("NO_PROXY", "".into()),
        ("CREDENTIALS_DIRECTORY", creds.display().to_string()),
        ("LD_PRELOAD", "/nonexistent/evil.so".into()),
        ("LD_LIBRARY_PATH", "/nonexistent".into()),
        ("HOME", "/nonexistent".into()),
        ("TMPDIR", "/nonexistent".into()),
        ("OAUTH2_SENDMAIL_CONFIG", "/tmp/x.conf".into()),
        ("SENDMAIL_CONF", "/tmp/x.conf".into()),
        ("RUST_BACKTRACE", "full".into()),
        ("RUST_LOG", "trace".into()),
        ("LANG", "C.UTF-8".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[test]
fn the_environment_changes_nothing_for_a_setgid_caller() {
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("setgid-env");
    install.configure(sb, &format!("client_secret_file = \"{ETC}/client-secret\""));
    let ca = install.etc.join("ca.pem");
    let env = hostile_environment(&install, s(&ca));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    // Everything set at once: the message still goes the configured way.
    let run = install.run(
        Some(USER),
        &["-i", "setgid-env@example.com"],
        b"Subject: env\n\nx\n",
        &env,
    );
    run.expect(0);
    sb.wait_for_mail("setgid-env@example.com", 1);

    // Without ca_file the sandbox CA is trusted only if SSL_CERT_FILE is
    // honoured. It would make the server trusted to a client that honours
    // it (openssl s_client here, so the check can fail) ...
    let no_ca = install.config_with_secret_file(sb, false);
    install.put("sendmail.conf", no_ca.as_bytes(), GROUP, 0o640);
    let trust = [("SSL_CERT_FILE", s(&ca))];
    let probe = Command::new("openssl")
        .args([
            "s_client",
            "-brief",
            "-verify_return_error",
            "-starttls",
            "smtp",
        ])
        .arg("-connect")
        .arg(format!("localhost:{}", sb.port("smtp_port")))
        .env_clear()
        .env("SSL_CERT_FILE", s(&ca))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&probe.stderr).contains("Verification: OK"),
        "the hostile SSL_CERT_FILE is a working trust anchor: {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    // ... but oauth2-sendmail trusts only the system store and ca_file,
    // for root ...
    install
        .run(
            None,
            &["-i", "setgid-env-root@example.com"],
            b"Subject: r\n\nx\n",
            &trust,
        )
        .expect(76);
    // ... and for a setgid caller: the server stays untrusted, and so
    // does the token endpoint once no token is cached.
    let refused = install.run(
        Some(USER),
        &["-i", "a@example.com"],
        b"Subject: u\n\nx\n",
        &trust,
    );
    refused.expect(76);
    assert!(refused.stderr.contains("trusted CA"), "{}", refused.stderr);
    std::fs::remove_dir_all(&install.cache).unwrap();
    std::fs::create_dir_all(&install.cache).unwrap();
    chown(&install.cache, 0, GROUP, 0o2770);
    let refused = install.run(
        Some(USER),
        &["-i", "a@example.com"],
        b"Subject: u\n\nx\n",
        &trust,
    );
    refused.expect(76);
    assert!(
        refused.stderr.contains("token endpoint"),
        "{}",
        refused.stderr
    );
}

#[test]
fn systemd_credentials_are_honoured_for_root_only() {
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("setgid-credential");
    install.configure(sb, "client_secret_file = \"credential:client-secret\"");
    let creds = install.scratch.join("credentials");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::write(creds.join("client-secret"), sb.str("client_secret")).unwrap();
    chown(&creds.join("client-secret"), 0, 0, 0o600);
    let env = [("CREDENTIALS_DIRECTORY", s(&creds))];
    install
        .run(
            None,
            &["-i", "setgid-credential@example.com"],
            b"Subject: c\n\nx\n",
            &env,
        )
        .expect(0);
    sb.wait_for_mail("setgid-credential@example.com", 1);
    std::fs::write(creds.join("client-secret"), "not~the+secret").unwrap();
    let run = install.run(
        Some(USER),
        &["-i", "a@example.com"],
        b"Subject: c\n\nx\n",
        &env,
    );
    run.expect(78);
    assert!(
        run.stderr.contains("needs $CREDENTIALS_DIRECTORY"),
        "{}",
        run.stderr
    );
}

#[test]
fn unsafe_permissions_are_refused_with_the_fix() {
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("setgid-perms");
    let conf = install.configure(sb, &format!("client_secret_file = \"{ETC}/client-secret\""));
    let secret = install.etc.join("client-secret");
    let (shown_secret, shown_conf) = (
        format!("{ETC}/client-secret"),
        format!("{ETC}/sendmail.conf"),
    );
    let cache = install.cache.display().to_string();
    /// The file, the path the binary sees, owner, group, mode, the problem.
    type Row<'a> = (&'a Path, &'a str, u32, u32, u32, &'a str);
    let table: &[Row] = &[
        (
            &secret,
            &shown_secret,
            0,
            GROUP,
            0o644,
            "readable by every user",
        ),
        (
            &secret,
            &shown_secret,
            USER.0,
            GROUP,
            0o640,
            "must be owned by root",
        ),
        (
            &conf,
            &shown_conf,
            0,
            GROUP,
            0o662,
            "writable by every user",
        ),
        (
            &install.cache,
            &cache,
            0,
            GROUP,
            0o2775,
            "open to every user",
        ),
    ];
    for &(path, shown, uid, gid, mode, want) in table {
        let before = std::fs::metadata(path).unwrap();
        chown(path, uid, gid, mode);
        let run = install.run(
            Some(USER),
            &["-i", "a@example.com"],
            b"Subject: p\n\nx\n",
            &[],
        );
        chown(path, before.uid(), before.gid(), before.mode() & 0o7777);
        run.expect(78);
        assert!(
            run.stderr.contains(want),
            "{}: {}",
            path.display(),
            run.stderr
        );
        assert!(
            run.stderr
                .contains(&format!("chown root:oauth2-sendmail {shown}")),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn certificate_credentials_work_setgid_and_the_key_stays_hidden() {
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("setgid-cert");
    let client = sb.client("certificate");
    let cert = std::fs::read(client["certificate_file"].as_str().unwrap()).unwrap();
    let key = std::fs::read(client["private_key_file"].as_str().unwrap()).unwrap();
    install.put("client.crt", &cert, 0, 0o644);
    let key_path = install.put("client.key", &key, GROUP, 0o640);
    install.put("ca.pem", &std::fs::read(sb.ca_file()).unwrap(), 0, 0o644);
    let text = install
        .config_text(
            sb,
            &format!(
                "certificate_file = \"{ETC}/client.crt\"\nprivate_key_file = \"{ETC}/client.key\""
            ),
            true,
        )
        .replace(&sb.str("client_id"), client["client_id"].as_str().unwrap());
    install.put("sendmail.conf", text.as_bytes(), GROUP, 0o640);
    let run = install.run(
        Some(USER),
        &["-v", "-i", "setgid-cert@example.com"],
        b"Subject: cert\n\nx\n",
        &[],
    );
    run.expect(0);
    sb.wait_for_mail("setgid-cert@example.com", 1);
    assert!(!can_read(USER, &key_path), "the private key is readable");
    let key_text = String::from_utf8(key).unwrap();
    let key_body = key_text.lines().nth(1).unwrap();
    assert!(!leaks(&run.output(), key_body));
    assert_no_secrets(&[&run], key_body, &install.cached_token());
}

#[test]
fn core_dumps_are_off() {
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("setgid-core");
    let conf = install.scratch.join("root.conf");
    std::fs::write(&conf, install.config_with_secret_file(sb, true)).unwrap();
    install.put_credentials(sb);
    chown(&conf, 0, 0, 0o600);
    // Root, not privileged: the program turns dumps off itself. It waits
    // for the message on stdin while the test looks at its limits.
    let mut child = Command::new(&install.binary)
        .args(["-C", s(&conf), "-i", "a@example.com"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let limits = format!("/proc/{}/limits", child.id());
    let deadline = Instant::now() + Duration::from_secs(20);
    let line = loop {
        let text = std::fs::read_to_string(&limits).unwrap_or_default();
        let line = text
            .lines()
            .find(|l| l.starts_with("Max core file size"))
            .unwrap_or("")
            .to_string();
        // The inherited soft limit may be 0 already; the hard one is ours.
        if line.split_whitespace().nth(5) == Some("0") || Instant::now() > deadline {
            break line;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = child.kill();
    let _ = child.wait();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.get(4..6), Some(&["0", "0"][..]), "{line}");
}

#[test]
fn mailq_shows_a_user_only_the_messages_that_user_queued() {
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("setgid-mailq");
    let queue = install.queue_areas();
    // The token endpoint is unreachable: every message is queued (exit 0).
    install.configure_queue(sb, &queue);
    for (who, rcpt) in [(USER, "mine@example.com"), (OTHER, "theirs@example.com")] {
        install
            .run(Some(who), &["-i", rcpt], b"Subject: q\n\nx\n", &[])
            .expect(0);
    }
    let listing = |who| {
        let run = install.run(who, &["-bp"], b"", &[]);
        run.expect(0);
        run.stdout.clone()
    };
    let mine = listing(Some(USER));
    assert!(mine.contains("mine@example.com"), "{mine}");
    assert!(!mine.contains("theirs@example.com"), "{mine}");
    let theirs = listing(Some(OTHER));
    assert!(
        theirs.contains("theirs@example.com") && !theirs.contains("mine@example.com"),
        "{theirs}"
    );
    let root = listing(None);
    assert!(
        root.contains("mine@example.com") && root.contains("theirs@example.com"),
        "{root}"
    );
    // And the queue's files stay closed to both users.
    assert!(!can_list(USER, &queue));
}

#[test]
fn a_set_group_id_caller_never_creates_the_queue_directory() {
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("setgid-noqueue");
    let queue = install.scratch.join("queue-missing");
    install.configure_queue(sb, &queue);
    let run = install.run(
        Some(USER),
        &["-i", "a@example.com"],
        b"Subject: q\n\nx\n",
        &[],
    );
    run.expect(75);
    assert!(run.stderr.contains("root must create it"), "{}", run.stderr);
    assert!(!queue.exists(), "the caller made the queue directory");
}
