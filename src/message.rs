//! The message header as it leaves: recipient extraction and rewriting.
//!
//! Works on a [`HeaderBlock`] already read from the input: `-t` takes the
//! recipients from To, Cc and Bcc (or from the Resent-* fields when the
//! message has any), parsed with mail-parser (groups, display names,
//! encoded words, folded lines); Bcc fields are removed; Date, Message-ID
//! and From are added when missing. The output is the new header block
//! followed by the blank line and any body bytes read with the header; the
//! encoder in `body` turns it into wire format. Pure: no I/O.

use mail_parser::{Address, HeaderValue, MessageParser};

use crate::address;
use crate::error::{Error, Result};
use crate::header::{self, Field, HeaderBlock};
use crate::quoted_local;

/// A mailbox as written in a header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mailbox {
    /// Display name, decoded.
    pub name: Option<String>,
    /// The address, if the mailbox had one.
    pub address: Option<String>,
}

/// Every mailbox in `fields` (address fields such as To, Cc, From), groups
/// flattened, empty groups (`undisclosed-recipients:;`) yielding nothing.
pub fn mailboxes<'a>(fields: impl IntoIterator<Item = &'a Field>) -> Vec<Mailbox> {
    groups(fields)
        .into_iter()
        .flat_map(|g| g.mailboxes)
        .collect()
}

/// A group of an address field (`Team: a@x, b@y;`), or the mailboxes
/// outside any group (`name` is `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// The group's display name; `None` for mailboxes outside a group.
    pub name: Option<String>,
    /// Its mailboxes (none for `undisclosed-recipients:;`).
    pub mailboxes: Vec<Mailbox>,
}

/// The groups and mailboxes of `fields`, in order, parsed with mail-parser.
pub fn groups<'a>(fields: impl IntoIterator<Item = &'a Field>) -> Vec<Group> {
    let mut raw = Vec::new();
    for field in fields {
        raw.extend_from_slice(&field.raw);
        if !raw.ends_with(b"\n") {
            raw.push(b'\n');
        }
    }
    raw.push(b'\n');
    let (raw, quoted) = quoted_local::protect(&raw);
    let Some(message) = MessageParser::new().parse_headers(&raw) else {
        return Vec::new();
    };
    let read = |addr: &mail_parser::Addr| {
        let mut m = mailbox(addr);
        m.address = m.address.map(|a| quoted_local::restore(a, &quoted));
        m
    };
    let mut out = Vec::new();
    for header in message.headers() {
        match &header.value {
            HeaderValue::Address(Address::List(list)) => out.push(Group {
                name: None,
                mailboxes: list.iter().map(read).collect(),
            }),
            HeaderValue::Address(Address::Group(list)) => {
                out.extend(list.iter().map(|g| Group {
                    name: g.name.as_deref().map(str::to_string),
                    mailboxes: g.addresses.iter().map(read).collect(),
                }));
            }
            _ => {}
        }
    }
    out
}

/// One mailbox as mail-parser read it, with its two misreadings undone.
fn mailbox(addr: &mail_parser::Addr) -> Mailbox {
    match (addr.name(), addr.address()) {
        // mail-parser reads a bare `root` as a display name: it is the address.
        (Some(word), None) if !word.trim().contains(char::is_whitespace) => Mailbox {
            name: None,
            address: Some(word.trim().to_string()),
        },
        // ... and `"first last"@example.com` as the name `first last` and
        // the address `@example.com`: it is a quoted local part.
        (Some(local), Some(domain)) if domain.trim().starts_with('@') => Mailbox {
            name: None,
            address: Some(format!(
                "\"{}\"{}",
                local.replace('\\', "\\\\").replace('"', "\\\""),
                domain.trim()
            )),
        },
        (name, address) => Mailbox {
            name: name.map(str::to_string),
            address: address.map(|a| a.trim().to_string()),
        },
    }
}

/// The fields `-t` reads recipients from: the Resent-* ones when the
/// message has any (it is being re-sent), otherwise To, Cc and Bcc.
fn recipient_fields(block: &HeaderBlock) -> Vec<&Field> {
    const RESENT: [&str; 3] = ["Resent-To", "Resent-Cc", "Resent-Bcc"];
    const NORMAL: [&str; 3] = ["To", "Cc", "Bcc"];
    let resent = block.fields.iter().any(|f| RESENT.iter().any(|n| f.is(n)));
    let names = if resent { RESENT } else { NORMAL };
    block
        .fields
        .iter()
        .filter(|f| names.iter().any(|n| f.is(n)))
        .collect()
}

