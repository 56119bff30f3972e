//! The message on its way to the wire: DATA encoding and the lone-dot end.
//!
//! [`DataEncoder`] turns any byte stream into the text of an SMTP DATA
//! phase (RFC 5321 §4.5.2): bare LF and bare CR become CRLF, a line that
//! begins with a dot gets a second dot, and [`DataEncoder::finish`] ends the
//! message with CRLF `.` CRLF (adding the missing CRLF of a last line
//! without one). A line longer than the 998 octets SMTP allows (one-line
//! HTML from PHP scripts, long log lines) is broken, as Postfix does, rather
//! than sent broken or refused: before its last space or tab that fits, so
//! the break stays white space, or else at 998 octets (between UTF-8
//! characters) with a space starting the next line, which keeps the new
//! line from reading as a MIME boundary or a dot line. [`DotEnd`] implements sendmail's rule that, without `-i`,
//! a line holding a single dot ends the input. Both are pure state machines
//! over byte chunks, so the body streams in bounded memory; [`DotEndReader`]
//! and [`copy_encoded`] put them on `Read`/`Write`.

use std::io::{self, Read, Write};

/// Where the encoder stands in the current line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineState {
    /// At the first byte of a line.
    Start,
    /// Just wrote CRLF for a CR; a following LF belongs to it.
    AfterCr,
    /// Inside a line.
    Middle,
}

/// Longest line sent, without its CRLF (RFC 5321 §4.5.3.1.6).
pub const MAX_LINE: usize = 998;

/// Streaming DATA encoder: CRLF normalisation, dot-stuffing, long lines broken.
#[derive(Debug)]
pub struct DataEncoder {
    state: LineState,
    /// The current line's bytes not yet written, when it may grow too long.
    held: Vec<u8>,
}

impl Default for DataEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl DataEncoder {
    /// An encoder at the start of a message.
    pub fn new() -> Self {
        DataEncoder {
            state: LineState::Start,
            held: Vec::new(),
        }
    }

    /// Encodes `input`, appending the wire bytes to `out`.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 32 + 4);
        let mut rest = input;
        while !rest.is_empty() {
            match self.state {
                LineState::AfterCr if rest[0] == b'\n' => {
                    rest = &rest[1..];
                    self.state = LineState::Start;
                }
                LineState::Start | LineState::AfterCr => {
                    if rest[0] == b'.' {
                        out.push(b'.');
                    }
                    self.state = LineState::Middle;
                }
                LineState::Middle => {
                    let end = rest
                        .iter()
                        .position(|&b| b == b'\n' || b == b'\r')
                        .unwrap_or(rest.len());
                    let segment = &rest[..end];
                    let ends_here = end < rest.len();
                    if self.held.is_empty() && ends_here && segment.len() <= MAX_LINE {
                        // The usual case: a whole short line, copied in one piece.
                        out.extend_from_slice(segment);
                    } else {
                        self.hold(segment, out);
                        if ends_here {
                            out.append(&mut self.held);
                        }
                    }
                    if !ends_here {
                        return;
                    }
                    out.extend_from_slice(b"\r\n");
                    self.state = if rest[end] == b'\r' {
                        LineState::AfterCr
                    } else {
                        LineState::Start
                    };
                    rest = &rest[end + 1..];
                }
            }
        }
    }

    /// Adds `segment` (no line ending in it) to the current line, writing
    /// out a part each time the line would pass [`MAX_LINE`].
    fn hold(&mut self, mut segment: &[u8], out: &mut Vec<u8>) {
        while self.held.len() + segment.len() > MAX_LINE {
            let room = MAX_LINE - self.held.len();
            self.held.extend_from_slice(&segment[..room]);
            segment = &segment[room..];
            self.break_line(segment[0], out);
        }
        self.held.extend_from_slice(segment);
    }

    /// Writes out the full held line up to a break, keeping the rest held;
    /// `next` is the byte that follows it.
    fn break_line(&mut self, next: u8, out: &mut Vec<u8>) {
        let blank = |b: &u8| *b == b' ' || *b == b'\t';
        let at_blank = self
            .held
            .iter()
            .rposition(blank)
            .filter(|&p| !self.held[..p].iter().all(blank));
        let (cut, lead): (usize, &[u8]) = match at_blank {
            Some(p) => (p, b""),
            None => {
                // Not inside a UTF-8 character: back off over continuation bytes.
                let continuation = |b: u8| (0x80..0xc0).contains(&b);
                let mut cut = self.held.len();
                let mut following = next;
                while continuation(following) && cut > self.held.len() - 3 {
                    cut -= 1;
                    following = self.held[cut];
                }
                if continuation(following) {
                    cut = self.held.len();
                }
                (cut, b" ")
            }
        };
        out.extend_from_slice(&self.held[..cut]);
        out.extend_from_slice(b"\r\n");
        let rest = self.held.split_off(cut);
        self.held.clear();
        self.held.extend_from_slice(lead);
        self.held.extend_from_slice(&rest);
    }

    /// Ends the message: the missing CRLF of a last line, then `.` CRLF.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.held);
        if self.state == LineState::Middle {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        self.state = LineState::Start;
    }
}

