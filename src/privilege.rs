//! The privilege model: who runs the program, and what that allows.
//!
//! Installed set-group-ID `oauth2-sendmail` (mode 2755), the program reads
//! credentials and writes the token cache with that group's rights on
//! behalf of any local user. Such a caller must not be able to steer it, so
//! when the real user is not root and the effective group (or user) differs
//! from the real one, [`start`]:
//!
//! - re-executes the program with an empty environment (only a fixed
//!   `PATH`), because OpenSSL reads `OPENSSL_CONF` (and its default
//!   trust paths read `SSL_CERT_FILE` and `SSL_CERT_DIR`, which `net.rs`
//!   never asks for, but a library might), and Rust cannot remove
//!   variables from its own environment without `unsafe`;
//!
//! and, in every mode, turns core dumps off (the process holds a secret or a
//! token) and sets the umask to 007, so nothing it creates is ever
//! world-accessible and every file and directory it makes has the mode
//! asked for from the start (`safe_fs`). [`check_invocation`] refuses `-C` to such a caller (exit 77)
//! without touching the file; [`check_files`] refuses configuration,
//! credential, trust and spool paths whose permissions would let another
//! user change them or read a secret (exit 78, with the fix); the
//! credential's files only where this process may open them (not a
//! set-group-ID caller's with `credential_access = "service"`).

use std::ffi::OsString;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;

use crate::cli::Invocation;
use crate::config::{Audience, Config, Credential, CredentialAccess, is_systemd_credential};
use crate::error::{Error, Kind, Result};

/// The one variable a privileged process keeps, with a fixed value.
pub const SAFE_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// The group the package installs the binary with.
pub const GROUP: &str = "oauth2-sendmail";

/// The identity the process runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Real user ID: who called.
    pub uid: u32,
    /// Real group ID.
    pub gid: u32,
    /// Effective user ID.
    pub euid: u32,
    /// Effective group ID: `oauth2-sendmail` when installed set-group-ID.
    pub egid: u32,
}

impl Caller {
    /// The identity of this process.
    pub fn current() -> Caller {
        use rustix::process::{getegid, geteuid, getgid, getuid};
        Caller {
            uid: getuid().as_raw(),
            gid: getgid().as_raw(),
            euid: geteuid().as_raw(),
            egid: getegid().as_raw(),
        }
    }

    /// Whether a user other than root runs with rights that are not their own.
    pub fn is_privileged(&self) -> bool {
        self.uid != 0 && (self.egid != self.gid || self.euid != self.uid)
    }

    /// Who the configuration's error messages are for: a privileged
    /// caller may not see a word of the file it cannot read itself.
    pub fn audience(&self) -> Audience {
        if self.is_privileged() {
            Audience::Caller
        } else {
            Audience::Root
        }
    }
}

/// Hardens the process; the first thing `main` does.
///
/// A privileged process whose environment holds anything but the safe
/// `PATH` replaces itself with a fresh copy of the program (same argv, the
/// same set-group-ID rights) that has only that; this call then does not
/// return.
///
/// # Errors
/// [`Kind::Software`] when that re-execution fails: the program stops
/// rather than run with an environment the caller chose.
pub fn start() -> Result<Caller> {
    disable_core_dumps();
    crate::safe_fs::set_umask();
    let caller = Caller::current();
    if caller.is_privileged() && !is_clean(std::env::vars_os()) {
        return Err(reexec_clean());
    }
    Ok(caller)
}

/// Core dumps would hold the secret, the key or a token. Best effort: a
/// failure here changes nothing else.
fn disable_core_dumps() {
    use rustix::process::{DumpableBehavior, Resource, Rlimit, set_dumpable_behavior, setrlimit};
    let _ = setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    );
    let _ = set_dumpable_behavior(DumpableBehavior::NotDumpable);
}

/// Whether the environment is exactly the safe one.
pub fn is_clean(vars: impl IntoIterator<Item = (OsString, OsString)>) -> bool {
    vars.into_iter()
        .all(|(name, value)| name == "PATH" && value == SAFE_PATH)
}

