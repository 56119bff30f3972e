//! The SMTP client session over any `Read + Write`.
//!
//! One [`Session`] owns the stream and the bytes read but not yet parsed;
//! it is the only code that reads from the server. Its methods follow the
//! protocol's phases (`greeting`, `ehlo`, `starttls`, `auth_xoauth2`,
//! `send_mail`, `quit`) and return the server's replies; the caller decides
//! policy. STARTTLS ends the plain session ([`Session::into_parts`] after
//! [`Session::starttls`] has checked that nothing arrived behind the 220: bytes
//! there would be the STARTTLS injection attack), and a new session is
//! built on the TLS stream. Because it is generic over the stream, unit tests
//! drive it with a scripted peer and integration tests with Postfix.

use std::fmt;
use std::io::{self, Read, Write};

use base64::Engine as _;

use super::capabilities::Capabilities;
use super::command::{Command, fits_on_auth_line, xoauth2_response};
use super::reply::{Reply, ReplyError, try_parse_reply};
use crate::body::{CopyError, copy_encoded};
use crate::secret::Secret;
use crate::transcript::Transcript;

/// How many commands go out in one write when the server pipelines; bounded
/// so neither side's buffers fill while the other waits (RFC 2920 §3.1).
const PIPELINE_BATCH: usize = 100;

/// The protocol step a failure happened in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Waiting for the 220 greeting.
    Greeting,
    /// EHLO.
    Ehlo,
    /// STARTTLS.
    StartTls,
    /// AUTH XOAUTH2.
    Auth,
    /// MAIL FROM.
    MailFrom,
    /// RCPT TO.
    RcptTo,
    /// DATA.
    Data,
    /// The reply after the final dot.
    EndOfMessage,
    /// RSET between messages.
    Rset,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Greeting => "greeting",
            Stage::Ehlo => "EHLO",
            Stage::StartTls => "STARTTLS",
            Stage::Auth => "AUTH XOAUTH2",
            Stage::MailFrom => "MAIL FROM",
            Stage::RcptTo => "RCPT TO",
            Stage::Data => "DATA",
            Stage::EndOfMessage => "end of message",
            Stage::Rset => "RSET",
        })
    }
}

/// What went wrong in a session.
#[derive(Debug)]
pub enum Failure {
    /// The connection failed, timed out or was closed.
    Io(io::Error),
    /// The server's bytes are not a valid reply.
    Malformed(ReplyError),
    /// The server answered with a reply that is not the expected one.
    Reply(Reply),
    /// The server does not offer STARTTLS; no credential was sent.
    NoStartTls,
    /// Bytes arrived after the STARTTLS reply, before the TLS handshake.
    BufferedAfterStartTls,
    /// The server does not offer AUTH XOAUTH2.
    NoXoauth2(Vec<String>),
    /// XOAUTH2 error challenge (decoded JSON), then the final reply.
    AuthChallenge {
        /// The server's decoded challenge, e.g. `{"status":"invalid_token"}`.
        challenge: String,
        /// The final reply after our empty response.
        reply: Reply,
    },
    /// Reading the message failed in the middle of DATA; nothing was accepted.
    Input(io::Error),
    /// Every recipient was refused.
    NoRecipients(Vec<RecipientReply>),
}

/// A failure and the step it happened in.
#[derive(Debug)]
pub struct SmtpError {
    /// Where.
    pub stage: Stage,
    /// What.
    pub failure: Failure,
}

impl SmtpError {
    fn new(stage: Stage, failure: Failure) -> Self {
        SmtpError { stage, failure }
    }

    /// The server reply behind this failure, if there is one.
    #[cfg(test)]
    pub fn reply(&self) -> Option<&Reply> {
        match &self.failure {
            Failure::Reply(r) | Failure::AuthChallenge { reply: r, .. } => Some(r),
            _ => None,
        }
    }
}

/// One recipient and the server's answer to its RCPT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientReply {
    /// The recipient.
    pub recipient: String,
    /// The reply to its RCPT TO.
    pub reply: Reply,
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

/// An SMTP client session.
pub struct Session<S> {
    stream: S,
    inbound: Vec<u8>,
    transcript: Transcript,
}

impl<S: Read + Write> Session<S> {
    /// A session on a connected stream; nothing is read or sent yet.
    pub fn new(stream: S, transcript: Transcript) -> Self {
        Session {
            stream,
            inbound: Vec::new(),
            transcript,
        }
    }

    /// The transcript, for notes from the caller.
    pub fn transcript(&mut self) -> &mut Transcript {
        &mut self.transcript
    }

    /// The stream and transcript (after STARTTLS, to build the TLS session).
    pub fn into_parts(self) -> (S, Transcript) {
        (self.stream, self.transcript)
    }

