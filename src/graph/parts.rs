//! The MIME structure of a large message, found in one pass over its
//! bytes (CRLF lines, as `input` wrote them) without holding it: where
//! each leaf part of a multipart begins and ends, and what Graph needs to
//! take it as an attachment (name, type, inline, Content-ID, decoded size).
//!
//! The upload path sends the message without its largest base64 parts as
//! a draft and those parts through upload sessions. Removing part *i*
//! means leaving out the bytes `start..end`: its delimiter line, header
//! and body up to the next delimiter line, so what remains is still a
//! well-formed multipart.

use std::io::BufRead;

use mail_parser::{MessageParser, MimeHeaders};

use crate::error::{Error, Kind, Result};

/// One leaf part inside a multipart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// Offset of its delimiter line (`--boundary`).
    pub start: u64,
    /// Offset of the next delimiter line.
    pub end: u64,
    /// Its body: `body_start..body_end` (the CRLF before the next
    /// delimiter belongs to the delimiter).
    pub body_start: u64,
    /// See `body_start`.
    pub body_end: u64,
    /// `Content-Transfer-Encoding: base64`.
    pub base64: bool,
    /// Octets once decoded (base64 parts).
    pub decoded_len: u64,
    /// File name (`filename` of Content-Disposition, else `name` of Content-Type).
    pub name: String,
    /// `type/subtype`.
    pub content_type: String,
    /// `Content-Disposition: inline`.
    pub inline: bool,
    /// Content-ID without angle brackets.
    pub content_id: Option<String>,
}

/// What a header says about its part.
struct Described {
    boundary: Option<String>,
    base64: bool,
    name: String,
    content_type: String,
    inline: bool,
    content_id: Option<String>,
}

fn describe(header: &[u8]) -> Described {
    let mut raw = header.to_vec();
    raw.extend_from_slice(b"\r\n");
    let parsed = MessageParser::new().parse_headers(&raw);
    let ct = parsed.as_ref().and_then(|m| m.content_type());
    let multipart = ct.is_some_and(|c| c.ctype().eq_ignore_ascii_case("multipart"));
    let disposition = parsed.as_ref().and_then(|m| m.content_disposition());
    let name = disposition
        .and_then(|d| d.attribute("filename"))
        .or_else(|| ct.and_then(|c| c.attribute("name")))
        .unwrap_or("attachment")
        .to_string();
    Described {
        boundary: ct
            .filter(|_| multipart)
            .and_then(|c| c.attribute("boundary"))
            .map(str::to_string),
        base64: parsed
            .as_ref()
            .and_then(|m| m.content_transfer_encoding())
            .is_some_and(|e| e.trim().eq_ignore_ascii_case("base64")),
        name,
        content_type: ct.map_or_else(
            || "application/octet-stream".to_string(),
            |c| {
                format!("{}/{}", c.ctype(), c.subtype().unwrap_or("octet-stream"))
                    .to_ascii_lowercase()
            },
        ),
        inline: disposition.is_some_and(|d| d.ctype().eq_ignore_ascii_case("inline")),
        content_id: parsed
            .as_ref()
            .and_then(|m| m.content_id())
            .map(|id| id.trim().trim_matches(['<', '>']).to_string()),
    }
}

/// A part being read.
struct Open {
    start: u64,
    header: Option<Vec<u8>>,
    body_start: u64,
    described: Option<Described>,
    b64_chars: u64,
    b64_pad: u64,
}