/// The recipients `-t` finds in the header, checked.
///
/// # Errors
/// [`crate::error::Kind::Data`] naming the field when an address is malformed.
pub fn header_recipients(block: &HeaderBlock) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for field in recipient_fields(block) {
        for mailbox in mailboxes([field]) {
            let Some(addr) = mailbox.address.filter(|a| !a.is_empty()) else {
                continue;
            };
            address::check_recipient(&addr).map_err(|why| {
                Error::data(format!(
                    "malformed address in the {} header: {why}",
                    field.name
                ))
            })?;
            out.push(addr);
        }
    }
    Ok(out)
}

/// What the program adds to a header that lacks it.
#[derive(Clone, Debug)]
pub struct Additions<'a> {
    /// `Date` value to add when missing.
    pub date: String,
    /// `Message-ID` value to add when missing.
    pub message_id: String,
    /// Address for a From header the program adds.
    pub from_address: &'a str,
    /// Display name for that From header (`-F` or `from_name`).
    pub from_name: Option<&'a str>,
    /// Domain for bare names in To and Cc (`default_domain`).
    pub qualify_domain: &'a str,
}

/// The header ready to be sent, and facts the log needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedHeader {
    /// Header fields, the blank line, then body bytes read with the header.
    pub bytes: Vec<u8>,
    /// The Message-ID the message leaves with.
    pub message_id: String,
}

/// Rewrites the header: Bcc removed, bare To/Cc names qualified, Date,
/// Message-ID and From added when missing, lines over 998 octets folded.
///
/// # Errors
/// [`crate::error::Kind::Data`] for a header line that cannot be folded.
pub fn prepare(block: HeaderBlock, additions: &Additions) -> Result<PreparedHeader> {
    let HeaderBlock { fields, body_start } = block;
    let mut kept: Vec<Field> = fields
        .into_iter()
        .filter(|f| !f.is("Bcc") && !f.is("Resent-Bcc"))
        .map(|f| qualify_bare_recipients(&f, additions.qualify_domain).unwrap_or(f))
        .collect();
    let message_id = match kept.iter().find(|f| f.is("Message-ID")) {
        Some(f) => f.value(),
        None => {
            kept.push(Field::new("Message-ID", &additions.message_id));
            additions.message_id.clone()
        }
    };
    if !kept.iter().any(|f| f.is("Date")) {
        kept.push(Field::new("Date", &additions.date));
    }
    if !kept.iter().any(|f| f.is("From")) {
        let from = format_mailbox(additions.from_name, additions.from_address);
        kept.push(Field::new("From", &from));
    }
    let mut bytes =
        Vec::with_capacity(kept.iter().map(|f| f.raw.len()).sum::<usize>() + body_start.len() + 2);
    for field in &kept {
        let folded = header::fold_long_lines(&field.raw).map_err(|longest| {
            Error::data(format!(
                "the {} header has a line of {longest} octets with no space to fold it at \
                 (the limit is {}); nothing was sent",
                field.name,
                header::MAX_LINE
            ))
        })?;
        bytes.extend_from_slice(&folded);
        // A header-only message may end without a newline.
        if !folded.ends_with(b"\n") {
            bytes.extend_from_slice(b"\r\n");
        }
    }
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(&body_start);
    Ok(PreparedHeader { bytes, message_id })
}

/// `"Display Name" <addr>`, or just `addr` without a name. Names outside
/// ASCII become RFC 2047 encoded words (each at most 75 characters).
pub fn format_mailbox(name: Option<&str>, addr: &str) -> String {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        None => addr.to_string(),
        Some(name) if name.is_ascii() => {
            let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
            format!("\"{escaped}\" <{addr}>")
        }
        // RFC 2047 §2: a line with encoded words is at most 76 characters,
        // so the words go on lines of their own (folded), the address too
        // when it does not fit behind the last one.
        Some(name) => {
            let words = encoded_words(name).replace(' ', "\n ");
            let last = words.rsplit('\n').next().unwrap_or_default().len();
            if last + 3 + addr.len() <= ENCODED_LINE {
                format!("{words} <{addr}>")
            } else {
                format!("{words}\n <{addr}>")
            }
        }
    }
}

