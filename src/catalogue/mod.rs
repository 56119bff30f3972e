//! Known Entra ID and Exchange Online failures: cause and fix.
//!
//! One table per side: `entra.rs` keyed by AADSTS number, `exchange.rs`
//! by SMTP reply code, enhanced status code and a distinctive piece of text
//! (Microsoft changes wording, so matches are on short fragments and the
//! server's own line is always shown too), `graph.rs` by Microsoft Graph's
//! error code. Each entry carries a short cause code for syslog
//! (`cause=smtp-auth-disabled`), the exit kind, what the failure means,
//! its likely causes (most likely first), and a fix naming the setting,
//! the portal blade or the PowerShell cmdlet. The hint of a failed send,
//! `--check`, `--explain` and docs/troubleshooting.md (`markdown.rs`) all
//! read these tables: there is no second copy. `local.rs` holds the
//! causes the program finds itself (a file, a connection, the queue), so
//! that every cause code has an entry. This file holds the entry types and
//! the lookups.

mod entra;
mod exchange;
mod graph;
pub mod local;
#[cfg(test)]
mod markdown;

use crate::cause::Cause;
use crate::error::Kind;
use entra::ENTRA;
use exchange::SMTP;
pub use graph::GRAPH;

/// A known failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Short cause code for logs and alerts.
    pub cause: Cause,
    /// How the failure ends the invocation.
    pub kind: Kind,
    /// What to do about it.
    pub fix: &'static str,
    /// What the failure means, in one sentence.
    pub meaning: &'static str,
    /// The likely causes, most likely first.
    pub causes: &'static [&'static str],
}

const fn entry(cause: Cause, kind: Kind, fix: &'static str) -> Entry {
    Entry {
        cause,
        kind,
        fix,
        meaning: "",
        causes: &[],
    }
}

impl Entry {
    /// Adds the meaning and the likely causes (most likely first).
    const fn means(self, meaning: &'static str, causes: &'static [&'static str]) -> Entry {
        Entry {
            meaning,
            causes,
            ..self
        }
    }
}

/// Every AADSTS entry, in table order.
pub fn entra_entries() -> impl Iterator<Item = (u64, &'static Entry)> {
    ENTRA.iter().map(|(code, e)| (*code, e))
}

/// The entry for an AADSTS code.
pub fn entra(code: u64) -> Option<&'static Entry> {
    ENTRA.iter().find(|(c, _)| *c == code).map(|(_, e)| e)
}

/// How an SMTP reply is recognised.
pub struct SmtpPattern {
    /// Reply code (0: any).
    pub code: u16,
    /// Enhanced status code ("" : any).
    pub enhanced: &'static str,
    /// Fragment of the text, lower case ("" : any).
    pub fragment: &'static str,
    /// What it means.
    pub entry: Entry,
}

impl SmtpPattern {
    /// The shortest text this pattern recognises (`535 5.7.139 disabled
    /// for the tenant`): what `--check` passes on to `--explain`.
    pub fn signature(&self) -> String {
        let parts = [
            (self.code != 0).then(|| self.code.to_string()),
            (!self.enhanced.is_empty()).then(|| self.enhanced.to_string()),
            (!self.fragment.is_empty()).then(|| self.fragment.to_string()),
        ];
        parts.into_iter().flatten().collect::<Vec<_>>().join(" ")
    }
}

/// Every SMTP pattern, most specific first.
pub fn smtp_patterns() -> &'static [SmtpPattern] {
    SMTP
}

const fn smtp(
    code: u16,
    enhanced: &'static str,
    fragment: &'static str,
    entry: Entry,
) -> SmtpPattern {
    SmtpPattern {
        code,
        enhanced,
        fragment,
        entry,
    }
}

/// The entry for an SMTP reply (code and one-line text).
pub fn smtp_reply(code: u16, text: &str) -> Option<&'static Entry> {
    smtp_index(code, text).map(|i| &SMTP[i].entry)
}

/// The position of the first pattern that recognises the reply.
fn smtp_index(code: u16, text: &str) -> Option<usize> {
    smtp_position(Some(code), text)
}

/// The position of the first pattern that recognises a reply whose code
/// may be unknown (`None`: a log that quotes only the enhanced status
/// code; any pattern's code is then accepted).
pub fn smtp_position(code: Option<u16>, text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let enhanced = text.split_whitespace().next().unwrap_or("");
    SMTP.iter().position(|p| {
        // Without a reply code, a pattern must name the status or the text.
        let named = code.is_some() || !p.enhanced.is_empty() || !p.fragment.is_empty();
        named
            && (p.code == 0 || code.is_none_or(|c| c == p.code))
            && (p.enhanced.is_empty() || enhanced == p.enhanced)
            && (p.fragment.is_empty() || lower.contains(p.fragment))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every entry has a test in tests/suite/catalogue.rs that drives the binary
    /// into it: Entra codes by test name, SMTP patterns by a reply there
    /// that this table resolves to exactly that pattern.
    #[test]
    fn every_entry_has_an_integration_test() {
        let tests = include_str!("../../tests/suite/catalogue.rs");
        for (code, _) in ENTRA {
            assert!(
                tests.contains(&format!("aadsts{code}_")),
                "AADSTS{code} has no test in tests/suite/catalogue.rs"
            );
        }
        let replies: Vec<(u16, &str)> = tests
            .split('"')
            .skip(1)
            .step_by(2)
            .filter_map(|literal| {
                let (code, text) = literal.split_at_checked(3)?;
                Some((code.parse().ok()?, text.strip_prefix(' ')?))
            })
            .collect();
        for (i, pattern) in SMTP.iter().enumerate() {
            let covered = replies
                .iter()
                .any(|(code, text)| smtp_index(*code, text) == Some(i));
            assert!(
                covered,
                "no test in tests/suite/catalogue.rs replays a reply for {} {} {:?} ({})",
                pattern.code, pattern.enhanced, pattern.fragment, pattern.entry.cause
            );
        }
    }
}
