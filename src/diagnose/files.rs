//! `--check` steps about files: the configuration file, the permissions
//! of the files that hold or steer secrets, and whether the token cache
//! and queue directories can be written.
//!
//! Directory checks create and remove a probe file rather than reading
//! mode bits, so the answer is true for the user running the check (root
//! passes any mode check, which is why a root-only directory earns a
//! warning: the mail of www-data and cron runs with the group's rights).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::report::Step;
use super::step_id::StepId;
use crate::cause::Cause;
use crate::clock;
use crate::config::{self, Config, Credential, TlsMode};
use crate::error::{Error, Kind, io_reason};
use crate::privilege;
use crate::spool::store::{Area, Spool};

/// Reads and validates the configuration file.
pub fn configuration(path: &Path) -> (Step, Option<Config>) {
    // A caller running the set-group-ID binary gets what sending would: no
    // quoted file text in errors, and the privileged-use file checks.
    let caller = privilege::Caller::current();
    let loaded = config::load_for(path, caller.audience()).and_then(|c| {
        // Others get the permissions step instead, which reports every problem.
        if caller.is_privileged() {
            privilege::check_files(&c, &caller)?;
        }
        Ok(c)
    });
    match loaded {
        Ok(config) => {
            let tls = match config.smtp.tls {
                TlsMode::StartTls => "STARTTLS",
                TlsMode::Implicit => "implicit TLS",
                TlsMode::None => "no TLS",
            };
            let step = Step::pass(
                StepId::Config,
                format!("{}: read, every key valid", path.display()),
            )
            .detail(format!(
                "tenant {}, client_id {}; credential: {}; cloud {}",
                or_none(&config.tenant),
                or_none(&config.client_id),
                config.credential.kind_name(),
                config.cloud.name()
            ))
            .detail(format!("user {}, from {}", config.user, config.from))
            .detail(match config.transport {
                crate::config::Transport::Smtp => format!(
                    "SMTP {}:{} ({tls}); token endpoint {}",
                    config.smtp.host, config.smtp.port, crate::token::endpoint_url(&config)
                ),
                crate::config::Transport::Graph => format!(
                    "transport graph: Microsoft Graph {}; token endpoint {}",
                    config.graph.url, crate::token::endpoint_url(&config)
                ),
                crate::config::Transport::Auto => format!(
                    "transport auto: SMTP {}:{} ({tls}), else Microsoft Graph {}; token endpoint {}",
                    config.smtp.host, config.smtp.port, config.graph.url, crate::token::endpoint_url(&config)
                ),
            });
            (step, Some(config))
        }
        Err(e) if e.cause() == Some(Cause::ConfigInvalid) => {
            let e = e.with_hint(
                "correct the key named above; sendmail.conf(5) and sendmail.conf.example document every key",
            );
            (Step::fail(StepId::Config, &e), None)
        }
        Err(e) => (Step::fail(StepId::Config, &e), None),
    }
}

/// A file's mode and owner, as `0640 root:oauth2-sendmail`.
fn describe_mode(meta: &fs::Metadata) -> String {
    format!(
        "{:04o} {}:{}",
        meta.permissions().mode() & 0o7777,
        name_of(Path::new("/etc/passwd"), meta.uid()),
        name_of(Path::new("/etc/group"), meta.gid())
    )
}

/// The name for a numeric id in a passwd or group file, or the number.
fn name_of(file: &Path, id: u32) -> String {
    let text = fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .find_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let number: u32 = fields.nth(1)?.parse().ok()?;
            (number == id).then(|| name.to_string())
        })
        .unwrap_or_else(|| id.to_string())
}

/// The numeric id of `name` in a passwd or group file, if it is there.
pub(super) fn id_of(file: &Path, name: &str) -> Option<u32> {
    let text = fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name).then_some(())?;
        fields.nth(1)?.parse().ok()
    })
}

/// Files that hold secrets, or steer where they go, must not be open to
/// every local user: a readable secret is stolen, a writable
/// configuration redirects the token request to another server.
pub fn permissions(config: &Config) -> Step {
    let mut findings: Vec<String> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut note = |label: &str, path: &Path, holds_secret: bool| {
        // `credential:NAME` that systemd did not hand to this process.
        if crate::config::is_systemd_credential(path) {
            return;
        }
        let Ok(meta) = fs::metadata(path) else {
            return;
        };
        let mode = meta.permissions().mode();
        findings.push(format!(
            "{label} {}: {}",
            path.display(),
            describe_mode(&meta)
        ));
        if mode & 0o002 != 0 {
            problems.push(format!(
                "{} is writable by every local user",
                path.display()
            ));
        } else if holds_secret && mode & 0o004 != 0 {
            problems.push(format!(
                "{} holds a secret and is readable by every local user",
                path.display()
            ));
        }
    };
    let inline_secret = matches!(config.credential, Credential::Secret(_));
    note("configuration", &config.path, inline_secret);
    match &config.credential {
        Credential::Secret(_) | Credential::Managed(_) => {}
        Credential::SecretFile(path) => note("secret", path, true),
        Credential::FederatedAssertion(path) => note("federated assertion", path, false),
        Credential::Certificate {
            certificate_file,
            private_key_file,
        } => {
            note("certificate", certificate_file, false);
            note("private key", private_key_file, true);
        }
    }
    let mut step = if problems.is_empty() {
        Step::pass(
            StepId::Permissions,
            "no secret is readable, and no file writable, by every local user",
        )
    } else {
        Step::fail(StepId::Permissions, &Error::config(problems.join("; "))
                .with_hint("chown root:oauth2-sendmail FILE; chmod 0640 FILE (a secret anyone could read must also be replaced: create a new one and delete the old)")
                .with_cause(Cause::SecretExposed),
        )
    };
    for line in findings {
        step = step.detail(line);
    }
    step
}

