//! Addresses: checks, splitting command-line lists, qualification.
//!
//! Every address that reaches an SMTP command passes [`check_recipient`] or
//! [`check_mailbox`] first: the addr-spec may not contain CR, LF, NUL, other
//! control characters, white space, `<` or `>`, so nothing a caller or a
//! header supplies can inject an SMTP command or break the envelope.
//! Pure functions only.

/// Longest address accepted (RFC 5321 §4.5.3.1.3 path limit, less the brackets).
const MAX_ADDRESS: usize = 254;

/// Checks a complete mailbox address (`local@domain`).
///
/// # Errors
/// A short reason, suitable after "key: " or "address …: ".
pub fn check_mailbox(addr: &str) -> Result<(), String> {
    check_recipient(addr)?;
    if domain_of(addr).is_none() {
        return Err("must be a full address like name@example.com".into());
    }
    Ok(())
}

/// Checks a recipient: a full address or a bare local name (`root`).
///
/// # Errors
/// A short reason naming the offending character or part.
pub fn check_recipient(addr: &str) -> Result<(), String> {
    if addr.is_empty() {
        return Err("empty address".into());
    }
    // A quoted local part (`"first last"@example.com`, RFC 5321 §4.1.2)
    // may hold spaces; nothing may hold a control character or a bracket.
    let quoted_end = quoted_local_end(addr);
    if let Some((_, c)) = addr.char_indices().find(|&(i, c)| {
        c.is_control()
            || matches!(c, '<' | '>')
            || c.is_whitespace() && !(c == ' ' && quoted_end.is_some_and(|end| i < end))
    }) {
        return Err(format!("contains a forbidden character ({})", describe(c)));
    }
    if addr.len() > MAX_ADDRESS {
        return Err(format!("longer than {MAX_ADDRESS} characters"));
    }
    let (local, domain) = match addr.rsplit_once('@') {
        Some((local, domain)) => (local, Some(domain)),
        None => (addr, None),
    };
    if local.is_empty() {
        return Err("the part before @ is empty".into());
    }
    if local.starts_with('@') || local.contains(':') && !local.starts_with('"') {
        return Err("source routes are not supported".into());
    }
    if local.contains('@') && !(local.starts_with('"') && local.ends_with('"')) {
        return Err("more than one @".into());
    }
    match domain {
        None => Ok(()),
        Some(d) if is_domain(d) => Ok(()),
        Some(_) => Err("the domain after @ is not valid".into()),
    }
}

/// Where a quoted local part (`"…"@`) ends (the index of its closing
/// quote), if the address begins with one.
fn quoted_local_end(addr: &str) -> Option<usize> {
    let rest = addr.strip_prefix('"')?;
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return rest[i + 1..].starts_with('@').then_some(i + 1),
            _ => {}
        }
    }
    None
}

fn describe(c: char) -> String {
    match c {
        '\r' => "CR".into(),
        '\n' => "LF".into(),
        '\0' => "NUL".into(),
        c if c.is_control() => format!("control character U+{:04X}", c as u32),
        c if c.is_whitespace() => "white space".into(),
        c => format!("'{c}'"),
    }
}

/// A domain or an address literal (`[192.0.2.1]`).
fn is_domain(d: &str) -> bool {
    if let Some(literal) = d.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        return !literal.is_empty()
            && literal
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".:".contains(&b));
    }
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        })
}

/// The address as a server without SMTPUTF8 can take it: a domain
/// outside ASCII in its A-label form (`bücher.example` becomes
/// `xn--bcher-kva.example`, RFC 5890); ASCII addresses as they are.
///
/// # Errors
/// A local part outside ASCII, which has no ASCII form (RFC 6531 needs
/// SMTPUTF8 for it), or a domain IDNA cannot convert.
pub fn ascii_form(addr: &str) -> Result<std::borrow::Cow<'_, str>, String> {
    use std::borrow::Cow;
    if addr.is_ascii() {
        return Ok(Cow::Borrowed(addr));
    }
    let (local, domain) = match addr.rsplit_once('@') {
        Some((local, domain)) => (local, Some(domain)),
        None => (addr, None),
    };
    if !local.is_ascii() {
        return Err(format!(
            "<{addr}> has a local part outside ASCII, which only a server that offers SMTPUTF8 can take"
        ));
    }
    let domain = domain.unwrap_or_default();
    let ascii = idna::domain_to_ascii(domain)
        .map_err(|_| format!("<{addr}>: the domain {domain} has no valid ASCII (IDNA) form"))?;
    Ok(Cow::Owned(format!("{local}@{ascii}")))
}

