//! An authenticated SMTP session with the configured server.
//!
//! [`Relay::open`] takes a token, connects, reads the greeting, says EHLO,
//! upgrades with STARTTLS (refusing to go on if the server does not offer
//! it: no credential ever travels in clear text), says EHLO again and
//! authenticates with XOAUTH2. A cached token the server rejects is
//! replaced by a fresh one once. [`Relay::send`] runs one transaction; the
//! same relay serves several messages (queue runs). [`smtp_failure`] turns
//! a protocol failure into the program's error, with the catalogue's hint.

use std::io::Read;

use crate::catalogue;
use crate::config::{Config, TlsMode};
use crate::error::{Error, Kind, Result};
use crate::net::{self, Stream};
use crate::smtp::capabilities::Capabilities;
use crate::smtp::reply::Reply;
use crate::smtp::session::{Envelope, Failure, Receipt, RecipientReply, Session, SmtpError, Stage};
use crate::token::{Token, TokenSource, claims};
use crate::transcript::Transcript;

/// A connected, authenticated session.
pub struct Relay {
    session: Session<Stream>,
    caps: Capabilities,
    server: String,
}

impl Relay {
    /// Connects to the configured server and authenticates.
    ///
    /// # Errors
    /// Token, network, TLS and authentication failures, each with its kind
    /// and hint.
    pub fn open(
        config: &Config,
        tokens: &mut TokenSource,
        helo: &str,
        transcript: Transcript,
    ) -> Result<Relay> {
        let (token, connected) = token_and_connection(config, tokens, helo, transcript)?;
        let server = format!("{}:{}", config.smtp.host, config.smtp.port);
        let (mut session, caps) = connected?;
        let (session, caps) = match session.auth_xoauth2(&caps, &config.user, &token.access) {
            Ok(_) => (session, caps),
            Err(e) if (token.from_cache && token_rejected(&e)) || token_expiring(&e) => {
                // A cached token can be revoked before it expires, and High
                // Volume Email refuses one with about 10 minutes left
                // (5.5.127): a fresh one may cure either, once.
                let fresh = tokens.renew(&token, session.transcript())?;
                let retry = Retry {
                    config,
                    helo,
                    server: &server,
                    token: &fresh,
                };
                retry.authenticate(tokens, session, caps)?
            }
            Err(e) => {
                let error = refused(config, tokens, &token, e, &server);
                quit(session);
                return Err(error);
            }
        };
        Ok(Relay {
            session,
            caps,
            server,
        })
    }

    /// Sends one message to the envelope's recipients.
    ///
    /// # Errors
    /// See [`smtp_failure`].
    pub fn send(
        &mut self,
        envelope: &Envelope,
        header: &[u8],
        body: &mut dyn Read,
    ) -> std::result::Result<Receipt, SmtpError> {
        self.session.send_mail(&self.caps, envelope, header, body)
    }

    /// Whether the last [`Relay::send`] began to read its message.
    pub fn message_started(&self) -> bool {
        self.session.message_started()
    }

    /// What the server offers (after TLS).
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// `host:port`, for messages.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Resets the transaction state for the next message.
    ///
    /// # Errors
    /// The session's failure (the caller then drops the relay).
    pub fn reset(&mut self) -> std::result::Result<(), SmtpError> {
        self.session.rset()
    }

    /// Says QUIT without waiting and closes the connection.
    pub fn close(self) {
        quit(self.session);
    }

    /// Closes the connection without QUIT: in the middle of DATA a QUIT
    /// would be message text; the TLS close ends the message unfinished.
    pub fn abandon(self) {
        self.session.into_parts().0.close();
    }
}

/// An SMTP session after TLS and EHLO, and what the server offers.
type Connected = (Session<Stream>, Capabilities);