/// Replaces the process with the same program, argv (argv[0] included, so
/// `mailq` stays `mailq`) and rights, and the safe environment only.
/// Returns only on failure.
fn reexec_clean() -> Error {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| OsString::from("sendmail"));
    let e = std::process::Command::new("/proc/self/exe")
        .arg0(argv0)
        .args(args)
        .env_clear()
        .env("PATH", SAFE_PATH)
        .exec();
    Error::new(
        Kind::Software,
        format!(
            "cannot restart with a clean environment through /proc/self/exe: {}",
            crate::error::io_reason(&e)
        ),
    )
    .with_hint(
        "mount /proc; oauth2-sendmail does not run set-group-ID with the caller's environment",
    )
}

/// Refuses what only root may ask of a privileged process: `-C`.
///
/// # Errors
/// [`Kind::NoPermission`] (exit 77) naming the option; the file named is
/// never opened.
pub fn check_invocation(invocation: &Invocation, caller: &Caller) -> Result<()> {
    if caller.is_privileged() && invocation.config_path.is_some() {
        return Err(Error::new(
            Kind::NoPermission,
            format!(
                "-C is refused: oauth2-sendmail runs with the {GROUP} group's rights, so only root may name another configuration file"
            ),
        )
        .with_hint("run it as root, or use the installed configuration; see docs/SECURITY.md"));
    }
    Ok(())
}

/// What a path holds, for the checks and their messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holds {
    /// A secret (inline `client_secret`, the secret file, the private key).
    Secret,
    /// Something that steers the program but is not secret (configuration
    /// without a secret, certificate, CA file, aliases).
    Setting,
    /// A directory the program writes (token cache, queue).
    Spool,
}

/// A permission problem: the one-line message and the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong.
    pub what: String,
    /// The commands that fix it.
    pub fix: String,
}

/// Checks one path's owner and mode. Pure: the metadata comes in.
///
/// Everyone: nothing writable by every user; no secret readable by every
/// user. Privileged callers also need the path owned by root and not
/// writable by a group other than root's or the program's own, since
/// whoever may change it steers a process that holds the secret.
pub fn check_mode(
    label: &str,
    path: &Path,
    meta: &Metadata,
    holds: Holds,
    caller: &Caller,
) -> Option<Problem> {
    check_bits(
        label,
        path,
        meta.mode(),
        meta.uid(),
        meta.gid(),
        holds,
        caller,
    )
}

fn check_bits(
    label: &str,
    path: &Path,
    mode: u32,
    owner: u32,
    group: u32,
    holds: Holds,
    caller: &Caller,
) -> Option<Problem> {
    let p = path.display();
    let (file_fix, dir_fix) = (
        format!("chown root:{GROUP} {p}; chmod 0640 {p}"),
        format!("chown root:{GROUP} {p}; chmod 2770 {p}"),
    );
    let fix = if holds == Holds::Spool {
        dir_fix
    } else {
        file_fix
    };
    let problem = |what: String| {
        Some(Problem {
            what,
            fix: fix.clone(),
        })
    };
    // Not even with the sticky bit: a shared /tmp-like cache invites
    // planted files and symbolic links.
    if mode & 0o002 != 0 {
        return problem(format!("{label} {p} is writable by every user"));
    }
    if holds == Holds::Secret && mode & 0o004 != 0 {
        return problem(format!(
            "{label} {p} holds a secret and is readable by every user"
        ));
    }
    if !caller.is_privileged() {
        return None;
    }
    if owner != 0 {
        return problem(format!(
            "{label} {p} must be owned by root: oauth2-sendmail runs with the {GROUP} group's rights"
        ));
    }
    if mode & 0o020 != 0 && group != 0 && group != caller.egid {
        return problem(format!(
            "{label} {p} is writable by a group other than {GROUP}"
        ));
    }
    if holds == Holds::Spool && mode & 0o007 != 0 {
        return problem(format!(
            "{label} {p} is open to every user; its files belong to the users who sent mail"
        ));
    }
    None
}

