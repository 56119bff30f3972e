//! A scripted SMTP peer for the session's unit tests: its replies are all
//! known in advance, and it records what the client wrote.

use std::io::{self, Cursor, Read, Write};

use super::{Envelope, Patience, Session};
use crate::smtp::capabilities::Capabilities;
use crate::transcript::Transcript;

/// The peer: replies to hand out, and the bytes the client wrote.
pub struct Scripted {
    replies: Cursor<Vec<u8>>,
    pub written: Vec<u8>,
    /// The read timeout, and each one set, in order.
    pub timeout: Option<std::time::Duration>,
    pub timeouts: Vec<Option<std::time::Duration>>,
}

impl Scripted {
    fn new(replies: &str) -> Self {
        Scripted {
            replies: Cursor::new(replies.as_bytes().to_vec()),
            written: Vec::new(),
            timeout: Some(std::time::Duration::from_secs(60)),
            timeouts: Vec::new(),
        }
    }
}

impl Patience for Scripted {
    fn read_timeout(&self) -> io::Result<Option<std::time::Duration>> {
        Ok(self.timeout)
    }
    fn set_read_timeout(&mut self, timeout: Option<std::time::Duration>) -> io::Result<()> {
        self.timeouts.push(timeout);
        self.timeout = timeout;
        Ok(())
    }
}

impl Read for Scripted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.replies.read(buf)
    }
}

impl Write for Scripted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A session on a peer that will send `replies`.
pub fn session(replies: &str) -> Session<Scripted> {
    Session::new(Scripted::new(replies), Transcript::off())
}

/// What the client wrote in the whole session.
pub fn written(s: Session<Scripted>) -> String {
    String::from_utf8(s.into_parts().0.written).unwrap()
}

/// EHLO capabilities: STARTTLS, AUTH XOAUTH2, PIPELINING if asked.
pub fn caps(pipelining: bool) -> Capabilities {
    Capabilities {
        pipelining,
        auth: vec!["XOAUTH2".into()],
        starttls: true,
        ..Capabilities::default()
    }
}

/// An envelope from alerts@x.com to `recipients`.
pub fn envelope(recipients: &[&str]) -> Envelope {
    Envelope {
        sender: "alerts@x.com".into(),
        recipients: recipients.iter().map(|s| s.to_string()).collect(),
        ..Envelope::default()
    }
}