/// A token and an SMTP session up to AUTH. With a cold cache the token is
/// fetched on a thread while the connection is set up: the two are
/// independent until AUTH, and each takes several round trips (TCP, TLS,
/// the request; TCP, greeting, EHLO, STARTTLS, TLS, EHLO), so a cold send
/// waits for the longer of them instead of both. A failed token request is
/// still the error reported first, as if it had come first. With `-v` the
/// steps run one after the other, so that the transcript reads in order.
fn token_and_connection(
    config: &Config,
    tokens: &mut TokenSource,
    helo: &str,
    mut transcript: Transcript,
) -> Result<(Token, Result<Connected>)> {
    if transcript.is_on() {
        let token = tokens.get(&mut transcript)?;
        return Ok((token, connect(config, helo, transcript)));
    }
    if let Some(token) = tokens.cached(&mut transcript) {
        return Ok((token, connect(config, helo, transcript)));
    }
    std::thread::scope(|scope| {
        let fetch = scope.spawn(|| tokens.fetch_new(&mut Transcript::off()));
        let connected = connect(config, helo, transcript);
        let token = fetch
            .join()
            .unwrap_or_else(|_| Err(Error::new(Kind::Software, "the token request panicked")));
        match token {
            Ok(token) => Ok((token, connected)),
            Err(e) => {
                if let Ok((session, _)) = connected {
                    quit(session);
                }
                Err(e)
            }
        }
    })
}

/// The one retry after the server rejected a cached token.
struct Retry<'a> {
    config: &'a Config,
    helo: &'a str,
    server: &'a str,
    token: &'a Token,
}

impl Retry<'_> {
    /// AUTH with the fresh token on the same session, or on a new one if
    /// the server hung up after the failed AUTH (some do).
    fn authenticate(
        &self,
        tokens: &TokenSource,
        mut session: Session<Stream>,
        caps: Capabilities,
    ) -> Result<(Session<Stream>, Capabilities)> {
        let user = &self.config.user;
        match session.auth_xoauth2(&caps, user, &self.token.access) {
            Ok(_) => return Ok((session, caps)),
            Err(SmtpError {
                failure: Failure::Io(_),
                ..
            }) => {}
            Err(e) => {
                let error = refused(self.config, tokens, self.token, e, self.server);
                quit(session);
                return Err(error);
            }
        }
        let (stream, transcript) = session.into_parts();
        stream.close();
        let (mut session, caps) = connect(self.config, self.helo, transcript)?;
        match session.auth_xoauth2(&caps, user, &self.token.access) {
            Ok(_) => Ok((session, caps)),
            Err(e) => {
                let error = refused(self.config, tokens, self.token, e, self.server);
                quit(session);
                Err(error)
            }
        }
    }
}

/// TCP, greeting, EHLO, TLS (implicit or STARTTLS) and EHLO again.
fn connect(
    config: &Config,
    helo: &str,
    mut transcript: Transcript,
) -> Result<(Session<Stream>, Capabilities)> {
    let smtp = &config.smtp;
    let server = format!("{}:{}", smtp.host, smtp.port);
    transcript.note(&format!(
        "connecting to {server} ({})",
        match smtp.tls {
            TlsMode::StartTls => "STARTTLS",
            TlsMode::Implicit => "implicit TLS",
            TlsMode::None => "no TLS, loopback only",
        }
    ));
    let tcp = net::connect(&smtp.host, smtp.port, smtp.timeout)?;
    let connector = match smtp.tls {
        TlsMode::None => None,
        _ => Some(net::tls_connector(config.ca_file.as_deref())?),
    };
    let stream = match (&connector, smtp.tls) {
        (Some(c), TlsMode::Implicit) => {
            let tls = net::handshake(c, &smtp.host, tcp)?;
            transcript.note("TLS established");
            Stream::Tls(Box::new(tls))
        }
        _ => Stream::Plain(tcp),
    };
    let mut session = Session::new(stream, transcript);
    if let Err(e) = session.greeting() {
        return Err(give_up(session, e, &server));
    }
    let caps = match session.ehlo(helo) {
        Ok(caps) => caps,
        Err(e) => return Err(give_up(session, e, &server)),
    };
    if smtp.tls != TlsMode::StartTls {
        return Ok((session, caps));
    }
    if let Err(e) = session.starttls(&caps) {
        return Err(give_up(session, e, &server));
    }
    let (stream, mut transcript) = session.into_parts();
    let Stream::Plain(tcp) = stream else {
        unreachable!("STARTTLS runs on a plain connection");
    };
    let connector = connector.expect("a connector exists for STARTTLS");
    let tls = net::handshake(&connector, &smtp.host, tcp)?;
    transcript.note("TLS established");
    let mut session = Session::new(Stream::Tls(Box::new(tls)), transcript);
    match session.ehlo(helo) {
        Ok(caps) => Ok((session, caps)),
        Err(e) => Err(give_up(session, e, &server)),
    }
}

