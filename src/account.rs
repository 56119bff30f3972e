//! The account seam: what belongs to one mailbox, as one value. Its
//! configuration (the mailbox `user`, tenant and client, credential,
//! server, limits, From policy) and the source of its access tokens (the
//! cache, then Entra) travel together, so that a transport is opened for
//! an account, not for loose parts.
//!
//! Today there is one account, made from the configuration file; several
//! accounts are a lookup that yields an [`Account`], and nothing that
//! takes one changes.

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
    /// The account the configuration file describes.
    pub fn from_config(config: &'c Config) -> Self {
        Account {
            config,
            tokens: TokenSource::new(config),
        }
    }
}
