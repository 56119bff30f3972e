//! Reading the header block of a message from its input.
//!
//! The header is read line by line, bounded in size, and split into raw
//! fields (name plus every folded line, bytes kept as written), so the rest
//! of the message can stream untouched. As sendmail does, the header ends
//! at the blank line or at the first line that is neither a field nor a
//! continuation; such a line belongs to the body and is handed back in
//! [`HeaderBlock::body_start`]. A leading mbox `From ` line is dropped.
//! Parsing of field values (addresses) is left to `message`.
//!
//! Lines end where the DATA encoder will end them on the wire: at LF,
//! CRLF or a CR alone (see [`read_line`]), so what is checked here is what
//! is sent.

use std::io::BufRead;

use crate::error::{Error, Kind, Result, io_reason};

/// Largest header block accepted. Exchange refuses headers over 256 KB;
/// anything near this size is a runaway program, not mail.
pub const MAX_HEADER_BLOCK: usize = 1024 * 1024;

/// Longest line RFC 5322 allows, without its CRLF.
pub const MAX_LINE: usize = 998;

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
        let allowance = (limit + 1).saturating_sub(consumed);
        let n = read_line(input, allowance, &mut line).map_err(|e| {
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

/// Reads one line into `line`, at most `allowance` input octets, and
/// returns how many octets it consumed. A line ends where the DATA encoder
/// ends one (`body::DataEncoder`): at LF, at CRLF, or at a CR alone; the
/// ending is stored as LF, or CRLF for CRLF. Splitting here exactly as the
/// wire will, the header that is checked (Bcc removed, From policy) is the
/// header that is sent: a bare CR cannot hide a Bcc or From line inside
/// another field, and `\r\r\n` ends the header here as it will there.
fn read_line<R: BufRead + ?Sized>(
    input: &mut R,
    allowance: usize,
    line: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut consumed = 0usize;
    loop {
        let available = match input.fill_buf() {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() || consumed >= allowance {
            return Ok(consumed);
        }
        let room = (allowance - consumed).min(available.len());
        match available[..room]
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
        {
            None => {
                line.extend_from_slice(&available[..room]);
                input.consume(room);
                consumed += room;
            }
            Some(end) => {
                let ending = available[end];
                line.extend_from_slice(&available[..end]);
                input.consume(end + 1);
                consumed += end + 1;
                if ending == b'\r' {
                    // A CR: the LF after it, if any, belongs to it.
                    let next = loop {
                        match input.fill_buf() {
                            Ok(bytes) => break bytes.first().copied(),
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            Err(e) => return Err(e),
                        }
                    };
                    if next == Some(b'\n') {
                        input.consume(1);
                        consumed += 1;
                        line.extend_from_slice(b"\r\n");
                        return Ok(consumed);
                    }
                }
                line.push(b'\n');
                return Ok(consumed);
            }
        }
    }
}

/// A field's bytes with every line over [`MAX_LINE`] octets folded: a line
/// break goes in before the last space or tab that still fits, after the
/// field name, so the value reads the same once unfolded (RFC 5322 §2.2.3).
///
/// # Errors
/// The length of a line that has no such white space (one long word, an
/// over-long encoded word): it cannot be folded without changing it.
pub fn fold_long_lines(raw: &[u8]) -> std::result::Result<std::borrow::Cow<'_, [u8]>, usize> {
    use std::borrow::Cow;
    let content_of = |line: &[u8]| -> usize {
        line.len()
            - line
                .iter()
                .rev()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count()
    };
    let lines = || raw.split_inclusive(|&b| b == b'\n');
    if !lines().any(|line| content_of(line) > MAX_LINE) {
        return Ok(Cow::Borrowed(raw));
    }
    let is_wsp = |b: &u8| *b == b' ' || *b == b'\t';
    let name_end = raw.iter().position(|&b| b == b':').map_or(0, |i| i + 1);
    let mut out = Vec::with_capacity(raw.len() + raw.len() / MAX_LINE * 2 + 2);
    let mut offset = 0;
    for line in lines() {
        let (content, ending) = line.split_at(content_of(line));
        let original_len = content.len();
        // Trailing blanks mean nothing at the end of a header line.
        let mut content = if content.len() > MAX_LINE {
            content.trim_ascii_end()
        } else {
            content
        };
        // Only the first line holds the name; never fold inside it.
        let mut floor = name_end.saturating_sub(offset).max(1);
        offset += line.len();
        while content.len() > MAX_LINE {
            // Fold before the last blank that fits with text before it (the
            // line is trimmed, so there is text after it too).
            let at = (floor..=MAX_LINE)
                .rev()
                .find(|&i| is_wsp(&content[i]) && !content[..i].iter().all(is_wsp))
                .ok_or(original_len)?;
            out.extend_from_slice(&content[..at]);
            out.push(b'\n');
            content = &content[at..];
            floor = 1;
        }
        out.extend_from_slice(content);
        out.extend_from_slice(ending);
    }
    Ok(Cow::Owned(out))
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
    fn a_bare_cr_ends_a_line_as_it_will_on_the_wire() {
        /// input, field names, each field's raw bytes, body_start, rest.
        type Case<'a> = (&'a [u8], &'a [&'a str], &'a [u8], &'a [u8]);
        let table: &[Case] = &[
            // Fields hidden behind a bare CR are fields.
            (
                b"Subject: hi\rBcc: x@example.com\rFrom: CEO <ceo@x>\r\n\r\nbody",
                &["Subject", "Bcc", "From"],
                b"",
                b"body",
            ),
            // `\r\r\n` is a line end and then an empty line: the header ends.
            (
                b"Subject: hi\r\r\nFrom: a@x\r\r\n\r\r\nbody",
                &["Subject"],
                b"",
                b"From: a@x\r\r\n\r\r\nbody",
            ),
            // Mixtures: CR LF, LF, CR, and a LF CR pair (two ends).
            (
                b"A: 1\r\nB: 2\nC: 3\rD: 4\n\rrest",
                &["A", "B", "C", "D"],
                b"",
                b"rest",
            ),
            // A folded line continued after a bare CR.
            (b"To: a@x,\r b@y\r\rbody", &["To"], b"", b"body"),
            // A CR alone at the very end.
            (b"A: 1\r", &["A"], b"", b""),
            // A non-field line after a CR is the body's start, LF-ended.
            (
                b"A: 1\rnot a field\rmore",
                &["A"],
                b"not a field\n",
                b"more",
            ),
        ];
        for (input, want_names, want_start, want_rest) in table {
            for capacity in [1, 2, 3, 64] {
                let mut r = std::io::BufReader::with_capacity(capacity, *input);
                let block = read_header_block(&mut r, MAX_HEADER_BLOCK).unwrap();
                let mut rest = Vec::new();
                std::io::Read::read_to_end(&mut r, &mut rest).unwrap();
                let label = String::from_utf8_lossy(input);
                assert_eq!(names(&block), *want_names, "{label:?}");
                assert_eq!(block.body_start, *want_start, "{label:?}");
                assert_eq!(rest, *want_rest, "{label:?}");
                for field in &block.fields {
                    let inner = &field.raw[..field.raw.len() - 1];
                    assert!(
                        !inner.contains(&b'\r')
                            || inner.ends_with(b"\r") && field.raw.ends_with(b"\r\n"),
                        "{label:?}: no CR left inside {:?}",
                        field.raw
                    );
                }
            }
        }
        let (block, _) = read(b"To: a@x,\r b@y\r\rbody");
        assert_eq!(block.fields[0].raw, b"To: a@x,\n b@y\n");
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
    fn long_lines_are_folded_at_white_space() {
        let word = "w".repeat(99);
        let long_value = vec![word.as_str(); 25].join(" "); // 2499 octets
        let raw = format!("Subject: {long_value}\n");
        let folded = fold_long_lines(raw.as_bytes()).unwrap();
        let text = String::from_utf8(folded.to_vec()).unwrap();
        assert!(text.lines().all(|l| l.len() <= MAX_LINE), "{text}");
        assert_eq!(text.lines().count(), 3);
        assert!(text.lines().skip(1).all(|l| l.starts_with(' ')));
        // Unfolding gives the original back.
        assert_eq!(text.replace("\n ", " "), raw);

        // Short fields and exactly 998 octets stay as they are (borrowed).
        let exact = format!("X: {}\r\n", "a".repeat(MAX_LINE - 3));
        assert!(matches!(
            fold_long_lines(exact.as_bytes()),
            Ok(std::borrow::Cow::Borrowed(_))
        ));
        // One unbroken word cannot be folded.
        let word = format!("X-Token: {}\n", "a".repeat(1500));
        assert_eq!(fold_long_lines(word.as_bytes()), Err(1500 + 9));
        // The only blank right after the colon is no place for a fold
        // that leaves the rest still too long; nor is trailing space.
        let name_only = format!("X-Token: {}   \n", "a".repeat(1200));
        assert!(fold_long_lines(name_only.as_bytes()).is_err());
        // A long second line of a folded field is folded too.
        let second = format!("To: a@x.com,\r\n {}\r\n", vec!["b@x.com,"; 150].join(" "));
        let folded = fold_long_lines(second.as_bytes()).unwrap();
        let text = String::from_utf8(folded.to_vec()).unwrap();
        assert!(
            text.split('\n').all(|l| l.trim_end().len() <= MAX_LINE),
            "{text}"
        );
        assert!(text.ends_with("\r\n"));
    }

    #[test]
    fn built_fields() {
        let f = Field::new("Date", "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(f.raw, b"Date: Thu, 01 Jan 1970 00:00:00 +0000\n");
        assert_eq!(f.value(), "Thu, 01 Jan 1970 00:00:00 +0000");
    }
}
