//! SMTP replies (RFC 5321 §4.2): parsing from bytes, and what a reply says.
//!
//! [`try_parse_reply`] is sans-I/O: given the bytes received so far it
//! returns `Ok(None)` until a whole reply (every continuation line and the
//! last line) is there, then the reply and how many bytes it used. It is
//! lenient where real servers are sloppy (bare LF line ends, a last line
//! that is only the code, text that is not UTF-8) and strict where
//! sloppiness would hide a broken or hostile peer (mixed codes, non-digit
//! codes, endless replies).

use std::fmt;

/// Longest reply line accepted (RFC 5321 says 512; real servers exceed it).
const MAX_LINE: usize = 8 * 1024;
/// Most lines in one reply (EHLO lists are the longest, ~20 lines).
const MAX_LINES: usize = 1000;

/// A complete reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The text of each line, without code, separator and line end.
    pub lines: Vec<String>,
}

/// Why bytes could not be a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyError {
    /// The bytes do not follow the reply syntax.
    Malformed(String),
    /// A line or the whole reply is longer than any sane server sends.
    TooLong,
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::Malformed(why) => write!(f, "malformed reply: {why}"),
            ReplyError::TooLong => f.write_str("reply too long"),
        }
    }
}

/// Parses one reply from the start of `input`.
///
/// # Errors
/// [`ReplyError`] when the bytes cannot be (the start of) a valid reply.
pub fn try_parse_reply(input: &[u8]) -> Result<Option<(usize, Reply)>, ReplyError> {
    let mut pos = 0;
    let mut code = None;
    let mut lines = Vec::new();
    loop {
        let Some(len) = input[pos..].iter().position(|&b| b == b'\n') else {
            if input.len() - pos > MAX_LINE {
                return Err(ReplyError::TooLong);
            }
            return Ok(None);
        };
        if len > MAX_LINE {
            return Err(ReplyError::TooLong);
        }
        let mut line = &input[pos..pos + len];
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        pos += len + 1;
        let (this_code, last, text) = parse_line(line)?;
        match code {
            None => code = Some(this_code),
            Some(c) if c != this_code => {
                return Err(ReplyError::Malformed(format!(
                    "line with code {this_code} inside a {c} reply"
                )));
            }
            Some(_) => {}
        }
        lines.push(text);
        if last {
            let code = code.expect("set by the first line");
            return Ok(Some((pos, Reply { code, lines })));
        }
        if lines.len() >= MAX_LINES {
            return Err(ReplyError::TooLong);
        }
    }
}

/// One line: (code, is last line, text).
fn parse_line(line: &[u8]) -> Result<(u16, bool, String), ReplyError> {
    let digits = line.get(..3).filter(|d| d.iter().all(u8::is_ascii_digit));
    let Some(digits) = digits else {
        let shown = String::from_utf8_lossy(&line[..line.len().min(40)]).into_owned();
        return Err(ReplyError::Malformed(format!(
            "expected a three-digit code, got {shown:?}"
        )));
    };
    let code = digits
        .iter()
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    if !(200..600).contains(&code) {
        return Err(ReplyError::Malformed(format!(
            "reply code {code} out of range"
        )));
    }
    let (last, text) = match line.get(3) {
        None => (true, &[][..]),
        Some(b' ') => (true, &line[4..]),
        Some(b'-') => (false, &line[4..]),
        Some(other) => {
            return Err(ReplyError::Malformed(format!(
                "unexpected byte {other:#04x} after the reply code"
            )));
        }
    };
    Ok((code, last, String::from_utf8_lossy(text).into_owned()))
}

impl Reply {
    /// 2xx: the command succeeded.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 4xx: try again later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// The RFC 3463 enhanced status code (`5.7.3`) at the start of the text, if any.
    pub fn enhanced_code(&self) -> Option<&str> {
        let first = self.lines.first()?;
        let word = first.split_whitespace().next()?;
        let mut parts = word.split('.');
        let class = parts.next()?;
        let ok = matches!(class, "2" | "4" | "5")
            && parts.clone().count() == 2
            && parts
                .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
        ok.then_some(word)
    }

