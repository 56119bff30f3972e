//! `newaliases` (`-bi`, `-I`): check the aliases file and say what is wrong.
//!
//! There is no database to build: the file is read whenever a message has
//! a local recipient. This mode reads it the same way, prints each problem
//! as `FILE:LINE: error|warning: …` on stderr and a one-line summary on
//! stdout, and exits 0 unless an entry could not be read (then 78). Package
//! scripts run `newaliases` after installing an MTA; without a
//! configuration file yet, it checks `/etc/aliases`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::address::LocalDomains;
use crate::aliases::{self, Severity};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::system;

/// The aliases file checked when there is no configuration file at all.
const FALLBACK_ALIASES: &str = "/etc/aliases";

/// Runs the check.
///
/// # Errors
/// A configuration error (78), an unreadable file (78), or entries with errors (78).
pub fn run(config: Option<&Config>) -> Result<()> {
    let (path, domains) = aliases_path(config);
    let Some(path) = path else {
        println!("addresses.aliases is empty: no aliases file is used");
        return Ok(());
    };
    if !path.exists() {
        println!(
            "{}: no such file; local names go to default_recipient or get default_domain",
            path.display()
        );
        return Ok(());
    }
    let (aliases, mut problems) = aliases::load(&path)?;
    let mut seen_loops = BTreeSet::new();
    for (name, line) in aliases.names() {
        let expansion = aliases.expand(name, &|addr: &str| {
            domains.local_name(addr).map(str::to_string)
        });
        for path in expansion.loops {
            let mut members: Vec<&str> = path.split(" -> ").collect();
            members.sort_unstable();
            members.dedup();
            if seen_loops.insert(members.join(" ")) {
                problems.push(aliases::Problem {
                    line,
                    severity: Severity::Warning,
                    message: format!(
                        "alias loop {path}: mail to {name} goes to the local name again"
                    ),
                });
            }
        }
    }
    problems.sort_by_key(|p| p.line);
    for problem in &problems {
        let severity = match problem.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        eprintln!(
            "{}:{}: {severity}: {}",
            path.display(),
            problem.line,
            problem.message
        );
    }
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    println!(
        "{}: {}, {}, {}",
        path.display(),
        count(aliases.len(), "alias", "aliases"),
        count(errors, "error", "errors"),
        count(problems.len() - errors, "warning", "warnings")
    );
    if errors > 0 {
        return Err(Error::config(format!(
            "{}: {} could not be read and {} ignored",
            path.display(),
            count(errors, "entry", "entries"),
            if errors == 1 { "is" } else { "are" }
        ))
        .with_hint("fix the lines named above; each must be name: address, address, ..."));
    }
    Ok(())
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The aliases file the configuration names, and this machine's domains;
/// without a configuration, the system's aliases file.
fn aliases_path(config: Option<&Config>) -> (Option<PathBuf>, LocalDomains) {
    match config {
        None => (Some(PathBuf::from(FALLBACK_ALIASES)), LocalDomains::new("")),
        Some(config) => (
            config.addresses.aliases.clone(),
            LocalDomains::new(&system::host_name(config)),
        ),
    }
}
