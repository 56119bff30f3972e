//! One mail transaction on a [`Session`]: MAIL, RCPT and DATA (pipelined
//! when the server offers it, in bounded batches), then the message
//! streamed and the final dot.

use std::io::{Read, Write};

use super::{FINAL_REPLY_WAIT, Failure, Patience, Session, SmtpError, Stage, chunking};
use crate::body::{CopyError, copy_encoded};
use crate::size::{self, SizeLimit, TooLarge};
use crate::smtp::capabilities::Capabilities;
use crate::smtp::command::Command;
use crate::smtp::reply::Reply;

/// How many commands go out in one write when the server pipelines; bounded
/// so neither side's buffers fill while the other waits (RFC 2920 §3.1).
const PIPELINE_BATCH: usize = 100;

/// One recipient and the server's answer to its RCPT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientReply {
    /// The recipient.
    pub recipient: String,
    /// The reply to its RCPT TO.
    pub reply: Reply,
}

impl RecipientReply {
    /// Pairs each recipient with the reply to its RCPT TO, in order, and
    /// splits them into accepted and refused.
    pub fn split(recipients: &[String], replies: Vec<Reply>) -> (Vec<Self>, Vec<Self>) {
        recipients
            .iter()
            .zip(replies)
            .map(|(recipient, reply)| RecipientReply {
                recipient: recipient.clone(),
                reply,
            })
            .partition(|r| r.reply.is_positive())
    }
}

/// The envelope of one transaction, parameters already chosen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Envelope {
    /// Envelope sender.
    pub sender: String,
    /// Recipients.
    pub recipients: Vec<String>,
    /// MAIL FROM parameters.
    pub mail_params: Vec<String>,
    /// RCPT TO parameters (the same for every recipient).
    pub rcpt_params: Vec<String>,
}

impl Envelope {
    /// MAIL FROM and one RCPT TO per recipient, with room for the DATA or
    /// BDAT that ends them.
    pub(super) fn commands(&self) -> Vec<Command<'_>> {
        let mut commands = Vec::with_capacity(self.recipients.len() + 2);
        commands.push(Command::MailFrom {
            sender: &self.sender,
            params: &self.mail_params,
        });
        commands.extend(self.recipients.iter().map(|r| Command::RcptTo {
            recipient: r,
            params: &self.rcpt_params,
        }));
        commands
    }
}

/// A message the server accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// Recipients the server accepted.
    pub accepted: Vec<RecipientReply>,
    /// Recipients the server refused (4xx or 5xx).
    pub refused: Vec<RecipientReply>,
    /// The reply after the final dot.
    pub reply: Reply,
    /// Message octets read from the input.
    pub size: u64,
}

impl<S: Read + Write + Patience> Session<S> {
    /// One mail transaction: MAIL, RCPT for each recipient, DATA (pipelined
    /// when offered), then `header` and `body` streamed and the final dot.
    ///
    /// The message goes to the accepted recipients; refused ones are listed
    /// in the receipt. With no recipient accepted nothing is sent.
    pub fn send_mail(
        &mut self,
        caps: &Capabilities,
        envelope: &Envelope,
        header: &[u8],
        body: &mut dyn Read,
    ) -> Result<Receipt, SmtpError> {
        self.message_started = false;
        // A small message goes in one flight with BDAT when offered; what
        // was read of a larger one goes first through DATA.
        let mut start = Vec::new();
        if chunking::applies(caps, envelope) {
            let whole = chunking::read_up_to(body, chunking::ONE_FLIGHT_LIMIT, &mut start)
                .map_err(|e| SmtpError::new(Stage::Data, Failure::Input(e)))?;
            if whole {
                return self.send_in_one_flight(caps, envelope, header, &start);
            }
        }
        let mut chained = Read::chain(&start[..], body);
        let body: &mut dyn Read = &mut chained;
        let (mut accepted, mut refused) = self.envelope(caps, envelope)?;
        self.message_started = true;
        // Recipients refused for their number (452) get the message in a
        // further transaction: keep a copy of it as it goes by.
        let mut copy = refused.iter().any(super::further::too_many).then(Vec::new);
        let (size, reply) = match copy.as_mut() {
            Some(copy) => {
                let mut recording = super::further::Recording::new(body, copy);
                self.data(caps, header, &mut recording)?
            }
            None => self.data(caps, header, body)?,
        };
        if let Some(copy) = copy {
            self.further_transactions(caps, envelope, header, &copy, &mut accepted, &mut refused);
        }
        Ok(Receipt {
            accepted,
            refused,
            reply,
            size,
        })
    }

