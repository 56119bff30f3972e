//! Message size limits: the configured `max_message_size` and the
//! server's SIZE (RFC 1870).
//!
//! A message streams from its caller to the server (and into the queue),
//! so its size is known only at its end. [`SizeLimit`] counts the octets
//! as they are read and fails the read that passes the limit with a
//! [`TooLarge`] error (the server's limit counts them as RFC 1870 does,
//! every line end as CRLF, since that is how they leave: [`WireCount`]), so the message is refused early (exit 65, nothing
//! sent: the DATA phase is never ended with the dot) instead of being
//! uploaded whole to be refused, or copied into the queue without end.

use std::fmt;
use std::io::{self, Read};

use crate::cause::Cause;

/// Default `max_message_size`: 35 MiB, Exchange Online's default limit
/// for a message (its maximum is 150 MB).
pub const DEFAULT_MAX: u64 = 35 * 1024 * 1024;

/// Whose limit a message passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whose {
    /// `max_message_size` in the configuration.
    Config,
    /// The SIZE the server announced in its EHLO reply.
    Server,
}

/// A message passed `limit` octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLarge {
    /// The limit, in octets.
    pub limit: u64,
    /// Whose limit it is.
    pub whose: Whose,
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whose = match self.whose {
            Whose::Config => "max_message_size",
            Whose::Server => "the server's SIZE limit",
        };
        write!(
            f,
            "the message is larger than {} octets ({}, {whose})",
            self.limit,
            human(self.limit)
        )
    }
}

impl std::error::Error for TooLarge {}

impl TooLarge {
    /// The error to report: nothing was sent, and retrying cannot help,
    /// so the message is never queued (exit 65, as a malformed one).
    pub fn error(self) -> crate::error::Error {
        let hint = match self.whose {
            Whose::Config => {
                "send a smaller message (link large files instead of attaching them), or raise max_message_size in sendmail.conf"
            }
            Whose::Server => {
                "the server refuses messages this large: send a smaller one (Exchange Online: 35 MB by default, raised with Set-Mailbox -MaxSendSize)"
            }
        };
        crate::error::Error::data(format!("{self}; nothing was sent"))
            .with_hint(hint)
            .with_cause(Cause::MessageTooLarge)
    }

    /// The `TooLarge` an I/O error carries, if it is one.
    pub fn from_io(e: &io::Error) -> Option<TooLarge> {
        e.get_ref()?.downcast_ref::<TooLarge>().copied()
    }
}

