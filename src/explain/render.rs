//! `--explain`'s output: text for people, JSON for programs. Pure.

use serde_json::{Value, json};

use super::scan::{Finding, Scan, Source};
use crate::catalogue::local::{Ending, LOCAL};

fn title(f: &Finding) -> String {
    match f.source {
        Source::Entra(code) => format!("Entra ID AADSTS{code}"),
        Source::Exchange(_) => "Exchange Online SMTP reply".to_string(),
        Source::Graph(_) => "Microsoft Graph error".to_string(),
        Source::Own(_) => "oauth2-sendmail's own cause".to_string(),
    }
}

/// Whether the finding ends the invocation with an exit code of its own.
fn exits(f: &Finding) -> bool {
    !matches!(
        own_ending(f),
        Some(Ending::Warning | Ending::Queued | Ending::GivenUp)
    )
}

/// What the finding ends in, when it is one of the program's own causes.
fn own_ending(f: &Finding) -> Option<Ending> {
    match f.source {
        Source::Own(i) => Some(LOCAL[i].ending),
        _ => None,
    }
}

/// The text report.
pub fn text(scan: &Scan) -> String {
    let mut out = String::new();
    if scan.findings.is_empty() {
        out.push_str("No Entra ID, Exchange Online or Microsoft Graph failure recognised.\n");
    }
    for (n, f) in scan.findings.iter().enumerate() {
        let e = f.entry;
        let times = if f.count > 1 {
            format!(", {} times", f.count)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "{}. {} (line {}{times}): cause {}\n   seen: {}\n   means: {}\n",
            n + 1,
            title(f),
            f.line,
            e.cause,
            f.seen,
            e.meaning
        ));
        if !e.causes.is_empty() {
            out.push_str("   likely causes, most likely first:\n");
        }
        for (i, cause) in e.causes.iter().enumerate() {
            out.push_str(&format!("     {}. {cause}\n", i + 1));
        }
        let ends = match own_ending(f) {
            Some(ending) => format!("   ends in: {}", ending.describe()),
            None => format!(
                "   oauth2-sendmail would exit {} {}",
                e.kind.exit_code(),
                e.kind.exit_name()
            ),
        };
        out.push_str(&format!(
            "   fix: {}\n{ends} (cause={})\n\n",
            e.fix, e.cause
        ));
    }
    for code in &scan.unknown_aadsts {
        out.push_str(&format!(
            "AADSTS{code}: not in oauth2-sendmail's catalogue: look the code up in Microsoft's AADSTS error code reference, and find the trace ID in Entra admin center > Sign-in logs > Service principal sign-ins\n"
        ));
    }
    out
}

/// The JSON document (one, with a newline).
pub fn json(scan: &Scan) -> String {
    let findings: Vec<Value> = scan
        .findings
        .iter()
        .map(|f| {
            let e = f.entry;
            json!({
                "source": f.source.side(),
                "aadsts": match f.source { Source::Entra(code) => Some(code), _ => None },
                "line": f.line,
                "count": f.count,
                "seen": f.seen,
                "cause": e.cause,
                "meaning": e.meaning,
                "causes": e.causes,
                "fix": e.fix,
                // A warning or a queued message exits with nothing of its own.
                "exit": exits(f).then(|| e.kind.exit_code()),
                "exit_name": exits(f).then(|| e.kind.exit_name()),
                "ends_in": own_ending(f).map(Ending::describe),
            })
        })
        .collect();
    let doc = json!({
        "program": "oauth2-sendmail",
        "version": env!("CARGO_PKG_VERSION"),
        "recognised": findings.len(),
        "findings": findings,
        "unknown_aadsts": scan.unknown_aadsts,
    });
    format!("{doc:#}\n")
}