/// Whether this process can create files in `dir`: by trying.
fn probe_writable(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".oauth2-sendmail-check.{}", std::process::id()));
    crate::safe_fs::create_new(&probe, 0o600)?;
    fs::remove_file(&probe)
}

/// A directory the program must write to (token cache, queue).
fn writable_dir(step: StepId, key: &str, dir: &Path, cause: Cause) -> Step {
    let hint = format!(
        "{key} must be writable by root and the oauth2-sendmail group: install -d -m 2770 -o root -g oauth2-sendmail {}",
        dir.display()
    );
    let fail = |message: String| {
        Step::fail(
            step,
            &Error::new(Kind::CantCreate, message)
                .with_hint(hint.clone())
                .with_cause(cause),
        )
    };
    let meta = match fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Step::warn(
                step,
                format!("{} does not exist; root must create it (the packages do): a set-group-ID caller never does", dir.display()),
                hint.clone(),
            )
            .cause(cause);
        }
        Err(e) => return fail(format!("{key} {}: {}", dir.display(), io_reason(&e))),
    };
    if !meta.is_dir() {
        return fail(format!("{key} {} is not a directory", dir.display()));
    }
    if let Err(e) = probe_writable(dir) {
        return fail(format!(
            "{key} {} is not writable: {}",
            dir.display(),
            io_reason(&e)
        ));
    }
    let mode = meta.permissions().mode();
    let shared = mode & 0o020 != 0;
    let step = if privilege::Caller::current().euid == 0 && !shared {
        Step::warn(
            step,
            format!(
                "{} is writable by root, but not by the oauth2-sendmail group that local users' mail runs with",
                dir.display()
            ),
            hint.clone(),
        )
        .cause(cause)
    } else {
        Step::pass(step, format!("{} writable", dir.display()))
    };
    step.detail(describe_mode(&meta))
}

/// The token cache directory, and what it holds.
pub fn cache(config: &Config, cached_until: Option<u64>) -> Step {
    let dir = &config.token.cache_dir;
    let step = writable_dir(
        StepId::Cache,
        "token.cache_dir",
        dir,
        Cause::CacheUnwritable,
    );
    let now = clock::now();
    match cached_until {
        Some(until) if until > now => step.detail(format!(
            "cached token valid until {} ({} s)",
            clock::utc_timestamp(until),
            until - now
        )),
        _ => step.detail("no valid cached token"),
    }
}

/// The queue directory and its size.
pub fn queue(config: &Config) -> Step {
    let Some(queue) = &config.queue else {
        return Step::pass(
            StepId::Queue,
            "no queue configured: a temporary failure exits 75 and the caller must retry",
        );
    };
    let step = writable_dir(
        StepId::Queue,
        "queue.dir",
        &queue.dir,
        Cause::QueueUnwritable,
    );
    let spool = Spool::new(&queue.dir);
    step.detail(format!(
        "{} messages queued, {} in failed/",
        spool.count(Area::Messages),
        spool.count(Area::Failed)
    ))
}

/// A value, or "(none)" when a managed identity left it unset.
fn or_none(value: &str) -> &str {
    if value.is_empty() { "(none)" } else { value }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::report::Verdict;

    use crate::testing::TempDir as Dir;

    #[test]
    fn directories() {
        let dir = Dir::new("dirs");
        let file = dir.join("file");
        fs::write(&file, "x").unwrap();
        let step = writable_dir(
            StepId::Cache,
            "token.cache_dir",
            &file,
            Cause::CacheUnwritable,
        );
        assert_eq!(step.verdict, Verdict::Fail);
        assert_eq!(step.kind.map(Kind::exit_code), Some(73));
        assert!(step.summary.contains("not a directory"), "{}", step.summary);
        let missing = writable_dir(
            StepId::Cache,
            "token.cache_dir",
            &dir.join("new"),
            Cause::CacheUnwritable,
        );
        assert_eq!(missing.verdict, Verdict::Warn);
        let shared = dir.join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o2770)).unwrap();
        let ok = writable_dir(
            StepId::Cache,
            "token.cache_dir",
            &shared,
            Cause::CacheUnwritable,
        );
        assert_eq!(ok.verdict, Verdict::Pass, "{ok:?}");
        assert!(ok.details[0].starts_with("2770 "), "{:?}", ok.details);
        assert_eq!(
            fs::read_dir(&shared).unwrap().count(),
            0,
            "the probe is removed"
        );
    }

    #[test]
    fn owner_names() {
        assert_eq!(name_of(Path::new("/etc/passwd"), 0), "root");
        assert_eq!(name_of(Path::new("/nonexistent"), 4242), "4242");
        assert_eq!(id_of(Path::new("/etc/passwd"), "root"), Some(0));
        assert_eq!(id_of(Path::new("/etc/passwd"), "no such user here"), None);
    }
}