/// Encodes everything `body` yields onto `out`, starting with `header`
/// (already-rewritten header bytes), and ends the DATA phase. Returns the
/// number of message octets read (header plus body, before encoding).
///
/// # Errors
/// `Read` errors are returned as [`CopyError::Read`], `Write` errors as
/// [`CopyError::Write`]: one is the caller's input, the other the server.
pub fn copy_encoded<R: Read + ?Sized, W: Write + ?Sized>(
    header: &[u8],
    body: &mut R,
    out: &mut W,
) -> Result<u64, CopyError> {
    const CHUNK: usize = 64 * 1024;
    let mut encoder = DataEncoder::new();
    let mut wire = Vec::with_capacity(CHUNK + CHUNK / 8);
    let mut chunk = vec![0u8; CHUNK];
    encoder.encode(header, &mut wire);
    let mut total = header.len() as u64;
    loop {
        let n = match body.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        total += n as u64;
        encoder.encode(&chunk[..n], &mut wire);
        if wire.len() >= CHUNK {
            out.write_all(&wire).map_err(CopyError::Write)?;
            wire.clear();
        }
    }
    encoder.finish(&mut wire);
    out.write_all(&wire).map_err(CopyError::Write)?;
    out.flush().map_err(CopyError::Write)?;
    Ok(total)
}

/// Which side of [`copy_encoded`] failed.
#[derive(Debug)]
pub enum CopyError {
    /// Reading the message (stdin or the spool).
    Read(io::Error),
    /// Writing to the server.
    Write(io::Error),
}

/// sendmail's end-of-input rule without `-i`: a line that is exactly `.`
/// ends the message; the dot line and everything after it are dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DotEnd {
    state: DotState,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum DotState {
    #[default]
    LineStart,
    Middle,
    /// A dot at line start, held back until we know what follows.
    Dot,
    /// A dot and a CR at line start, held back.
    DotCr,
    Ended,
}

