//! Finds Entra, Exchange Online and Graph failure signatures in any text:
//! a Postfix or msmtp log, PHPMailer or MailKit output, a token endpoint's
//! JSON body, a Graph JSON error, our own syslog line. Pure: text in,
//! findings out, every signature looked up in the catalogue.
//!
//! Signatures: `AADSTS<n>` (and `"error_codes":[n]`); an enhanced status
//! code (`5.7.139`) with the reply code before it when there is one (`535
//! 5.7.139`, MailKit's `535: 5.7.139`) and the rest of the line as its text;
//! a Graph error code as a word (`ErrorSendAsDenied`) or an HTTP 429; and
//! our own `cause=` code when nothing else on the line was recognised.

use crate::catalogue::{self, Entry, GRAPH};
use crate::cause::Cause;

/// Which table an entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Entra ID's token endpoint (an AADSTS number).
    Entra(u64),
    /// An Exchange Online SMTP reply (position in the SMTP table).
    Exchange(usize),
    /// A Microsoft Graph error (position in the Graph table).
    Graph(usize),
    /// This program's own `cause=` code, which no Microsoft reply carries
    /// (position in `catalogue::local::LOCAL`).
    Own(usize),
}

impl Source {
    /// The side of the service, for people and JSON.
    pub fn side(self) -> &'static str {
        match self {
            Source::Entra(_) => "entra",
            Source::Exchange(_) => "exchange",
            Source::Graph(_) => "graph",
            Source::Own(_) => "oauth2-sendmail",
        }
    }
}

/// One recognised failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The table entry.
    pub source: Source,
    /// The catalogue's explanation.
    pub entry: &'static Entry,
    /// 1-based line of the first occurrence.
    pub line: usize,
    /// The text as it was seen (from the signature to the end of the line,
    /// shortened).
    pub seen: String,
    /// How many times it occurs.
    pub count: usize,
}

/// What the scan found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Recognised failures, in order of first appearance.
    pub findings: Vec<Finding>,
    /// AADSTS codes seen that the catalogue does not know.
    pub unknown_aadsts: Vec<u64>,
}

/// The longest excerpt shown for a finding.
const SEEN_MAX: usize = 200;

