//! The catalogue as Markdown: the part of docs/troubleshooting.md between
//! its `catalogue` markers is this rendering, and a test fails when the two
//! differ (run it with `OAUTH2_SENDMAIL_WRITE_DOCS=1` to rewrite the file).

use super::local::{Group, LOCAL};
use super::{ENTRA, Entry, GRAPH, SMTP};
use crate::cause::Cause;

const BEGIN: &str = "<!-- catalogue: generated from src/catalogue by `OAUTH2_SENDMAIL_WRITE_DOCS=1 cargo test --lib catalogue::markdown`; do not edit by hand -->\n";
const END: &str = "<!-- catalogue: end -->\n";

fn exit(e: &Entry) -> String {
    format!("{} {}", e.kind.exit_code(), e.kind.exit_name())
}

fn section(out: &mut String, title: &str, e: &Entry) {
    out.push_str(&format!("#### {title}\n\n"));
    out.push_str(&format!(
        "cause `{}`, exit {}\n\n{}\n\nLikely causes, most likely first:\n\n",
        e.cause,
        exit(e),
        e.meaning
    ));
    for (i, c) in e.causes.iter().enumerate() {
        out.push_str(&format!("{}. {c}\n", i + 1));
    }
    out.push_str(&format!("\nFix: {}\n\n", e.fix.replace('<', "\\<")));
}

/// The generated part of docs/troubleshooting.md.
pub fn render() -> String {
    let mut out = String::from(BEGIN);
    out.push_str("\n### Token endpoint (Entra ID)\n\n");
    for (code, e) in ENTRA {
        section(&mut out, &format!("AADSTS{code}"), e);
    }
    out.push_str("### Exchange Online replies\n\nMatched by reply code, enhanced status code and a piece of the text (shown in quotes); `any` where the reply code does not matter.\n\n");
    for p in SMTP {
        let code = if p.code == 0 {
            "any".to_string()
        } else {
            p.code.to_string()
        };
        let mut title = code;
        if !p.enhanced.is_empty() {
            title.push_str(&format!(" {}", p.enhanced));
        }
        if !p.fragment.is_empty() {
            title.push_str(&format!(" \"…{}…\"", p.fragment));
        }
        section(&mut out, &title, &p.entry);
    }
    out.push_str("### Microsoft Graph errors\n\nGraph's error codes as other programs report them, recognised by `--explain` (with the SMTP side's cause). oauth2-sendmail's own Graph transport names its own causes, listed below.\n\n");
    for p in GRAPH {
        let title = format!("HTTP {} {}", p.status, p.codes.join(", "));
        section(&mut out, &title, &p.entry);
    }
    out.push_str("### oauth2-sendmail's own causes\n\nWhat the program finds itself rather than reads in a Microsoft reply. `--explain` explains these codes too, in any line with `cause=`.\n\n");
    for group in Group::ALL {
        out.push_str(&format!(
            "#### {}\n\n| cause | meaning | ends in | fix |\n|---|---|---|---|\n",
            group.title()
        ));
        for l in LOCAL.iter().filter(|l| l.group == group) {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                l.entry.cause,
                cell(l.entry.meaning),
                cell(&l.ending.describe()),
                cell(l.entry.fix)
            ));
        }
        out.push('\n');
    }
    out.push_str(END);
    out
}

/// Text for a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('<', "\\<")
}

/// The causes the catalogue's tables carry.
fn catalogued() -> Vec<Cause> {
    ENTRA
        .iter()
        .map(|(_, e)| e.cause)
        .chain(SMTP.iter().map(|p| p.entry.cause))
        .chain(GRAPH.iter().map(|p| p.entry.cause))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn troubleshooting_md_is_the_catalogue() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/troubleshooting.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let start = doc
            .find(BEGIN)
            .expect("docs/troubleshooting.md has the begin marker");
        let end = doc
            .find(END)
            .expect("docs/troubleshooting.md has the end marker")
            + END.len();
        let generated = render();
        if doc[start..end] != generated {
            if std::env::var_os("OAUTH2_SENDMAIL_WRITE_DOCS").is_some() {
                let new = format!("{}{generated}{}", &doc[..start], &doc[end..]);
                std::fs::write(path, new).unwrap();
            } else {
                panic!(
                    "docs/troubleshooting.md differs from the catalogue: rerun with OAUTH2_SENDMAIL_WRITE_DOCS=1"
                );
            }
        }
    }

    /// Every cause code a log line can carry has an entry: in the
    /// catalogue's tables, or once among the program's own.
    #[test]
    fn every_cause_is_documented_once() {
        let catalogued = catalogued();
        for cause in Cause::ALL {
            let own = LOCAL.iter().filter(|l| l.entry.cause == *cause).count();
            let listed = catalogued.contains(cause);
            assert!(
                own + usize::from(listed) == 1,
                "{cause}: {own} own entries, in the catalogue: {listed}"
            );
        }
        for l in LOCAL {
            let e = &l.entry;
            assert!(
                e.meaning.ends_with('.'),
                "{}: meaning {:?}",
                e.cause,
                e.meaning
            );
            assert!(e.fix.len() > 10, "{}: fix too thin", e.cause);
        }
    }

    #[test]
    fn every_entry_explains_itself() {
        let entries = ENTRA
            .iter()
            .map(|(_, e)| e)
            .chain(SMTP.iter().map(|p| &p.entry))
            .chain(GRAPH.iter().map(|p| &p.entry));
        for e in entries {
            assert!(
                e.meaning.ends_with('.'),
                "{}: meaning {:?}",
                e.cause,
                e.meaning
            );
            assert!(!e.causes.is_empty(), "{}: no causes", e.cause);
            assert!(e.fix.len() > 30, "{}: fix too thin", e.cause);
        }
    }
}
