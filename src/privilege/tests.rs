//! The permission rules, table by table.

use super::*;

const USER: Caller = Caller {
    uid: 1000,
    gid: 1000,
    euid: 1000,
    egid: 1000,
};
const SETGID: Caller = Caller {
    uid: 33,
    gid: 33,
    euid: 33,
    egid: 990,
};
const ROOT_SETGID: Caller = Caller {
    uid: 0,
    gid: 0,
    euid: 0,
    egid: 990,
};

#[test]
fn who_is_privileged() {
    assert!(!USER.is_privileged());
    assert!(SETGID.is_privileged());
    assert!(!ROOT_SETGID.is_privileged(), "root may do anything anyway");
    let setuid = Caller { euid: 0, ..USER };
    assert!(setuid.is_privileged());
}

fn check(mode: u32, owner: u32, group: u32, holds: Holds, caller: &Caller) -> Option<String> {
    check_bits("f", Path::new("/x"), mode, owner, group, holds, caller).map(|p| p.what)
}

#[test]
fn permission_table() {
    use Holds::*;
    /// mode, owner, group, holds, caller, expected problem fragment.
    type Row<'a> = (u32, u32, u32, Holds, &'a Caller, Option<&'a str>);
    let table: &[Row] = &[
        (0o100640, 0, 990, Secret, &SETGID, None),
        (0o100600, 0, 0, Secret, &SETGID, None),
        (
            0o100644,
            0,
            990,
            Secret,
            &SETGID,
            Some("readable by every user"),
        ),
        (0o100644, 0, 0, Setting, &SETGID, None),
        (
            0o100646,
            0,
            0,
            Setting,
            &SETGID,
            Some("writable by every user"),
        ),
        (
            0o100666,
            1000,
            1000,
            Setting,
            &USER,
            Some("writable by every user"),
        ),
        (
            0o100644,
            1000,
            1000,
            Secret,
            &USER,
            Some("readable by every user"),
        ),
        (0o100600, 1000, 1000, Secret, &USER, None),
        (0o100640, 33, 990, Secret, &SETGID, Some("owned by root")),
        (0o100660, 0, 100, Setting, &SETGID, Some("group other than")),
        (0o100660, 0, 990, Setting, &SETGID, None),
        (0o42770, 0, 990, Spool, &SETGID, None),
        (0o42775, 0, 990, Spool, &SETGID, Some("open to every user")),
        (0o40755, 0, 0, Spool, &USER, None),
        (0o41777, 0, 0, Spool, &USER, Some("writable by every user")),
        (0o40777, 0, 0, Spool, &USER, Some("writable by every user")),
        (
            0o41777,
            0,
            0,
            Spool,
            &SETGID,
            Some("writable by every user"),
        ),
    ];
    for (i, &(mode, owner, group, holds, caller, want)) in table.iter().enumerate() {
        let got = check(mode, owner, group, holds, caller);
        match (want, &got) {
            (None, None) => {}
            (Some(w), Some(g)) if g.contains(w) => {}
            _ => panic!("row {i} ({mode:o}): want {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn fixes_name_the_commands() {
    let p = check_bits(
        "f",
        Path::new("/etc/x"),
        0o100644,
        0,
        0,
        Holds::Secret,
        &USER,
    )
    .unwrap();
    assert_eq!(
        p.fix,
        "chown root:oauth2-sendmail /etc/x; chmod 0640 /etc/x"
    );
    let p = check_bits("d", Path::new("/d"), 0o40777, 0, 0, Holds::Spool, &USER).unwrap();
    assert!(p.fix.contains("chmod 2770 /d"));
}

fn config(credential: &str, access: &str) -> Config {
    let text = format!(
        "tenant = \"contoso.onmicrosoft.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\nuser = \"a@contoso.com\"\n{credential}\ncredential_access = \"{access}\"\n"
    );
    let mut config = crate::config::parse(&text, Path::new("/etc/o/sendmail.conf")).unwrap();
    crate::config::resolve_credentials(&mut config, None).unwrap();
    config
}

fn labels(config: &Config, caller: &Caller) -> Vec<&'static str> {
    checked_paths(config, caller)
        .into_iter()
        .map(|(label, _, _)| label)
        .collect()
}

#[test]
fn credential_files_are_checked_only_for_whoever_opens_them() {
    let secret = "client_secret_file = \"/etc/o/secret\"";
    let cert = "certificate_file = \"/etc/o/c.pem\"\nprivate_key_file = \"/etc/o/k.pem\"";
    let systemd = "client_secret_file = \"credential:client-secret\"";
    // credential lines, credential_access, caller, whether the
    // credential's files are checked.
    let table: &[(&str, &str, &Caller, bool)] = &[
        (secret, "callers", &SETGID, true),
        (secret, "callers", &USER, true),
        // The caller never opens it: root's, or the service user's.
        (secret, "service", &SETGID, false),
        (cert, "service", &SETGID, false),
        (cert, "callers", &SETGID, true),
        // Root at a shell, or the queue service itself, reads it.
        (secret, "service", &USER, true),
        (secret, "service", &ROOT_SETGID, true),
        // A name systemd hands to the service only is no file here.
        (systemd, "service", &USER, false),
        (systemd, "service", &SETGID, false),
    ];
    for &(credential, access, caller, checked) in table {
        let got = labels(&config(credential, access), caller);
        let has = got.iter().any(|l| l.ends_with("_file"));
        assert_eq!(
            has, checked,
            "{credential} / {access} / {caller:?}: {got:?}"
        );
        assert!(got.contains(&"configuration file"), "{got:?}");
        assert!(got.contains(&"token.cache_dir"), "{got:?}");
    }
}

#[test]
fn a_service_only_credential_owned_by_anyone_does_not_refuse_a_caller() {
    // The rule check_files applies, path by path: the caller's list
    // never holds the credential, so its owner (the service user,
    // uid 991 here) cannot make the caller fail.
    let config = config("client_secret_file = \"/etc/o/secret\"", "service");
    assert!(
        checked_paths(&config, &SETGID)
            .iter()
            .all(|(_, path, _)| *path != Path::new("/etc/o/secret"))
    );
    let owned_by_service = check(0o100400, 991, 991, Holds::Secret, &SETGID);
    assert!(
        owned_by_service.is_some(),
        "the rule itself still wants root"
    );
}

#[test]
fn clean_environment() {
    let var = |n: &str, v: &str| (OsString::from(n), OsString::from(v));
    assert!(is_clean(vec![]));
    assert!(is_clean(vec![var("PATH", SAFE_PATH)]));
    assert!(!is_clean(vec![var("PATH", "/tmp:/usr/bin")]));
    assert!(!is_clean(vec![
        var("PATH", SAFE_PATH),
        var("SSL_CERT_FILE", "/tmp/ca.pem")
    ]));
}

#[test]
fn dash_c_is_root_only_when_privileged() {
    let inv = crate::cli::parse(["sendmail", "-C", "/tmp/x.conf", "a@x"]).unwrap();
    assert_eq!(check_invocation(&inv, &SETGID).unwrap_err().exit_code(), 77);
    assert!(check_invocation(&inv, &USER).is_ok());
    assert!(check_invocation(&inv, &ROOT_SETGID).is_ok());
    let plain = crate::cli::parse(["sendmail", "a@x"]).unwrap();
    assert!(check_invocation(&plain, &SETGID).is_ok());
}