    /// Writes commands in one write.
    fn send(&mut self, stage: Stage, commands: &[Command]) -> Result<(), SmtpError> {
        let mut bytes = Vec::with_capacity(64 * commands.len());
        for command in commands {
            self.transcript.client(&command.transcript());
            command.encode(&mut bytes);
        }
        self.stream
            .write_all(&bytes)
            .and_then(|()| self.stream.flush())
            .map_err(|e| SmtpError::new(stage, Failure::Io(e)))
    }

    /// Reads one complete reply.
    fn read_reply(&mut self, stage: Stage) -> Result<Reply, SmtpError> {
        loop {
            match try_parse_reply(&self.inbound) {
                Ok(Some((used, reply))) => {
                    self.inbound.drain(..used);
                    self.transcript.server(&reply);
                    return Ok(reply);
                }
                Ok(None) => {}
                Err(e) => return Err(SmtpError::new(stage, Failure::Malformed(e))),
            }
            let mut chunk = [0u8; 8192];
            let n = loop {
                match self.stream.read(&mut chunk) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(SmtpError::new(stage, Failure::Io(e))),
                }
            };
            if n == 0 {
                let closed = io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed by the server",
                );
                return Err(SmtpError::new(stage, Failure::Io(closed)));
            }
            self.inbound.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends `command` and reads its reply; a reply outside `accepted` is an error.
    fn exchange(
        &mut self,
        stage: Stage,
        command: Command,
        accepted: fn(&Reply) -> bool,
    ) -> Result<Reply, SmtpError> {
        self.send(stage, &[command])?;
        let reply = self.read_reply(stage)?;
        if accepted(&reply) {
            Ok(reply)
        } else {
            Err(SmtpError::new(stage, Failure::Reply(reply)))
        }
    }

    /// Reads the greeting; anything but 220 is an error.
    pub fn greeting(&mut self) -> Result<Reply, SmtpError> {
        let reply = self.read_reply(Stage::Greeting)?;
        if reply.code == 220 {
            Ok(reply)
        } else {
            Err(SmtpError::new(Stage::Greeting, Failure::Reply(reply)))
        }
    }

    /// EHLO; returns what the server offers.
    pub fn ehlo(&mut self, name: &str) -> Result<Capabilities, SmtpError> {
        let reply = self.exchange(Stage::Ehlo, Command::Ehlo(name), |r| r.code == 250)?;
        Ok(Capabilities::from_ehlo(&reply))
    }

    /// STARTTLS, if `caps` offers it; afterwards only [`Session::into_parts`] is useful.
    pub fn starttls(&mut self, caps: &Capabilities) -> Result<(), SmtpError> {
        if !caps.starttls {
            return Err(SmtpError::new(Stage::StartTls, Failure::NoStartTls));
        }
        self.exchange(Stage::StartTls, Command::StartTls, |r| r.code == 220)?;
        // Anything already here was sent before the handshake, in clear text,
        // and would be read as if it came through TLS (CVE-2011-0411 class).
        if !self.inbound.is_empty() {
            return Err(SmtpError::new(
                Stage::StartTls,
                Failure::BufferedAfterStartTls,
            ));
        }
        Ok(())
    }