    /// All the text on one line, lines joined by spaces.
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }
}

impl fmt::Display for Reply {
    /// `535 5.7.3 Authentication unsuccessful [...]`, on one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        let text = self.text();
        if !text.is_empty() {
            write!(f, " {text}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &[u8]) -> Result<Option<(usize, Reply)>, ReplyError> {
        try_parse_reply(input)
    }

    fn reply(code: u16, lines: &[&str]) -> Reply {
        Reply {
            code,
            lines: lines.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn complete_replies() {
        let table: &[(&[u8], Reply)] = &[
            (b"220 ready\r\n", reply(220, &["ready"])),
            (b"250 ok\n", reply(250, &["ok"])),
            (b"250\r\n", reply(250, &[""])),
            (b"334 \r\n", reply(334, &[""])),
            (
                b"250-host\r\n250-PIPELINING\r\n250 SIZE 100\r\n",
                reply(250, &["host", "PIPELINING", "SIZE 100"]),
            ),
            (
                b"535 5.7.3 Authentication unsuccessful [X 2024 Y]\r\n",
                reply(535, &["5.7.3 Authentication unsuccessful [X 2024 Y]"]),
            ),
            (b"250 caf\xe9\r\n", reply(250, &["caf\u{fffd}"])),
        ];
        for (input, want) in table {
            let (used, got) = parse(input).unwrap().unwrap();
            assert_eq!(used, input.len());
            assert_eq!(&got, want);
        }
    }

    #[test]
    fn every_prefix_needs_more() {
        let whole = b"250-smtp.example\r\n250-PIPELINING\r\n250-AUTH XOAUTH2\r\n250 8BITMIME\r\n";
        for end in 0..whole.len() {
            assert_eq!(parse(&whole[..end]), Ok(None), "prefix of {end} bytes");
        }
        assert!(parse(whole).unwrap().is_some());
    }

    #[test]
    fn only_the_first_reply_is_consumed() {
        let input = b"250 first\r\n354 go ahead\r\n";
        let (used, r) = parse(input).unwrap().unwrap();
        assert_eq!((used, r.code), (11, 250));
        let (_, r) = parse(&input[used..]).unwrap().unwrap();
        assert_eq!(r.code, 354);
    }

    #[test]
    fn malformed_replies() {
        let table: &[&[u8]] = &[
            b"hello\r\n",
            b"25\r\n",
            b"2500 x\r\n",
            b"250-a\r\n251 b\r\n",
            b"099 x\r\n",
            b"650 x\r\n",
            b"250x\r\n",
        ];
        for input in table {
            assert!(
                matches!(parse(input), Err(ReplyError::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        assert_eq!(parse(&vec![b'2'; MAX_LINE + 2]), Err(ReplyError::TooLong));
        let endless: Vec<u8> = b"250-x\r\n".repeat(MAX_LINES + 1);
        assert_eq!(parse(&endless), Err(ReplyError::TooLong));
    }

    #[test]
    fn enhanced_codes_and_classes() {
        let table = [
            ("5.7.3 Authentication unsuccessful", Some("5.7.3")),
            ("5.7.139 Authentication unsuccessful", Some("5.7.139")),
            ("2.0.0 Ok: queued", Some("2.0.0")),
            ("Ok", None),
            ("5.7 x", None),
            ("3.1.1 x", None),
            ("", None),
        ];
        for (text, want) in table {
            assert_eq!(reply(550, &[text]).enhanced_code(), want, "{text}");
        }
        let r = reply(451, &["4.7.0 try later", "second"]);
        assert!(r.is_transient() && !r.is_positive());
        assert_eq!(r.to_string(), "451 4.7.0 try later second");
    }
}
