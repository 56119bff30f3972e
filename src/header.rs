//! Reading the header block of a message from its input.
//!
//! The header is read line by line, bounded in size, and split into raw
//! fields (name plus every folded line, bytes kept as written), so the rest
//! of the message can stream untouched. As sendmail does, the header ends
//! at the blank line or at the first line that is neither a field nor a
//! continuation; such a line belongs to the body and is handed back in
//! [`HeaderBlock::body_start`]. A leading mbox `From ` line is dropped.
//! Parsing of field values (addresses) is left to `message`.

use std::io::{BufRead, Read};

use crate::error::{Error, Kind, Result, io_reason};

/// Largest header block accepted. Exchange refuses headers over 256 KB;
/// anything near this size is a runaway program, not mail.
pub const MAX_HEADER_BLOCK: usize = 1024 * 1024;

/// One header field exactly as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The name, as written (without the colon).
    pub name: String,
    /// The whole field: name, colon, value and folded lines, line endings included.
    pub raw: Vec<u8>,
}

impl Field {
    /// A field built by this program (`name: value`, LF-terminated).
    pub fn new(name: &str, value: &str) -> Self {
        Field {
            name: name.to_string(),
            raw: format!("{name}: {value}\n").into_bytes(),
        }
    }

    /// Whether the field has this name (case-insensitive).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// The value with folding undone and surrounding space trimmed (lossy UTF-8).
    pub fn value(&self) -> String {
        let after_colon = self
            .raw
            .iter()
            .position(|&b| b == b':')
            .map_or(&self.raw[..], |i| &self.raw[i + 1..]);
        let text = String::from_utf8_lossy(after_colon);
        let unfolded: String = text.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        unfolded.trim().to_string()
    }
}

/// The header of a message, and the first body bytes read with it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderBlock {
    /// The fields in order.
    pub fields: Vec<Field>,
    /// A line read while looking for the header's end that belongs to the body.
    pub body_start: Vec<u8>,
}

/// What kind of line a header line is.
#[derive(Debug, PartialEq, Eq)]
enum Line<'a> {
    /// The empty line that ends the header.
    Blank,
    /// A line starting with white space: more of the previous field.
    Continuation,
    /// `Name:` starting a new field.
    FieldStart(&'a str),
    /// Anything else: the body has begun.
    Other,
}

fn classify(line: &[u8]) -> Line<'_> {
    match line {
        b"\n" | b"\r\n" => Line::Blank,
        [b' ' | b'\t', ..] => Line::Continuation,
        _ => {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return Line::Other;
            };
            // RFC 5322 §4.5.3 (obsolete syntax) allows white space before the colon.
            let name = line[..colon].trim_ascii_end();
            let printable = |b: &u8| (0x21..=0x7e).contains(b) && *b != b':';
            if name.is_empty() || !name.iter().all(printable) {
                return Line::Other;
            }
            // All bytes are printable ASCII, so this cannot fail.
            Line::FieldStart(std::str::from_utf8(name).unwrap_or_default())
        }
    }
}

