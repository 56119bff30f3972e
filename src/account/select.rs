//! Which account sends a message: a pure function of the configuration,
//! the caller's identity and the sender address, tested by a table.
//!
//! The rule, in order:
//! 1. `callers`: a caller whose user name, or one of whose groups as
//!    `@group`, is listed by an account is bound to it and can only ever
//!    send through it, whatever sender it writes. Listed by two accounts is
//!    a configuration error (exit 78), never a guess.
//! 2. `senders`: the first account (in name order) with a glob pattern
//!    matching the sender address (`*` any run of characters, `?` one;
//!    case-insensitive).
//! 3. The default account (the top level).

use crate::config::Config;
use crate::error::{Error, Result};

/// Who calls: the real uid's user name and every group it belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// The user name, when the uid has one.
    pub user: Option<String>,
    /// The names of its groups (primary and supplementary).
    pub groups: Vec<String>,
}

/// Why an account was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The caller is bound to it by this `callers` entry.
    Caller(String),
    /// A `senders` pattern matched this address.
    Sender(String),
    /// No binding and no pattern: the top level.
    Default,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Caller(entry) => write!(f, "chosen by caller {entry}"),
            Reason::Sender(address) => write!(f, "chosen by sender {address}"),
            Reason::Default => f.write_str("the default"),
        }
    }
}

/// The account bound to `who` by `callers`, with the entry that binds it.
///
/// # Errors
/// `Kind::Config` when two accounts list the caller.
pub fn binding<'c>(config: &'c Config, who: &Identity) -> Result<Option<(&'c Config, String)>> {
    let mut found: Option<(&Config, String)> = None;
    for account in &config.accounts {
        let Some(entry) = account.callers.iter().find(|c| lists(c, who)) else {
            continue;
        };
        if let Some((first, _)) = &found {
            return Err(Error::config(format!(
                "{}: the caller is listed in callers of two accounts, {} and {}: a caller may be bound to one account only",
                config.path.display(),
                first.account,
                account.account
            )));
        }
        found = Some((account, entry.clone()));
    }
    Ok(found)
}

/// Whether the `callers` entry names `who`.
fn lists(entry: &str, who: &Identity) -> bool {
    match entry.strip_prefix('@') {
        Some(group) => who.groups.iter().any(|g| g == group),
        None => who.user.as_deref() == Some(entry),
    }
}

/// The account that sends for `who` with sender address `sender`.
///
/// # Errors
/// As [`binding`].
pub fn select<'c>(
    config: &'c Config,
    who: &Identity,
    sender: Option<&str>,
) -> Result<(&'c Config, Reason)> {
    if let Some((account, entry)) = binding(config, who)? {
        return Ok((account, Reason::Caller(entry)));
    }
    if let Some(address) = sender.filter(|s| !s.is_empty()) {
        for account in &config.accounts {
            if account.senders.iter().any(|p| glob(p, address)) {
                return Ok((account, Reason::Sender(address.to_string())));
            }
        }
    }
    Ok((config, Reason::Default))
}

/// Whether `who` may send through the account named `name`: a bound caller
/// only through its own, anyone else through any account that exists.
///
/// # Errors
/// As [`binding`].
pub fn permits(config: &Config, who: &Identity, name: &str) -> Result<bool> {
    Ok(match binding(config, who)? {
        Some((bound, _)) => bound.account == name,
        None => named(config, name).is_some(),
    })
}

/// The account called `name` (`default` is the top level).
pub fn named<'c>(config: &'c Config, name: &str) -> Option<&'c Config> {
    if name == config.account {
        return Some(config);
    }
    config.accounts.iter().find(|a| a.account == name)
}

/// Glob matching, ASCII case-insensitive: `*` any run, `?` one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    // Iterative matching with one backtrack point: linear in practice and
    // never exponential on hostile addresses.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const CONF: &str = r#"
tenant = "contoso.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
client_secret = "s"
user = "main@example.com"

