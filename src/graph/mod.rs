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
//! A message that fits one request (at most [`input::MAX_MIME`] octets,
//! whose base64 is Graph's 4 MB request limit) is held in memory while it
//! is sent, since a repeated request (401, 429) needs the bytes again; the
//! base64 is produced as the request streams. A larger one is spooled to
//! a temporary file and sent by `upload`: a draft without its largest
//! attachments, each of those through an upload session, then `send`.

pub mod attach;
pub mod decode;
pub mod errors;
pub mod input;
pub mod memo;
pub mod mime;
pub mod outcome;
pub mod parts;
pub mod request;
pub mod upload;

use std::io::Read;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::token::{Token, TokenSource};
use crate::transcript::Transcript;
use errors::Refusal;

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
        Self::with_tokens(
            config,
            TokenSource::for_scope(config, &config.graph.scope()),
            transcript,
        )
    }

    /// A client for `config` whose tokens (for `graph.url + /.default`)
    /// come from `tokens`.
    pub fn with_tokens(
        config: &'c Config,
        tokens: TokenSource<'c>,
        transcript: Transcript,
    ) -> Self {
        Client {
            config,
            tokens,
            transcript,
        }
    }

    /// Warnings to log (an unwritable token cache, a draft left behind, …).
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.tokens.warnings)
    }

    /// How many token requests this client made.
    pub fn token_requests(&self) -> u32 {
        self.tokens.requests
    }

    /// Sends the message (`header` then `body`) to exactly `recipients`:
    /// in one `sendMail` when it fits, else through a draft and upload
    /// sessions (`upload`).
    pub fn send(
        &mut self,
        recipients: &[String],
        head: &[u8],
        body: &mut dyn Read,
    ) -> std::result::Result<Accepted, Failure> {
        let mime = input::read(recipients, head, body).map_err(Failure::Message)?;
        let agent = request::agent(self.config).map_err(Failure::NoSession)?;
        self.warm_up(&agent);
        match mime {
            input::Mime::Small(mime) => {
                let url = request::send_mail_url(&self.config.graph.url, &self.config.user);
                self.transcript.note(&format!(
                    "graph: POST {url} Authorization: Bearer <redacted> Content-Type: text/plain ({} octets of MIME as {} of base64)",
                    mime.len(),
                    mime::Base64Reader::encoded_len(mime.len())
                ));
                let answer = self.exchange(&agent, &url, &|| request::Payload::Mime(&mime), 202)?;
                Ok(Accepted {
                    request_id: answer.request_id.unwrap_or_default(),
                    size: mime.len() as u64,
                })
            }
            input::Mime::Large(file, len) => upload::send(self, &agent, file, len),
        }
    }

    /// With a cold cache, fetches the token while the connection to Graph
    /// is set up (a request Graph answers without a token, whose
    /// connection the agent keeps for the real one): the two take several
    /// round trips each and are independent. With `-v` nothing runs in
    /// parallel, so that the transcript reads in order; the token is then
    /// fetched by the first request as usual.
    fn warm_up(&mut self, agent: &ureq::Agent) {
        if self.transcript.is_on() || self.tokens.cached(&mut Transcript::off()).is_some() {
            return;
        }
        let url = format!("{}/v1.0/", self.config.graph.url);
        let tokens = &mut self.tokens;
        std::thread::scope(|scope| {
            let connect = scope.spawn(|| request::touch(agent, &url));
            // A failure here is met again, and reported, by the request.
            let _ = tokens.fetch_new(&mut Transcript::off());
            let _ = connect.join();
        });
    }

    /// One request with the token, answered `expected`: a cached token
    /// Graph rejects is renewed once, a short `Retry-After` waited for once.
    fn exchange<'p>(
        &mut self,
        agent: &ureq::Agent,
        url: &str,
        payload: &dyn Fn() -> request::Payload<'p>,
        expected: u16,
    ) -> std::result::Result<request::Response, Failure> {
        let mut token = self.token().map_err(Failure::NoSession)?;
        let (mut renewed, mut paused) = (false, false);
        loop {
            let answer =
                request::call(agent, url, Some(&token), payload()).map_err(Failure::NoSession)?;
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
            if answer.status == expected {
                return Ok(answer);
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
                self.transcript.hide(token.access.expose());
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
