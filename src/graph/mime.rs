//! The message as Graph gets it: recipients made equal to the envelope,
//! line ends made CRLF, base64 produced on demand.
//!
//! Graph's MIME `sendMail` has no envelope: Exchange delivers to the To,
//! Cc and Bcc addresses of the message. [`fit_recipients`] rewrites those
//! fields so that they name exactly the envelope's recipients (the rule is
//! in docs/graph.md): a To or Cc field whose addresses are all envelope
//! recipients stays byte for byte; from one that names others, those
//! others are taken out (a To left empty becomes `undisclosed-recipients:;`,
//! a Cc left empty goes); Bcc fields of the caller go; envelope recipients
//! not visible in To or Cc go into one Bcc field, which Exchange removes
//! from what the recipients see. Pure: bytes in, bytes out.

use std::io::{self, Read};

use crate::header::HeaderBlock;
use crate::message::{format_mailbox, mailboxes};

/// The header block (fields, blank line, body start) Graph should get for
/// `envelope` recipients, CRLF line ends on the lines it writes.
pub fn fit_recipients(block: &HeaderBlock, envelope: &[String]) -> Vec<u8> {
    let in_envelope = |addr: &str| envelope.iter().any(|r| r.eq_ignore_ascii_case(addr));
    let mut visible: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let mut wrote_to = false;
    for field in &block.fields {
        if field.is("Bcc") {
            continue;
        }
        if !(field.is("To") || field.is("Cc")) {
            push_field(&mut out, &field.raw);
            continue;
        }
        let boxes = mailboxes([field]);
        let keep: Vec<_> = boxes
            .iter()
            .filter(|m| m.address.as_deref().is_some_and(&in_envelope))
            .collect();
        for m in &keep {
            visible.push(m.address.clone().unwrap_or_default());
        }
        let named = boxes.iter().filter(|m| m.address.is_some()).count();
        if keep.len() == named {
            // Every address it names is a recipient: as written.
            push_field(&mut out, &field.raw);
            wrote_to |= field.is("To");
            continue;
        }
        let list: Vec<String> = keep
            .iter()
            .map(|m| format_mailbox(m.name.as_deref(), m.address.as_deref().unwrap_or("")))
            .collect();
        if !list.is_empty() {
            push_field(&mut out, &folded(&field.name, &list));
            wrote_to |= field.is("To");
        } else if field.is("To") && !wrote_to {
            push_field(&mut out, b"To: undisclosed-recipients:;\r\n");
            wrote_to = true;
        }
    }
    let hidden: Vec<String> = envelope
        .iter()
        .filter(|r| !visible.iter().any(|v| v.eq_ignore_ascii_case(r)))
        .fold(Vec::new(), |mut acc, r| {
            if !acc.iter().any(|a: &String| a.eq_ignore_ascii_case(r)) {
                acc.push(r.clone());
            }
            acc
        });
    if !hidden.is_empty() {
        push_field(&mut out, &folded("Bcc", &hidden));
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&block.body_start);
    out
}

/// `Name: a,\r\n b\r\n`: one address a line, so no line grows too long.
fn folded(name: &str, list: &[String]) -> Vec<u8> {
    format!("{name}: {}\r\n", list.join(",\r\n ")).into_bytes()
}

