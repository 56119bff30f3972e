//! `[accounts.NAME]`: further mailboxes in one file.
//!
//! An account is the top level (the default account) with the account's
//! table laid over it, at the TOML value level and before anything is
//! deserialised: every key and section the top level accepts, now or once
//! another key is added, is accepted inside an account exactly as at the
//! top level, and refused there exactly as at the top level (unknown keys
//! name file, line, account and key). The values keep their places in the
//! file, so an error in an account names the account's own line.
//!
//! Two keys exist only inside an account: `senders` (glob patterns on the
//! sender address) and `callers` (user names and `@group` names bound to
//! the account); `crate::account` uses them to choose.

use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::DEFAULT_ACCOUNT as DEFAULT;
use super::locate::line_of;
use crate::error::{Error, Result};

/// The keys that together name one credential: an account that sets any of
/// them replaces the top level's credential as a whole, so "set only one
/// of" is checked on the account's own choice.
const CREDENTIAL_KEYS: &[&str] = &[
    "client_secret",
    "client_secret_file",
    "certificate_file",
    "private_key_file",
    "client_assertion_file",
    "managed_identity",
];

/// The longest account name (it is written into queue files and logs).
const MAX_NAME: usize = 64;

/// One `[accounts.NAME]` table, laid over the top level.
pub(super) struct Overlaid<'i> {
    /// The account's name.
    pub name: String,
    /// The top level with the account's keys laid over it.
    pub table: Spanned<DeTable<'i>>,
    /// `senders`, as written.
    pub senders: Vec<String>,
    /// `callers`, as written.
    pub callers: Vec<String>,
}

/// Splits the parsed file into the top level (without `accounts`) and
/// each account laid over it, in name order.
///
/// # Errors
/// `Kind::Config` naming file, line and key: `accounts` or an account that
/// is not a table, a bad account name, `senders` or `callers` that are not
/// lists of strings, or either key at the top level.
pub(super) fn split<'i>(
    mut doc: Spanned<DeTable<'i>>,
    text: &str,
    origin: &Path,
) -> Result<(Spanned<DeTable<'i>>, Vec<Overlaid<'i>>)> {
    let at = |span: std::ops::Range<usize>, key: &str, problem: &str| {
        Error::config(format!(
            "{}:{}: {key}: {problem}",
            origin.display(),
            line_of(text, span.start)
        ))
    };
    for key in ["senders", "callers"] {
        if let Some((k, _)) = doc.get_ref().get_key_value(key) {
            return Err(at(
                k.span(),
                key,
                "belongs inside an [accounts.NAME] table (the top level is the default account, chosen when no other is)",
            ));
        }
    }
    let Some(accounts) = doc.get_mut().remove("accounts") else {
        return Ok((doc, Vec::new()));
    };
    let span = accounts.span();
    let DeValue::Table(accounts) = accounts.into_inner() else {
        return Err(at(
            span,
            "accounts",
            "must be a table of [accounts.NAME] tables",
        ));
    };
    let mut out = Vec::new();
    for (name, value) in accounts {
        let key = format!("accounts.{}", name.get_ref());
        check_name(name.get_ref()).map_err(|p| at(name.span(), &key, p))?;
        let span = value.span();
        let DeValue::Table(mut table) = value.into_inner() else {
            return Err(at(span, &key, "must be a table ([accounts.NAME])"));
        };
        let senders =
            strings(&mut table, "senders").map_err(|(s, p)| at(s, &format!("{key}.senders"), p))?;
        let callers =
            strings(&mut table, "callers").map_err(|(s, p)| at(s, &format!("{key}.callers"), p))?;
        for caller in &callers {
            let plain = caller.strip_prefix('@').unwrap_or(caller);
            if plain.is_empty() || plain.contains(|c: char| c.is_whitespace() || c == ':') {
                return Err(at(
                    span.clone(),
                    &format!("{key}.callers"),
                    "each entry must be a user name or @group",
                ));
            }
        }
        let mut merged = doc.clone();
        if CREDENTIAL_KEYS.iter().any(|k| table.contains_key(*k)) {
            // The top level's secret's expiry date is not the new one's.
            for k in CREDENTIAL_KEYS.iter().chain(&["client_secret_expires"]) {
                merged.get_mut().remove(*k);
            }
            // With a managed identity, client_id names a user-assigned
            // identity: the top level's application is not one.
            if table.contains_key("managed_identity") && !table.contains_key("client_id") {
                merged.get_mut().remove("client_id");
            }
        }
        // A further mailbox sends as itself, under its own name, unless it
        // says otherwise.
        if table.contains_key("user") && !table.contains_key("from") {
            merged.get_mut().remove("from");
            if !table.contains_key("from_name") {
                merged.get_mut().remove("from_name");
            }
        }
        overlay(merged.get_mut(), table);
        out.push(Overlaid {
            name: name.get_ref().to_string(),
            table: merged,
            senders,
            callers,
        });
    }
    Ok((doc, out))
}

/// Whether `name` may name an account: a letter or digit, then letters,
/// digits, `-`, `_`, `.`; not `default` (the top level's name).
pub fn check_name(name: &str) -> std::result::Result<(), &'static str> {
    if name == DEFAULT {
        return Err("\"default\" is the name of the top level; choose another name");
    }
    if name.is_empty()
        || name.len() > MAX_NAME
        || !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(
            "an account name is 1 to 64 letters, digits, '-', '_' or '.', beginning with a letter or digit",
        );
    }
    Ok(())
}

/// Lays `over` onto `base`: tables merge key by key, anything else replaces.
fn overlay<'i>(base: &mut DeTable<'i>, over: DeTable<'i>) {
    for (key, value) in over {
        let name: &str = key.get_ref().as_ref();
        let both_tables =
            value.get_ref().is_table() && base.get(name).is_some_and(|b| b.get_ref().is_table());
        if both_tables {
            if let (Some(existing), DeValue::Table(over_table)) =
                (base.get_mut(name), value.into_inner())
                && let DeValue::Table(base_table) = existing.get_mut()
            {
                overlay(base_table, over_table);
            }
        } else {
            base.insert(key, value);
        }
    }
}

/// Removes `key` from `table`: a list of strings, or nothing.
fn strings(
    table: &mut DeTable,
    key: &str,
) -> std::result::Result<Vec<String>, (std::ops::Range<usize>, &'static str)> {
    let Some(value) = table.remove(key) else {
        return Ok(Vec::new());
    };
    let span = value.span();
    let bad = || {
        (
            span.clone(),
            "must be a list of strings, like [\"a\", \"b\"]",
        )
    };
    let DeValue::Array(items) = value.get_ref() else {
        return Err(bad());
    };
    let mut out = Vec::new();
    for item in items.iter() {
        match item.get_ref().as_str() {
            Some(s) if !s.trim().is_empty() && !s.chars().any(char::is_control) => {
                out.push(s.trim().to_string());
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}
