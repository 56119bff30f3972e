//! sendmail-format aliases (`/etc/aliases`) for local recipients.
//!
//! [`parse`] reads the file's text the way Postfix and sendmail do: `#`
//! comment lines, blank lines, `name: target, target` entries, lines that
//! start with white space continuing the entry above, quoted targets.
//! Targets are addresses (`admin@example.com`), other local names (looked
//! up again), or `\name` (a local name not looked up again). Commands
//! (`|program`), files (`/path`) and `:include:` lists cannot be delivered
//! by a program that only submits mail: they are skipped, with a warning.
//! [`Aliases::expand`] follows nested aliases and stops at loops. Pure,
//! except [`load`], which reads the file.

use std::collections::BTreeMap;
use std::path::Path;

use crate::address;
use crate::error::{Error, Result, io_reason};

/// How deep nested aliases may go before expansion stops (sendmail uses 10;
/// real files need 3 or 4).
const MAX_DEPTH: usize = 20;

/// One target of an alias.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A full address.
    Address(String),
    /// A local name, itself looked up in the aliases.
    Local(String),
    /// `\name`: a local name that is not looked up again.
    Literal(String),
}

/// An alias as written.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    line: usize,
    targets: Vec<Target>,
}

/// The aliases of one file, keyed by lower-case name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Aliases {
    entries: BTreeMap<String, Entry>,
}

/// How bad a problem in the file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The entry (or target) could not be read and is ignored.
    Error,
    /// Read, but part of it cannot be delivered or is odd.
    Warning,
}

/// A problem found in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line number.
    pub line: usize,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, one line.
    pub message: String,
}

/// Where one name ends up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// A full address.
    Address(String),
    /// A local name without an alias (or a loop's end): for
    /// `default_recipient` or `default_domain` to place.
    Local(String),
}

/// The result of expanding one name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expansion {
    /// Where the mail goes, in order, possibly with repeats.
    pub resolved: Vec<Resolved>,
    /// Loops met on the way (`a -> b -> a`), for warnings. A name that lists
    /// itself (`root: root, admin@x`, "also the local mailbox") is not one.
    pub loops: Vec<String>,
}

/// Reads an aliases file; a file that does not exist holds no aliases.
///
/// # Errors
/// `Kind::Config` when the file exists but cannot be read.
pub fn load(path: &Path) -> Result<(Aliases, Vec<Problem>)> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(parse(&String::from_utf8_lossy(&bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Aliases::default(), Vec::new())),
        Err(e) => Err(Error::config(format!(
            "cannot read the aliases file {}: {}",
            path.display(),
            io_reason(&e)
        ))
        .with_hint("fix its permissions, or set addresses.aliases = \"\" to use none")),
    }
}

/// Parses the text of an aliases file. Entries with errors are left out;
/// every problem is returned with its line.
pub fn parse(text: &str) -> (Aliases, Vec<Problem>) {
    let mut aliases = Aliases::default();
    let mut problems = Vec::new();
    for (line, entry) in logical_lines(text) {
        let mut report = |severity, message: String| {
            problems.push(Problem {
                line,
                severity,
                message,
            });
        };
        let Some((name, value)) = split_entry(&entry) else {
            report(
                Severity::Error,
                "not an alias: expected \"name: address, ...\"".into(),
            );
            continue;
        };
        let pieces = split_targets(value);
        if pieces.is_empty() {
            report(Severity::Error, format!("alias {name} has no target"));
            continue;
        }
        let mut targets = Vec::new();
        let mut skipped = false;
        for piece in pieces {
            match classify(&piece) {
                Ok(target) => targets.push(target),
                Err((severity, why)) => {
                    skipped |= severity == Severity::Warning;
                    report(severity, format!("alias {name}: {why}"));
                }
            }
        }
        // An alias of only skipped targets (`|program`) still shadows the
        // name: its mail must not go to default_recipient instead. One whose
        // targets are all malformed is left out, as if it were not there.
        if targets.is_empty() && !skipped {
            continue;
        }
        let key = name.to_lowercase();
        if let Some(first) = aliases.entries.get(&key) {
            report(
                Severity::Warning,
                format!(
                    "alias {name} is defined again; the definition on line {} is used",
                    first.line
                ),
            );
            continue;
        }
        aliases.entries.insert(key, Entry { line, targets });
    }
    (aliases, problems)
}

/// Joins continuation lines; yields (first line number, logical line).
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let continues = raw.starts_with([' ', '\t']);
        match out.last_mut() {
            Some((_, entry)) if continues => {
                entry.push(' ');
                entry.push_str(trimmed);
            }
            _ => out.push((index + 1, trimmed.to_string())),
        }
    }
    out
}