    /// AUTH XOAUTH2 for `user` with `token`: one line when it fits, else two
    /// steps; a 334 error challenge is answered with an empty line and the
    /// final reply returned as the failure.
    pub fn auth_xoauth2(
        &mut self,
        caps: &Capabilities,
        user: &str,
        token: &Secret,
    ) -> Result<Reply, SmtpError> {
        if !caps.offers_auth("XOAUTH2") {
            return Err(SmtpError::new(
                Stage::Auth,
                Failure::NoXoauth2(caps.auth.clone()),
            ));
        }
        let response = xoauth2_response(user, token);
        // A server may echo what it got; neither the token nor the blob is shown.
        let secrets = [token.expose().to_string(), response.expose().to_string()];
        for secret in &secrets {
            self.transcript.hide(secret);
        }
        let scrub = |mut reply: Reply| {
            for line in &mut reply.lines {
                *line = crate::transcript::redact(line, &secrets);
            }
            reply
        };
        let reply = if fits_on_auth_line(&response) {
            self.send(Stage::Auth, &[Command::AuthXoauth2(Some(&response))])?;
            self.read_reply(Stage::Auth)?
        } else {
            self.exchange(Stage::Auth, Command::AuthXoauth2(None), |r| r.code == 334)?;
            self.send(Stage::Auth, &[Command::AuthResponse(Some(&response))])?;
            self.read_reply(Stage::Auth)?
        };
        match reply.code {
            200..=299 => Ok(reply),
            334 => {
                let challenge = base64::engine::general_purpose::STANDARD
                    .decode(reply.text().trim())
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                    .unwrap_or_else(|_| reply.text());
                let challenge = crate::transcript::redact(&challenge, &secrets);
                self.send(Stage::Auth, &[Command::AuthResponse(None)])?;
                let reply = scrub(self.read_reply(Stage::Auth)?);
                Err(SmtpError::new(
                    Stage::Auth,
                    Failure::AuthChallenge { challenge, reply },
                ))
            }
            _ => Err(SmtpError::new(Stage::Auth, Failure::Reply(scrub(reply)))),
        }
    }

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
        let (accepted, refused) = self.envelope(caps, envelope)?;
        let size = match copy_encoded(header, body, &mut self.stream) {
            Ok(n) => n,
            Err(CopyError::Read(e)) => return Err(SmtpError::new(Stage::Data, Failure::Input(e))),
            Err(CopyError::Write(e)) => {
                return Err(SmtpError::new(Stage::EndOfMessage, Failure::Io(e)));
            }
        };
        // The message itself is the sender's business, not the ticket's.
        self.transcript
            .note(&format!("message data: {size} octets (not shown)"));
        self.transcript.client(".");
        let reply = self.read_reply(Stage::EndOfMessage)?;
        if !reply.is_positive() {
            return Err(SmtpError::new(Stage::EndOfMessage, Failure::Reply(reply)));
        }
        Ok(Receipt {
            accepted,
            refused,
            reply,
            size,
        })
    }

    /// MAIL, RCPTs and DATA up to the 354; returns accepted and refused recipients.
    fn envelope(
        &mut self,
        caps: &Capabilities,
        envelope: &Envelope,
    ) -> Result<(Vec<RecipientReply>, Vec<RecipientReply>), SmtpError> {
        let mut commands = Vec::with_capacity(envelope.recipients.len() + 2);
        commands.push(Command::MailFrom {
            sender: &envelope.sender,
            params: &envelope.mail_params,
        });
        commands.extend(envelope.recipients.iter().map(|r| Command::RcptTo {
            recipient: r,
            params: &envelope.rcpt_params,
        }));
        commands.push(Command::Data);
        let batch = if caps.pipelining { PIPELINE_BATCH } else { 1 };

        let mut replies = Vec::with_capacity(commands.len());
        for chunk in commands.chunks(batch) {
            self.send(stage_of(&chunk[0]), chunk)?;
            for command in chunk {
                let reply = self.read_reply(stage_of(command))?;
                // 421: the server is closing; the other replies will not come.
                if reply.code == 421 {
                    return Err(SmtpError::new(stage_of(command), Failure::Reply(reply)));
                }
                replies.push(reply);
            }
            // Without pipelining, stop as soon as going on is pointless.
            if !caps.pipelining && !replies[0].is_positive() {
                break;
            }
            if !caps.pipelining
                && replies.len() == commands.len() - 1
                && !replies[1..].iter().any(Reply::is_positive)
            {
                break;
            }
        }

        let mail_reply = replies.remove(0);
        if !mail_reply.is_positive() {
            return Err(SmtpError::new(Stage::MailFrom, Failure::Reply(mail_reply)));
        }
        let data_reply = (replies.len() > envelope.recipients.len())
            .then(|| replies.pop())
            .flatten();
        let (accepted, refused): (Vec<_>, Vec<_>) = envelope
            .recipients
            .iter()
            .zip(replies)
            .map(|(recipient, reply)| RecipientReply {
                recipient: recipient.clone(),
                reply,
            })
            .partition(|r| r.reply.is_positive());
        if accepted.is_empty() {
            // A server that says 354 with no recipient needs the data ended.
            if data_reply.as_ref().is_some_and(|r| r.code == 354) {
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
        match data_reply {
            Some(reply) if reply.code == 354 => Ok((accepted, refused)),
            Some(reply) => Err(SmtpError::new(Stage::Data, Failure::Reply(reply))),
            None => unreachable!("DATA is sent whenever a recipient was accepted"),
        }
    }

    /// RSET, to start a new transaction on the same connection.
    pub fn rset(&mut self) -> Result<(), SmtpError> {
        self.exchange(Stage::Rset, Command::Rset, Reply::is_positive)
            .map(drop)
    }

    /// QUIT without waiting for the reply: the message is already accepted,
    /// and the server's 221 would only cost a round trip.
    pub fn quit(mut self) -> S {
        let _ = self.send(Stage::EndOfMessage, &[Command::Quit]);
        self.stream
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
    use super::*;
    use std::io::Cursor;

    /// A peer whose replies are all known in advance; records what the client wrote.
    struct Scripted {
        replies: Cursor<Vec<u8>>,
        written: Vec<u8>,
    }

    impl Scripted {
        fn new(replies: &str) -> Self {
            Scripted {
                replies: Cursor::new(replies.as_bytes().to_vec()),
                written: Vec::new(),
            }
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

    fn session(replies: &str) -> Session<Scripted> {
        Session::new(Scripted::new(replies), Transcript::off())
    }

    fn written(s: Session<Scripted>) -> String {
        String::from_utf8(s.into_parts().0.written).unwrap()
    }

    fn caps(pipelining: bool) -> Capabilities {
        Capabilities {
            pipelining,
            auth: vec!["XOAUTH2".into()],
            starttls: true,
            ..Capabilities::default()
        }
    }

    fn envelope(recipients: &[&str]) -> Envelope {
        Envelope {
            sender: "alerts@x.com".into(),
            recipients: recipients.iter().map(|s| s.to_string()).collect(),
            ..Envelope::default()
        }
    }

    #[test]
    fn greeting_and_ehlo() {
        let mut s = session("220 ready\r\n250-host\r\n250-STARTTLS\r\n250 PIPELINING\r\n");
        assert_eq!(s.greeting().unwrap().code, 220);
        let c = s.ehlo("me.example").unwrap();
        assert!(c.starttls && c.pipelining);
        assert_eq!(written(s), "EHLO me.example\r\n");
    }

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
    fn greeting_421_is_an_error() {
        let e = session("421 4.3.2 Service not active\r\n")
            .greeting()
            .unwrap_err();
        assert_eq!(e.stage, Stage::Greeting);
        assert_eq!(e.reply().unwrap().code, 421);
    }

    #[test]
    fn starttls_requires_the_offer_and_an_empty_buffer() {
        let e = session("").starttls(&Capabilities::default()).unwrap_err();
        assert!(matches!(e.failure, Failure::NoStartTls));
        let mut s = session("220 go ahead\r\n");
        s.starttls(&caps(false)).unwrap();
        assert_eq!(written(s), "STARTTLS\r\n");
        let e = session("220 go ahead\r\n250 injected\r\n")
            .starttls(&caps(false))
            .unwrap_err();
        assert!(matches!(e.failure, Failure::BufferedAfterStartTls));
    }

    #[test]
    fn auth_in_one_line() {
        let mut s = session("235 2.7.0 Authentication successful\r\n");
        s.auth_xoauth2(&caps(false), "a@x", &Secret::new("tok"))
            .unwrap();
        let w = written(s);
        assert!(
            w.starts_with("AUTH XOAUTH2 dXNlcj1hQHgBYXV0aD1CZWFyZXIgdG9rAQE=\r\n"),
            "{w}"
        );
    }

    #[test]
    fn auth_in_two_steps_when_the_line_is_too_long() {
        let mut s = session("334 \r\n235 ok\r\n");
        s.auth_xoauth2(&caps(false), "a@x", &Secret::new("t".repeat(10_000)))
            .unwrap();
        let w = written(s);
        assert!(w.starts_with("AUTH XOAUTH2\r\n"));
        assert_eq!(w.lines().count(), 2);
    }

    #[test]
    fn auth_direct_535() {
        let e = session("535 5.7.3 Authentication unsuccessful\r\n")
            .auth_xoauth2(&caps(false), "a@x", &Secret::new("tok"))
            .unwrap_err();
        assert_eq!(e.reply().unwrap().code, 535);
        assert!(matches!(e.failure, Failure::Reply(_)));
    }

    #[test]
    fn auth_error_challenge_gets_an_empty_line() {
        let challenge =
            base64::engine::general_purpose::STANDARD.encode(r#"{"status":"invalid_token"}"#);
        let mut s = session(&format!(
            "334 {challenge}\r\n535 5.7.8 Authentication failed\r\n"
        ));
        let e = s
            .auth_xoauth2(&caps(false), "a@x", &Secret::new("tok"))
            .unwrap_err();
        match &e.failure {
            Failure::AuthChallenge { challenge, reply } => {
                assert!(challenge.contains("invalid_token"));
                assert_eq!(reply.code, 535);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            written(s).ends_with("\r\n\r\n"),
            "an empty line answers the challenge"
        );
    }

    #[test]
    fn auth_needs_xoauth2_offered() {
        let e = session("")
            .auth_xoauth2(&Capabilities::default(), "a@x", &Secret::new("t"))
            .unwrap_err();
        assert!(matches!(e.failure, Failure::NoXoauth2(_)));
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

    #[test]
    fn malformed_reply_is_a_protocol_failure() {
        let e = session("HTTP/1.1 400 Bad Request\r\n")
            .greeting()
            .unwrap_err();
        assert!(matches!(e.failure, Failure::Malformed(_)));
    }

    #[test]
    fn quit_does_not_wait() {
        // No reply is scripted: waiting for one would fail.
        assert_eq!(session("").quit().written, b"QUIT\r\n");
        assert_eq!(session("250 ok\r\n").rset().map_err(|e| e.stage), Ok(()));
    }
}
