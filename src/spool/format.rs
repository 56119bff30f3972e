//! The queue's two file formats, as pure functions over bytes.
//!
//! A queued message is one file: a short text head (the envelope: queue
//! id, arrival time, the caller's uid, sender, recipients, DSN options, the
//! message size), a blank line, then the message exactly as it would have
//! been sent (header already rewritten, body as read). The head records the
//! message size in a fixed-width field, so a file cut short anywhere is
//! recognised: either the head is incomplete or the bytes after it fall
//! short of the size. The file never changes once written.
//!
//! Its retry state (attempts, next retry, last error, recipients already
//! served) lives in a second, small file that is replaced atomically after
//! each attempt; losing it costs at most a duplicate, never a message.

use std::fmt::Write as _;

use crate::cli::Delivery;

/// First line of a queued message.
pub const MESSAGE_MAGIC: &str = "oauth2-sendmail-queue 1";
/// First line of a state file.
pub const STATE_MAGIC: &str = "oauth2-sendmail-state 1";
/// The head may not be longer than this (many recipients fit).
pub const MAX_HEAD: usize = 1024 * 1024;
/// Digits of the fixed-width size field.
const SIZE_WIDTH: usize = 20;

/// The envelope of a queued message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// Queue id (also the file name).
    pub id: String,
    /// When it was handed over (Unix seconds).
    pub arrival: u64,
    /// Real uid of the caller who handed it over.
    pub uid: u32,
    /// Envelope sender (empty for the null sender).
    pub sender: String,
    /// Envelope recipients.
    pub recipients: Vec<String>,
    /// The Message-ID header, for logs.
    pub message_id: String,
    /// DSN and body options from the command line.
    pub delivery: Delivery,
    /// Message octets after the head.
    pub size: u64,
    /// The `[accounts.NAME]` it is sent with; `None` for the default account
    /// (no line in the head, as in files written before accounts existed).
    pub account: Option<String>,
}

/// Why a file is not a queued message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corrupt(pub String);

/// A value that would break the line-based head.
fn unsafe_value(value: &str) -> bool {
    value.contains(['\r', '\n', '\0'])
}

/// The head of a queued message, up to and including the blank line.
///
/// # Errors
/// A field holds a line break or NUL (callers check addresses before; this
/// is the last line of defence against a head that parses differently).
pub fn format_head(meta: &Meta) -> Result<Vec<u8>, Corrupt> {
    let mut head = String::new();
    let mut line = |key: &str, value: &str| -> Result<(), Corrupt> {
        if unsafe_value(value) {
            return Err(Corrupt(format!("{key} holds a line break")));
        }
        let _ = writeln!(head, "{key} {value}");
        Ok(())
    };
    line("oauth2-sendmail-queue", "1")?;
    line("id", &meta.id)?;
    line("arrival", &meta.arrival.to_string())?;
    line("uid", &meta.uid.to_string())?;
    line("sender", &meta.sender)?;
    if let Some(account) = &meta.account {
        line("account", account)?;
    }
    for r in &meta.recipients {
        line("recipient", r)?;
    }
    // Display only: a folded or odd header value must not break the head.
    line("message-id", &crate::error::one_line(&meta.message_id))?;
    let d = &meta.delivery;
    for (key, value) in [
        ("notify", &d.notify),
        ("ret", &d.ret),
        ("envid", &d.envid),
        ("body", &d.body),
    ] {
        if let Some(v) = value {
            line(key, v)?;
        }
    }
    line("size", &format!("{:0SIZE_WIDTH$}", meta.size))?;
    head.push('\n');
    Ok(head.into_bytes())
}

/// Where the size digits sit in a head made by [`format_head`], so the size
/// can be filled in once the message has been read.
pub fn size_field_offset(head: &[u8]) -> usize {
    head.len() - 2 - SIZE_WIDTH
}

/// The size field's bytes for `size`.
pub fn size_field(size: u64) -> Vec<u8> {
    format!("{size:0SIZE_WIDTH$}").into_bytes()
}