    /// The message after the 354: streamed, ended, and the final reply.
    pub(super) fn data(
        &mut self,
        caps: &Capabilities,
        header: &[u8],
        body: &mut dyn Read,
    ) -> Result<(u64, Reply), SmtpError> {
        // Refuse as soon as the server's limit is passed, not after the upload.
        let mut limited;
        let body: &mut dyn Read = match size::server_limit(caps.size) {
            Some(limit) => {
                limited = SizeLimit::on_the_wire(body, size::wire_len(&[header]), limit);
                &mut limited
            }
            None => body,
        };
        let size = match copy_encoded(header, body, &mut self.stream) {
            Ok(n) => n,
            Err(CopyError::Read(e)) => {
                let failure = match TooLarge::from_io(&e) {
                    Some(too_large) => Failure::TooLarge(too_large),
                    None => Failure::Input(e),
                };
                return Err(SmtpError::new(Stage::Data, failure));
            }
            // The final dot may not have gone: this is still the DATA step.
            // A server that stops reading (552 for a message too large) may
            // have said why before it closed: its reply beats the broken pipe.
            Err(CopyError::Write(e)) => {
                let failure = match self.read_reply(Stage::Data) {
                    Ok(reply) if !reply.is_positive() => Failure::Reply(reply),
                    _ => Failure::Io(e),
                };
                return Err(SmtpError::new(Stage::Data, failure));
            }
        };
        // The message itself is the sender's business, not the ticket's.
        self.transcript
            .note(&format!("message data: {size} octets (not shown)"));
        self.transcript.client(".");
        let reply = self.read_final_reply()?;
        if !reply.is_positive() {
            return Err(SmtpError::new(Stage::EndOfMessage, Failure::Reply(reply)));
        }
        Ok((size, reply))
    }

    /// The reply after the final dot, waited for at least
    /// [`FINAL_REPLY_WAIT`] whatever the per-step timeout.
    pub(super) fn read_final_reply(&mut self) -> Result<Reply, SmtpError> {
        let step = self.stream.read_timeout().ok().flatten();
        let longer = step.filter(|t| *t < FINAL_REPLY_WAIT).is_some();
        if longer {
            let _ = self.stream.set_read_timeout(Some(FINAL_REPLY_WAIT));
        }
        let reply = self.read_reply(Stage::EndOfMessage);
        if longer {
            let _ = self.stream.set_read_timeout(step);
        }
        reply
    }

    /// MAIL, RCPTs and DATA up to the 354; returns accepted and refused
    /// recipients.
    ///
    /// With PIPELINING every command goes out (in batches) and every reply
    /// is read before anything is decided, so that the session stays in
    /// step for RSET. Without it, a refused MAIL FROM ends the envelope and
    /// DATA is sent only once a recipient was accepted.
    pub(super) fn envelope(
        &mut self,
        caps: &Capabilities,
        envelope: &Envelope,
    ) -> Result<(Vec<RecipientReply>, Vec<RecipientReply>), SmtpError> {
        let mut commands = envelope.commands();
        commands.push(Command::Data);
        let batch = if caps.pipelining { PIPELINE_BATCH } else { 1 };
        let mut in_flight = InFlight::new(&commands, batch);

        let mail = in_flight.next_reply(self)?;
        let mut recipient_replies = Vec::with_capacity(envelope.recipients.len());
        if caps.pipelining || mail.is_positive() {
            for _ in &envelope.recipients {
                recipient_replies.push(in_flight.next_reply(self)?);
            }
        }
        let pipelined_data = if caps.pipelining {
            Some(in_flight.next_reply(self)?)
        } else {
            None
        };

        if !mail.is_positive() {
            return Err(SmtpError::new(Stage::MailFrom, Failure::Reply(mail)));
        }
        let (accepted, refused) = RecipientReply::split(&envelope.recipients, recipient_replies);
        if accepted.is_empty() {
            // A server that says 354 with no recipient needs the data ended.
            if pipelined_data.as_ref().is_some_and(|r| r.code == 354) {
                self.stream
                    .write_all(b".\r\n")
                    .map_err(|e| SmtpError::new(Stage::Data, Failure::Io(e)))?;
                self.read_reply(Stage::EndOfMessage)?;
            }
            return Err(SmtpError::new(
                Stage::RcptTo,
                Failure::NoRecipients(refused),
            ));
        }
        let data = match pipelined_data {
            Some(reply) => reply,
            None => in_flight.next_reply(self)?,
        };
        if data.code != 354 {
            return Err(SmtpError::new(Stage::Data, Failure::Reply(data)));
        }
        Ok((accepted, refused))
    }
}

