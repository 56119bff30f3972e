//! The modes' side of several mailboxes: choosing the account of a message
//! from its header and `-f`, saying so under `-v`, and tagging the syslog.

use crate::account;
use crate::cli::Invocation;
use crate::config::Config;
use crate::error::Result;
use crate::header::HeaderBlock;
use crate::log::Syslog;
use crate::message;
use crate::spool::format::Meta;

/// The sender address that chooses by `senders`: `-f` when the top level's
/// `allow_from_override` lets it set the envelope sender, else the first
/// address of the From header.
pub fn sender_for_selection(
    invocation: &Invocation,
    config: &Config,
    block: &HeaderBlock,
) -> Option<String> {
    let requested = invocation
        .sender
        .as_deref()
        .map(|s| s.trim().trim_matches(['<', '>']).to_string())
        .filter(|s| !s.is_empty());
    if config.addresses.allow_from_override
        && let Some(sender) = requested
    {
        return Some(sender);
    }
    message::mailboxes(block.fields.iter().filter(|f| f.is("From")))
        .into_iter()
        .find_map(|m| m.address)
}

/// The account for a message with header `block`; shown under `-v`, and
/// named on every further syslog line when the file has accounts.
///
/// # Errors
/// A caller listed by two accounts (exit 78).
pub fn choose<'c>(
    invocation: &Invocation,
    config: &'c Config,
    block: &HeaderBlock,
    syslog: &mut Syslog,
) -> Result<&'c Config> {
    if config.accounts.is_empty() {
        return Ok(config);
    }
    let sender = sender_for_selection(invocation, config, block);
    let (chosen, reason) = account::choose(config, sender.as_deref())?;
    if invocation.verbose {
        eprintln!("oauth2-sendmail: {}", account::describe(chosen, &reason));
    }
    tag(syslog, config, chosen);
    Ok(chosen)
}

/// The account of a `-bs` dialogue: the caller's binding, else the default.
///
/// # Errors
/// A caller listed by two accounts (exit 78).
pub fn for_session<'c>(
    invocation: &Invocation,
    config: &'c Config,
    syslog: &mut Syslog,
) -> Result<&'c Config> {
    if config.accounts.is_empty() {
        return Ok(config);
    }
    let (chosen, reason) = account::choose(config, None)?;
    if invocation.verbose {
        eprintln!("oauth2-sendmail: {}", account::describe(chosen, &reason));
    }
    tag(syslog, config, chosen);
    Ok(chosen)
}

/// Puts `account=NAME` on the syslog lines when the file has accounts.
pub fn tag(syslog: &mut Syslog, top: &Config, account: &Config) {
    if !top.accounts.is_empty() {
        let taken = std::mem::replace(syslog, Syslog::none());
        *syslog = taken.for_account(&account.account);
    }
}

/// A new syslog connection for `account`'s lines (tagged as [`tag`] does).
pub fn syslog_for(top: &Config, account: &Config) -> Syslog {
    let mut syslog = Syslog::open(account.syslog_socket.as_deref());
    tag(&mut syslog, top, account);
    syslog
}

/// The account name a queued message carries (`default` without a tag).
fn tag_of(meta: &Meta) -> &str {
    meta.account
        .as_deref()
        .unwrap_or(crate::config::DEFAULT_ACCOUNT)
}

/// Whether the run of `account` takes the queued message `meta`: its own
/// messages, and in the default account's run those whose account the
/// configuration no longer has (so they are failed, not left for ever).
pub fn belongs(top: &Config, account: &Config, meta: &Meta) -> bool {
    let tag = tag_of(meta);
    tag == account.account
        || (account.account == top.account && account::select::named(top, tag).is_none())
}

/// Whether the queued message `meta` may be sent with its account: the
/// account exists and its owner could have chosen it.
///
/// # Errors
/// Why not, to log and record.
pub fn may_send(top: &Config, meta: &Meta) -> Result<()> {
    account::may_send(top, meta.uid, tag_of(meta)).map(drop)
}

/// Every queue directory of the configuration, each once: the top level's,
/// then those `[accounts.NAME]` tables set for themselves.
pub fn queue_dirs(config: &Config) -> Vec<&std::path::Path> {
    let mut dirs: Vec<&std::path::Path> = Vec::new();
    for account in std::iter::once(config).chain(&config.accounts) {
        if let Some(queue) = &account.queue
            && !dirs.contains(&queue.dir.as_path())
        {
            dirs.push(&queue.dir);
        }
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const CONF: &str = "tenant = \"contoso.onmicrosoft.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\nclient_secret = \"s\"\nuser = \"main@example.com\"\n[accounts.site1]\nuser = \"shop@site1.example\"\n";

    fn meta(account: Option<&str>) -> Meta {
        Meta {
            uid: 0,
            account: account.map(str::to_string),
            ..Meta::default()
        }
    }

    #[test]
    fn each_run_takes_its_own_accounts_messages_and_the_default_takes_orphans() {
        let top = crate::config::parse(CONF, Path::new("t")).unwrap();
        let site1 = &top.accounts[0];
        for (tag, default_run, site1_run) in [
            (None, true, false),
            (Some("site1"), false, true),
            (Some("gone"), true, false),
        ] {
            let m = meta(tag);
            assert_eq!(belongs(&top, &top, &m), default_run, "{tag:?}");
            assert_eq!(belongs(&top, site1, &m), site1_run, "{tag:?}");
        }
        // An orphan is taken by the default run only to be failed.
        assert!(may_send(&top, &meta(Some("gone"))).is_err());
        assert!(may_send(&top, &meta(Some("site1"))).is_ok());
        assert!(may_send(&top, &meta(None)).is_ok());
    }
}