/// Reads the head at the start of `bytes` (which may hold more of the
/// file); `file_len` is the whole file's length. Returns the envelope and
/// where the message starts.
///
/// # Errors
/// [`Corrupt`] saying why: not a queue file, an unknown version or key, a
/// missing or repeated field, a bad number, or a file shorter or longer
/// than its recorded size.
pub fn parse_head(bytes: &[u8], file_len: u64) -> Result<(Meta, usize), Corrupt> {
    let bad = |why: &str| Corrupt(why.to_string());
    let window = &bytes[..bytes.len().min(MAX_HEAD)];
    let end = window
        .windows(2)
        .position(|w| w == b"\n\n")
        .ok_or_else(|| bad("the head is incomplete"))?;
    let text = std::str::from_utf8(&window[..end]).map_err(|_| bad("the head is not UTF-8"))?;
    let body_start = end + 2;
    let mut lines = text.split('\n');
    if lines.next() != Some(MESSAGE_MAGIC) {
        return Err(bad("not an oauth2-sendmail queue file"));
    }
    let mut meta = Meta::default();
    let mut seen: Vec<&str> = Vec::new();
    for line in lines {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        if key != "recipient" {
            if seen.contains(&key) {
                return Err(Corrupt(format!("{key} appears twice")));
            }
            seen.push(key);
        }
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| Corrupt(format!("{key} is not a number")))
        };
        match key {
            "id" => meta.id = value.to_string(),
            "arrival" => meta.arrival = number()?,
            "uid" => {
                meta.uid = u32::try_from(number()?).map_err(|_| bad("uid is out of range"))?;
            }
            "sender" => meta.sender = value.to_string(),
            "account" if is_account_name(value) => meta.account = Some(value.to_string()),
            "recipient" if !value.is_empty() => meta.recipients.push(value.to_string()),
            "message-id" => meta.message_id = value.to_string(),
            "notify" => meta.delivery.notify = Some(value.to_string()),
            "ret" => meta.delivery.ret = Some(value.to_string()),
            "envid" => meta.delivery.envid = Some(value.to_string()),
            "body" => meta.delivery.body = Some(value.to_string()),
            "size" if value.len() == SIZE_WIDTH => meta.size = number()?,
            _ => {
                return Err(Corrupt(format!(
                    "unexpected line {:?}",
                    one_line_prefix(line)
                )));
            }
        }
    }
    for required in ["id", "arrival", "uid", "sender", "size"] {
        if !seen.contains(&required) {
            return Err(Corrupt(format!("{required} is missing")));
        }
    }
    if !is_queue_id(&meta.id) {
        return Err(bad("the id is malformed"));
    }
    if meta.recipients.is_empty() {
        return Err(bad("no recipient"));
    }
    let expected = body_start as u64 + meta.size;
    if file_len != expected {
        return Err(Corrupt(format!(
            "{file_len} bytes where the head promises {expected}"
        )));
    }
    Ok((meta, body_start))
}

/// Whether `name` has the shape of an account name (what
/// `[accounts.NAME]` allows), so a tag read back cannot carry anything else.
fn is_account_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The first 40 characters of `line`, for messages about foreign files.
fn one_line_prefix(line: &str) -> String {
    line.chars().take(40).collect()
}

/// Whether `name` has the shape of a queue id (see [`new_queue_id`]).
pub fn is_queue_id(name: &str) -> bool {
    name.len() == 20 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F'))
}

/// A queue id: the arrival time in microseconds (13 hex digits, good
/// until the year 2112) and 28 random bits, in upper-case hex, so ids sort
/// by arrival and two messages never share one in practice.
pub fn new_queue_id(micros: u64, random: [u8; 8]) -> String {
    let low = u32::from_be_bytes([random[0], random[1], random[2], random[3]]) >> 4;
    format!("{:013X}{low:07X}", micros & 0xF_FFFF_FFFF_FFFF)
}

/// The retry state of a queued message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When the last attempt was (Unix seconds; 0 = never).
    pub last_attempt: u64,
    /// Not before this time (Unix seconds; 0 = at once).
    pub next_attempt: u64,
    /// Why the last attempt failed.
    pub last_error: String,
    /// Recipients the server accepted the message for.
    pub delivered: Vec<String>,
    /// Recipients the server refused permanently.
    pub refused: Vec<String>,
}

impl State {
    /// Whether a missing state file says the same at `now`: no attempt
    /// yet, no recipient settled, due at once (a missing file reads as
    /// [`State::default`]).
    pub fn is_fresh(&self, now: u64) -> bool {
        self.attempts == 0
            && self.delivered.is_empty()
            && self.refused.is_empty()
            && self.next_attempt <= now
    }

