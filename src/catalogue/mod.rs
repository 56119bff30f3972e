//! Known Entra ID and Exchange Online failures: cause and fix.
//!
//! One table per side: `entra.rs` keyed by AADSTS number, `exchange.rs`
//! by SMTP reply code, enhanced status code and a distinctive piece of text
//! (Microsoft changes wording, so matches are on short fragments and the
//! server's own line is always shown too). Each entry carries a short cause
//! code for syslog (`cause=smtp-auth-disabled`), the exit kind, and a fix
//! naming the portal blade or PowerShell cmdlet. This file holds the
//! entry types and the lookups.

mod entra;
mod exchange;

use crate::error::Kind;
use entra::ENTRA;
use exchange::SMTP;

/// A known failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Short cause code for logs and alerts.
    pub cause: &'static str,
    /// How the failure ends the invocation.
    pub kind: Kind,
    /// What to do about it.
    pub fix: &'static str,
}

const fn entry(cause: &'static str, kind: Kind, fix: &'static str) -> Entry {
    Entry { cause, kind, fix }
}

/// The entry for an AADSTS code.
pub fn entra(code: u64) -> Option<&'static Entry> {
    ENTRA.iter().find(|(c, _)| *c == code).map(|(_, e)| e)
}

/// How an SMTP reply is recognised.
struct SmtpPattern {
    /// Reply code (0: any).
    code: u16,
    /// Enhanced status code prefix ("" : any).
    enhanced: &'static str,
    /// Fragment of the text, lower case ("" : any).
    fragment: &'static str,
    entry: Entry,
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
    let lower = text.to_ascii_lowercase();
    let enhanced = text.split_whitespace().next().unwrap_or("");
    SMTP.iter().position(|p| {
        (p.code == 0 || p.code == code)
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

    /// docs/troubleshooting.md lists every code and cause administrators
    /// may meet.
    #[test]
    fn every_entry_is_documented() {
        let doc = include_str!("../../docs/troubleshooting.md");
        for (code, entry) in ENTRA {
            assert!(doc.contains(&code.to_string()), "AADSTS{code} undocumented");
            assert!(
                doc.contains(&format!("`{}`", entry.cause)),
                "{} undocumented",
                entry.cause
            );
        }
        for pattern in SMTP {
            let cause = pattern.entry.cause;
            assert!(doc.contains(&format!("`{cause}`")), "{cause} undocumented");
        }
    }
}