/// Commands of one envelope and how far they have been written and
/// answered: the next batch is written only when every reply to the one
/// before has been read.
struct InFlight<'a> {
    commands: &'a [Command<'a>],
    batch: usize,
    written: usize,
    answered: usize,
}

impl<'a> InFlight<'a> {
    fn new(commands: &'a [Command<'a>], batch: usize) -> Self {
        InFlight {
            commands,
            batch,
            written: 0,
            answered: 0,
        }
    }

    /// The reply to the next command, writing it (and its batch) first when
    /// it has not gone yet. A 421 ends the transaction at once: the server
    /// is closing, and the other replies will not come.
    fn next_reply<S: Read + Write + Patience>(
        &mut self,
        session: &mut Session<S>,
    ) -> Result<Reply, SmtpError> {
        let command = &self.commands[self.answered];
        if self.answered == self.written {
            let end = (self.written + self.batch).min(self.commands.len());
            session.send(stage_of(command), &self.commands[self.written..end])?;
            self.written = end;
        }
        let reply = session.read_reply(stage_of(command))?;
        self.answered += 1;
        if reply.code == 421 {
            return Err(SmtpError::new(stage_of(command), Failure::Reply(reply)));
        }
        Ok(reply)
    }
}

fn stage_of(command: &Command) -> Stage {
    match command {
        Command::MailFrom { .. } => Stage::MailFrom,
        Command::RcptTo { .. } => Stage::RcptTo,
        _ => Stage::Data,
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, Read};

    use super::*;
    use crate::size::Whose;
    use crate::smtp::session::scripted::{caps, envelope, session, written};

    #[test]
    fn a_pipelined_421_ends_the_transaction_with_that_reply() {
        let mut s = session("421 4.3.2 Service not available\r\n");
        let e = s
            .send_mail(&caps(true), &envelope(&["a@x.com"]), b"x\n", &mut &b""[..])
            .unwrap_err();
        assert_eq!(e.stage, Stage::MailFrom);
        assert_eq!(e.reply().unwrap().code, 421);
    }

    #[test]
    fn whether_the_message_was_started() {
        let mut s = session("421 4.4.2 closing\r\n");
        let mut body: &[u8] = b"x";
        s.send_mail(&caps(true), &envelope(&["a@x.com"]), b"", &mut body)
            .unwrap_err();
        assert!(!s.message_started());
        let mut s = session("250 ok\r\n250 ok\r\n354 go\r\n");
        s.send_mail(&caps(true), &envelope(&["a@x.com"]), b"", &mut body)
            .unwrap_err();
        assert!(s.message_started());
    }

    #[test]
    fn pipelined_transaction() {
        let mut s =
            session("250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n354 go\r\n250 2.0.0 queued as X\r\n");
        let mut body: &[u8] = b"body\n.dot\n";
        let receipt = s
            .send_mail(
                &caps(true),
                &envelope(&["a@x.com", "b@x.com"]),
                b"Subject: t\r\n\r\n",
                &mut body,
            )
            .unwrap();
        assert_eq!(receipt.accepted.len(), 1);
        assert_eq!(receipt.refused[0].recipient, "b@x.com");
        assert_eq!(receipt.reply.code, 250);
        assert_eq!(
            written(s),
            "MAIL FROM:<alerts@x.com>\r\nRCPT TO:<a@x.com>\r\nRCPT TO:<b@x.com>\r\nDATA\r\n\
             Subject: t\r\n\r\nbody\r\n..dot\r\n.\r\n"
        );
    }

    #[test]
    fn unpipelined_transaction_waits_for_each_reply() {
        let mut s = session("250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n");
        let mut body: &[u8] = b"x";
        s.send_mail(&caps(false), &envelope(&["a@x.com"]), b"", &mut body)
            .unwrap();
        assert_eq!(
            written(s),
            "MAIL FROM:<alerts@x.com>\r\nRCPT TO:<a@x.com>\r\nDATA\r\nx\r\n.\r\n"
        );
    }

    #[test]
    fn every_recipient_refused_sends_no_data() {
        let mut s = session("250 ok\r\n550 no\r\n");
        let mut body: &[u8] = b"x";
        let e = s
            .send_mail(&caps(false), &envelope(&["a@x.com"]), b"", &mut body)
            .unwrap_err();
        assert!(matches!(&e.failure, Failure::NoRecipients(r) if r.len() == 1));
        assert!(!written(s).contains("DATA"));

        let mut s = session("250 ok\r\n451 4.5.3 later\r\n554 no valid recipients\r\n");
        let e = s
            .send_mail(&caps(true), &envelope(&["a@x.com"]), b"", &mut body)
            .unwrap_err();
        assert!(matches!(&e.failure, Failure::NoRecipients(r) if r[0].reply.code == 451));
    }

    #[test]
    fn mail_from_refused() {
        let mut s = session("550 5.7.60 not allowed\r\n503 bad sequence\r\n503 bad sequence\r\n");
        let mut body: &[u8] = b"x";
        let e = s
            .send_mail(&caps(true), &envelope(&["a@x.com"]), b"", &mut body)
            .unwrap_err();
        assert_eq!(e.stage, Stage::MailFrom);
        assert_eq!(e.reply().unwrap().code, 550);
    }

    /// What the envelope step writes and concludes, with and without
    /// PIPELINING: (pipelining, the server's replies, what was written,
    /// the failing stage and reply code, or None for a 354).
    #[test]
    fn envelope_replies_table() {
        const M: &str = "MAIL FROM:<alerts@x.com>\r\n";
        const R: &str = "RCPT TO:<a@x.com>\r\n";
        type Failed = Option<(Stage, u16)>;
        let table: [(bool, &str, String, Failed); 7] = [
            (false, "550 no\r\n", M.into(), Some((Stage::MailFrom, 550))),
            (
                false,
                "250 ok\r\n250 ok\r\n554 no\r\n",
                format!("{M}{R}DATA\r\n"),
                Some((Stage::Data, 554)),
            ),
            (
                false,
                "250 ok\r\n250 ok\r\n354 go\r\n",
                format!("{M}{R}DATA\r\n"),
                None,
            ),
            (
                false,
                "250 ok\r\n550 no\r\n",
                format!("{M}{R}"),
                Some((Stage::RcptTo, 550)),
            ),
            (
                true,
                "250 ok\r\n250 ok\r\n554 no\r\n",
                format!("{M}{R}DATA\r\n"),
                Some((Stage::Data, 554)),
            ),
            // A server that says 354 with no recipient accepted gets the data ended.
            (
                true,
                "250 ok\r\n550 no\r\n354 go\r\n250 ok\r\n",
                format!("{M}{R}DATA\r\n.\r\n"),
                Some((Stage::RcptTo, 550)),
            ),
            (
                true,
                "250 ok\r\n421 4.4.2 bye\r\n",
                format!("{M}{R}DATA\r\n"),
                Some((Stage::RcptTo, 421)),
            ),
        ];
        for (pipelining, replies, wrote, want) in table {
            let mut s = session(replies);
            let got = s
                .envelope(&caps(pipelining), &envelope(&["a@x.com"]))
                .err()
                .map(|e| {
                    let code = match &e.failure {
                        Failure::NoRecipients(r) => r[0].reply.code,
                        _ => e.reply().expect("a reply").code,
                    };
                    (e.stage, code)
                });
            assert_eq!(got, want, "{replies:?}");
            assert_eq!(written(s), wrote, "{replies:?}");
        }
    }

    #[test]
    fn final_reply_refusal_and_dropped_connection() {
        let mut body: &[u8] = b"x";
        let mut s = session("250 ok\r\n250 ok\r\n354 go\r\n554 5.2.252 SendAsDenied\r\n");
        let e = s
            .send_mail(&caps(true), &envelope(&["a@x.com"]), b"", &mut body)
            .unwrap_err();
        assert_eq!(e.stage, Stage::EndOfMessage);
        let mut body: &[u8] = b"x";
        let mut s = session("250 ok\r\n250 ok\r\n354 go\r\n");
        let e = s
            .send_mail(&caps(true), &envelope(&["a@x.com"]), b"", &mut body)
            .unwrap_err();
        assert!(matches!(&e.failure, Failure::Io(io) if io.kind() == io::ErrorKind::UnexpectedEof));
    }

    #[test]
    fn the_final_reply_is_waited_for_ten_minutes() {
        let mut body: &[u8] = b"x";
        let mut s = session("250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n");
        s.send_mail(&caps(true), &envelope(&["a@x.com"]), b"", &mut body)
            .unwrap();
        let step = Some(std::time::Duration::from_secs(60));
        // Lengthened for the final reply only, then back to the step's.
        assert_eq!(s.into_parts().0.timeouts, [Some(FINAL_REPLY_WAIT), step]);
    }

    #[test]
    fn a_message_over_the_servers_size_is_not_ended() {
        let mut s = session("250-x\r\n250 SIZE 1000\r\n250 ok\r\n250 ok\r\n354 go\r\n");
        let caps = s.ehlo("me").unwrap();
        let body = vec![b'x'; 2000];
        let e = s
            .send_mail(&caps, &envelope(&["a@x.com"]), b"", &mut &body[..])
            .unwrap_err();
        assert!(
            matches!(e.failure, Failure::TooLarge(t) if t.limit == 1000 && t.whose == Whose::Server),
            "{e:?}"
        );
        assert!(!written(s).ends_with(".\r\n"), "DATA is not ended");
    }

    #[test]
    fn the_reply_of_a_server_that_stopped_reading_is_read() {
        /// Takes the envelope, then refuses every write.
        struct Closing(super::super::scripted::Scripted, usize);
        impl Read for Closing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.0.read(buf)
            }
        }
        impl Write for Closing {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.1 += 1;
                if self.1 > 1 {
                    return Err(io::ErrorKind::BrokenPipe.into());
                }
                self.0.write(buf)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        impl Patience for Closing {
            fn read_timeout(&self) -> io::Result<Option<std::time::Duration>> {
                Ok(None)
            }
            fn set_read_timeout(&mut self, _: Option<std::time::Duration>) -> io::Result<()> {
                Ok(())
            }
        }
        let peer = session(
            "250 ok\r\n250 ok\r\n354 go\r\n552 5.3.4 Message size exceeds fixed maximum message size\r\n",
        )
        .into_parts()
        .0;
        let mut s = Session::new(Closing(peer, 0), crate::transcript::Transcript::off());
        let body = vec![b'x'; 300_000];
        let e = s
            .send_mail(&caps(true), &envelope(&["a@x.com"]), b"", &mut &body[..])
            .unwrap_err();
        assert_eq!(e.stage, Stage::Data);
        assert_eq!(e.reply().map(|r| r.code), Some(552), "{e:?}");
    }

    #[test]
    fn input_failure_does_not_end_the_data() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("stdin broke"))
            }
        }
        let mut s = session("250 ok\r\n250 ok\r\n354 go\r\n");
        let e = s
            .send_mail(
                &caps(true),
                &envelope(&["a@x.com"]),
                b"Subject: x\r\n",
                &mut Broken,
            )
            .unwrap_err();
        assert!(matches!(e.failure, Failure::Input(_)));
        assert!(!written(s).ends_with(".\r\n"));
    }

    #[test]
    fn many_recipients_go_in_bounded_batches() {
        let recipients: Vec<String> = (0..250).map(|i| format!("r{i}@x.com")).collect();
        let refs: Vec<&str> = recipients.iter().map(String::as_str).collect();
        let replies = format!("{}354 go\r\n250 ok\r\n", "250 ok\r\n".repeat(251));
        let mut s = session(&replies);
        let mut body: &[u8] = b"x";
        let r = s
            .send_mail(&caps(true), &envelope(&refs), b"", &mut body)
            .unwrap();
        assert_eq!(r.accepted.len(), 250);
    }
}