/// The domain of `local@domain`, if there is one.
pub fn domain_of(addr: &str) -> Option<&str> {
    addr.rsplit_once('@')
        .map(|(_, d)| d)
        .filter(|d| !d.is_empty())
}

/// The part before the last `@` (all of a bare name).
pub fn local_part(addr: &str) -> &str {
    addr.rsplit_once('@').map_or(addr, |(local, _)| local)
}

/// Whether the address is a bare local name (`root`, `www-data`).
pub fn is_bare(addr: &str) -> bool {
    !addr.contains('@')
}

/// Qualifies a bare name with `domain`; full addresses are returned as they are.
pub fn qualify(addr: &str, domain: &str) -> String {
    if is_bare(addr) && !domain.is_empty() {
        format!("{addr}@{domain}")
    } else {
        addr.to_string()
    }
}

/// The names under which this machine receives mail itself: `localhost`
/// and its host name. `root@localhost` is the local `root`, not a mailbox
/// on the Internet (mdadm's `MAILADDR root@localhost`, cron's `MAILTO`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalDomains {
    names: Vec<String>,
}

impl LocalDomains {
    /// `localhost`, `localhost.localdomain`, and `host` (with its short form).
    pub fn new(host: &str) -> Self {
        let mut names = vec!["localhost".to_string(), "localhost.localdomain".to_string()];
        for name in [host, host.split('.').next().unwrap_or(host)] {
            if !name.is_empty() && !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                names.push(name.to_ascii_lowercase());
            }
        }
        LocalDomains { names }
    }

    /// The local name an address stands for: all of a bare name, the
    /// local part of an address at this machine, `None` for the rest.
    pub fn local_name<'a>(&self, addr: &'a str) -> Option<&'a str> {
        match addr.rsplit_once('@') {
            None => Some(addr),
            Some((local, domain)) => {
                let domain = domain.trim_end_matches('.');
                self.names
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(domain))
                    .then_some(local)
            }
        }
    }
}

