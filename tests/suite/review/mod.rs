//! The acceptance review of issue 11: each item driven again through the
//! real binary with other payloads than the tests written with the fixes
//! (`protocol/`, `setgid_attacks.rs`) use, so that the class is fixed and
//! not one example. Against the scripted peer where the point is what
//! crosses the wire; the set-group-ID installation for the local items.
//! `message` and `session` hold the message and protocol half, `local`
//! the local one.

use crate::common;
use crate::common::fake_smtp::{Behaviour, FakeSmtp, sandbox_identity};
use crate::common::sandbox::{Sandbox, sandbox};
use crate::common::{Scratch, Settings, s, sendmail};

fn good() -> Behaviour {
    Behaviour::good(sandbox_identity(&sandbox().dir))
}

fn settings_for(sb: &Sandbox, fake: &FakeSmtp, scratch: &Scratch) -> Settings {
    let mut settings = sb.settings(scratch);
    settings.host = "localhost".into();
    settings.port = fake.port;
    settings.timeout = 10;
    settings
}

/// The header of a message as the peer got it (up to the empty line).
fn header_of(message: &[u8]) -> String {
    let text = String::from_utf8_lossy(message);
    text.split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Field names of a CRLF header, in order.
fn names(header: &str) -> Vec<String> {
    header
        .split("\r\n")
        .filter(|l| !l.starts_with([' ', '\t']))
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_ascii_lowercase())
        .collect()
}

/// A message of exactly `octets` octets whose header the program leaves
/// as it is (the mailbox's own From, Date, Message-ID, a CR LF empty line).
fn sized_message(sb: &Sandbox, octets: usize) -> Vec<u8> {
    sized_with(sb, octets, "\n")
}

/// [`sized_message`] with CRLF line ends: `octets` is then also its size
/// as RFC 1870 counts it (the server's SIZE).
fn sized_message_crlf(sb: &Sandbox, octets: usize) -> Vec<u8> {
    sized_with(sb, octets, "\r\n")
}

fn sized_with(sb: &Sandbox, octets: usize, eol: &str) -> Vec<u8> {
    let mut m = format!(
        "From: {}{eol}Date: Mon, 1 Jan 2024 00:00:00 +0000{eol}Message-ID: <sz@example.com>{eol}\
         Subject: sz{eol}\r\n",
        sb.str("user")
    )
    .into_bytes();
    // Lines of 70 octets, the last one long enough for its line end.
    while m.len() < octets {
        let left = octets - m.len();
        let line = if left >= 70 + eol.len() { 70 } else { left };
        m.extend(std::iter::repeat_n(b'q', line - eol.len()));
        m.extend_from_slice(eol.as_bytes());
    }
    assert_eq!(m.len(), octets, "the message is {octets} octets");
    m
}

mod local;
mod message;
mod session;