/// A display name as a phrase: as it is when it is made of atoms, quoted
/// when it holds specials, encoded words when it is not ASCII.
fn phrase(name: &str) -> String {
    let atom = |c: char| c.is_ascii_alphanumeric() || " !#$%&'*+-/=?^_`{|}~".contains(c);
    if !name.is_ascii() {
        encoded_words(name)
    } else if name.chars().all(atom) {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// Longest line holding encoded words (RFC 2047 §2).
const ENCODED_LINE: usize = 76;

/// `=?UTF-8?B?…?=` words split between characters, each short enough to
/// follow `Reply-To: ` on a line of at most [`ENCODED_LINE`] characters.
fn encoded_words(text: &str) -> String {
    use base64::Engine as _;
    // 39 octets make 52 base64 characters; with `=?UTF-8?B?` and `?=`, 64;
    // after "Reply-To: " (the longest field name a name is written in), 74.
    const CHUNK: usize = 39;
    let mut words = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + CHUNK).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let encoded = base64::engine::general_purpose::STANDARD.encode(&text[start..end]);
        words.push(format!("=?UTF-8?B?{encoded}?="));
        start = end;
    }
    words.join(" ")
}

/// Rewrites To and Cc (and their Resent- forms) whose mailboxes include a
/// bare name (`root`), qualifying it with `domain` so replies work. Other
/// fields, and fields without a bare name, keep their bytes.
fn qualify_bare_recipients(field: &Field, domain: &str) -> Option<Field> {
    const NAMES: [&str; 4] = ["To", "Cc", "Resent-To", "Resent-Cc"];
    if domain.is_empty() || !NAMES.iter().any(|n| field.is(n)) {
        return None;
    }
    let groups = groups([field]);
    let bare = |m: &Mailbox| m.address.as_deref().is_some_and(address::is_bare);
    if !groups.iter().flat_map(|g| &g.mailboxes).any(bare) {
        return None;
    }
    let format = |mailboxes: &[Mailbox]| -> Vec<String> {
        mailboxes
            .iter()
            .filter_map(|m| {
                let addr = m.address.as_deref()?;
                let name = m.name.as_deref().map(crate::error::one_line);
                Some(format_mailbox(
                    name.as_deref(),
                    &address::qualify(addr, domain),
                ))
            })
            .collect()
    };
    // Groups keep their syntax: `Team: a@x, b@y;`, `undisclosed-recipients:;`.
    let list: Vec<String> = groups
        .iter()
        .filter_map(|g| {
            let members = format(&g.mailboxes);
            match &g.name {
                Some(name) if members.is_empty() => {
                    Some(format!("{}:;", phrase(&crate::error::one_line(name))))
                }
                Some(name) => Some(format!(
                    "{}: {};",
                    phrase(&crate::error::one_line(name)),
                    members.join(", ")
                )),
                None if members.is_empty() => None,
                None => Some(members.join(", ")),
            }
        })
        .collect();
    Some(Field::new(&field.name, &list.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::{MAX_HEADER_BLOCK, read_header_block};

    fn block(text: &str) -> HeaderBlock {
        read_header_block(&mut text.as_bytes(), MAX_HEADER_BLOCK).unwrap()
    }

    fn additions() -> Additions<'static> {
        Additions {
            date: "Thu, 01 Jan 1970 00:00:00 +0000".into(),
            message_id: "<1.abc@host.example>".into(),
            from_address: "alerts@contoso.com",
            from_name: Some("Server alerts"),
            qualify_domain: "contoso.com",
        }
    }

    #[test]
    fn recipients_from_headers() {
        let table: &[(&str, &[&str])] = &[
            (
                "To: a@x.com\nCc: b@x.com\nBcc: c@x.com\n\n",
                &["a@x.com", "b@x.com", "c@x.com"],
            ),
            (
                "To: \"Doe, John\" <john@x.com>, jane@x.com (Jane)\n\n",
                &["john@x.com", "jane@x.com"],
            ),
            (
                "To: Team: a@x.com, \"B\" <b@x.com>;, undisclosed-recipients:;\n\n",
                &["a@x.com", "b@x.com"],
            ),
            (
                "To: =?UTF-8?B?SsO2cmc=?= <joerg@x.com>\n\n",
                &["joerg@x.com"],
            ),
            ("To: a@x.com,\n b@x.com\n\n", &["a@x.com", "b@x.com"]),
            ("To: a@x.com\nTo: b@x.com\n\n", &["a@x.com", "b@x.com"]),
            ("To: root\n\n", &["root"]),
            ("To: root (Cron Daemon)\n\n", &["root"]),
            (
                "To: old@x.com\nResent-To: new@x.com\nResent-Bcc: hidden@x.com\n\n",
                &["new@x.com", "hidden@x.com"],
            ),
            ("Subject: none\n\n", &[]),
            ("To: undisclosed-recipients:;\n\n", &[]),
            // Quoted local parts are addresses, not display names.
            (
                "To: \"first.last\"@example.com, \"first last\"@example.com\n\n",
                &["\"first.last\"@example.com", "\"first last\"@example.com"],
            ),
            (
                "To: \"x y\"@example.com (Ex), (c) \"a\\\"b\"@example.com\nCc: T (t): \"p q\"@example.com (P);\n\n",
                &[
                    "\"x y\"@example.com",
                    "\"a\\\"b\"@example.com",
                    "\"p q\"@example.com",
                ],
            ),
            (
                "Cc: Name <\"x y\"@example.com>\n\n",
                &["\"x y\"@example.com"],
            ),
        ];
        for (text, want) in table {
            assert_eq!(header_recipients(&block(text)).unwrap(), *want, "{text:?}");
        }
    }

    #[test]
    fn malformed_header_address_is_refused() {
        let e = header_recipients(&block("To: <a@x>\r\n RCPT TO:<evil@x>\n\n"));
        // Either the parser keeps the address clean or we refuse it; never an injection.
        if let Ok(r) = &e {
            assert!(
                r.iter().all(|a| address::check_recipient(a).is_ok()),
                "{r:?}"
            );
        }
        let e = header_recipients(&block("To: a b c@@x\n\n")).unwrap_err();
        assert_eq!(e.exit_code(), 65);
        assert!(e.message().contains("To header"));
    }

    #[test]
    fn bcc_removed_and_missing_fields_added() {
        let p = prepare(
            block("To: a@x.com\nBcc: secret@x.com\nSubject: hi\n\nbody\n"),
            &additions(),
        )
        .unwrap();
        let text = String::from_utf8(p.bytes).unwrap();
        assert_eq!(
            text,
            "To: a@x.com\nSubject: hi\nMessage-ID: <1.abc@host.example>\n\
             Date: Thu, 01 Jan 1970 00:00:00 +0000\n\
             From: \"Server alerts\" <alerts@contoso.com>\n\r\n"
        );
        assert_eq!(p.message_id, "<1.abc@host.example>");
    }

    #[test]
    fn present_fields_are_kept() {
        let p = prepare(
            block("From: me@x.com\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-Id: <k@x>\n\n"),
            &additions(),
        )
        .unwrap();
        let text = String::from_utf8(p.bytes).unwrap();
        assert_eq!(
            text,
            "From: me@x.com\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-Id: <k@x>\n\r\n"
        );
        assert_eq!(p.message_id, "<k@x>");
    }

    #[test]
    fn body_start_follows_the_blank_line() {
        let p = prepare(block("no header here\n"), &additions()).unwrap();
        let text = String::from_utf8(p.bytes).unwrap();
        assert!(text.ends_with("\r\nno header here\n"), "{text:?}");
        let p = prepare(block("Subject: x"), &additions()).unwrap();
        assert!(
            String::from_utf8(p.bytes)
                .unwrap()
                .starts_with("Subject: x\r\n")
        );
    }

    #[test]
    fn bare_to_and_cc_are_qualified_other_fields_kept() {
        let table: &[(&str, &str)] = &[
            ("To: root\n", "To: root@contoso.com\n"),
            (
                "To: root (Cron Daemon), a@x.com\n",
                "To: \"Cron Daemon\" <root@contoso.com>, a@x.com\n",
            ),
            (
                "Cc: Admins <admins>\n",
                "Cc: \"Admins\" <admins@contoso.com>\n",
            ),
            ("Resent-To: ops\n", "Resent-To: ops@contoso.com\n"),
            // Nothing bare: the bytes stay as written.
            (
                "To: \"Doe, J\" <j@x.com>,\n  k@x.com\n",
                "To: \"Doe, J\" <j@x.com>,\n  k@x.com\n",
            ),
            (
                "To: undisclosed-recipients:;\n",
                "To: undisclosed-recipients:;\n",
            ),
            // Groups survive qualification.
            (
                "To: undisclosed-recipients:;, root\n",
                "To: undisclosed-recipients:;, root@contoso.com\n",
            ),
            (
                "To: Team: root, b@y.com;, c@x.com\n",
                "To: Team: root@contoso.com, b@y.com;, c@x.com\n",
            ),
            (
                "Cc: a@x.com, \"Ops, night\": ops;\n",
                "Cc: a@x.com, \"Ops, night\": ops@contoso.com;\n",
            ),
            (
                "To: \"first last\"@example.com, root\n",
                "To: \"first last\"@example.com, root@contoso.com\n",
            ),
            // Only To and Cc: From, Reply-To are the From policy's business.
            ("Reply-To: root\n", "Reply-To: root\n"),
        ];
        for (input, want) in table {
            let header = format!("{input}Date: d\nMessage-ID: <m@x>\nFrom: f@x.com\n\n");
            let p = prepare(block(&header), &additions()).unwrap();
            let text = String::from_utf8(p.bytes).unwrap();
            assert!(text.starts_with(want), "{input:?}: {text:?}");
        }
    }

    #[test]
    fn long_header_lines_are_folded_or_refused() {
        let subject = vec!["word"; 400].join(" ");
        let p = prepare(
            block(&format!("Subject: {subject}\n\nbody\n")),
            &additions(),
        )
        .unwrap();
        let text = String::from_utf8(p.bytes).unwrap();
        assert!(text.lines().all(|l| l.len() <= 998), "{text}");
        assert!(text.contains("\n word"));
        let token = "x".repeat(1200);
        let e = prepare(block(&format!("X-Token: {token}\n\nbody\n")), &additions()).unwrap_err();
        assert_eq!(e.exit_code(), 65);
        assert!(
            e.message()
                .contains("X-Token header has a line of 1209 octets"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn mailbox_formatting() {
        assert_eq!(format_mailbox(None, "a@x"), "a@x");
        assert_eq!(format_mailbox(Some(" "), "a@x"), "a@x");
        assert_eq!(
            format_mailbox(Some("Cron Daemon"), "a@x"),
            "\"Cron Daemon\" <a@x>"
        );
        assert_eq!(
            format_mailbox(Some("a \"b\""), "a@x"),
            "\"a \\\"b\\\"\" <a@x>"
        );
        assert_eq!(
            format_mailbox(Some("Jörg"), "a@x"),
            "=?UTF-8?B?SsO2cmc=?= <a@x>"
        );
        // Long names become encoded words on folded lines of at most 76
        // characters, the field name included, and read back the same.
        for (long, addr) in [
            (
                "Überwachung des Rechenzentrums Süd, Gebäude 7, Raum 12 via web1",
                "a@x",
            ),
            ("Jörg Müller-Lüdenscheidt via web1", "a@x"),
            (
                "Überwachung des Rechenzentrums Süd, Gebäude 7, Raum 12, Schrank 4 via web1",
                "alerts-and-monitoring-of-everything@sub.department.example.com",
            ),
        ] {
            let formatted = format_mailbox(Some(long), addr);
            for name in ["From", "Reply-To"] {
                let field = Field::new(name, &formatted);
                let text = String::from_utf8(field.raw.clone()).unwrap();
                for line in text.lines() {
                    assert!(line.len() <= 76, "{line:?} in\n{text}");
                }
                let decoded = crate::message::mailboxes([&field]);
                assert_eq!(decoded[0].name.as_deref(), Some(long), "{text}");
                assert_eq!(decoded[0].address.as_deref(), Some(addr), "{text}");
            }
        }
    }
}
