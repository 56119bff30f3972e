//! The account seam: what belongs to one mailbox, as one value. Its
//! configuration (the mailbox `user`, tenant and client, credential,
//! server, transport, limits, From policy) and the source of its access
//! tokens (the cache, then Entra) travel together, so that a transport is
//! opened for an account, not for loose parts.
//!
//! The `Config` is the chosen one: the top level, or an `[accounts.NAME]`
//! laid over it (`super::choose`); nothing that takes an account changes.

use crate::config::Config;
use crate::token::TokenSource;

/// One mailbox to send as.
pub struct Account<'c> {
    /// Its configuration.
    pub config: &'c Config,
    /// Where its access tokens for SMTP come from.
    pub tokens: TokenSource<'c>,
    /// Whether this process may use cached tokens only ([`Self::callers_only`]).
    callers_only: bool,
}

impl<'c> Account<'c> {
    /// The account of `config` (the top level's or an `[accounts.NAME]`'s).
    pub fn from_config(config: &'c Config) -> Self {
        Account {
            config,
            tokens: TokenSource::new(config),
            callers_only: false,
        }
    }

    /// Cached tokens only, for every scope, when `credential_access =
    /// "service"`: a caller never uses the credential.
    pub fn callers_only(&mut self) {
        self.callers_only = true;
        self.tokens.callers_only();
    }

    /// A token source for another `scope` (Microsoft Graph's), with the
    /// same restriction as [`Self::tokens`].
    pub fn tokens_for(&self, scope: &str) -> TokenSource<'c> {
        let mut tokens = TokenSource::for_scope(self.config, scope);
        if self.callers_only {
            tokens.callers_only();
        }
        tokens
    }
}