fn push_field(out: &mut Vec<u8>, raw: &[u8]) {
    out.extend_from_slice(raw);
    if !raw.ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends `input` to `out` with every bare LF made CRLF (the MIME Graph
/// parses is Internet text); `last_cr` carries a CR across calls.
pub fn push_crlf(input: &[u8], last_cr: &mut bool, out: &mut Vec<u8>) {
    for &b in input {
        if b == b'\n' && !*last_cr {
            out.push(b'\r');
        }
        out.push(b);
        *last_cr = b == b'\r';
    }
}

/// Base64 of a byte slice, produced as it is read (no line breaks), so the
/// encoded request never sits in memory beside the message.
pub struct Base64Reader<'a> {
    rest: &'a [u8],
    pending: Vec<u8>,
    at: usize,
}

impl<'a> Base64Reader<'a> {
    /// A reader of `data`'s base64.
    pub fn new(data: &'a [u8]) -> Self {
        Base64Reader {
            rest: data,
            pending: Vec::new(),
            at: 0,
        }
    }

    /// The length of the encoding of `n` octets.
    pub fn encoded_len(n: usize) -> usize {
        n.div_ceil(3) * 4
    }
}

impl Read for Base64Reader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use base64::Engine as _;
        if self.at == self.pending.len() {
            if self.rest.is_empty() {
                return Ok(0);
            }
            let take = self.rest.len().min(48 * 1024);
            let (now, later) = self.rest.split_at(take);
            self.pending.clear();
            let text = base64::engine::general_purpose::STANDARD.encode(now);
            self.pending.extend_from_slice(text.as_bytes());
            self.at = 0;
            self.rest = later;
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..n + self.at]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::read_header_block;

    fn fit(header: &str, envelope: &[&str]) -> String {
        let block = read_header_block(&mut header.as_bytes(), 1 << 20).unwrap();
        let env: Vec<String> = envelope.iter().map(|s| s.to_string()).collect();
        String::from_utf8(fit_recipients(&block, &env)).unwrap()
    }

    #[test]
    fn recipients_equal_the_envelope() {
        // (header, envelope, expected header Graph gets)
        let table: &[(&str, &[&str], &str)] = &[
            // To names exactly the envelope: byte for byte.
            (
                "From: a@x.test\nTo: Bob <b@y.test>\nSubject: s\n\n",
                &["b@y.test"],
                "From: a@x.test\nTo: Bob <b@y.test>\nSubject: s\n\r\n",
            ),
            // An envelope recipient not in To or Cc: Bcc.
            (
                "To: b@y.test\r\n\r\n",
                &["b@y.test", "c@y.test"],
                "To: b@y.test\r\nBcc: c@y.test\r\n\r\n",
            ),
            // The alias case: To names root, the envelope its target.
            (
                "To: root@host.x.test\n\n",
                &["admin@x.test"],
                "To: undisclosed-recipients:;\r\nBcc: admin@x.test\r\n\r\n",
            ),
            // Mixed: visible non-recipient dropped, the other kept.
            (
                "To: \"B\" <b@y.test>, d@y.test\nCc: c@y.test\n\n",
                &["B@Y.TEST", "e@y.test"],
                "To: \"B\" <b@y.test>\r\nBcc: e@y.test\r\n\r\n",
            ),
            // The caller's Bcc never reaches Graph; the envelope decides.
            (
                "To: b@y.test\nBcc: secret@y.test\n\n",
                &["b@y.test"],
                "To: b@y.test\n\r\n",
            ),
            // No To at all: the Bcc carries everyone.
            (
                "Subject: s\n\n",
                &["b@y.test", "c@y.test"],
                "Subject: s\nBcc: b@y.test,\r\n c@y.test\r\n\r\n",
            ),
            // An envelope recipient twice: once.
            ("\n", &["b@y.test", "B@y.test"], "Bcc: b@y.test\r\n\r\n"),
        ];
        for (header, envelope, want) in table {
            assert_eq!(fit(header, envelope), *want, "{header:?} {envelope:?}");
        }
    }

    #[test]
    fn base64_streams_the_whole_input() {
        use base64::Engine as _;
        for n in [0usize, 1, 2, 3, 4, 100_000, 48 * 1024 + 1] {
            let data: Vec<u8> = (0..n).map(|i| (i * 7 % 256) as u8).collect();
            let mut out = String::new();
            let mut reader = Base64Reader::new(&data);
            let mut small = [0u8; 1000];
            loop {
                let got = reader.read(&mut small).unwrap();
                if got == 0 {
                    break;
                }
                out.push_str(std::str::from_utf8(&small[..got]).unwrap());
            }
            assert_eq!(out, base64::engine::general_purpose::STANDARD.encode(&data));
            assert_eq!(out.len(), Base64Reader::encoded_len(n));
        }
    }

    #[test]
    fn crlf() {
        let (mut out, mut cr) = (Vec::new(), false);
        push_crlf(b"a\nb\r", &mut cr, &mut out);
        push_crlf(b"\nc\r\n", &mut cr, &mut out);
        assert_eq!(out, b"a\r\nb\r\nc\r\n");
    }
}