impl DotEnd {
    /// Feeds `input`, appending what belongs to the message to `out`.
    /// Returns true once the terminating dot line has been seen.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        let mut i = 0;
        while i < input.len() {
            if self.state == DotState::Middle {
                // Inside a line nothing can end the input: copy up to its end at once.
                match input[i..].iter().position(|&b| b == b'\n') {
                    Some(p) => {
                        out.extend_from_slice(&input[i..=i + p]);
                        i += p + 1;
                        self.state = DotState::LineStart;
                        continue;
                    }
                    None => {
                        out.extend_from_slice(&input[i..]);
                        return false;
                    }
                }
            }
            let b = input[i];
            i += 1;
            self.state = match (self.state, b) {
                (DotState::Ended, _) => return true,
                (DotState::LineStart, b'.') => DotState::Dot,
                (DotState::Dot | DotState::DotCr, b'\n') => {
                    self.state = DotState::Ended;
                    return true;
                }
                (DotState::Dot, b'\r') => DotState::DotCr,
                (DotState::Dot, _) => {
                    out.push(b'.');
                    out.push(b);
                    Self::after(b)
                }
                (DotState::DotCr, _) => {
                    out.extend_from_slice(b".\r");
                    out.push(b);
                    Self::after(b)
                }
                (DotState::LineStart | DotState::Middle, _) => {
                    out.push(b);
                    Self::after(b)
                }
            };
        }
        self.state == DotState::Ended
    }

    fn after(b: u8) -> DotState {
        if b == b'\n' {
            DotState::LineStart
        } else {
            DotState::Middle
        }
    }

    /// At end of input: a last line of just `.` (no newline) also ends the
    /// message; a held-back `.` followed by CR alone does too.
    pub fn finish(&mut self) -> bool {
        let ended = matches!(
            self.state,
            DotState::Dot | DotState::DotCr | DotState::Ended
        );
        self.state = DotState::Ended;
        ended
    }
}

/// A reader that stops at sendmail's lone-dot line (see [`DotEnd`]).
pub struct DotEndReader<R> {
    inner: R,
    filter: DotEnd,
    pending: Vec<u8>,
    position: usize,
    done: bool,
    raw: Vec<u8>,
}

impl<R: Read> DotEndReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        DotEndReader {
            inner,
            filter: DotEnd::default(),
            pending: Vec::new(),
            position: 0,
            done: false,
            raw: vec![0; 64 * 1024],
        }
    }
}

