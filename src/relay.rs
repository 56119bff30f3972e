//! An authenticated SMTP session with the configured server.
//!
//! [`Relay::open`] takes a token, connects, reads the greeting, says EHLO,
//! upgrades with STARTTLS (refusing to go on if the server does not offer
//! it: no credential ever travels in clear text), says EHLO again and
//! authenticates with XOAUTH2. A cached token the server rejects is
//! replaced by a fresh one once. [`Relay::send`] runs one transaction; the
//! same relay serves several messages (queue runs). `smtp_error` turns a
//! protocol failure into the program's error, with the catalogue's hint.

use std::io::{Read, Write};
use std::net::SocketAddr;

use openssl::ssl::SslRef;

use crate::config::{Config, TlsMode};
use crate::error::{Error, Kind, Result};
use crate::net::{self, Close, Stream, TlsConnector};
use crate::smtp::capabilities::Capabilities;
use crate::smtp::reply::Reply;
use crate::smtp::session::{Envelope, Failure, Patience, Receipt, Session, SmtpError};
use crate::smtp_error::{smtp_failure, token_rejected};
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
    transcript: Transcript,
) -> Result<(Session<Stream>, Capabilities)> {
    connect_watched(config, helo, transcript, &mut ()).map_err(|(_, e)| e)
}

/// A step of setting up a session, as [`connect_watched`] reaches it.
pub enum Setup<'a> {
    /// The TCP connection is up, to this address.
    Reached(Option<SocketAddr>),
    /// The TLS handshake is done (at once for implicit TLS, else after
    /// STARTTLS).
    Secured(&'a SslRef),
    /// The server's greeting.
    Greeted(&'a Reply),
    /// The answer to EHLO: before TLS, and again on it.
    Ehlo(&'a Capabilities),
}

/// Where setting up a session failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetupStage {
    /// The TCP connection.
    Reach,
    /// The TLS context (roots, `ca_file`).
    TlsContext,
    /// The TLS handshake.
    Handshake,
    /// The server's greeting.
    Greeting,
    /// EHLO, before or after TLS.
    Ehlo,
    /// The STARTTLS command.
    StartTls,
}

/// Watches [`connect_watched`] step by step: `--check` reports each step
/// of the very code that sends.
pub trait Watcher {
    /// Called as each step succeeds.
    fn step(&mut self, step: Setup<'_>);
}

/// Sending watches nothing.
impl Watcher for () {
    fn step(&mut self, _: Setup<'_>) {}
}

/// [`connect`], telling `watcher` of each step.
///
/// # Errors
/// The stage that failed and the error sending reports for it.
pub fn connect_watched(
    config: &Config,
    helo: &str,
    mut transcript: Transcript,
    watcher: &mut dyn Watcher,
) -> std::result::Result<(Session<Stream>, Capabilities), (SetupStage, Error)> {
    use SetupStage as At;
    let smtp = &config.smtp;
    let server = format!("{}:{}", smtp.host, smtp.port);
    let server = server.as_str();
    let secured = |ssl: &SslRef| format!("TLS established: {} {}", ssl.version_str(), cipher(ssl));
    transcript.note(&format!(
        "connecting to {server} ({})",
        match smtp.tls {
            TlsMode::StartTls => "STARTTLS",
            TlsMode::Implicit => "implicit TLS",
            TlsMode::None => "no TLS, loopback only",
        }
    ));
    let tcp = net::connect(&smtp.host, smtp.port, smtp.timeout).map_err(|e| (At::Reach, e))?;
    watcher.step(Setup::Reached(tcp.peer_addr().ok()));
    let connector =
        || net::tls_connector(config.ca_file.as_deref()).map_err(|e| (At::TlsContext, e));
    let handshake =
        |connector: &TlsConnector, tcp, transcript: &mut Transcript, watcher: &mut dyn Watcher| {
            let tls = net::handshake(connector, &smtp.host, tcp).map_err(|e| (At::Handshake, e))?;
            transcript.note(&secured(tls.ssl()));
            watcher.step(Setup::Secured(tls.ssl()));
            Ok(Stream::Tls(Box::new(tls)))
        };
    match smtp.tls {
        TlsMode::None => greet(
            Session::new(Stream::Plain(tcp), transcript),
            helo,
            watcher,
            server,
        ),
        TlsMode::Implicit => {
            let stream = handshake(&connector()?, tcp, &mut transcript, watcher)?;
            greet(Session::new(stream, transcript), helo, watcher, server)
        }
        TlsMode::StartTls => {
            let connector = connector()?;
            // Plain TCP until the handshake: the types say which side of
            // it the session is on.
            let (mut plain, caps) = greet(Session::new(tcp, transcript), helo, watcher, server)?;
            if let Err(e) = plain.starttls(&caps) {
                return Err((At::StartTls, give_up(plain, e, server)));
            }
            let (tcp, mut transcript) = plain.into_parts();
            let stream = handshake(&connector, tcp, &mut transcript, watcher)?;
            ehlo(Session::new(stream, transcript), helo, watcher, server)
        }
    }
}

/// The greeting and EHLO on a new session, each told to `watcher`.
fn greet<S: Read + Write + Patience + Close>(
    mut session: Session<S>,
    helo: &str,
    watcher: &mut dyn Watcher,
    server: &str,
) -> std::result::Result<(Session<S>, Capabilities), (SetupStage, Error)> {
    let greeting = match session.greeting() {
        Ok(greeting) => greeting,
        Err(e) => return Err((SetupStage::Greeting, give_up(session, e, server))),
    };
    watcher.step(Setup::Greeted(&greeting));
    ehlo(session, helo, watcher, server)
}

/// EHLO (before TLS, and again on it), told to `watcher`.
fn ehlo<S: Read + Write + Patience + Close>(
    mut session: Session<S>,
    helo: &str,
    watcher: &mut dyn Watcher,
    server: &str,
) -> std::result::Result<(Session<S>, Capabilities), (SetupStage, Error)> {
    let caps = match session.ehlo(helo) {
        Ok(caps) => caps,
        Err(e) => return Err((SetupStage::Ehlo, give_up(session, e, server))),
    };
    watcher.step(Setup::Ehlo(&caps));
    Ok((session, caps))
}

/// The error for a failed step, after ending the session: with QUIT when
/// the server is still talking SMTP (it refused, or lacks STARTTLS), and
/// without when the connection is broken or something tampers with it.
fn give_up<S: Read + Write + Patience + Close>(
    session: Session<S>,
    e: SmtpError,
    server: &str,
) -> Error {
    match e.failure {
        Failure::Reply(_) | Failure::NoStartTls | Failure::NoXoauth2(_) => quit(session),
        _ => session.into_parts().0.close(),
    }
    smtp_failure(e, server)
}

/// QUIT without waiting for its reply, then an orderly close (TLS
/// close_notify).
fn quit<S: Read + Write + Patience + Close>(session: Session<S>) {
    session.quit().close();
}

/// The negotiated cipher's name, for the transcript.
fn cipher(ssl: &SslRef) -> &str {
    ssl.current_cipher().map_or("", |c| c.name())
}

/// Whether High Volume Email refused the token as too close to expiry
/// (`501 5.5.127 ... Token will expire soon`, docs/protocol-notes.md), which a fresh
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
