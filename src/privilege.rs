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

use crate::cause::Cause;
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
                .with_cause(Cause::InsecurePermissions));
        }
    }
    if !caller.is_privileged() {
        return Ok(());
    }
    // Whoever may rename entries in a directory may swap a file in it, or
    // a whole subtree below it, for their own: every directory on the way
    // to the configuration and to every file it names, as written and with
    // links resolved (not the cache and queue, which root makes 2770 for
    // the group).
    for (label, path, holds) in &checks {
        if *holds == Holds::Spool {
            continue;
        }
        let resolved = std::fs::canonicalize(path).ok();
        let written: Vec<&Path> = path.ancestors().collect();
        let real: Vec<&Path> = resolved.iter().flat_map(|r| r.ancestors()).collect();
        // (entry, the directory holding it), nearest first.
        let steps = written
            .windows(2)
            .chain(real.windows(2))
            .filter(|pair| !pair[1].as_os_str().is_empty());
        for pair in steps {
            let (entry, dir) = (pair[0], pair[1]);
            let Ok(meta) = std::fs::metadata(dir) else {
                continue;
            };
            // In a sticky directory (/tmp, /nix/store) only an entry's
            // owner may rename it: root's entry there is safe.
            let sticky_and_roots = meta.mode() & 0o1000 != 0
                && std::fs::symlink_metadata(entry).is_ok_and(|m| m.uid() == 0);
            if meta.uid() != 0 || meta.mode() & 0o022 != 0 && !sticky_and_roots {
                let whose = if *label == "configuration file" {
                    "the configuration file"
                } else {
                    "a file the configuration names"
                };
                return Err(Error::config(format!(
                    "the directory {} of {whose} must be owned by root and writable by root only",
                    dir.display()
                ))
                .with_hint(format!("chown root: {0}; chmod 0755 {0}", dir.display()))
                .with_cause(Cause::InsecurePermissions));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