[accounts.site1]
user = "shop@site1.example"
senders = ["*@site1.example", "billing@*"]
callers = ["www-site1", "@webteam"]

[accounts.site2]
user = "news@site2.example"
senders = ["*@site2.example", "*@site1.example"]
callers = ["www-site2"]
"#;

    fn who(user: &str, groups: &[&str]) -> Identity {
        Identity {
            user: Some(user.into()),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn the_rule_by_table() {
        let config = crate::config::parse(CONF, Path::new("t.conf")).unwrap();
        // user, groups, sender, the account chosen, why.
        type Case<'a> = (&'a str, &'a [&'a str], Option<&'a str>, &'a str, Reason);
        let cases: &[Case] = &[
            ("alice", &[], None, "default", Reason::Default),
            (
                "alice",
                &[],
                Some("x@elsewhere.example"),
                "default",
                Reason::Default,
            ),
            (
                "alice",
                &[],
                Some("a@site2.example"),
                "site2",
                Reason::Sender("a@site2.example".into()),
            ),
            // Name order: site1 before site2 for an address both match.
            (
                "alice",
                &[],
                Some("A@SITE1.example"),
                "site1",
                Reason::Sender("A@SITE1.example".into()),
            ),
            (
                "alice",
                &[],
                Some("billing@other.example"),
                "site1",
                Reason::Sender("billing@other.example".into()),
            ),
            // Bound callers: whatever sender they write.
            (
                "www-site2",
                &[],
                Some("a@site1.example"),
                "site2",
                Reason::Caller("www-site2".into()),
            ),
            (
                "www-site2",
                &[],
                None,
                "site2",
                Reason::Caller("www-site2".into()),
            ),
            (
                "bob",
                &["users", "webteam"],
                Some("x@site2.example"),
                "site1",
                Reason::Caller("@webteam".into()),
            ),
            (
                "webteam",
                &[],
                Some("x@site2.example"),
                "site2",
                Reason::Sender("x@site2.example".into()),
            ),
        ];
        for (user, groups, sender, account, reason) in cases {
            let (chosen, why) = select(&config, &who(user, groups), *sender).unwrap();
            assert_eq!(
                (chosen.account.as_str(), &why),
                (*account, reason),
                "{user} {sender:?}"
            );
        }
    }

    #[test]
    fn a_caller_bound_twice_is_a_configuration_error() {
        let config = crate::config::parse(CONF, Path::new("t.conf")).unwrap();
        let e = select(&config, &who("www-site2", &["webteam"]), None).unwrap_err();
        assert_eq!(e.exit_code(), 78);
        assert!(e.message().contains("site1 and site2"), "{}", e.message());
    }

    #[test]
    fn permits_only_the_bound_account() {
        let config = crate::config::parse(CONF, Path::new("t.conf")).unwrap();
        let bound = who("www-site1", &[]);
        assert!(permits(&config, &bound, "site1").unwrap());
        assert!(!permits(&config, &bound, "site2").unwrap());
        assert!(!permits(&config, &bound, "default").unwrap());
        let free = who("alice", &[]);
        assert!(permits(&config, &free, "site2").unwrap());
        assert!(permits(&config, &free, "default").unwrap());
        assert!(!permits(&config, &free, "gone").unwrap());
        assert!(!permits(&config, &Identity::default(), "gone").unwrap());
    }

    #[test]
    fn globs() {
        for (p, t, m) in [
            ("*@a.example", "x@a.example", true),
            ("*@a.example", "x@b.a.example", false),
            ("*@*.a.example", "x@b.a.example", true),
            ("a?c@x", "abc@x", true),
            ("a?c@x", "ac@x", false),
            ("*", "", true),
            ("exact@x", "EXACT@X", true),
            (
                "*a*a*a*a*b",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                false,
            ),
        ] {
            assert_eq!(glob(p, t), m, "{p} {t}");
        }
    }
}