/// Splits one command-line argument into addresses, as sendmail does:
/// commas separate addresses (outside quotes and angle brackets), and
/// `Name <addr>` yields `addr`. Empty pieces are dropped.
pub fn split_list(arg: &str) -> Vec<String> {
    split_at_commas(arg)
        .iter()
        .map(|p| angle_addr(p).to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The pieces of a comma-separated list, trimmed, cut only at commas
/// outside quotes and angle brackets (`"Doe, J" <j@x>, k@x` is two).
/// Empty pieces are kept.
pub fn split_at_commas(list: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let (mut quoted, mut angle) = (false, 0usize);
    for c in list.chars() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle += 1,
            '>' if !quoted => angle = angle.saturating_sub(1),
            ',' if !quoted && angle == 0 => {
                pieces.push(current.trim().to_string());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    pieces.push(current.trim().to_string());
    pieces
}

/// The addr-spec of `Display Name <addr>`; anything else as it is.
fn angle_addr(piece: &str) -> &str {
    match (piece.rfind('<'), piece.ends_with('>')) {
        (Some(open), true) => piece[open + 1..piece.len() - 1].trim(),
        _ => piece,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipient_checks() {
        let good = [
            "a@example.com",
            "root",
            "www-data",
            "first.last+tag@sub.example.co.uk",
            "-weird@example.com",
            "user@[192.0.2.1]",
            "jörg@bücher.example",
            "\"a@b\"@example.com",
            "\"first.last\"@example.com",
            "\"first last\"@example.com",
            "\"say \\\"hi\\\" now\"@example.com",
        ];
        for a in good {
            assert_eq!(check_recipient(a), Ok(()), "{a}");
        }
        let bad = [
            ("", "empty"),
            ("a@x\r\nRCPT TO:<evil@x", "forbidden character (CR)"),
            ("a@x>\r\nRCPT TO:<evil@x", "forbidden character"),
            ("a@x\nb", "LF"),
            ("a\0@x", "NUL"),
            ("a<b@x", "'<'"),
            ("a>@x", "'>'"),
            ("a b@x", "white space"),
            ("\"a b\" c@x", "white space"),
            ("\"a\tb\"@x", "control"),
            ("\"a b@x", "white space"),
            ("\"a\" b\"@x", "white space"),
            ("\"a\r\nb\"@x", "CR"),
            ("\"a<b\"@x", "'<'"),
            ("a@b@c", "more than one @"),
            ("@x", "empty"),
            ("a@", "domain"),
            ("a@x..y", "domain"),
            ("@route:a@x", "source route"),
        ];
        for (a, why) in bad {
            let got = check_recipient(a).unwrap_err();
            assert!(got.contains(why), "{a:?}: {got}");
        }
        assert!(check_recipient(&format!("{}@x.com", "a".repeat(260))).is_err());
    }

    #[test]
    fn mailbox_needs_a_domain() {
        assert!(check_mailbox("a@b.c").is_ok());
        assert!(check_mailbox("root").unwrap_err().contains("full address"));
    }

    #[test]
    fn splitting_command_line_lists() {
        let table: &[(&str, &[&str])] = &[
            ("a@x", &["a@x"]),
            ("a@x,b@y", &["a@x", "b@y"]),
            ("a@x, b@y ,", &["a@x", "b@y"]),
            ("Jane Doe <jane@x>", &["jane@x"]),
            ("\"Doe, Jane\" <jane@x>, bob", &["jane@x", "bob"]),
            ("<a@x>", &["a@x"]),
            ("", &[]),
        ];
        for (arg, want) in table {
            assert_eq!(split_list(arg), *want, "{arg}");
        }
    }

    #[test]
    fn local_domains() {
        let local = LocalDomains::new("web1.contoso.com");
        let table = [
            ("root", Some("root")),
            ("root@localhost", Some("root")),
            ("root@LOCALHOST.", Some("root")),
            ("root@localhost.localdomain", Some("root")),
            ("root@web1", Some("root")),
            ("root@web1.contoso.com", Some("root")),
            ("root@contoso.com", None),
            ("root@web2.contoso.com", None),
        ];
        for (addr, want) in table {
            assert_eq!(local.local_name(addr), want, "{addr}");
        }
        assert_eq!(LocalDomains::new("").local_name("a@b.c"), None);
    }

    #[test]
    fn qualification() {
        assert_eq!(qualify("root", "example.com"), "root@example.com");
        assert_eq!(qualify("a@b.c", "example.com"), "a@b.c");
        assert_eq!(qualify("root", ""), "root");
        assert_eq!(domain_of("a@b.c"), Some("b.c"));
        assert!(is_bare("root") && !is_bare("a@b"));
    }

    #[test]
    fn ascii_forms() {
        let table: &[(&str, Result<&str, &str>)] = &[
            ("a@example.com", Ok("a@example.com")),
            ("a@bücher.example", Ok("a@xn--bcher-kva.example")),
            ("root", Ok("root")),
            ("jörg@example.com", Err("local part outside ASCII")),
            ("用户@例子.广告", Err("local part outside ASCII")),
            ("a@例子.测试", Ok("a@xn--fsqu00a.xn--0zwm56d")),
        ];
        for (addr, want) in table {
            match (ascii_form(addr), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, *want, "{addr}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{addr}: {got}"),
                (got, want) => panic!("{addr}: {got:?}, want {want:?}"),
            }
        }
    }
}