/// The paths [`check_files`] checks, with what they hold. Pure.
///
/// The credential's files are left out where this process never opens
/// them: a `credential:NAME` systemd has not handed to it, and, with
/// `credential_access = "service"`, any credential file for a privileged
/// caller, which uses cached tokens only. Whoever owns those files (root
/// for `LoadCredential=`, or the queue service's own user) is the
/// service's business, and `--check` judges it (`diagnose::identity`).
pub fn checked_paths<'c>(
    config: &'c Config,
    caller: &Caller,
) -> Vec<(&'static str, &'c Path, Holds)> {
    let inline_secret = matches!(config.credential, Credential::Secret(_));
    let mut checks: Vec<(&'static str, &'c Path, Holds)> = vec![(
        "configuration file",
        &config.path,
        if inline_secret {
            Holds::Secret
        } else {
            Holds::Setting
        },
    )];
    let service_only =
        caller.is_privileged() && config.credential_access == CredentialAccess::Service;
    let mut credential: Vec<(&'static str, &'c Path, Holds)> = Vec::new();
    match &config.credential {
        Credential::Secret(_) | Credential::Managed(_) => {}
        Credential::SecretFile(path) => {
            credential.push(("client_secret_file", path, Holds::Secret))
        }
        // Kubernetes projects it 0644 into a pod; it lives an hour at most.
        Credential::FederatedAssertion(path) => {
            credential.push(("client_assertion_file", path, Holds::Setting));
        }
        Credential::Certificate {
            certificate_file,
            private_key_file,
        } => {
            credential.push(("certificate_file", certificate_file, Holds::Setting));
            credential.push(("private_key_file", private_key_file, Holds::Secret));
        }
    }
    if !service_only {
        checks.extend(
            credential
                .into_iter()
                .filter(|(_, path, _)| !is_systemd_credential(path)),
        );
    }
    if let Some(ca) = &config.ca_file {
        checks.push(("ca_file", ca, Holds::Setting));
    }
    if let Some(aliases) = &config.addresses.aliases {
        checks.push(("addresses.aliases", aliases, Holds::Setting));
    }
    checks.push(("token.cache_dir", &config.token.cache_dir, Holds::Spool));
    if let Some(queue) = &config.queue {
        checks.push(("queue.dir", &queue.dir, Holds::Spool));
    }
    checks
}

/// The start-up permission checks: the configuration file, the files it
/// names, the token cache and queue directories, and (for a privileged
/// caller) the directories of the configuration and of the files it names. Paths that do not exist
/// are left to the code that uses them (a missing secret file with a good
/// cached token still sends).
///
/// # Errors
/// [`Kind::Config`] (exit 78) naming the path, what is wrong, and the fix.
pub fn check_files(config: &Config, caller: &Caller) -> Result<()> {
    let checks = checked_paths(config, caller);
    for (label, path, holds) in &checks {
        let Ok(meta) = std::fs::metadata(path) else {
            continue;
        };
        if let Some(problem) = check_mode(label, path, &meta, *holds, caller) {
            return Err(Error::config(problem.what)
                .with_hint(problem.fix)
                .with_cause("insecure-permissions"));
        }
    }
    if !caller.is_privileged() {
        return Ok(());
    }
    // Whoever may rename entries in a directory may swap a file in it for
    // their own: the directories of the configuration and of every file it
    // names (not the cache and queue, which root makes 2770 for the group).
    let named = checks
        .iter()
        .filter(|(_, _, holds)| *holds != Holds::Spool)
        .filter_map(|(_, path, _)| path.parent())
        .filter(|d| !d.as_os_str().is_empty());
    for dir in named {
        if let Ok(meta) = std::fs::metadata(dir)
            && (meta.uid() != 0 || meta.mode() & 0o022 != 0)
        {
            let whose = if dir == config.path.parent().unwrap_or(dir) {
                "the configuration file"
            } else {
                "a file the configuration names"
            };
            return Err(Error::config(format!(
                "the directory {} of {whose} must be owned by root and writable by root only",
                dir.display()
            ))
            .with_hint(format!("chown root: {0}; chmod 0755 {0}", dir.display()))
            .with_cause("insecure-permissions"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
}
