//! `transport = "auto"`'s memory: once SMTP AUTH was refused by policy
//! (535 5.7.139), later sends go straight to Graph for a while.
//!
//! One small file in the token cache directory per tenant, application
//! and mailbox: `graph <until, Unix seconds>`. It expires so that a tenant
//! that enables SMTP AUTH again is noticed; a missing, unreadable or
//! expired file means "try SMTP first". Never a secret in it.

use std::io::Write;
use std::path::PathBuf;

use crate::cause::Cause;
use crate::clock;
use crate::config::Config;

/// How long the choice of Graph holds.
pub const REMEMBER_FOR: u64 = 7 * 86_400;

fn path(config: &Config) -> PathBuf {
    let key = crate::token::cache::key(
        &config.token.url,
        &config.tenant,
        &config.client_id,
        &config.user,
    );
    config
        .token
        .cache_dir
        .join(format!("transport-{}", &key[..key.len().min(16)]))
}

/// Whether an unexpired choice of Graph is on file.
pub fn prefers_graph(config: &Config) -> bool {
    let Ok(text) = std::fs::read_to_string(path(config)) else {
        return false;
    };
    match text.trim().split_once(' ') {
        Some(("graph", until)) => until.parse::<u64>().is_ok_and(|u| u > clock::now()),
        _ => false,
    }
}

/// Records the choice of Graph until [`REMEMBER_FOR`] from now.
///
/// # Errors
/// When the cache directory cannot be written (the caller logs it).
pub fn remember_graph(config: &Config) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = path(config);
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o660)
        .open(&tmp)?;
    writeln!(f, "graph {}", clock::now() + REMEMBER_FOR)?;
    drop(f);
    std::fs::rename(&tmp, &file)
}

/// Whether an SMTP failure is a policy refusal of SMTP AUTH, which Graph
/// does not share (535 5.7.139). A 535 5.7.3 (bad token, no service
/// principal) is not: Graph would fail the same way or for another reason.
pub fn smtp_auth_refused_by_policy(cause: Option<Cause>) -> bool {
    matches!(
        cause,
        Some(Cause::SmtpAuthDisabled | Cause::SecurityDefaults | Cause::SmtpAuthBlocked)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_policy_refusals_switch() {
        assert!(smtp_auth_refused_by_policy(Some(Cause::SmtpAuthDisabled)));
        assert!(smtp_auth_refused_by_policy(Some(Cause::SecurityDefaults)));
        assert!(!smtp_auth_refused_by_policy(Some(Cause::TokenRejected)));
        assert!(!smtp_auth_refused_by_policy(Some(Cause::BasicAuthDisabled)));
        assert!(!smtp_auth_refused_by_policy(None));
    }
}
