//! `--check` of a set-group-ID installation by a caller: verdicts only, no
//! server contacted, and the named files directory checked.

use super::*;

#[test]
fn check_by_a_caller_gives_verdicts_only_and_contacts_no_server() {
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("setgid-check");
    install.put_credentials(sb);
    // Token endpoint and SMTP server: listeners of the test's own, which
    // must see no connection.
    let token = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let smtp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (token_port, smtp_port) = (
        token.local_addr().unwrap().port(),
        smtp.local_addr().unwrap().port(),
    );
    let text = install
        .config_with_secret_file(sb, true)
        .replace(
            &sb.str("token_url"),
            &format!("https://127.0.0.1:{token_port}/{{tenant}}/oauth2/v2.0/token"),
        )
        .replace(
            &format!("port = {}", sb.port("smtp_port")),
            &format!("port = {smtp_port}"),
        );
    install.put("sendmail.conf", text.as_bytes(), GROUP, 0o640);
    let text_run = install.run(Some(USER), &["--check"], b"", &[]);
    let json_run = install.run(
        Some(USER),
        &["--check", "--json", "--to", "a@example.com"],
        b"",
        &[],
    );
    for listener in [&token, &smtp] {
        listener.set_nonblocking(true).unwrap();
        assert!(
            listener.accept().is_err(),
            "a caller's --check connected to port {}",
            listener.local_addr().unwrap().port()
        );
    }
    let cache = install.cache.display().to_string();
    for run in [&text_run, &json_run] {
        assert_ne!(run.code, -1);
        let out = run.output();
        for value in [
            sb.str("tenant"),
            sb.str("client_id"),
            sb.str("user"),
            "127.0.0.1".to_string(),
            token_port.to_string(),
            smtp_port.to_string(),
            cache.clone(),
            "/etc/oauth2-sendmail".to_string(),
            sb.str("scope"),
        ] {
            assert!(!out.contains(&value), "{value} shown to a caller:\n{out}");
        }
    }
    assert!(
        text_run.stdout.contains("verdicts only"),
        "{}",
        text_run.stdout
    );
    assert!(
        text_run
            .stdout
            .contains("not checked for a caller who is not root"),
        "{}",
        text_run.stdout
    );
    let json: serde_json::Value = serde_json::from_str(&json_run.stdout).unwrap();
    let token_step = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "token")
        .unwrap();
    assert_eq!(token_step["cause"], "token-not-cached", "{json}");
}

#[test]
fn a_named_files_directory_is_checked_and_stale_token_temporaries_go() {
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("setgid-dirs");
    // The secret sits in a directory a user owns: that user could swap it.
    let secrets = install.etc.join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    chown(&secrets, USER.0, USER.1, 0o755);
    install.put(
        "secrets/client-secret",
        sb.str("client_secret").as_bytes(),
        GROUP,
        0o640,
    );
    install.configure(
        sb,
        &format!("client_secret_file = \"{ETC}/secrets/client-secret\""),
    );
    let run = install.run(
        Some(USER),
        &["-i", "dirs@example.com"],
        b"Subject: d\n\nx\n",
        &[],
    );
    run.expect(78);
    assert!(
        run.stderr.contains(&format!(
            "the directory {ETC}/secrets of a file the configuration names"
        )),
        "{}",
        run.stderr
    );

    // A token temporary file a killed process left (mode 0600, an hour
    // old) goes when the next token is written.
    chown(&secrets, 0, 0, 0o755);
    let dead = install.cache.join(".token-0123456789abcdef.4242.tmp");
    std::fs::write(&dead, "half a tok").unwrap();
    chown(&dead, USER.0, GROUP, 0o600);
    let touched = Command::new("touch")
        .args(["-d", "1 hour ago"])
        .arg(&dead)
        .status()
        .unwrap();
    assert!(touched.success());
    install
        .run(
            Some(OTHER),
            &["-i", "dirs@example.com"],
            b"Subject: d\n\nx\n",
            &[],
        )
        .expect(0);
    assert!(!dead.exists(), "the stale temporary file is still there");
}
