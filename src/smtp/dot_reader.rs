//! The message of an SMTP DATA phase, as the server side receives it.
//!
//! [`DotReader`] reads from the client's stream up to the line holding a
//! single dot, removes the dot a client doubles at the start of a line
//! (RFC 5321 §4.5.2), and then reports the end of the message, leaving the
//! next command unread. A stream that ends before the dot is an error, so a
//! client that died in the middle of a message never gets it sent. Memory
//! stays bounded: it never waits for a whole line.
//!
//! Only `<CRLF>.<CRLF>` ends the message (RFC 5321 §4.1.1.4). A bare LF
//! (or a bare CR) is data: it never starts a line, so neither a dot after
//! it nor `<LF>.<LF>`, `<LF>.<CRLF>` or `<CRLF>.<LF>` can end the message
//! and smuggle what follows in as a second transaction (SMTP smuggling,
//! CVE-2023-51764 class). Such bytes stay in the message, where the DATA
//! encoder turns them into CRLF lines and dot-stuffs them on the way out.

use std::io::{self, BufRead, Read};

/// Where the reader stands in the current line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    LineStart,
    Middle,
    /// A dot at line start was consumed.
    Dot,
    /// A dot and a CR at line start were consumed.
    DotCr,
}

/// Reads one DATA message from `inner` (see the module doc).
pub struct DotReader<R> {
    inner: R,
    state: State,
    /// Whether the final dot line was read.
    done: bool,
    /// Whether the last byte handed out was a CR (so a LF now ends a line).
    after_cr: bool,
}

impl<R: BufRead> DotReader<R> {
    /// A reader at the first byte after the 354 reply.
    pub fn new(inner: R) -> Self {
        DotReader {
            inner,
            state: State::LineStart,
            done: false,
            after_cr: false,
        }
    }

    /// Whether the final dot has been read.
    #[cfg(test)]
    pub fn finished(&self) -> bool {
        self.done
    }
}

