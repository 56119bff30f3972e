//! The whole file to [`Config`]: the TOML document is parsed once (values
//! keep their places in the file), split into the top level and its
//! `[accounts.NAME]` tables (`accounts.rs`), and each is validated by
//! `parse.rs` into a [`Config`]; the top level's holds the accounts.

use std::path::Path;

use toml::de::DeTable;

use super::locate::toml_error;
use super::parse::from_table;
use super::{Audience, Config};
use crate::error::Result;

/// Parses configuration text; `origin` names the file in error messages.
///
/// # Errors
/// `Kind::Config` naming the file, line and key.
pub fn parse(text: &str, origin: &Path) -> Result<Config> {
    parse_for(text, origin, Audience::Root)
}

/// [`parse`], with error messages fit for `audience`.
///
/// # Errors
/// As [`parse`].
pub fn parse_for(text: &str, origin: &Path, audience: Audience) -> Result<Config> {
    let doc = DeTable::parse(text).map_err(|e| toml_error(text, origin, &e, audience))?;
    let (top, accounts) = super::accounts::split(doc, text, origin)?;
    let mut config = from_table(top, text, origin, audience, None)?;
    for account in accounts {
        let mut one = from_table(account.table, text, origin, audience, Some(&account.name))?;
        one.account = account.name;
        one.senders = account.senders;
        one.callers = account.callers;
        config.accounts.push(one);
    }
    Ok(config)
}