/// The error for a failed step, after ending the session: with QUIT when
/// the server is still talking SMTP (it refused, or lacks STARTTLS), and
/// without when the connection is broken or something tampers with it.
fn give_up(session: Session<Stream>, e: SmtpError, server: &str) -> Error {
    match e.failure {
        Failure::Reply(_) | Failure::NoStartTls | Failure::NoXoauth2(_) => quit(session),
        _ => session.into_parts().0.close(),
    }
    smtp_failure(e, server)
}

/// QUIT without waiting for its reply, then an orderly close (TLS
/// close_notify).
fn quit(session: Session<Stream>) {
    session.quit().close();
}

/// Whether the server refused the token itself (535 or an XOAUTH2 error
/// challenge), as opposed to a policy refusal (5.7.139) that no new token cures.
pub fn token_rejected(e: &SmtpError) -> bool {
    match &e.failure {
        Failure::AuthChallenge { .. } => true,
        Failure::Reply(r) => r.code == 535 && r.enhanced_code() != Some("5.7.139"),
        _ => false,
    }
}

/// Whether High Volume Email refused the token as too close to expiry
/// (`501 5.5.127 ... Token will expire soon`, graph.md), which a fresh
/// token cures even when the refused one was fresh from Entra.
pub fn token_expiring(e: &SmtpError) -> bool {
    matches!(&e.failure, Failure::Reply(r) if r.enhanced_code() == Some("5.5.127"))
}

/// The error for a failed login. A token the server rejected is not kept
/// for the next message, and its claims may say why it was refused (no
/// SMTP.SendAsApp role, wrong audience), which beats any generic hint.
fn refused(
    config: &Config,
    tokens: &TokenSource,
    token: &Token,
    e: SmtpError,
    server: &str,
) -> Error {
    if !token_rejected(&e) {
        return smtp_failure(e, server);
    }
    tokens.forget();
    let diagnosis =
        claims::explain_refusal(token.access.expose(), &config.tenant, &config.client_id);
    let error = smtp_failure(e, server);
    match diagnosis {
        Some((cause, fix)) => error.with_hint(fix).with_cause(cause),
        None => error,
    }
}

/// The hint for a failure after the whole message went out.
const AFTER_THE_DOT: &str = "the whole message went out, but no answer came back: the server may \
     have taken it, and sending it again may deliver it twice";

/// The error for a protocol failure with `server` (`host:port`).
pub fn smtp_failure(e: SmtpError, server: &str) -> Error {
    let stage = e.stage;
    match e.failure {
        // After the final dot the server may have taken the message: never
        // say that nothing was sent (a resend may make it arrive twice).
        Failure::Io(io) if stage == Stage::EndOfMessage => Error::temporary(format!(
            "SMTP server {server}: {} while waiting for its reply to the message; \
             the server may have the message",
            net::describe_io(&io)
        ))
        .with_hint(AFTER_THE_DOT)
        .with_cause("smtp-connection-lost"),
        Failure::Malformed(why) if stage == Stage::EndOfMessage => Error::temporary(format!(
            "SMTP server {server} broke the protocol in its reply to the message: {why}; \
             the server may have the message"
        ))
        .with_hint(AFTER_THE_DOT)
        .with_cause("smtp-protocol"),
        Failure::Io(io) => Error::temporary(format!(
            "SMTP server {server}: {} during {stage}",
            net::describe_io(&io)
        ))
        .with_cause("smtp-connection-lost"),
        Failure::Malformed(why) => Error::protocol(format!(
            "SMTP server {server} broke the protocol during {stage}: {why}"
        ))
        .with_hint("check that smtp.host and smtp.port name an SMTP submission server")
        .with_cause("smtp-protocol"),
        Failure::NoStartTls => Error::protocol(format!(
            "SMTP server {server} does not offer STARTTLS; no credential was sent"
        ))
        .with_hint("smtp.tls = \"starttls\" requires it: check smtp.host and smtp.port (Exchange Online: smtp.office365.com, 587), or a device in between strips STARTTLS")
        .with_cause("starttls-missing"),
        Failure::BufferedAfterStartTls => Error::protocol(format!(
            "SMTP server {server} sent data before the TLS handshake (STARTTLS injection?); no credential was sent"
        ))
        .with_hint("something between this machine and the server tampers with the connection")
        .with_cause("starttls-injection"),
        Failure::NoXoauth2(offered) => Error::config(format!(
            "SMTP server {server} does not offer AUTH XOAUTH2 (offers: {})",
            if offered.is_empty() { "nothing".to_string() } else { offered.join(" ") }
        ))
        .with_hint("smtp.host must be an XOAUTH2 server such as smtp.office365.com")
        .with_cause("xoauth2-missing"),
        Failure::AuthChallenge { challenge, reply } => {
            reply_failure(stage, &reply, server).context(format!("server said {challenge}"))
        }
        Failure::Input(io) => Error::new(
            Kind::Input,
            format!("reading the message failed: {}; nothing was sent", net::describe_io(&io)),
        )
        .with_cause("input-error"),
        Failure::NoRecipients(refused) => no_recipients(&refused, server),
        Failure::TooLarge(too_large) => too_large.error(),
        Failure::Reply(reply) => reply_failure(stage, &reply, server),
    }
}