impl<R: BufRead> Read for DotReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut written = 0;
        while written < buf.len() && !self.done {
            let available = match self.inner.fill_buf() {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if written > 0 {
                    return Ok(written);
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the input ended inside DATA, before the line with a single dot",
                ));
            }
            let first = available[0];
            match (self.state, first) {
                (State::LineStart, b'.') => {
                    self.inner.consume(1);
                    self.state = State::Dot;
                }
                (State::LineStart, _) => {
                    self.after_cr = false;
                    self.state = State::Middle;
                }
                (State::DotCr, b'\n') => {
                    self.inner.consume(1);
                    self.done = true;
                }
                (State::Dot, b'\r') => {
                    self.inner.consume(1);
                    self.state = State::DotCr;
                }
                // A doubled dot, or a dot before other data: the first one
                // is dropped (RFC 5321 §4.5.2). A bare LF after it is data.
                (State::Dot, _) => {
                    self.after_cr = false;
                    self.state = State::Middle;
                }
                // `.` CR and something else: the line, unstuffed, begins
                // with CR, and a LF now would end that line, not the message.
                (State::DotCr, _) => {
                    buf[written] = b'\r';
                    written += 1;
                    self.after_cr = true;
                    self.state = State::Middle;
                }
                (State::Middle, _) => {
                    let room = (buf.len() - written).min(available.len());
                    let taken = &available[..room];
                    let n = match taken.iter().position(|&b| b == b'\n') {
                        Some(end) => {
                            // Only CRLF makes a line start; a bare LF is data.
                            let before = if end == 0 {
                                self.after_cr
                            } else {
                                taken[end - 1] == b'\r'
                            };
                            if before {
                                self.state = State::LineStart;
                            }
                            end + 1
                        }
                        None => room,
                    };
                    self.after_cr = taken[n - 1] == b'\r';
                    buf[written..written + n].copy_from_slice(&taken[..n]);
                    self.inner.consume(n);
                    written += n;
                }
            }
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the message in reads of `size` bytes; returns it and the rest.
    fn read_in(input: &[u8], size: usize) -> (io::Result<Vec<u8>>, Vec<u8>) {
        let mut source = io::BufReader::with_capacity(3, input);
        let mut reader = DotReader::new(&mut source);
        let mut message = Vec::new();
        let mut buf = vec![0u8; size];
        let result = loop {
            match reader.read(&mut buf) {
                Ok(0) => break Ok(message),
                Ok(n) => message.extend_from_slice(&buf[..n]),
                Err(e) => break Err(e),
            }
        };
        assert_eq!(result.is_ok(), reader.finished());
        let mut rest = Vec::new();
        source.read_to_end(&mut rest).unwrap();
        (result, rest)
    }

    #[test]
    fn unstuffing_table() {
        // (input after 354, message, what is left for the next command)
        let table: &[(&[u8], &[u8], &[u8])] = &[
            (b"a\r\nb\r\n.\r\nQUIT\r\n", b"a\r\nb\r\n", b"QUIT\r\n"),
            (b".\r\n", b"", b""),
            (b"..\r\n.\r\n", b".\r\n", b""),
            (b"..hidden\r\n.\r\n", b".hidden\r\n", b""),
            (b"a\r\n...\r\n.\r\n", b"a\r\n..\r\n", b""),
            (b".x\r\n.\r\n", b"x\r\n", b""),
            (b"a.\r\n.b\r\n.\r\n", b"a.\r\nb\r\n", b""),
            (b".\rx\r\n.\r\n", b"\rx\r\n", b""),
            (b"x\r\n .\r\n.\r\n", b"x\r\n .\r\n", b""),
            (b"\xff\x00\r\n.\r\n", b"\xff\x00\r\n", b""),
        ];
        for (input, message, rest) in table {
            for size in [1, 2, 5, 4096] {
                let (got, left) = read_in(input, size);
                let label = String::from_utf8_lossy(input);
                assert_eq!(got.unwrap(), *message, "{label:?} in reads of {size}");
                assert_eq!(left, *rest, "{label:?} in reads of {size}");
            }
        }
    }

    #[test]
    fn only_crlf_dot_crlf_ends_the_message() {
        // (input after 354, message, what is left for the next command):
        // every other spelling of a dot line is data, what follows it too.
        let smuggled: &[u8] = b"MAIL FROM:<evil@x>\r\n";
        let table: &[(&[u8], &[u8])] = &[
            (
                b"a\n.\nMAIL FROM:<evil@x>\r\n",
                b"a\n.\nMAIL FROM:<evil@x>\r\n",
            ),
            (
                b"a\n.\r\nMAIL FROM:<evil@x>\r\n",
                b"a\n.\r\nMAIL FROM:<evil@x>\r\n",
            ),
            (
                b"a\r\n.\nMAIL FROM:<evil@x>\r\n",
                b"a\r\n\nMAIL FROM:<evil@x>\r\n",
            ),
            (
                b"a\r.\r\nMAIL FROM:<evil@x>\r\n",
                b"a\r.\r\nMAIL FROM:<evil@x>\r\n",
            ),
            (
                b"a\r\n.\r.\r\nMAIL FROM:<evil@x>\r\n",
                b"a\r\n\r.\r\nMAIL FROM:<evil@x>\r\n",
            ),
            (
                b"\n.\nMAIL FROM:<evil@x>\r\n",
                b"\n.\nMAIL FROM:<evil@x>\r\n",
            ),
            (
                b"a\r\n\n.\r\nMAIL FROM:<evil@x>\r\n",
                b"a\r\n\n.\r\nMAIL FROM:<evil@x>\r\n",
            ),
        ];
        for (data, message) in table {
            let input = [*data, b".\r\n", b"QUIT\r\n"].concat();
            for size in [1, 2, 5, 4096] {
                let (got, left) = read_in(&input, size);
                let label = String::from_utf8_lossy(data);
                assert_eq!(got.unwrap(), *message, "{label:?} in reads of {size}");
                assert_eq!(left, b"QUIT\r\n", "{label:?} in reads of {size}");
                assert!(message.ends_with(smuggled));
            }
        }
        // Without the real end the message never ends.
        let (got, _) = read_in(b"a\n.\nb\r.\r\n", 3);
        assert!(got.is_err());
    }

    #[test]
    fn input_ending_before_the_dot_is_an_error() {
        for input in [&b"a\r\nb"[..], b"a\r\n", b"", b"a\r\n.", b"a\r\n.\r"] {
            let (got, _) = read_in(input, 7);
            let e = got.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{input:?}");
        }
    }
}
