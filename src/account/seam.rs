//! The account seam: what belongs to one mailbox, as one value. Its
//! configuration (the mailbox `user`, tenant and client, credential,
//! server, limits, From policy) and the source of its access tokens (the
//! cache, then Entra) travel together, so that a transport is opened for
//! an account, not for loose parts.
//!
//! The `Config` is the chosen one: the top level, or an `[accounts.NAME]`
//! laid over it (`super::choose`); nothing that takes an account changes.

use crate::config::Config;
use crate::token::TokenSource;

/// One mailbox to send as.
pub struct Account<'c> {
    /// Its configuration.
    pub config: &'c Config,
    /// Where its access tokens come from.
    pub tokens: TokenSource<'c>,
}

impl<'c> Account<'c> {
    /// The account of `config` (the top level's or an `[accounts.NAME]`'s).
    pub fn from_config(config: &'c Config) -> Self {
        Account {
            config,
            tokens: TokenSource::new(config),
        }
    }
}
