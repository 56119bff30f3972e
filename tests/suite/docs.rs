//! The man pages against the program: every option `--help` lists has an
//! entry under OPTIONS in oauth2-sendmail(8) and no entry there is unknown
//! to `--help`; every key of `sendmail.conf.example` has an entry in
//! sendmail.conf(5); every exit code of `src/error.rs` is under EXIT STATUS;
//! both pages carry the crate's version.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;

use common::sendmail;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Whether `word` is spelled like an option: `-t`, `-oi`, `--queue-run`, `--`.
fn is_option(word: &str) -> bool {
    if word == "--" {
        return true;
    }
    let name = word
        .strip_prefix("--")
        .or_else(|| word.strip_prefix('-'))
        .unwrap_or("");
    name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The options a piece of text names, split at spaces, commas, brackets.
fn options_in(text: &str) -> BTreeSet<String> {
    text.split(|c: char| c.is_whitespace() || ",;()[]|".contains(c))
        .filter(|w| is_option(w))
        .map(str::to_string)
        .collect()
}

/// The options `--help` lists: the left column of its indented lines (the
/// descriptions mention examples such as `-oem` that are not entries).
fn help_option_column(help: &str) -> BTreeSet<String> {
    help.lines()
        .filter(|l| l.starts_with("  -"))
        .flat_map(|l| options_in(l.trim_start().split("  ").next().unwrap_or("")))
        .collect()
}

/// roff text with escapes and font changes removed: `\-t` → `-t`.
fn plain(roff: &str) -> String {
    let mut out = String::new();
    let mut chars = roff.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('-') => out.push('-'),
            Some('e') => out.push('\\'),
            // \fB, \fI, \fR, \fP: font changes.
            Some('f') => {
                chars.next();
            }
            // \(xx: a named character.
            Some('(') => {
                chars.next();
                chars.next();
                out.push(' ');
            }
            // \& and anything else: nothing visible.
            _ => {}
        }
    }
    out
}

/// The arguments of a macro line, quotes removed: `.BI \-f " addr"` → ["-f", " addr"].
fn macro_arguments(line: &str) -> Vec<String> {
    let rest = line.split_once(' ').map_or("", |(_, rest)| rest);
    let mut args = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in plain(rest).chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !current.is_empty() {
                    args.push(std::mem::take(&mut current));
                }
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        args.push(current);
    }
    args
}

/// The lines of one `.SH` section of a man page.
fn section<'a>(page: &'a str, name: &str) -> Vec<&'a str> {
    let heading = format!(".SH {name}");
    let quoted = format!(".SH \"{name}\"");
    page.lines()
        .skip_while(|l| *l != heading && *l != quoted)
        .skip(1)
        .take_while(|l| !l.starts_with(".SH "))
        .collect()
}

/// The tags (the line after each `.TP`) of a section, as plain words.
fn tags(lines: &[&str]) -> Vec<Vec<String>> {
    lines
        .windows(2)
        .filter(|w| w[0] == ".TP")
        .map(|w| {
            if w[1].starts_with('.') {
                macro_arguments(w[1])
            } else {
                vec![plain(w[1])]
            }
        })
        .collect()
}

#[test]
fn every_option_of_help_is_documented_and_no_other() {
    let run = sendmail(&["--help"], b"");
    run.expect(0);
    let help = help_option_column(&run.stdout);
    assert!(help.len() > 30, "too few options found in --help: {help:?}");

    let page = read("man/oauth2-sendmail.8");
    let documented: BTreeSet<String> = tags(&section(&page, "OPTIONS"))
        .iter()
        .flat_map(|args| args.iter().flat_map(|a| options_in(a)))
        .collect();

    let undocumented: Vec<_> = help.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "--help lists options oauth2-sendmail(8) has no entry for: {undocumented:?}"
    );
    let unknown: Vec<_> = documented.difference(&help).collect();
    assert!(
        unknown.is_empty(),
        "oauth2-sendmail(8) documents options --help does not list: {unknown:?}"
    );
}

#[test]
fn every_documented_option_is_accepted() {
    // An option the man page describes must not be "unknown" to the parser.
    let page = read("man/oauth2-sendmail.8");
    let documented: BTreeSet<String> = tags(&section(&page, "OPTIONS"))
        .iter()
        .flat_map(|args| args.iter().flat_map(|a| options_in(a)))
        .collect();
    // -C first: whatever the option does, no real configuration is read.
    for option in documented {
        let run = sendmail(
            &[
                "-C",
                "/nonexistent/sendmail.conf",
                &option,
                "value",
                "--help",
            ],
            b"",
        );
        assert!(
            !run.stderr.contains("invalid option"),
            "{option}: {}",
            run.stderr
        );
    }
    // The check itself works: an unknown option is reported so.
    let run = sendmail(&["-C", "/nonexistent/sendmail.conf", "-k", "--help"], b"");
    assert!(run.stderr.contains("invalid option"), "{}", run.stderr);
}