/// `35 MiB`, `1.5 GiB`, `512 KiB`.
pub fn human(octets: u64) -> String {
    const UNITS: [&str; 4] = ["octets", "KiB", "MiB", "GiB"];
    let mut value = octets as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The server's limit from its SIZE keyword: `Some(0)` means no fixed limit.
pub fn server_limit(size: Option<u64>) -> Option<u64> {
    size.filter(|&n| n > 0)
}

/// Octets as RFC 1870's SIZE counts them: every line end (LF, CR or
/// CRLF) as the two octets of CRLF it becomes on the wire, and not the
/// dots that DATA doubles. Counted chunk by chunk, a CRLF split between
/// two chunks included.
#[derive(Clone, Copy, Debug, Default)]
pub struct WireCount {
    after_cr: bool,
}

impl WireCount {
    /// The octets `bytes` add.
    pub fn add(&mut self, bytes: &[u8]) -> u64 {
        let mut n = 0;
        for &b in bytes {
            n += match (b, self.after_cr) {
                // The LF of a CRLF: counted with its CR.
                (b'\n', true) => 0,
                (b'\n' | b'\r', _) => 2,
                _ => 1,
            };
            self.after_cr = b == b'\r';
        }
        n
    }
}

/// [`WireCount`] of the whole of `parts`, one after the other.
pub fn wire_len(parts: &[&[u8]]) -> u64 {
    let mut count = WireCount::default();
    parts.iter().map(|part| count.add(part)).sum()
}

/// A reader that fails once more than `limit` octets have been read in
/// all, counting `already` octets read before it (the header).
pub struct SizeLimit<R> {
    inner: R,
    count: u64,
    limit: TooLarge,
    /// Octets as they leave ([`SizeLimit::on_the_wire`]), else as read.
    wire: Option<WireCount>,
}

impl<R: Read> SizeLimit<R> {
    /// Wraps `inner`, counting octets as they are read.
    pub fn new(inner: R, already: u64, limit: u64, whose: Whose) -> Self {
        SizeLimit {
            inner,
            count: already,
            limit: TooLarge { limit, whose },
            wire: None,
        }
    }

    /// Wraps `inner` for the server's SIZE `limit`, counting as RFC 1870
    /// does ([`WireCount`]); `already` is the header's count.
    pub fn on_the_wire(inner: R, already: u64, limit: u64) -> Self {
        SizeLimit {
            wire: Some(WireCount::default()),
            ..Self::new(inner, already, limit, Whose::Server)
        }
    }
}

impl<R: Read> Read for SizeLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.count > self.limit.limit {
            return Err(io::Error::other(self.limit));
        }
        let n = self.inner.read(buf)?;
        self.count += match &mut self.wire {
            Some(wire) => wire.add(&buf[..n]),
            None => n as u64,
        };
        if self.count > self.limit.limit {
            return Err(io::Error::other(self.limit));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_that_passes_the_limit_fails() {
        // (header octets, body, limit, whether it fits)
        let table: &[(u64, usize, u64, bool)] = &[
            (0, 100, 100, true),
            (0, 101, 100, false),
            (40, 60, 100, true),
            (40, 61, 100, false),
            (200, 0, 100, false),
            (0, 0, 0, true),
        ];
        for &(already, body, limit, fits) in table {
            let data = vec![b'x'; body];
            let mut r = SizeLimit::new(&data[..], already, limit, Whose::Server);
            let mut out = Vec::new();
            let got = r.read_to_end(&mut out);
            assert_eq!(got.is_ok(), fits, "{already}+{body} vs {limit}");
            if let Err(e) = got {
                let too = TooLarge::from_io(&e).expect("a TooLarge");
                assert_eq!(too.limit, limit);
                assert_eq!(too.whose, Whose::Server);
            }
        }
        assert_eq!(TooLarge::from_io(&io::Error::other("x")), None);
    }

    #[test]
    fn sizes_read_well() {
        let table = [
            (35 * 1024 * 1024, "35 MiB"),
            (1536 * 1024 * 1024, "1.5 GiB"),
            (1000, "1000 octets"),
            (157_286_400, "150 MiB"),
        ];
        for (n, text) in table {
            assert_eq!(human(n), text);
        }
        let e = TooLarge {
            limit: 1024,
            whose: Whose::Config,
        };
        assert_eq!(
            e.to_string(),
            "the message is larger than 1024 octets (1 KiB, max_message_size)"
        );
        assert_eq!(server_limit(Some(0)), None);
        assert_eq!(server_limit(Some(10)), Some(10));
    }

    #[test]
    fn the_wire_count_is_rfc_1870s() {
        // (chunks, octets as RFC 1870 counts them)
        let table: &[(&[&[u8]], u64)] = &[
            (&[b"abc"], 3),
            (&[b"a\r\nb\r\n"], 6),
            (&[b"a\nb\n"], 6),
            (&[b"a\rb"], 4),
            (&[b"a\r", b"\nb"], 4),
            (&[b"\n\n"], 4),
            (&[b"\r\r\n"], 4),
            (&[b"..dot\n"], 7),
        ];
        for &(parts, want) in table {
            assert_eq!(wire_len(parts), want, "{parts:?}");
        }
    }

    #[test]
    fn the_servers_limit_counts_line_ends_as_crlf() {
        // 10 lines of "x\n": 20 octets read, 30 on the wire.
        let body = b"x\n".repeat(10);
        let mut as_read = SizeLimit::new(&body[..], 0, 25, Whose::Server);
        assert!(as_read.read_to_end(&mut Vec::new()).is_ok());
        let mut wire = SizeLimit::on_the_wire(&body[..], 0, 25);
        let e = wire.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(TooLarge::from_io(&e).map(|t| t.whose), Some(Whose::Server));
        let mut wire = SizeLimit::on_the_wire(&body[..], 0, 30);
        assert!(wire.read_to_end(&mut Vec::new()).is_ok());
    }
}
