//! CHUNKING (RFC 3030): a small message in one flight.
//!
//! When the server offers CHUNKING and PIPELINING, MAIL, every RCPT and
//! `BDAT n LAST` with the message itself go out in one write, and the
//! replies are read afterwards: one round trip less than MAIL/RCPT/DATA,
//! which waits for the 354 before the message may follow. BDAT needs the
//! length first, so only a message that fits in [`ONE_FLIGHT_LIMIT`] goes
//! this way; a longer one streams through DATA as before (the part already
//! read is sent first), so memory stays bounded.
//!
//! The bytes are exactly those DATA would carry, without the dot-stuffing
//! and the final dot that BDAT does not use: the same CRLF normalisation
//! and long-line breaking, 8-bit bytes untouched.

use std::io::{self, Read, Write};

use super::{Envelope, Failure, Patience, Receipt, RecipientReply, Session, SmtpError, Stage};
use crate::body::DataEncoder;
use crate::size::{self, TooLarge, Whose};
use crate::smtp::capabilities::Capabilities;
use crate::smtp::reply::Reply;

/// The largest message (header and body as read) sent in one flight.
pub const ONE_FLIGHT_LIMIT: usize = 256 * 1024;

/// The most recipients in one flight (the pipeline's batch, less MAIL and BDAT).
const MAX_RECIPIENTS: usize = 98;

/// Whether a transaction for `envelope` may go in one flight.
pub fn applies(caps: &Capabilities, envelope: &Envelope) -> bool {
    caps.chunking && caps.pipelining && envelope.recipients.len() <= MAX_RECIPIENTS
}

