//! Microsoft Graph as a transport: the caller's message, as MIME, to
//! `POST {graph.url}/v1.0/users/{user}/sendMail`.
//!
//! [`Client::send`] reads the message (header rewritten so that its
//! recipients are exactly the envelope's, see `mime`), gets a token for
//! `graph.url + /.default` (its own cache entry), and posts the base64
//! MIME. A 202 means Graph accepted the message for delivery, not that it
//! was delivered. A cached token Graph rejects (401) is renewed once; a
//! 429 or 503 with a short `Retry-After` is tried once more after that
//! pause; everything else is a [`errors::Refusal`] with the kind its SMTP
//! counterpart has.
//!
//! The whole MIME is held in memory while it is sent: Graph takes at most
//! about 4 MB a request (so at most [`MAX_MIME`] octets of message), and a
//! request that must be repeated (401, 429) needs the bytes again. The
//! base64 is produced as the request streams (`mime::Base64Reader`).

pub mod errors;
pub mod memo;
pub mod mime;
pub mod outcome;
pub mod request;

use std::io::{BufRead, BufReader, Read};

use crate::config::Config;
use crate::error::{Error, Kind, Result};
use crate::header;
use crate::token::{Token, TokenSource};
use crate::transcript::Transcript;
use errors::Refusal;

/// Largest message (after the header rewrite, CRLF line ends) that goes in
/// one `sendMail`: its base64 is 4 MiB, Graph's request limit.
pub const MAX_MIME: usize = 3 * 1024 * 1024;

/// What Graph said to a message it took.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The `request-id` header (Microsoft support asks for it).
    pub request_id: String,
    /// Octets of MIME sent (before base64).
    pub size: u64,
}

impl Accepted {
    /// The reply for the log line: accepted, which is not delivered.
    pub fn reply(&self) -> String {
        format!(
            "202 Accepted request-id={} (accepted for delivery, not yet delivered)",
            self.request_id
        )
    }
}

/// Why a message did not go.
#[derive(Debug)]
pub enum Failure {
    /// No request could be made: the token, or Graph unreachable. Every
    /// message would fail alike.
    NoSession(Error),
    /// The message itself: unreadable, too large, malformed.
    Message(Error),
    /// Graph answered with an error.
    Refused(Refusal),
}

/// A Graph client for one configuration.
pub struct Client<'c> {
    config: &'c Config,
    tokens: TokenSource<'c>,
    transcript: Transcript,
}

impl<'c> Client<'c> {
    /// A client for `config` (no network yet).
    pub fn new(config: &'c Config, transcript: Transcript) -> Self {
        Client {
            config,
            tokens: TokenSource::for_scope(config, &config.graph.scope()),
            transcript,
        }
    }

    /// Warnings of the token cache to log (unwritable cache, …).
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.tokens.warnings)
    }

    /// Sends the message (`header` then `body`) to exactly `recipients`.
    pub fn send(
        &mut self,
        recipients: &[String],
        head: &[u8],
        body: &mut dyn Read,
    ) -> std::result::Result<Accepted, Failure> {
        let mime = read_mime(recipients, head, body).map_err(Failure::Message)?;
        let mut token = self.token().map_err(Failure::NoSession)?;
        let url = request::send_mail_url(&self.config.graph.url, &self.config.user);
        let agent = request::agent(self.config).map_err(Failure::NoSession)?;
        let (mut renewed, mut paused) = (false, false);
        loop {
            self.transcript.note(&format!(
                "graph: POST {url} Authorization: Bearer <redacted> Content-Type: text/plain ({} octets of MIME as {} of base64)",
                mime.len(),
                mime::Base64Reader::encoded_len(mime.len())
            ));
            let answer =
                request::post_mime(&agent, &url, &token, &mime).map_err(Failure::NoSession)?;
            let id = answer.request_id.clone().unwrap_or_default();
            self.transcript.note(&format!(
                "graph: HTTP {} request-id={id}{}",
                answer.status,
                if answer.status == 202 {
                    " (accepted for delivery, not yet delivered)"
                } else {
                    ""
                }
            ));
            if answer.status == 202 {
                return Ok(Accepted {
                    request_id: id,
                    size: mime.len() as u64,
                });
            }
            let refusal = errors::interpret(&errors::Answer {
                status: answer.status,
                request_id: answer.request_id.as_deref(),
                retry_after: answer.retry_after,
                body: &answer.body,
            });
            if answer.status == 401 && token.from_cache && !renewed {
                renewed = true;
                token = self
                    .tokens
                    .renew(&token, &mut self.transcript)
                    .map_err(Failure::NoSession)?;
                continue;
            }
            if let (Some(seconds), false) = (refusal.retry_after, paused) {
                paused = true;
                self.transcript.note(&format!(
                    "graph: Graph asked for a pause of {seconds} s; trying once more after it"
                ));
                std::thread::sleep(std::time::Duration::from_secs(seconds));
                continue;
            }
            return Err(Failure::Refused(refusal));
        }
    }

    /// Asks Graph something it answers without sending anything: a
    /// `sendMail` with an empty body, refused as malformed (400) only
    /// after the token, the role and the mailbox passed. Returns the
    /// request-id of that 400.
    ///
    /// # Errors
    /// The token failure, or the refusal (401, 403, 404, …) as for a message.
    pub fn probe(&mut self, token: &Token) -> Result<String> {
        let url = request::send_mail_url(&self.config.graph.url, &self.config.user);
        let agent = request::agent(self.config)?;
        self.transcript.note(&format!(
            "graph: POST {url} Authorization: Bearer <redacted> (empty body: a request Graph refuses without sending)"
        ));
        let answer = request::post_mime(&agent, &url, token, b"")?;
        let id = answer.request_id.clone().unwrap_or_default();
        self.transcript
            .note(&format!("graph: HTTP {} request-id={id}", answer.status));
        if answer.status == 400 {
            return Ok(id);
        }
        Err(errors::interpret(&errors::Answer {
            status: answer.status,
            request_id: answer.request_id.as_deref(),
            retry_after: answer.retry_after,
            body: &answer.body,
        })
        .error)
    }

    fn token(&mut self) -> Result<Token> {
        let token = self.tokens.get(&mut self.transcript)?;
        self.transcript.hide(token.access.expose());
        Ok(token)
    }
}