/// Every leaf part inside a multipart of the message read from `input`;
/// empty when the message is not multipart.
///
/// # Errors
/// [`Kind::Input`] when reading fails.
pub fn scan(input: &mut dyn BufRead) -> Result<Vec<Part>> {
    let mut parts = Vec::new();
    let mut pos = 0u64;
    let mut line = Vec::with_capacity(1024);
    let mut top = Some(Vec::new());
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut open: Option<Open> = None;
    loop {
        line.clear();
        let n = input.read_until(b'\n', &mut line).map_err(|e| {
            Error::new(
                Kind::Input,
                format!(
                    "reading the spooled message failed: {}",
                    crate::error::io_reason(&e)
                ),
            )
        })? as u64;
        if n == 0 {
            return Ok(parts);
        }
        let here = pos;
        pos += n;
        let text = line.trim_ascii_end();
        if let Some(header) = top.as_mut() {
            if text.is_empty() {
                let described = describe(header);
                top = None;
                match described.boundary {
                    Some(b) => stack.push(format!("--{b}").into_bytes()),
                    None => return Ok(parts),
                }
            } else {
                header.extend_from_slice(&line);
            }
            continue;
        }
        if text.starts_with(b"--")
            && let Some(depth) = stack.iter().rposition(|b| {
                text == &b[..]
                    || (text.len() == b.len() + 2 && text.starts_with(b) && text.ends_with(b"--"))
            })
        {
            if let Some(done) = open.take() {
                close(done, here, &mut parts);
            }
            let closing = text.len() != stack[depth].len();
            stack.truncate(if closing { depth } else { depth + 1 });
            if !closing {
                open = Some(Open {
                    start: here,
                    header: Some(Vec::new()),
                    body_start: 0,
                    described: None,
                    b64_chars: 0,
                    b64_pad: 0,
                });
            }
            continue;
        }
        let Some(part) = open.as_mut() else {
            continue; // preamble or epilogue
        };
        if let Some(header) = part.header.as_mut() {
            if text.is_empty() {
                let described = describe(header);
                part.header = None;
                if let Some(b) = &described.boundary {
                    stack.push(format!("--{b}").into_bytes());
                    open = None;
                } else {
                    part.body_start = pos;
                    part.described = Some(described);
                }
            } else {
                header.extend_from_slice(&line);
            }
            continue;
        }
        if part.described.as_ref().is_some_and(|d| d.base64) {
            for &b in text {
                if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' {
                    part.b64_chars += 1;
                } else if b == b'=' {
                    part.b64_chars += 1;
                    part.b64_pad += 1;
                }
            }
        }
    }
}

fn close(part: Open, next_delimiter: u64, parts: &mut Vec<Part>) {
    let Some(d) = part.described else {
        return; // a part whose header never ended
    };
    let body_end = next_delimiter.saturating_sub(2).max(part.body_start);
    parts.push(Part {
        start: part.start,
        end: next_delimiter,
        body_start: part.body_start,
        body_end,
        base64: d.base64,
        decoded_len: part.b64_chars.saturating_sub(part.b64_pad) * 3 / 4,
        name: d.name,
        content_type: d.content_type,
        inline: d.inline,
        content_id: d.content_id,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &str = "Subject: s\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
        preamble\r\n--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n\
        --inner\r\nContent-Type: text/plain\r\n\r\nhello\r\n--inner\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--inner--\r\n\
        --outer\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\n\
        Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\nAwQ=\r\n--outer\r\nContent-Type: image/png\r\nContent-Disposition: inline\r\n\
        Content-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBO\r\n--outer--\r\nepilogue\r\n";

    #[test]
    fn leaf_parts_with_their_offsets_and_names() {
        let parts = scan(&mut MESSAGE.as_bytes()).unwrap();
        assert_eq!(parts.len(), 4, "{parts:#?}");
        let text = |a: u64, b: u64| &MESSAGE[a as usize..b as usize];
        assert_eq!(text(parts[0].body_start, parts[0].body_end), "hello");
        assert_eq!(text(parts[1].body_start, parts[1].body_end), "<p>hi</p>");
        let pdf = &parts[2];
        assert_eq!(text(pdf.body_start, pdf.body_end), "AAEC\r\nAwQ=");
        assert!(text(pdf.start, pdf.end).starts_with("--outer\r\nContent-Type: application/pdf"));
        assert!(text(pdf.end, pdf.end + 7) == "--outer");
        assert_eq!((pdf.base64, pdf.decoded_len), (true, 5));
        assert_eq!(
            (pdf.name.as_str(), pdf.content_type.as_str()),
            ("report.pdf", "application/pdf")
        );
        let png = &parts[3];
        assert!(png.inline);
        assert_eq!(png.content_id.as_deref(), Some("logo@x"));
        assert_eq!(png.decoded_len, 3);
        // Leaving a part out keeps the multipart well formed.
        let mut without = MESSAGE[..pdf.start as usize].to_string();
        without.push_str(&MESSAGE[pdf.end as usize..]);
        assert!(without.contains("</p>\r\n--inner--\r\n--outer\r\nContent-Type: image/png"));
    }

    #[test]
    fn a_single_part_message_has_no_parts() {
        assert!(
            scan(&mut &b"Subject: s\r\n\r\nbody\r\n"[..])
                .unwrap()
                .is_empty()
        );
    }
}