/// Scans `text`.
pub fn scan(text: &str) -> Scan {
    let mut scan = Scan::default();
    for (n, line) in text.lines().enumerate() {
        let mut hits: Vec<(usize, Source, &'static Entry)> = Vec::new();
        aadsts(line, &mut hits, &mut scan.unknown_aadsts);
        smtp(line, &mut hits);
        graph(line, &mut hits);
        if hits.is_empty() {
            own_cause(line, &mut hits);
        }
        hits.sort_by_key(|(at, _, _)| *at);
        for (at, source, entry) in hits {
            match scan.findings.iter_mut().find(|f| f.source == source) {
                Some(f) => f.count += 1,
                None => scan.findings.push(Finding {
                    source,
                    entry,
                    line: n + 1,
                    seen: excerpt(&line[at..]),
                    count: 1,
                }),
            }
        }
    }
    scan
}

fn excerpt(s: &str) -> String {
    let s = crate::error::one_line(s.trim());
    if s.chars().count() <= SEEN_MAX {
        return s;
    }
    let cut: String = s.chars().take(SEEN_MAX).collect();
    format!("{cut}…")
}

/// The decimal number at the start of `s`, and its length.
fn number(s: &str) -> Option<(u64, usize)> {
    let len = s.bytes().take_while(u8::is_ascii_digit).count();
    if len == 0 || len > 9 {
        return None;
    }
    Some((s[..len].parse().ok()?, len))
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `AADSTS<n>` anywhere, and the first of `"error_codes":[n, ...]`.
fn aadsts(line: &str, hits: &mut Vec<(usize, Source, &'static Entry)>, unknown: &mut Vec<u64>) {
    let lower = line.to_ascii_lowercase();
    let mut seen: Vec<u64> = Vec::new();
    let mut found = |at: usize, code: u64, hits: &mut Vec<(usize, Source, &'static Entry)>| {
        if seen.contains(&code) {
            return;
        }
        seen.push(code);
        match catalogue::entra(code) {
            Some(entry) => hits.push((at, Source::Entra(code), entry)),
            None if !unknown.contains(&code) => unknown.push(code),
            None => {}
        }
    };
    for (at, _) in lower.match_indices("aadsts") {
        if let Some((code, _)) = number(&line[at + 6..]) {
            found(at, code, hits);
        }
    }
    for (at, _) in lower.match_indices("\"error_codes\"") {
        let rest = line[at + 13..].trim_start();
        let Some(rest) = rest.strip_prefix(':') else {
            continue;
        };
        let Some(rest) = rest.trim_start().strip_prefix('[') else {
            continue;
        };
        if let Some((code, _)) = number(rest.trim_start()) {
            found(at, code, hits);
        }
    }
}

/// An enhanced status code `c.sss.ddd` starting at `at` (class 2, 4 or
/// 5), not part of a longer dotted number; its length.
fn enhanced_at(line: &str, at: usize) -> Option<usize> {
    let b = line.as_bytes();
    if !matches!(b.get(at), Some(b'2' | b'4' | b'5')) || b.get(at + 1) != Some(&b'.') {
        return None;
    }
    if at > 0 && (b[at - 1].is_ascii_digit() || b[at - 1] == b'.') {
        return None;
    }
    let (_, l1) = number(&line[at + 2..]).filter(|(_, l)| *l <= 3)?;
    let second = at + 2 + l1;
    if b.get(second) != Some(&b'.') {
        return None;
    }
    let (_, l2) = number(&line[second + 1..]).filter(|(_, l)| *l <= 3)?;
    let end = second + 1 + l2;
    let continues = b.get(end).is_some_and(|c| c.is_ascii_alphanumeric())
        || (b.get(end) == Some(&b'.') && b.get(end + 1).is_some_and(u8::is_ascii_digit));
    (!continues).then_some(end - at)
}

/// The reply code just before position `at` (`535 `, `535-`, `535: `).
fn reply_code_before(line: &str, at: usize) -> Option<(u16, usize)> {
    let head = line[..at].trim_end_matches(' ');
    let head = head
        .strip_suffix(':')
        .or_else(|| head.strip_suffix('-'))
        .unwrap_or(head);
    let b = head.as_bytes();
    if b.len() < 3 {
        return None;
    }
    let start = b.len() - 3;
    if !head.is_char_boundary(start) || (start > 0 && is_word(b[start - 1])) {
        return None;
    }
    let code: u16 = head[start..].parse().ok()?;
    (200..600).contains(&code).then_some((code, start))
}

/// Words that show a line is about mail, so that a bare `4.7.0` there is
/// a status code and not a version number.
const MAIL_WORDS: &[&str] = &[
    "smtp", "said", "reply", "response", "server", "storedrv", "status=", "remote", "relay", "sasl",
];

fn smtp(line: &str, hits: &mut Vec<(usize, Source, &'static Entry)>) {
    let lower = line.to_ascii_lowercase();
    let mail_context = MAIL_WORDS.iter().any(|w| lower.contains(w));
    let patterns = catalogue::smtp_patterns();
    for at in 0..line.len() {
        if !line.is_char_boundary(at) {
            continue;
        }
        let Some(len) = enhanced_at(line, at) else {
            continue;
        };
        // Postfix's own dsn= is not the server's reply.
        if line[..at].to_ascii_lowercase().ends_with("dsn=") {
            continue;
        }
        let code = reply_code_before(line, at);
        let text = format!("{} {}", &line[at..at + len], &line[at + len..]);
        let Some(i) = catalogue::smtp_position(code.map(|(c, _)| c), &text) else {
            continue;
        };
        let pattern = &patterns[i];
        // A bare enhanced code (no reply code) counts only with a fragment
        // of the text or in a line about mail.
        if code.is_none() && pattern.fragment.is_empty() && !mail_context {
            continue;
        }
        let start = code.map_or(at, |(_, s)| s);
        hits.push((start, Source::Exchange(i), &pattern.entry));
    }
}

/// Whether `word` occurs in `line` as a whole word.
fn word_at(line: &str, word: &str) -> Option<usize> {
    let b = line.as_bytes();
    line.match_indices(word).map(|(at, _)| at).find(|&at| {
        let before = at == 0 || !is_word(b[at - 1]);
        let after = b.get(at + word.len()).is_none_or(|c| !is_word(*c));
        before && after
    })
}

fn graph(line: &str, hits: &mut Vec<(usize, Source, &'static Entry)>) {
    for (i, pattern) in GRAPH.iter().enumerate() {
        let at = pattern
            .codes
            .iter()
            .filter_map(|code| word_at(line, code))
            .min();
        // HTTP 429 without a code: a status line or "429 Too Many Requests".
        let at = at.or_else(|| {
            if pattern.status != 429 {
                return None;
            }
            let lower = line.to_ascii_lowercase();
            let at = word_at(line, "429")?;
            (lower.contains("too many requests") || lower.contains("retry-after")).then_some(at)
        });
        if let Some(at) = at {
            hits.push((at, Source::Graph(i), &pattern.entry));
        }
    }
}

/// Our own syslog line's `cause=` code, when its text was not kept.
fn own_cause(line: &str, hits: &mut Vec<(usize, Source, &'static Entry)>) {
    let Some(at) = word_at(line, "cause") else {
        return;
    };
    let Some(rest) = line[at..].strip_prefix("cause=") else {
        return;
    };
    let code: &str = rest
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .next()
        .unwrap_or("");
    let Some(cause) = Cause::from_code(code) else {
        return;
    };
    let hit = catalogue::entra_entries()
        .find(|(_, e)| e.cause == cause)
        .map(|(code, e)| (Source::Entra(code), e))
        .or_else(|| {
            catalogue::smtp_patterns()
                .iter()
                .enumerate()
                .find(|(_, p)| p.entry.cause == cause)
                .map(|(i, p)| (Source::Exchange(i), &p.entry))
        })
        .or_else(|| {
            catalogue::GRAPH
                .iter()
                .enumerate()
                .find(|(_, p)| p.entry.cause == cause)
                .map(|(i, p)| (Source::Graph(i), &p.entry))
        })
        .or_else(|| {
            catalogue::local::position(cause)
                .map(|i| (Source::Own(i), &catalogue::local::LOCAL[i].entry))
        });
    if let Some((source, entry)) = hit {
        hits.push((at, source, entry));
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