/// Keys of a TOML example, commented out or not, as `section.key`.
fn example_keys(example: &str) -> BTreeSet<String> {
    let mut table = String::new();
    let mut keys = BTreeSet::new();
    for line in example.lines() {
        let line = line.trim();
        // A table header, commented out or not; an account's keys are the
        // top level's (`[accounts.NAME.smtp]` holds `smtp.` keys), except
        // `senders` and `callers`, documented under SEVERAL MAILBOXES.
        let header = line.strip_prefix('#').unwrap_or(line);
        if let Some(name) = header.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            table = match name.strip_prefix("accounts.") {
                Some(rest) => rest.split_once('.').map_or("", |(_, t)| t).to_string(),
                None => name.to_string(),
            };
            continue;
        }
        // `#key = value` is a key left at its default; `# words = ...` is prose.
        let assignment = match line.strip_prefix('#') {
            Some(rest) if rest.starts_with(char::is_whitespace) => continue,
            Some(rest) => rest,
            None => line,
        };
        let Some((key, _)) = assignment.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            continue;
        }
        keys.insert(if table.is_empty() {
            key.to_string()
        } else {
            format!("{table}.{key}")
        });
    }
    keys
}

#[test]
fn every_key_of_the_example_is_documented() {
    let keys = example_keys(&read("sendmail.conf.example"));
    assert!(
        keys.len() > 25,
        "too few keys found in the example: {keys:?}"
    );
    let page = read("man/sendmail.conf.5");

    // Each section of the page documents its table's keys as .TP tags.
    let mut documented = BTreeSet::new();
    for (heading, table) in [
        ("TOP-LEVEL KEYS", ""),
        ("[smtp]", "smtp."),
        ("[graph]", "graph."),
        ("[token]", "token."),
        ("[queue]", "queue."),
        ("[limits]", "limits."),
        ("[addresses]", "addresses."),
        ("SEVERAL MAILBOXES", ""),
    ] {
        let lines = section(&page, heading);
        assert!(
            !lines.is_empty(),
            "sendmail.conf(5) has no section {heading}"
        );
        for tag in tags(&lines) {
            for word in tag.iter().flat_map(|a| a.split([',', ' '])) {
                if !word.is_empty() && word != "(required)" && word != "required" {
                    documented.insert(format!("{table}{word}"));
                }
            }
        }
    }
    let missing: Vec<_> = keys.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "sendmail.conf(5) has no entry for: {missing:?}"
    );
    let unknown: Vec<_> = documented.difference(&keys).collect();
    assert!(
        unknown.is_empty(),
        "sendmail.conf(5) documents keys sendmail.conf.example lacks: {unknown:?}"
    );
}

#[test]
fn every_exit_code_is_documented() {
    let source = read("src/error.rs");
    let codes: BTreeSet<String> = source
        .lines()
        .filter_map(|l| l.trim().split_once("=> "))
        .map(|(_, code)| code.trim_end_matches(',').to_string())
        .filter(|c| c.len() == 2 && c.chars().all(|d| d.is_ascii_digit()))
        .collect();
    assert!(codes.len() >= 10, "exit codes in src/error.rs: {codes:?}");
    let page = read("man/oauth2-sendmail.8");
    let documented: BTreeSet<String> = tags(&section(&page, "EXIT STATUS"))
        .into_iter()
        .flatten()
        .collect();
    for code in codes.iter().chain(std::iter::once(&"0".to_string())) {
        assert!(
            documented.contains(code),
            "oauth2-sendmail(8) EXIT STATUS lacks {code}"
        );
    }
}

#[test]
fn pages_carry_the_version() {
    let version = env!("CARGO_PKG_VERSION");
    for page in ["man/oauth2-sendmail.8", "man/sendmail.conf.5"] {
        let th = read(page)
            .lines()
            .find(|l| l.starts_with(".TH "))
            .unwrap_or_else(|| panic!("{page} has no .TH line"))
            .to_string();
        assert!(
            th.contains(&format!("\"oauth2-sendmail {version}\"")),
            "{page}: {th} does not name version {version}"
        );
    }
}

#[test]
fn the_scanners_find_what_they_should() {
    // The helpers above decide what the other tests check; pin them down.
    assert_eq!(
        options_in("-f ADDR, -r ADDR  envelope; [--] (values; -X never) --queue-run -q30m 7BIT -"),
        ["--", "--queue-run", "-X", "-f", "-q30m", "-r"]
            .into_iter()
            .map(String::from)
            .collect()
    );
    assert_eq!(
        macro_arguments(r#".BI \-f " address\fR, \fP" \-r " address""#),
        ["-f", " address, ", "-r", " address"]
    );
    assert_eq!(plain(r"\fB\-\-check\fR \(em x"), "--check   x");
    let keys = example_keys("a = 1\n#b_c = \"x\"\n# prose = words\n[smtp]\n#host = \"h\"\n");
    assert_eq!(
        keys,
        ["a", "b_c", "smtp.host"]
            .into_iter()
            .map(String::from)
            .collect()
    );
}
