//! `oauth2-sendmail --explain [TEXT]`: names every Entra, Exchange Online
//! and Graph failure in a text from any program, with what it means, its
//! likely causes and the fix, all from the catalogue (`src/catalogue`).
//!
//! It reads the text (the arguments, else stdin, at most [`INPUT_MAX`]
//! bytes) and nothing else: no configuration, no network, no file, so it
//! works where nothing is set up and needs none of the set-group-ID
//! rights. `scan` finds the signatures (pure, table-tested), `render`
//! prints them as text or JSON. Exit 0 when at least one was recognised,
//! 1 when none.

mod render;
pub mod scan;

use std::io::{IsTerminal, Read};

use crate::cli::Invocation;

/// The most of stdin read: logs are pasted, not streamed.
pub const INPUT_MAX: u64 = 4 * 1024 * 1024;

/// The shortest text `--explain` recognises as the same entry as `f`
/// (`AADSTS7000215`, `535 5.7.139 disabled for the tenant`,
/// `ErrorSendAsDenied`): what `--check` tells people to pass it. Only
/// letters, digits, dots and spaces, so it can be quoted anywhere.
pub fn key(f: &scan::Finding) -> String {
    match f.source {
        scan::Source::Entra(code) => format!("AADSTS{code}"),
        scan::Source::Graph(i) => crate::catalogue::GRAPH[i].codes[0].to_string(),
        scan::Source::Own(_) => format!("cause={}", f.entry.cause),
        scan::Source::Exchange(i) => {
            let pattern = &crate::catalogue::smtp_patterns()[i];
            if pattern.code != 0 {
                return pattern.signature();
            }
            // Any reply code will do: take the one seen, else one of the class.
            let seen = f.seen.split_whitespace().next().unwrap_or("");
            let code = match seen.parse::<u16>() {
                Ok(code) if (200..600).contains(&code) => code,
                _ if pattern.enhanced.starts_with('4') => 451,
                _ => 550,
            };
            format!("{code} {}", pattern.signature())
        }
    }
}

/// `--check`'s detail lines for a failure whose message the catalogue
/// knows: its meaning, likely causes and the `--explain` command for more.
pub fn check_lines(message: &str) -> Vec<String> {
    let scan = scan::scan(message);
    let Some(f) = scan.findings.first() else {
        return Vec::new();
    };
    vec![
        format!("means: {}", f.entry.meaning),
        format!("likely causes: {}", f.entry.causes.join("; ")),
        format!("more: oauth2-sendmail --explain '{}'", key(f)),
    ]
}

/// Runs `--explain`; returns the exit code.
pub fn run(invocation: &Invocation) -> u8 {
    let text = if invocation.recipients.is_empty() {
        if std::io::stdin().is_terminal() {
            eprintln!(
                "oauth2-sendmail: --explain: reading the text from stdin; end it with Ctrl-D"
            );
        }
        let mut bytes = Vec::new();
        if let Err(e) = std::io::stdin().take(INPUT_MAX).read_to_end(&mut bytes) {
            eprintln!(
                "oauth2-sendmail: --explain: reading stdin failed: {} -- hint: pass the text as an argument instead",
                crate::error::io_reason(&e)
            );
            return crate::error::Kind::Input.exit_code();
        }
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        invocation.recipients.join("\n")
    };
    let scan = scan::scan(&text);
    let out = if invocation.json {
        render::json(&scan)
    } else {
        render::text(&scan)
    };
    print!("{out}");
    if scan.findings.is_empty() { 1 } else { 0 }
}