/// An unexpected reply at `stage`: catalogue first, then the reply class.
fn reply_failure(stage: Stage, reply: &Reply, server: &str) -> Error {
    let what = match stage {
        Stage::Auth => "refused the login",
        Stage::MailFrom => "refused the sender",
        Stage::RcptTo => "refused the recipient",
        Stage::EndOfMessage => "refused the message",
        _ => "refused",
    };
    // A 421 refuses nothing: the server is closing the session.
    let message = if reply.code == 421 {
        format!("SMTP server {server} closed the session during {stage}: {reply}")
    } else {
        format!("SMTP server {server} {what} ({stage}): {reply}")
    };
    let default_kind = match (reply.code, stage) {
        (421, _) | (400..=499, _) => Kind::Temporary,
        (_, Stage::Auth) => Kind::NoPermission,
        (_, Stage::RcptTo) => Kind::NoUser,
        (_, Stage::Ehlo | Stage::StartTls) => Kind::Protocol,
        _ => Kind::Unavailable,
    };
    let error = Error::new(default_kind, message);
    match catalogue::smtp_reply(reply.code, &reply.text()) {
        Some(entry) => error
            .with_kind(entry.kind)
            .with_hint(entry.fix)
            .with_cause(entry.cause),
        // Unknown to the catalogue: the message keeps the server's words
        // (with the bracketed session tail support asks for); the cause says
        // at least which step refused.
        None => error.with_cause(unknown_reply_cause(stage)),
    }
}

/// The cause code of a reply the catalogue does not know, by step.
fn unknown_reply_cause(stage: Stage) -> &'static str {
    match stage {
        Stage::Greeting => "greeting-refused",
        Stage::Ehlo => "ehlo-refused",
        Stage::StartTls => "starttls-refused",
        Stage::Auth => "auth-refused",
        Stage::MailFrom => "sender-refused",
        Stage::RcptTo => "recipient-refused",
        Stage::Data | Stage::EndOfMessage => "message-refused",
        Stage::Rset => "rset-refused",
    }
}

fn no_recipients(refused: &[RecipientReply], server: &str) -> Error {
    let temporary = refused.iter().any(|r| r.reply.is_transient());
    let kind = if temporary {
        Kind::Temporary
    } else {
        Kind::NoUser
    };
    let error = Error::new(
        kind,
        format!(
            "SMTP server {server} refused every recipient: {}",
            refusal_list(refused)
        ),
    );
    let error = explain_refusals(error, refused);
    match error.cause() {
        Some(_) => error,
        None => error.with_cause("recipient-refused"),
    }
}

/// Each refused recipient with the server's reply: `<a@x>: 550 …; <b@y>: 451 …`.
pub fn refusal_list(refused: &[RecipientReply]) -> String {
    refused
        .iter()
        .map(|r| format!("<{}>: {}", r.recipient, r.reply))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Adds the catalogue's hint and cause for the first refusal it knows,
/// which explains the others best; `error` unchanged if it knows none.
pub fn explain_refusals(error: Error, refused: &[RecipientReply]) -> Error {
    let known = refused
        .iter()
        .find_map(|r| catalogue::smtp_reply(r.reply.code, &r.reply.text()));
    match known {
        Some(entry) => error.with_hint(entry.fix).with_cause(entry.cause),
        None => error,
    }
}

#[cfg(test)]
mod tests;