/// `name: value` with the name unquoted; `None` when there is no valid name.
fn split_entry(entry: &str) -> Option<(String, &str)> {
    let (name, rest, quoted) = if let Some(quoted) = entry.strip_prefix('"') {
        let close = quoted.find('"')?;
        (&quoted[..close], quoted[close + 1..].trim_start(), true)
    } else {
        let colon = entry.find(':')?;
        (entry[..colon].trim_end(), &entry[colon..], false)
    };
    let value = rest.strip_prefix(':')?;
    let valid = !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_control() || "<>@,\"".contains(c) || (!quoted && c.is_whitespace()));
    valid.then(|| (name.to_string(), value))
}

/// Splits the targets at commas outside quotes and angle brackets.
fn split_targets(value: &str) -> Vec<String> {
    let mut pieces = address::split_at_commas(value);
    pieces.retain(|p| !p.is_empty());
    pieces
}

/// What one target is; `Err` for a skipped or malformed one.
fn classify(piece: &str) -> std::result::Result<Target, (Severity, String)> {
    let unquoted = piece
        .strip_prefix('"')
        .and_then(|p| p.strip_suffix('"'))
        .unwrap_or(piece)
        .trim();
    let skipped = |what: &str| {
        Err((
            Severity::Warning,
            format!(
                "{what} target {unquoted} skipped: oauth2-sendmail only submits mail to addresses"
            ),
        ))
    };
    if unquoted.starts_with('|') {
        return skipped("command");
    }
    if unquoted.starts_with('/') {
        return skipped("file");
    }
    if unquoted
        .get(..9)
        .is_some_and(|p| p.eq_ignore_ascii_case(":include:"))
    {
        return skipped(":include:");
    }
    let (literal, rest) = match unquoted.strip_prefix('\\') {
        Some(rest) => (true, rest),
        None => (false, unquoted),
    };
    let addr = match (rest.rfind('<'), rest.ends_with('>')) {
        (Some(open), true) => rest[open + 1..rest.len() - 1].trim(),
        _ => rest,
    };
    address::check_recipient(addr)
        .map_err(|why| (Severity::Error, format!("target {unquoted:?}: {why}")))?;
    Ok(match (literal, address::is_bare(addr)) {
        (true, _) => Target::Literal(address::local_part(addr).to_string()),
        (false, true) => Target::Local(addr.to_string()),
        (false, false) => Target::Address(addr.to_string()),
    })
}

impl Aliases {
    /// How many aliases the file defines.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Follows `name` through the aliases. `local_name` says whether a full
    /// address names this machine (`root@localhost`) and gives its local
    /// part, which is then looked up like a bare name.
    pub fn expand(&self, name: &str, local_name: &dyn Fn(&str) -> Option<String>) -> Expansion {
        let mut expansion = Expansion::default();
        let mut chain = Vec::new();
        self.expand_into(name, local_name, &mut chain, &mut expansion);
        expansion
    }

    fn expand_into(
        &self,
        name: &str,
        local_name: &dyn Fn(&str) -> Option<String>,
        chain: &mut Vec<String>,
        out: &mut Expansion,
    ) {
        let key = name.to_lowercase();
        if let Some(at) = chain.iter().position(|seen| *seen == key) {
            // `root: root, …` means "the local mailbox too": not a loop.
            if at + 1 != chain.len() {
                let mut path = chain[at..].to_vec();
                path.push(key);
                out.loops.push(path.join(" -> "));
            }
            out.resolved.push(Resolved::Local(name.to_string()));
            return;
        }
        let Some(entry) = self.entries.get(&key).filter(|_| chain.len() < MAX_DEPTH) else {
            if chain.len() >= MAX_DEPTH {
                out.loops
                    .push(format!("{} -> … (deeper than {MAX_DEPTH})", chain[0]));
            }
            out.resolved.push(Resolved::Local(name.to_string()));
            return;
        };
        chain.push(key);
        for target in &entry.targets {
            match target {
                Target::Address(addr) => match local_name(addr) {
                    Some(local) => self.expand_into(&local, local_name, chain, out),
                    None => out.resolved.push(Resolved::Address(addr.clone())),
                },
                Target::Local(local) => self.expand_into(local, local_name, chain, out),
                Target::Literal(local) => out.resolved.push(Resolved::Local(local.clone())),
            }
        }
        chain.pop();
    }

