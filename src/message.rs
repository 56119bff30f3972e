//! The message header as it leaves: recipient extraction and rewriting.
//!
//! Works on a [`HeaderBlock`] already read from the input: `-t` takes the
//! recipients from To, Cc and Bcc (or from the Resent-* fields when the
//! message has any), parsed with mail-parser (groups, display names,
//! encoded words, folded lines); Bcc fields are removed; Date, Message-ID
//! and From are added when missing. The output is the new header block
//! followed by the blank line and any body bytes read with the header; the
//! encoder in `body` turns it into wire format. Pure: no I/O.

use mail_parser::{HeaderValue, MessageParser};

use crate::address;
use crate::error::{Error, Result};
use crate::header::{Field, HeaderBlock};

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
    let mut raw = Vec::new();
    for field in fields {
        raw.extend_from_slice(&field.raw);
        if !raw.ends_with(b"\n") {
            raw.push(b'\n');
        }
    }
    raw.push(b'\n');
    let Some(message) = MessageParser::new().parse_headers(&raw) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for header in message.headers() {
        if let HeaderValue::Address(list) = &header.value {
            out.extend(list.iter().map(|addr| match (addr.name(), addr.address()) {
                // mail-parser reads a bare `root` as a display name: it is the address.
                (Some(word), None) if !word.trim().contains(char::is_whitespace) => Mailbox {
                    name: None,
                    address: Some(word.trim().to_string()),
                },
                (name, address) => Mailbox {
                    name: name.map(str::to_string),
                    address: address.map(|a| a.trim().to_string()),
                },
            }));
        }
    }
    out
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
}

/// The header ready to be sent, and facts the log needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedHeader {
    /// Header fields, the blank line, then body bytes read with the header.
    pub bytes: Vec<u8>,
    /// The Message-ID the message leaves with.
    pub message_id: String,
}

/// Rewrites the header: Bcc removed, Date, Message-ID and From added when missing.
pub fn prepare(block: HeaderBlock, additions: &Additions) -> PreparedHeader {
    let HeaderBlock { fields, body_start } = block;
    let mut kept: Vec<Field> = fields
        .into_iter()
        .filter(|f| !f.is("Bcc") && !f.is("Resent-Bcc"))
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
        bytes.extend_from_slice(&field.raw);
        // A header-only message may end without a newline.
        if !field.raw.ends_with(b"\n") {
            bytes.extend_from_slice(b"\r\n");
        }
    }
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(&body_start);
    PreparedHeader { bytes, message_id }
}

/// `"Display Name" <addr>`, or just `addr` without a name. Names outside
/// ASCII become an RFC 2047 encoded word.
pub fn format_mailbox(name: Option<&str>, addr: &str) -> String {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        None => addr.to_string(),
        Some(name) if name.is_ascii() => {
            let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
            format!("\"{escaped}\" <{addr}>")
        }
        Some(name) => {
            use base64::Engine as _;
            let encoded = base64::engine::general_purpose::STANDARD.encode(name);
            format!("=?UTF-8?B?{encoded}?= <{addr}>")
        }
    }
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
        );
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
        );
        let text = String::from_utf8(p.bytes).unwrap();
        assert_eq!(
            text,
            "From: me@x.com\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-Id: <k@x>\n\r\n"
        );
        assert_eq!(p.message_id, "<k@x>");
    }

    #[test]
    fn body_start_follows_the_blank_line() {
        let p = prepare(block("no header here\n"), &additions());
        let text = String::from_utf8(p.bytes).unwrap();
        assert!(text.ends_with("\r\nno header here\n"), "{text:?}");
        let p = prepare(block("Subject: x"), &additions());
        assert!(
            String::from_utf8(p.bytes)
                .unwrap()
                .starts_with("Subject: x\r\n")
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
    }
}
