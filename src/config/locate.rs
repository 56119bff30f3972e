//! Where in the file a problem is: the line of a byte offset and the dotted
//! key on that line, so TOML errors name file, line and key without quoting
//! the file's text.

use std::path::Path;

use super::Audience;
use crate::error::Error;

/// Turns a TOML error into one line naming file, line and key, without
/// quoting the file (toml's own rendering shows the offending text).
pub(super) fn toml_error(
    text: &str,
    origin: &Path,
    e: &toml::de::Error,
    audience: Audience,
) -> Error {
    let (line, key) = match e.span() {
        Some(span) => (line_of(text, span.start), key_at(text, span.start)),
        None => (0, None),
    };
    let message = e.message();
    // "invalid type: string \"…\", expected …" quotes the value: keep the expectation only.
    let problem = match message.split_once(", expected ") {
        Some((head, expected))
            if head.starts_with("invalid type") || head.starts_with("invalid value") =>
        {
            format!("wrong type, expected {expected}")
        }
        _ if message.starts_with("unknown field") => message
            .split(", expected")
            .next()
            .unwrap_or(message)
            .replace("field", "key"),
        _ if audience == Audience::Caller => "syntax error".to_string(),
        _ => message.lines().next().unwrap_or("syntax error").to_string(),
    };
    let location = match line {
        0 => origin.display().to_string(),
        n => format!("{}:{n}", origin.display()),
    };
    match key {
        Some(key) => Error::config(format!("{location}: {key}: {problem}")),
        None => Error::config(format!("{location}: {problem}")),
    }
}

/// The 1-based line number of a byte offset.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The dotted key whose line holds `offset` (`smtp.port`), if that line is a
/// `key = value` line; the table comes from the nearest `[header]` above.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = text[line_start..line_end].trim();
    let key = line.split_once('=')?.0.trim().trim_matches('"');
    if key.is_empty() || key.starts_with('[') || key.starts_with('#') {
        return None;
    }
    Some(match section_above(text, offset) {
        Some(t) => format!("{t}.{key}"),
        None => key.to_string(),
    })
}

/// `key` as an error names it: `accounts.NAME.key` when the value at
/// `offset` is written in the table of `account` (not inherited from the
/// top level), else `key`.
pub(super) fn account_key(text: &str, offset: usize, account: Option<&str>, key: &str) -> String {
    match account {
        Some(name)
            if section_above(text, offset).is_some_and(|s| {
                s == format!("accounts.{name}") || s.starts_with(&format!("accounts.{name}."))
            }) =>
        {
            format!("accounts.{name}.{key}")
        }
        _ => key.to_string(),
    }
}

/// The `[table]` header nearest above the line of `offset`, if any.
pub(super) fn section_above(text: &str, offset: usize) -> Option<&str> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(['[', ']']).trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_keys() {
        assert_eq!(key_at("a = 1\n[x]\nb = 2\n", 12), Some("x.b".into()));
        assert_eq!(line_of("a\nb\nc", 4), 3);
    }
}