impl<R: Read> Read for DotEndReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.position == self.pending.len() {
            if self.done {
                return Ok(0);
            }
            self.pending.clear();
            self.position = 0;
            let n = self.inner.read(&mut self.raw)?;
            if n == 0 {
                self.filter.finish();
                self.done = true;
            } else if self.filter.feed(&self.raw[..n], &mut self.pending) {
                self.done = true;
            }
        }
        let n = buf.len().min(self.pending.len() - self.position);
        buf[..n].copy_from_slice(&self.pending[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_all(input: &[u8]) -> Vec<u8> {
        let mut e = DataEncoder::new();
        let mut out = Vec::new();
        e.encode(input, &mut out);
        e.finish(&mut out);
        out
    }

    #[test]
    fn data_encoding_table() {
        let table: &[(&[u8], &[u8])] = &[
            (b"", b".\r\n"),
            (b"a", b"a\r\n.\r\n"),
            (b"a\n", b"a\r\n.\r\n"),
            (b"a\r\n", b"a\r\n.\r\n"),
            (b"a\rb", b"a\r\nb\r\n.\r\n"),
            (b"a\r\r\nb", b"a\r\n\r\nb\r\n.\r\n"),
            (b"\n\n", b"\r\n\r\n.\r\n"),
            (b".", b"..\r\n.\r\n"),
            (b".\n", b"..\r\n.\r\n"),
            (b"a\n.\nb\n", b"a\r\n..\r\nb\r\n.\r\n"),
            (b"a\n..x\n", b"a\r\n...x\r\n.\r\n"),
            (b"x.y\n", b"x.y\r\n.\r\n"),
            (b"a\r.b", b"a\r\n..b\r\n.\r\n"),
            (b"\0\xff\n", b"\0\xff\r\n.\r\n"),
        ];
        for (input, want) in table {
            assert_eq!(
                String::from_utf8_lossy(&encode_all(input)),
                String::from_utf8_lossy(want),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn long_lines_are_broken() {
        let wire = |input: &[u8]| {
            let out = encode_all(input);
            let text = String::from_utf8_lossy(&out).into_owned();
            assert!(
                text.split("\r\n").all(|l| l.len() <= MAX_LINE + 1),
                "a line is too long"
            );
            text
        };
        let a = |n| "a".repeat(n);
        // (input, wire) for the boundary cases.
        let table: Vec<(String, String)> = vec![
            (a(998), format!("{}\r\n.\r\n", a(998))),
            (a(999), format!("{}\r\n a\r\n.\r\n", a(998))),
            (
                format!("{} {}", a(600), a(600)),
                format!("{}\r\n {}\r\n.\r\n", a(600), a(600)),
            ),
            (
                format!(".{}\n", a(1000)),
                format!("..{}\r\n {}\r\n.\r\n", a(997), a(3)),
            ),
            (
                format!("  {}", a(1000)),
                format!("  {}\r\n {}\r\n.\r\n", a(996), a(4)),
            ),
        ];
        for (input, want) in &table {
            assert_eq!(wire(input.as_bytes()), *want, "{} octets", input.len());
        }
        // Many words: every break is at a space, and removing the breaks
        // gives the line back.
        let words = vec!["word"; 1000].join(" ");
        let text = wire(words.as_bytes());
        assert!(text.lines().count() > 4);
        assert_eq!(
            text.trim_end_matches("\r\n.\r\n").replace("\r\n", ""),
            words
        );
        // Never inside a UTF-8 character.
        let accents = "é".repeat(700);
        let text = wire(accents.as_bytes());
        assert!(!text.contains('\u{fffd}'), "split a character");
        assert_eq!(
            text.trim_end_matches("\r\n.\r\n").replace("\r\n ", ""),
            accents
        );
    }

    #[test]
    fn encoding_does_not_depend_on_chunking() {
        let mut input = b"Subject: x\n\n.hidden\r\nline\r.\rend\n..\nlast\n".to_vec();
        input.extend_from_slice(vec!["long"; 300].join(" ").as_bytes());
        input.extend_from_slice(b"\r\n");
        input.extend_from_slice("ü".repeat(520).as_bytes());
        let input = &input[..];
        let whole = encode_all(input);
        for split in 0..=input.len() {
            let mut e = DataEncoder::new();
            let mut out = Vec::new();
            e.encode(&input[..split], &mut out);
            e.encode(&input[split..], &mut out);
            e.finish(&mut out);
            assert_eq!(out, whole, "split at {split}");
        }
    }

    fn dot_end(input: &[u8]) -> (Vec<u8>, bool) {
        let mut d = DotEnd::default();
        let mut out = Vec::new();
        let ended = d.feed(input, &mut out) || d.finish();
        (out, ended)
    }

    #[test]
    fn lone_dot_ends_input() {
        let table: &[(&[u8], &[u8], bool)] = &[
            (b"a\n.\nb\n", b"a\n", true),
            (b"a\r\n.\r\nb", b"a\r\n", true),
            (b".\n", b"", true),
            (b"a\n.", b"a\n", true),
            (b"a\n..\nb\n", b"a\n..\nb\n", false),
            (b"a\n.b\n", b"a\n.b\n", false),
            (b"a.\n", b"a.\n", false),
            (b"a\n.\rb\n", b"a\n.\rb\n", false),
            (b"", b"", false),
        ];
        for (input, want, ended) in table {
            let (out, got_ended) = dot_end(input);
            assert_eq!(out, *want, "{:?}", String::from_utf8_lossy(input));
            assert_eq!(got_ended, *ended, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn dot_end_reader_streams_in_small_reads() {
        let input = b"Subject: x\n\nline\n.\nignored\n".to_vec();
        let mut r = DotEndReader::new(&input[..]);
        let mut out = Vec::new();
        let mut buf = [0u8; 3];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, b"Subject: x\n\nline\n");
    }

    #[test]
    fn copy_encoded_counts_and_terminates() {
        let mut out = Vec::new();
        let n = copy_encoded(b"To: a@x\n\n", &mut &b"body\n.x\n"[..], &mut out).unwrap();
        assert_eq!(n, 9 + 8);
        assert_eq!(out, b"To: a@x\r\n\r\nbody\r\n..x\r\n.\r\n");
    }
}