    /// The recipients of `meta` still waiting for the message.
    pub fn pending(&self, meta: &Meta) -> Vec<String> {
        meta.recipients
            .iter()
            .filter(|r| !self.delivered.contains(r) && !self.refused.contains(r))
            .cloned()
            .collect()
    }
}

/// A state file's text.
pub fn format_state(state: &State) -> String {
    let mut text = format!(
        "{STATE_MAGIC}\nattempts {}\nlast {}\nnext {}\nerror {}\n",
        state.attempts,
        state.last_attempt,
        state.next_attempt,
        crate::error::one_line(&state.last_error)
    );
    for r in state.delivered.iter().filter(|r| !unsafe_value(r)) {
        let _ = writeln!(text, "delivered {r}");
    }
    for r in state.refused.iter().filter(|r| !unsafe_value(r)) {
        let _ = writeln!(text, "refused {r}");
    }
    text.push_str("end\n");
    text
}

/// Reads a state file's text.
///
/// # Errors
/// [`Corrupt`] when it is not a complete state file.
pub fn parse_state(text: &str) -> Result<State, Corrupt> {
    let bad = |why: &str| Corrupt(why.to_string());
    let body = text
        .strip_suffix("end\n")
        .ok_or_else(|| bad("the state file is incomplete"))?;
    let mut lines = body.lines();
    if lines.next() != Some(STATE_MAGIC) {
        return Err(bad("not an oauth2-sendmail state file"));
    }
    let mut state = State::default();
    for line in lines {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| Corrupt(format!("{key} is not a number")))
        };
        match key {
            "attempts" => {
                state.attempts = u32::try_from(number()?).map_err(|_| bad("attempts too big"))?;
            }
            "last" => state.last_attempt = number()?,
            "next" => state.next_attempt = number()?,
            "error" => state.last_error = value.to_string(),
            "delivered" => state.delivered.push(value.to_string()),
            "refused" => state.refused.push(value.to_string()),
            _ => {
                return Err(Corrupt(format!(
                    "unexpected line {:?}",
                    one_line_prefix(line)
                )));
            }
        }
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
        Meta {
            id: new_queue_id(1_718_000_000_000_000, [0xab, 1, 2, 3, 4, 5, 6, 7]),
            arrival: 1_718_000_000,
            uid: 33,
            sender: "alerts@contoso.com".into(),
            recipients: vec!["a@x.com".into(), "\"john doe\"@y.org".into()],
            message_id: "<1.2@host>".into(),
            delivery: Delivery {
                notify: Some("SUCCESS,FAILURE".into()),
                ret: None,
                envid: Some("e1".into()),
                body: Some("8BITMIME".into()),
            },
            size: 0,
            account: None,
        }
    }

    /// A whole file: head with the size filled in, then the message.
    fn file(meta: &Meta, message: &[u8]) -> Vec<u8> {
        let mut head = format_head(meta).unwrap();
        let at = size_field_offset(&head);
        head[at..at + SIZE_WIDTH].copy_from_slice(&size_field(message.len() as u64));
        head.extend_from_slice(message);
        head
    }

    #[test]
    fn queue_ids() {
        let id = new_queue_id(
            0x6_6701_A2B0_1234,
            [0xde, 0xad, 0xbe, 0xef, 0, 1, 0xff, 0xff],
        );
        assert_eq!(id, "66701A2B01234DEADBEE");
        assert!(
            new_queue_id(1, [0; 8]) < new_queue_id(2, [0xff; 8]),
            "ids sort by time"
        );
        assert!(is_queue_id(&id));
        for bad in [
            "",
            "66701a2bdeadbeef0001",
            "66701A2BDEADBEEF000",
            "../x",
            "tmp",
        ] {
            assert!(!is_queue_id(bad), "{bad}");
        }
    }

    #[test]
    fn message_round_trip() {
        let message = b"Subject: hi\nDate: x\n\nbody\n.\nno newline at end";
        for meta in [
            meta(),
            Meta {
                sender: String::new(),
                delivery: Delivery::default(),
                message_id: "folded\r\n id".into(),
                ..meta()
            },
            Meta {
                account: Some("site1".into()),
                ..meta()
            },
        ] {
            let bytes = file(&meta, message);
            let (parsed, start) = parse_head(&bytes, bytes.len() as u64).unwrap();
            assert_eq!(&bytes[start..], message);
            let want = Meta {
                size: message.len() as u64,
                message_id: crate::error::one_line(&meta.message_id),
                ..meta
            };
            assert_eq!(parsed, want);
        }
    }

    #[test]
    fn every_truncation_is_rejected() {
        let bytes = file(&meta(), b"Subject: hi\n\nbody\n");
        for cut in 0..bytes.len() {
            let prefix = &bytes[..cut];
            assert!(
                parse_head(prefix, cut as u64).is_err(),
                "a file cut at {cut} of {} was accepted",
                bytes.len()
            );
        }
        // A file that grew is not what was written either.
        let mut longer = bytes.clone();
        longer.push(b'x');
        assert!(parse_head(&longer, longer.len() as u64).is_err());
    }

    #[test]
    fn foreign_and_damaged_heads_are_rejected() {
        let good = String::from_utf8(file(&meta(), b"m")).unwrap();
        let table: &[(&str, &str, &str)] = &[
            (
                "oauth2-sendmail-queue 1",
                "oauth2-sendmail-queue 2",
                "not an",
            ),
            ("uid 33", "uid x", "uid is not a number"),
            ("uid 33", "uid 99999999999", "uid is out of range"),
            ("arrival 1718000000\n", "", "arrival is missing"),
            (
                "sender alerts@contoso.com",
                "colour blue",
                "unexpected line",
            ),
            ("id ", "id 123", "the id is malformed"),
            ("size 000", "size 0000", "size"),
            (
                "recipient a@x.com\n",
                "recipient a@x.com\nid x\n",
                "id appears twice",
            ),
            (
                "recipient a@x.com\nrecipient \"john doe\"@y.org\n",
                "",
                "no recipient",
            ),
        ];
        for (from, to, why) in table {
            assert!(good.contains(from), "{from}");
            let damaged = good.replacen(from, to, 1);
            let err = parse_head(damaged.as_bytes(), damaged.len() as u64).unwrap_err();
            assert!(err.0.contains(why), "{from} -> {to}: {err:?}");
        }
        let err = parse_head(b"\x7fELF\x02\x01\x01\n\n", 9).unwrap_err();
        assert!(err.0.contains("not an"), "{err:?}");
        assert!(parse_head(b"", 0).is_err());
    }

    #[test]
    fn line_breaks_cannot_enter_the_head() {
        let evil = Meta {
            recipients: vec!["a@x\nrecipient b@y".into()],
            ..meta()
        };
        assert!(format_head(&evil).is_err());
        let evil = Meta {
            sender: "a@x\r".into(),
            ..meta()
        };
        assert!(format_head(&evil).is_err());
    }

    #[test]
    fn an_account_tag_is_a_plain_name_or_the_file_is_corrupt() {
        let good = file(
            &Meta {
                account: Some("site1".into()),
                ..meta()
            },
            b"x",
        );
        let (parsed, _) = parse_head(&good, good.len() as u64).unwrap();
        assert_eq!(parsed.account.as_deref(), Some("site1"));
        for bad in ["../x", ".hidden", "a b", "", "default x"] {
            let text = String::from_utf8(good.clone())
                .unwrap()
                .replace("account site1\n", &format!("account {bad}\n"));
            assert!(
                parse_head(text.as_bytes(), text.len() as u64).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn state_round_trip_and_truncation() {
        let state = State {
            attempts: 3,
            last_attempt: 1_718_000_100,
            next_attempt: 1_718_000_340,
            last_error: "SMTP server x:587 refused (RCPT TO): 451 4.3.0\nlater".into(),
            delivered: vec!["a@x.com".into()],
            refused: vec!["\"john doe\"@y.org".into()],
        };
        let text = format_state(&state);
        let parsed = parse_state(&text).unwrap();
        assert_eq!(
            parsed,
            State {
                last_error: "SMTP server x:587 refused (RCPT TO): 451 4.3.0 later".into(),
                ..state.clone()
            }
        );
        for cut in 0..text.len() {
            assert!(parse_state(&text[..cut]).is_err(), "state cut at {cut}");
        }
        assert_eq!(
            parse_state(&format_state(&State::default())),
            Ok(State::default())
        );
        assert!(parse_state("oauth2-sendmail-state 1\nattempts -1\nend\n").is_err());
        assert!(parse_state("something else\nend\n").is_err());
    }

    #[test]
    fn pending_recipients() {
        let state = State {
            delivered: vec!["a@x.com".into()],
            ..State::default()
        };
        assert_eq!(
            state.pending(&meta()),
            vec!["\"john doe\"@y.org".to_string()]
        );
    }
}