/// Reads the header block from `input`, leaving the body unread (except
/// for a non-field line, returned in `body_start`).
///
/// # Errors
/// [`Kind::Data`] when the header is larger than `limit`; [`Kind::Input`]
/// when reading fails.
pub fn read_header_block<R: BufRead + ?Sized>(input: &mut R, limit: usize) -> Result<HeaderBlock> {
    let mut block = HeaderBlock::default();
    let mut consumed = 0usize;
    let mut line = Vec::with_capacity(256);
    let mut first = true;
    loop {
        line.clear();
        let allowance = (limit + 1).saturating_sub(consumed) as u64;
        let mut limited = Read::take(&mut *input, allowance);
        let n = limited.read_until(b'\n', &mut line).map_err(|e| {
            Error::new(
                Kind::Input,
                format!("reading the message failed: {}", io_reason(&e)),
            )
        })?;
        if n == 0 {
            return Ok(block);
        }
        consumed += n;
        if consumed > limit {
            return Err(Error::data(format!(
                "the message header is larger than {} KiB; nothing was sent",
                limit / 1024
            )));
        }
        // An mbox separator line handed to sendmail is not part of the message.
        if std::mem::take(&mut first) && line.starts_with(b"From ") {
            continue;
        }
        match classify(&line) {
            Line::Blank => return Ok(block),
            Line::Continuation if !block.fields.is_empty() => {
                let last = block.fields.last_mut().expect("checked non-empty");
                last.raw.extend_from_slice(&line);
            }
            Line::FieldStart(name) => block.fields.push(Field {
                name: name.to_string(),
                raw: line.clone(),
            }),
            Line::Continuation | Line::Other => {
                block.body_start = std::mem::take(&mut line);
                return Ok(block);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8]) -> (HeaderBlock, Vec<u8>) {
        let mut r = input;
        let block = read_header_block(&mut r, MAX_HEADER_BLOCK).unwrap();
        (block, r.to_vec())
    }

    fn names(b: &HeaderBlock) -> Vec<&str> {
        b.fields.iter().map(|f| f.name.as_str()).collect()
    }

    #[test]
    fn header_block_table() {
        /// input, field names, body_start, rest of input.
        type Case<'a> = (&'a [u8], &'a [&'a str], &'a [u8], &'a [u8]);
        let table: &[Case] = &[
            (
                b"To: a@x\nSubject: hi\n\nbody\n",
                &["To", "Subject"],
                b"",
                b"body\n",
            ),
            (
                b"To: a@x\r\nSubject: hi\r\n\r\nbody\r\n",
                &["To", "Subject"],
                b"",
                b"body\r\n",
            ),
            (b"To: a@x,\n  b@y\n\nbody", &["To"], b"", b"body"),
            (b"To: a@x\n", &["To"], b"", b""),
            (b"To: a@x", &["To"], b"", b""),
            (b"", &[], b"", b""),
            (b"\nbody\n", &[], b"", b"body\n"),
            (b"hello world\nmore\n", &[], b"hello world\n", b"more\n"),
            (
                b"To: a@x\nnot a header\nmore\n",
                &["To"],
                b"not a header\n",
                b"more\n",
            ),
            (b" indented first\n", &[], b" indented first\n", b""),
            (
                b"From sender@x Mon Jan  1 00:00:00 2024\nTo: a@x\n\nb",
                &["To"],
                b"",
                b"b",
            ),
            (b"Subject : obsolete\n\n", &["Subject"], b"", b""),
            (b"X-8bit: caf\xc3\xa9 \xff\n\n", &["X-8bit"], b"", b""),
        ];
        for (input, want_names, want_start, want_rest) in table {
            let (block, rest) = read(input);
            let label = String::from_utf8_lossy(input);
            assert_eq!(names(&block), *want_names, "{label:?}");
            assert_eq!(block.body_start, *want_start, "{label:?}");
            assert_eq!(rest, *want_rest, "{label:?}");
        }
    }

    #[test]
    fn raw_fields_keep_their_bytes() {
        let (block, _) = read(b"Subject: =?UTF-8?B?w6k=?=\n\tcontinued\nTo: a@x\n\n");
        assert_eq!(
            block.fields[0].raw,
            b"Subject: =?UTF-8?B?w6k=?=\n\tcontinued\n"
        );
        assert_eq!(block.fields[0].value(), "=?UTF-8?B?w6k=?=\tcontinued");
        assert!(block.fields[1].is("to"));
    }

    #[test]
    fn oversized_header_is_refused() {
        let mut big = b"X-Big: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 2000));
        big.extend_from_slice(b"\n\nbody");
        let e = read_header_block(&mut &big[..], 1024).unwrap_err();
        assert_eq!(e.exit_code(), 65);
        assert!(e.message().contains("larger than 1 KiB"));
        // A header-only message of exactly the limit is fine.
        let exact = b"A: b\n";
        assert!(read_header_block(&mut &exact[..], exact.len()).is_ok());
    }

    #[test]
    fn built_fields() {
        let f = Field::new("Date", "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(f.raw, b"Date: Thu, 01 Jan 1970 00:00:00 +0000\n");
        assert_eq!(f.value(), "Thu, 01 Jan 1970 00:00:00 +0000");
    }
}