    /// Every alias name with the line it is defined on, in name order.
    pub fn names(&self) -> impl Iterator<Item = (&str, usize)> {
        self.entries.iter().map(|(k, e)| (k.as_str(), e.line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_local(_: &str) -> Option<String> {
        None
    }

    fn localhost(addr: &str) -> Option<String> {
        addr.strip_suffix("@localhost").map(str::to_string)
    }

    fn expand(text: &str, name: &str) -> (Vec<String>, Vec<String>) {
        let (aliases, _) = parse(text);
        let e = aliases.expand(name, &localhost);
        let shown = e
            .resolved
            .iter()
            .map(|r| match r {
                Resolved::Address(a) => a.clone(),
                Resolved::Local(l) => format!("local:{l}"),
            })
            .collect();
        (shown, e.loops)
    }

    #[test]
    fn expansion_table() {
        let file = "\
# Debian's default, plus a site's additions
mailer-daemon: postmaster
postmaster: root
nobody: root
root: admin@example.com, ops@example.com
www-data:   root
  , web@example.com
alice: \\alice, alice@example.org
bob: \"Bob Smith\" <bob@example.org>
logcheck: root@localhost
self: self, copy@example.com
a: b
b: c
c: a, end@example.com
pipe: |/usr/bin/procmail, keep@example.com
onlypipe: \"|/usr/bin/true\"
Upper: up@example.com
";
        /// name, resolved, loops.
        type Case<'a> = (&'a str, &'a [&'a str], &'a [&'a str]);
        let table: &[Case] = &[
            (
                "mailer-daemon",
                &["admin@example.com", "ops@example.com"],
                &[],
            ),
            ("ROOT", &["admin@example.com", "ops@example.com"], &[]),
            (
                "www-data",
                &["admin@example.com", "ops@example.com", "web@example.com"],
                &[],
            ),
            ("alice", &["local:alice", "alice@example.org"], &[]),
            ("bob", &["bob@example.org"], &[]),
            ("logcheck", &["admin@example.com", "ops@example.com"], &[]),
            ("self", &["local:self", "copy@example.com"], &[]),
            ("a", &["local:a", "end@example.com"], &["a -> b -> c -> a"]),
            ("pipe", &["keep@example.com"], &[]),
            ("onlypipe", &[], &[]),
            ("upper", &["up@example.com"], &[]),
            ("carol", &["local:carol"], &[]),
        ];
        for (name, resolved, loops) in table {
            let (got, got_loops) = expand(file, name);
            assert_eq!(got, *resolved, "{name}");
            assert_eq!(got_loops, *loops, "{name}");
        }
    }

    #[test]
    fn problems_are_reported_with_their_line() {
        let file = "\
root: admin@example.com
no colon here
empty:
bad: a b@example.com
cmd: |/usr/bin/x, /var/log/mail, :include:/etc/list, ok@example.com
root: other@example.com
\"quoted name\": q@example.com
";
        let (aliases, problems) = parse(file);
        let shown: Vec<(usize, Severity, &str)> = problems
            .iter()
            .map(|p| (p.line, p.severity, p.message.as_str()))
            .collect();
        let expect: &[(usize, Severity, &str)] = &[
            (2, Severity::Error, "not an alias"),
            (3, Severity::Error, "alias empty has no target"),
            (4, Severity::Error, "alias bad: target \"a b@example.com\""),
            (
                5,
                Severity::Warning,
                "alias cmd: command target |/usr/bin/x skipped",
            ),
            (
                5,
                Severity::Warning,
                "alias cmd: file target /var/log/mail skipped",
            ),
            (
                5,
                Severity::Warning,
                "alias cmd: :include: target :include:/etc/list",
            ),
            (6, Severity::Warning, "alias root is defined again"),
        ];
        assert_eq!(shown.len(), expect.len(), "{shown:#?}");
        for ((line, sev, msg), (want_line, want_sev, want_msg)) in shown.iter().zip(expect) {
            assert_eq!((line, sev), (want_line, want_sev), "{msg}");
            assert!(msg.starts_with(want_msg), "{msg:?} vs {want_msg:?}");
        }
        // The first root wins; the good parts of a line with problems stay.
        let e = aliases.expand("root", &no_local);
        assert_eq!(e.resolved, [Resolved::Address("admin@example.com".into())]);
        let e = aliases.expand("cmd", &no_local);
        assert_eq!(e.resolved, [Resolved::Address("ok@example.com".into())]);
        let e = aliases.expand("quoted name", &no_local);
        assert_eq!(e.resolved, [Resolved::Address("q@example.com".into())]);
        assert_eq!(aliases.len(), 3, "empty and bad are left out");
        assert_eq!(
            aliases.expand("bad", &no_local).resolved,
            [Resolved::Local("bad".into())]
        );
    }

    #[test]
    fn continuation_comments_and_crlf() {
        let file = "list: a@example.com,\r\n\tb@example.com,\r\n  # a comment inside\r\n  c@example.com\r\n";
        let (aliases, problems) = parse(file);
        assert!(problems.is_empty(), "{problems:?}");
        let e = aliases.expand("list", &no_local);
        assert_eq!(e.resolved.len(), 3, "{e:?}");
    }

    #[test]
    fn deep_nesting_stops() {
        let mut file = String::new();
        for n in 0..30 {
            file.push_str(&format!("n{n}: n{}\n", n + 1));
        }
        let (aliases, _) = parse(&file);
        let e = aliases.expand("n0", &no_local);
        assert_eq!(e.resolved, [Resolved::Local(format!("n{MAX_DEPTH}"))]);
        assert_eq!(e.loops.len(), 1);
    }

    #[test]
    fn missing_file_is_empty_unreadable_is_an_error() {
        let (a, p) = load(Path::new("/nonexistent/aliases")).unwrap();
        assert_eq!((a.len(), p.len()), (0, 0));
        let e = load(Path::new("/")).unwrap_err();
        assert_eq!(e.exit_code(), 78);
    }
}
