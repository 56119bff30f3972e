//! Several mailboxes: which account (`[accounts.NAME]`, or the top level)
//! an invocation or a queued message uses, and whether its caller may.
//!
//! `select` holds the rule as a pure function; `identity` finds a uid's
//! user name and groups; `seam` is the [`Account`] a transport is opened
//! for. A queued message carries its account's name; a
//! queue run re-checks it against its owner's binding ([`may_send`]), so a
//! message cannot reach an account its caller could not have chosen.

pub mod identity;
mod seam;
pub mod select;

use crate::config::Config;
use crate::error::{Error, Result};
pub use seam::Account;
pub use select::Reason;

/// The account for this invocation's real caller and `sender`, with why.
///
/// # Errors
/// `Kind::Config` when the caller is bound to two accounts.
pub fn choose<'c>(config: &'c Config, sender: Option<&str>) -> Result<(&'c Config, Reason)> {
    let who = identity::of_uid(crate::privilege::Caller::current().uid);
    select::select(config, &who, sender)
}

/// The line `-v` and `--check` show: "account site1, chosen by sender …".
pub fn describe(account: &Config, reason: &Reason) -> String {
    format!("account {}, {reason}", account.account)
}

/// The account a queued message tagged `name` and queued by `uid` is sent
/// with.
///
/// # Errors
/// `Kind::NoPerm` when the account is gone or the message's owner is bound
/// to another account (a message must never reach an account its caller
/// could not choose); `Kind::Config` for a caller bound twice.
pub fn may_send<'c>(config: &'c Config, uid: u32, name: &str) -> Result<&'c Config> {
    let Some(account) = select::named(config, name) else {
        return Err(Error::new(
            crate::error::Kind::NoPermission,
            format!("the message is for account {name}, which the configuration does not have"),
        ));
    };
    // Root's messages may use any account.
    if uid != 0 && !select::permits(config, &identity::of_uid(uid), name)? {
        return Err(Error::new(
            crate::error::Kind::NoPermission,
            format!("the message's caller (uid {uid}) is bound to another account than {name}"),
        ));
    }
    Ok(account)
}