/// The MIME Graph gets: header rewritten for `recipients`, CRLF line ends.
///
/// # Errors
/// [`Kind::Input`] when reading fails, [`Kind::Data`] for a header that
/// is too large or a message over [`MAX_MIME`].
pub fn read_mime(recipients: &[String], head: &[u8], body: &mut dyn Read) -> Result<Vec<u8>> {
    let mut input = BufReader::new(head.chain(body));
    let block = header::read_header_block(&mut input, header::MAX_HEADER_BLOCK)?;
    let fitted = mime::fit_recipients(&block, recipients);
    let mut out = Vec::with_capacity(fitted.len() + 64 * 1024);
    let mut last_cr = false;
    mime::push_crlf(&fitted, &mut last_cr, &mut out);
    loop {
        let chunk = input.fill_buf().map_err(|e| {
            Error::new(
                Kind::Input,
                format!(
                    "reading the message failed: {}",
                    crate::error::io_reason(&e)
                ),
            )
        })?;
        if chunk.is_empty() {
            break;
        }
        let n = chunk.len();
        mime::push_crlf(chunk, &mut last_cr, &mut out);
        input.consume(n);
        if out.len() > MAX_MIME {
            return Err(too_large(out.len()));
        }
    }
    Ok(out)
}

fn too_large(seen: usize) -> Error {
    Error::data(format!(
        "the message is larger than the {} MiB that fit in one Graph sendMail request (at least {} octets)",
        MAX_MIME / (1024 * 1024),
        seen
    ))
    .with_hint("send large messages with transport = \"smtp\" (up to 35 MB); Graph's upload sessions for large messages are not supported by this version")
    .with_cause("graph-message-too-large")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_is_crlf_with_fitted_recipients() {
        let rcpt = vec!["b@y.test".to_string()];
        let mime = read_mime(
            &rcpt,
            b"To: b@y.test\nSubject: s\n\n",
            &mut &b"one\ntwo\n"[..],
        )
        .unwrap();
        assert_eq!(mime, b"To: b@y.test\r\nSubject: s\r\n\r\none\r\ntwo\r\n");
        // The queue hands over the whole message as the body.
        let mime = read_mime(&rcpt, b"", &mut &b"To: c@y.test\n\nhi\n"[..]).unwrap();
        assert_eq!(
            mime,
            b"To: undisclosed-recipients:;\r\nBcc: b@y.test\r\n\r\nhi\r\n"
        );
    }

    #[test]
    fn a_message_too_large_for_one_request_is_refused_as_data() {
        let big = vec![b'a'; MAX_MIME + 10];
        let e = read_mime(&["b@y.test".into()], b"To: b@y.test\n\n", &mut &big[..]).unwrap_err();
        assert_eq!(e.exit_code(), 65);
        assert_eq!(e.cause(), Some("graph-message-too-large"));
    }
}