/// Reads `body` into `into` until its end or past `limit` bytes; returns
/// whether the end was reached.
///
/// # Errors
/// The read error.
pub fn read_up_to(body: &mut dyn Read, limit: usize, into: &mut Vec<u8>) -> io::Result<bool> {
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match body.read(&mut chunk) {
            Ok(0) => return Ok(true),
            Ok(n) => {
                into.extend_from_slice(&chunk[..n]);
                if into.len() > limit {
                    return Ok(false);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The BDAT payload of a message: DATA's encoding without the stuffed dots
/// and the final dot line.
pub fn payload(header: &[u8], body: &[u8]) -> Vec<u8> {
    let mut encoder = DataEncoder::new();
    let mut data = Vec::with_capacity(header.len() + body.len() + body.len() / 32 + 8);
    encoder.encode(header, &mut data);
    encoder.encode(body, &mut data);
    encoder.finish(&mut data);
    // Every line of DATA's text ends in CRLF; a line that starts with a dot
    // is a stuffed one, or the final ".\r\n".
    let mut out = Vec::with_capacity(data.len());
    let mut rest = &data[..];
    while !rest.is_empty() {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(rest.len(), |i| i + 2);
        let line = &rest[..end];
        if line != b".\r\n" {
            out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        }
        rest = &rest[end..];
    }
    out
}

impl<S: Read + Write + Patience> Session<S> {
    /// MAIL, RCPTs and `BDAT n LAST` with the message (`header` and the
    /// whole `body` as read) in one write, then the replies. Recipients
    /// refused for their number get the same message in further
    /// transactions, from the buffered body.
    pub(super) fn send_in_one_flight(
        &mut self,
        caps: &Capabilities,
        envelope: &Envelope,
        header: &[u8],
        body: &[u8],
    ) -> Result<Receipt, SmtpError> {
        let size = (header.len() + body.len()) as u64;
        // Counted as DATA's limit counts: line ends as CRLF (RFC 1870).
        let on_the_wire = size::wire_len(&[header, body]);
        if let Some(limit) = size::server_limit(caps.size).filter(|&limit| on_the_wire > limit) {
            let too_large = TooLarge {
                limit,
                whose: Whose::Server,
            };
            return Err(SmtpError::new(Stage::Data, Failure::TooLarge(too_large)));
        }
        let message = payload(header, body);
        let commands = envelope.commands();
        let mut bytes = Vec::with_capacity(message.len() + 64 * commands.len() + 32);
        for command in &commands {
            self.transcript.client(&command.transcript());
            command.encode(&mut bytes);
        }
        let bdat = format!("BDAT {} LAST", message.len());
        self.transcript.client(&bdat);
        self.transcript
            .note(&format!("message data: {size} octets (not shown)"));
        bytes.extend_from_slice(bdat.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        bytes.extend_from_slice(&message);
        // The message goes with the envelope: from here on the server may have it.
        self.message_started = true;
        self.stream
            .write_all(&bytes)
            .and_then(|()| self.stream.flush())
            .map_err(|e| SmtpError::new(Stage::MailFrom, Failure::Io(e)))?;

        // Every reply is read, so the session stays in step for RSET.
        let stages = std::iter::once(Stage::MailFrom)
            .chain(envelope.recipients.iter().map(|_| Stage::RcptTo))
            .chain(std::iter::once(Stage::EndOfMessage));
        let mut replies: Vec<Reply> = Vec::with_capacity(commands.len() + 1);
        for stage in stages {
            let reply = if stage == Stage::EndOfMessage {
                self.read_final_reply()?
            } else {
                self.read_reply(stage)?
            };
            // 421: the server is closing; the other replies will not come.
            if reply.code == 421 {
                return Err(SmtpError::new(stage, Failure::Reply(reply)));
            }
            replies.push(reply);
        }
        let bdat_reply = replies.pop().expect("one reply per command");
        let mail_reply = replies.remove(0);
        if !mail_reply.is_positive() {
            return Err(SmtpError::new(Stage::MailFrom, Failure::Reply(mail_reply)));
        }
        let (mut accepted, mut refused): (Vec<_>, Vec<_>) =
            RecipientReply::split(&envelope.recipients, replies);
        if accepted.is_empty() {
            return Err(SmtpError::new(
                Stage::RcptTo,
                Failure::NoRecipients(refused),
            ));
        }
        if !bdat_reply.is_positive() {
            return Err(SmtpError::new(
                Stage::EndOfMessage,
                Failure::Reply(bdat_reply),
            ));
        }
        if refused.iter().any(super::further::too_many) {
            self.further_transactions(caps, envelope, header, body, &mut accepted, &mut refused);
        }
        Ok(Receipt {
            accepted,
            refused,
            reply: bdat_reply,
            size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::session::scripted::{caps, envelope, session, written};

    fn chunking() -> Capabilities {
        Capabilities {
            chunking: true,
            ..caps(true)
        }
    }

    #[test]
    fn the_payload_is_data_without_its_dots() {
        for (header, body, want) in [
            (
                &b"Subject: x\n\n"[..],
                &b"a\n.b\n..c\nd"[..],
                &b"Subject: x\r\n\r\na\r\n.b\r\n..c\r\nd\r\n"[..],
            ),
            (b"", b".\n", b".\r\n"),
            (b"", b"", b""),
            (
                b"S: \xe9\r\n\r\n",
                b"\xff\x00\rx",
                b"S: \xe9\r\n\r\n\xff\x00\r\nx\r\n",
            ),
        ] {
            assert_eq!(payload(header, body), want, "{body:?}");
        }
    }

    #[test]
    fn one_flight_with_byte_exact_bytes() {
        let mut s = session("250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n250 2.0.0 queued\r\n");
        let mut body: &[u8] = b"body\n.dot\n";
        let receipt = s
            .send_mail(
                &chunking(),
                &envelope(&["a@x.com", "b@x.com"]),
                b"Subject: t\n\n",
                &mut body,
            )
            .unwrap();
        assert_eq!(receipt.accepted.len(), 1);
        assert_eq!(receipt.refused[0].recipient, "b@x.com");
        assert_eq!(receipt.size, 22);
        assert_eq!(
            written(s),
            "MAIL FROM:<alerts@x.com>\r\nRCPT TO:<a@x.com>\r\nRCPT TO:<b@x.com>\r\nBDAT 26 LAST\r\nSubject: t\r\n\r\nbody\r\n.dot\r\n"
        );
    }

    #[test]
    fn without_pipelining_or_chunking_data_is_used() {
        for c in [
            caps(true),
            Capabilities {
                chunking: true,
                ..caps(false)
            },
        ] {
            let replies = "250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n";
            let mut s = session(replies);
            s.send_mail(&c, &envelope(&["a@x.com"]), b"", &mut &b"x\n"[..])
                .unwrap();
            assert!(written(s).contains("DATA\r\n"));
        }
    }

    #[test]
    fn a_large_message_streams_through_data_whole() {
        let body = vec![b'x'; ONE_FLIGHT_LIMIT + 10];
        let mut s = session("250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n");
        let receipt = s
            .send_mail(
                &chunking(),
                &envelope(&["a@x.com"]),
                b"S: x\n\n",
                &mut &body[..],
            )
            .unwrap();
        assert_eq!(receipt.size, 6 + body.len() as u64);
        let out = written(s);
        assert!(!out.contains("BDAT"));
        let xs = out.bytes().filter(|b| *b == b'x').count();
        // Every body byte once, and the x of the header and the two addresses.
        assert_eq!(xs, body.len() + 3);
    }

    #[test]
    fn failures_read_every_reply_and_report_the_right_stage() {
        let mut s = session("250 ok\r\n550 5.1.1 no\r\n554 5.5.1 no valid recipients\r\n");
        let e = s
            .send_mail(&chunking(), &envelope(&["a@x.com"]), b"", &mut &b"x\n"[..])
            .unwrap_err();
        assert_eq!(e.stage, Stage::RcptTo);
        let mut s = session("250 ok\r\n250 ok\r\n552 5.3.4 too big\r\n");
        let e = s
            .send_mail(&chunking(), &envelope(&["a@x.com"]), b"", &mut &b"x\n"[..])
            .unwrap_err();
        assert_eq!(
            (e.stage, e.reply().unwrap().code),
            (Stage::EndOfMessage, 552)
        );
        let mut s = session("421 4.3.2 bye\r\n");
        let e = s
            .send_mail(&chunking(), &envelope(&["a@x.com"]), b"", &mut &b"x\n"[..])
            .unwrap_err();
        assert_eq!(e.reply().unwrap().code, 421);
    }

    #[test]
    fn one_flight_keeps_the_servers_size_and_says_when_the_message_started() {
        let small = Capabilities {
            size: Some(10),
            ..chunking()
        };
        let mut s = session("");
        let e = s
            .send_mail(
                &small,
                &envelope(&["a@x.com"]),
                b"S: x\n\n",
                &mut &b"0123456789"[..],
            )
            .unwrap_err();
        assert!(
            matches!(e.failure, Failure::TooLarge(t) if t.limit == 10 && t.whose == Whose::Server),
            "{e:?}"
        );
        assert!(!s.message_started());
        assert_eq!(written(s), "", "nothing is sent");

        let mut s = session("250 ok\r\n250 ok\r\n552 5.3.4 too big\r\n");
        s.send_mail(&chunking(), &envelope(&["a@x.com"]), b"", &mut &b"x\n"[..])
            .unwrap_err();
        assert!(s.message_started(), "the message went with the envelope");
    }

    #[test]
    fn the_bdat_reply_is_waited_for_as_the_final_dot_is() {
        let mut s = session("250 ok\r\n250 ok\r\n250 ok\r\n");
        s.send_mail(&chunking(), &envelope(&["a@x.com"]), b"", &mut &b"x\n"[..])
            .unwrap();
        let step = Some(std::time::Duration::from_secs(60));
        assert_eq!(
            s.into_parts().0.timeouts,
            [Some(super::super::FINAL_REPLY_WAIT), step]
        );
    }

    #[test]
    fn recipients_refused_for_their_number_get_the_buffered_message() {
        let mut s = session(
            "250 ok\r\n250 ok\r\n452 4.5.3 Too many recipients\r\n250 2.0.0 queued\r\n\
             250 ok\r\n250 ok\r\n354 go\r\n250 2.0.0 queued\r\n",
        );
        let receipt = s
            .send_mail(
                &chunking(),
                &envelope(&["a@x.com", "b@x.com"]),
                b"S: t\n\n",
                &mut &b"body\n.dot\n"[..],
            )
            .unwrap();
        assert_eq!(receipt.accepted.len(), 2);
        assert!(receipt.refused.is_empty());
        let out = written(s);
        let further = &out[out.find("MAIL FROM").map(|i| i + 1).unwrap()..];
        assert!(
            further.ends_with(
                "MAIL FROM:<alerts@x.com>\r\nRCPT TO:<b@x.com>\r\nDATA\r\nS: t\r\n\r\nbody\r\n..dot\r\n.\r\n"
            ),
            "{out}"
        );
    }
}
