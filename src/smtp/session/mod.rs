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
//!
//! `failure.rs` holds the failure and stage types, `transaction.rs` one mail
//! transaction (envelope, pipelining, data), `chunking.rs` the one-flight
//! BDAT form of it (RFC 3030), `further.rs` the further transactions for
//! recipients refused for their number.

mod chunking;
mod failure;
mod further;
#[cfg(test)]
mod scripted;
mod transaction;

use std::io::{self, Read, Write};
use std::time::Duration;

use base64::Engine as _;

use super::capabilities::Capabilities;
use super::command::{Command, fits_on_auth_line, retry_auth_in_two_steps, xoauth2_response};
use super::reply::{Reply, try_parse_reply};
use crate::secret::Secret;
use crate::transcript::Transcript;

pub use failure::{Failure, SmtpError, Stage};
pub use transaction::{Envelope, Receipt, RecipientReply};

/// A stream whose read timeout can be lengthened for one wait: the reply
/// after the final dot may take far longer than any other step.
pub trait Patience {
    /// The read timeout now (`None`: reads wait for ever).
    fn read_timeout(&self) -> io::Result<Option<Duration>>;
    /// Sets the read timeout.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;
}

/// How long the reply after the final dot is waited for, at least: RFC 5321
/// §4.5.3.2.6 gives the server 10 minutes to take the message, and giving
/// up earlier while it may still say 250 makes the message go twice.
pub const FINAL_REPLY_WAIT: Duration = Duration::from_secs(600);

/// An SMTP client session.
pub struct Session<S> {
    stream: S,
    inbound: Vec<u8>,
    transcript: Transcript,
    /// Whether the current transaction has begun to read its message
    /// (after that, it cannot be tried again on another connection).
    message_started: bool,
}

impl<S: Read + Write + Patience> Session<S> {
    /// A session on a connected stream; nothing is read or sent yet.
    pub fn new(stream: S, transcript: Transcript) -> Self {
        Session {
            stream,
            inbound: Vec::new(),
            transcript,
            message_started: false,
        }
    }

    /// Whether the last transaction began to read its message: until then
    /// nothing of it is lost, and it can be tried again elsewhere.
    pub fn message_started(&self) -> bool {
        self.message_started
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
                    self.transcript.server(reply.code, &reply.lines);
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
        let two_steps = |session: &mut Self| -> Result<Reply, SmtpError> {
            session.exchange(Stage::Auth, Command::AuthXoauth2(None), |r| r.code == 334)?;
            session.send(Stage::Auth, &[Command::AuthResponse(Some(&response))])?;
            session.read_reply(Stage::Auth)
        };
        let reply = if fits_on_auth_line(&response) {
            self.send(Stage::Auth, &[Command::AuthXoauth2(Some(&response))])?;
            let reply = self.read_reply(Stage::Auth)?;
            let line_len = "AUTH XOAUTH2 ".len() + response.expose().len() + 2;
            if retry_auth_in_two_steps(&reply, line_len) {
                // The server did not take the initial response, or cut the
                // line: the same token may well pass in two steps.
                self.transcript
                    .note("the one-line AUTH was refused: trying the two-step form once");
                two_steps(self).map_err(|e| match e.failure {
                    Failure::Reply(r) => SmtpError::new(Stage::Auth, Failure::Reply(scrub(r))),
                    _ => e,
                })?
            } else {
                reply
            }
        } else {
            two_steps(self)?
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

#[cfg(test)]
mod tests {
    use super::scripted::{caps, session, written};
    use super::*;

    #[test]
    fn greeting_and_ehlo() {
        let mut s = session("220 ready\r\n250-host\r\n250-STARTTLS\r\n250 PIPELINING\r\n");
        assert_eq!(s.greeting().unwrap().code, 220);
        let c = s.ehlo("me.example").unwrap();
        assert!(c.starttls && c.pipelining);
        assert_eq!(written(s), "EHLO me.example\r\n");
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
    fn a_refused_or_cut_one_line_auth_is_tried_again_in_two_steps() {
        for first in [
            "504 5.7.4 Unrecognized authentication type",
            "501 5.5.4 Syntax error",
            "535 5.7.8 Error: authentication failed: Invalid base64 data in initial response",
        ] {
            let mut s = session(&format!("{first}\r\n334 \r\n235 2.7.0 ok\r\n"));
            s.auth_xoauth2(&caps(false), "a@x", &Secret::new("tok"))
                .unwrap();
            let w = written(s);
            let lines: Vec<&str> = w.lines().collect();
            assert_eq!(lines.len(), 3, "{w}");
            assert!(lines[0].starts_with("AUTH XOAUTH2 dXNl"), "{w}");
            assert_eq!(lines[1], "AUTH XOAUTH2");
            assert_eq!(lines[2], "dXNlcj1hQHgBYXV0aD1CZWFyZXIgdG9rAQE=");
        }
        // Once only: a second refusal is the answer.
        let e = session("504 5.7.4 no\r\n334 \r\n535 5.7.3 Authentication unsuccessful\r\n")
            .auth_xoauth2(&caps(false), "a@x", &Secret::new("tok"))
            .unwrap_err();
        assert_eq!(e.reply().unwrap().code, 535);
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
