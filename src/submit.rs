//! Submitting messages: one authenticated session, reused, one log line
//! per message, and the queue for what cannot go now.
//!
//! A [`Submitter`] opens the SMTP relay when the first message needs it and
//! keeps it for the next (a `-bs` dialogue or a queue run sends several over
//! one login). [`Submitter::submit`] sends one message handed over by a
//! caller. With `[queue] dir` set, the message is copied into a draft in
//! the queue as it streams to the server; a temporary failure (or one that
//! is not clearly permanent) then queues it, durably, before `submit`
//! returns, and a permanent one keeps it in `failed/`. A failed transaction
//! leaves the session usable after RSET; a broken connection is dropped
//! and the next message opens a new one.

use std::io::{self, Read};
use std::time::Instant;

use crate::attempt::Attempt;
use crate::cli::Delivery;
use crate::clock;
use crate::config::{Config, Transport};
use crate::envelope::{self, Addresses};
use crate::error::{Error, Kind, Result};
use crate::graph;
use crate::intl;
use crate::log::{Level, Outcome, Record, Syslog};
use crate::message::PreparedHeader;
use crate::relay::Relay;
use crate::size::{SizeLimit, TooLarge, Whose};
use crate::smtp::session::{Failure, SmtpError};
use crate::spool::caller;
use crate::spool::describe_error;
use crate::spool::draft::{Draft, Tee};
use crate::spool::format::{self, Meta, State};
use crate::spool::schedule;
use crate::spool::store::{Area, Spool};
use crate::token::TokenSource;
use crate::transcript::Transcript;

/// Sends messages for one invocation.
pub struct Submitter<'c> {
    config: &'c Config,
    helo: String,
    delivery: Delivery,
    verbose: bool,
    tokens: TokenSource<'c>,
    relay: Option<Relay>,
    /// Messages go through Microsoft Graph (`transport`, or `auto` after
    /// SMTP AUTH was refused by policy).
    use_graph: bool,
    graph: Option<graph::Client<'c>>,
    syslog: Syslog,
    delivered_live: bool,
}

impl<'c> Submitter<'c> {
    /// A submitter for `config`; `helo` names this host, `delivery` holds the
    /// DSN and body options, `verbose` turns the transcript on.
    pub fn new(
        config: &'c Config,
        helo: String,
        delivery: Delivery,
        verbose: bool,
        syslog: Syslog,
    ) -> Self {
        Submitter {
            config,
            helo,
            delivery,
            verbose,
            tokens: TokenSource::new(config),
            relay: None,
            use_graph: match config.transport {
                Transport::Smtp => false,
                Transport::Graph => true,
                Transport::Auto => graph::memo::prefers_graph(config),
            },
            graph: None,
            syslog,
            delivered_live: false,
        }
    }

    /// A submitter for messages handed over by `invocation` (its DSN and
    /// body options, its `-v`).
    pub fn for_invocation(
        config: &'c Config,
        helo: String,
        invocation: &crate::cli::Invocation,
        syslog: Syslog,
    ) -> Self {
        let mut submitter = Self::new(
            config,
            helo,
            invocation.delivery.clone(),
            invocation.verbose,
            syslog,
        );
        // A caller never uses the credential when only the service may.
        submitter.callers_only();
        submitter
    }

    /// The kind of credential that fetched a token in this process, if one
    /// was fetched: the syslog line's `credential=` field.
    pub fn credential_field(&self) -> Option<&'static str> {
        (self.tokens.requests > 0).then(|| self.config.credential.kind_slug())
    }

    /// Cached tokens only, when `credential_access = "service"`.
    pub fn callers_only(&mut self) {
        self.tokens.callers_only();
    }

    /// The queue service's timer work with `credential_access = "service"`:
    /// renews the cached token before callers would find it unusable.
    /// A failure is logged, never fatal: the queue run goes on.
    pub fn warm_token(&mut self) {
        let mut transcript = if self.verbose {
            Transcript::stderr()
        } else {
            Transcript::off()
        };
        let result = self.tokens.warm(&mut transcript);
        for warning in self.tokens.warnings.drain(..) {
            self.syslog.log(Level::Warning, &warning);
        }
        if let Err(e) = result {
            self.syslog.log(
                Level::Warning,
                &format!(
                    "cannot renew the token for callers (credential_access = service): {} -- hint: {}",
                    e.message(),
                    e.hint()
                ),
            );
        }
    }

    /// Sends one message handed over by the caller and logs its outcome:
    /// [`Outcome::Delivered`], or [`Outcome::Queued`] when it could not go
    /// now and is safely in the queue.
    ///
    /// # Errors
    /// The failure to show (already logged): refused recipients, or what
    /// stopped the message (kept in `failed/` when there is a queue).
    pub fn submit(
        &mut self,
        addresses: &Addresses,
        header: &PreparedHeader,
        body: &mut dyn Read,
    ) -> Result<Outcome> {
        self.submit_as(addresses, header, body, &Announced::default())
    }

    /// [`Submitter::submit`] for a message whose client announced its body
    /// type and size (`-bs`: MAIL FROM's BODY= and SIZE=), passed on.
    ///
    /// # Errors
    /// As [`Submitter::submit`].
    pub fn submit_as(
        &mut self,
        addresses: &Addresses,
        header: &PreparedHeader,
        body: &mut dyn Read,
        announced: &Announced,
    ) -> Result<Outcome> {
        let mut delivery = self.delivery.clone();
        if let Some(body_type) = &announced.body {
            delivery.body = Some(body_type.clone());
        }
        let started = Instant::now();
        let spool = self.config.queue.as_ref().map(|q| Spool::new(&q.dir));
        let (mut draft, mut queue_problem) = match &spool {
            Some(spool) => match self.start_draft(spool, addresses, header, &delivery) {
                Ok(draft) => (Some(draft), None),
                Err(e) => (None, Some(describe_error(spool, &e))),
            },
            None => (None, None),
        };
        let has_draft = draft.is_some();
        // The limit holds for what goes to the server and into the queue alike.
        let mut limited = SizeLimit::new(
            body,
            header.bytes.len() as u64,
            self.config.max_message_size,
            Whose::Config,
        );
        let mut tee = Tee::new(&mut limited, draft.as_mut());
        let mut attempt = self.attempt(
            addresses,
            &delivery,
            &header.bytes,
            &mut tee,
            announced.size,
        );
        // Nothing to keep: the input broke, or the message is too large
        // for any retry to help (exit 65, as for a malformed message).
        let not_kept = attempt
            .error
            .as_ref()
            .is_some_and(|e| e.kind() == Kind::Input || e.cause() == Some("message-too-large"));
        let worth_keeping = !attempt.complete() && !not_kept;
        let drained = if worth_keeping && has_draft {
            tee.drain()
        } else {
            Ok(())
        };
        if let Err(e) = drained {
            // Without the whole message there is nothing to keep.
            attempt.error = Some(match TooLarge::from_io(&e) {
                Some(too_large) => too_large.error(),
                None => Error::new(
                    Kind::Input,
                    format!(
                        "reading the message failed: {}; it was not queued ({})",
                        crate::error::io_reason(&e),
                        attempt.error.as_ref().map_or("", |e| e.message())
                    ),
                ),
            });
            let nothing_kept = Conclusion {
                kept: None,
                queue_problem: None,
                queue_configured: false,
            };
            return self.conclude(addresses, header, started, attempt, nothing_kept);
        }
        if (self.relay.is_some() || self.graph.is_some()) && attempt.complete() {
            self.delivered_live = true;
        }
        let kept = match (worth_keeping, draft.as_mut(), &spool) {
            (true, Some(draft), Some(spool)) => {
                let area = if attempt.deferred.is_empty() {
                    Area::Failed
                } else {
                    Area::Messages
                };
                match draft.keep(spool, &first_state(&attempt), area) {
                    Ok(()) => Some((draft.id().to_string(), area)),
                    Err(e) => {
                        queue_problem = Some(describe_error(spool, &e));
                        None
                    }
                }
            }
            _ => None,
        };
        let conclusion = Conclusion {
            kept,
            queue_problem,
            queue_configured: spool.is_some(),
        };
        self.conclude(addresses, header, started, attempt, conclusion)
    }

    /// A draft of the message in the queue's `tmp/` area, its header written.
    fn start_draft(
        &self,
        spool: &Spool,
        addresses: &Addresses,
        header: &PreparedHeader,
        delivery: &Delivery,
    ) -> io::Result<Draft> {
        let now = clock::now();
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let meta = Meta {
            id: format::new_queue_id(micros, clock::random_bytes()),
            arrival: now,
            uid: caller::real_uid(),
            sender: addresses.sender.clone(),
            recipients: addresses.recipients.clone(),
            message_id: header.message_id.clone(),
            delivery: delivery.clone(),
            size: 0,
            account: (self.config.account != crate::config::DEFAULT_ACCOUNT)
                .then(|| self.config.account.clone()),
        };
        match Draft::create(spool, meta.clone(), &header.bytes) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                spool.prepare()?;
                Draft::create(spool, meta, &header.bytes)
            }
            other => other,
        }
    }

    /// Tries one message over the session (opened on first use); logs nothing.
    pub fn attempt(
        &mut self,
        addresses: &Addresses,
        delivery: &Delivery,
        header: &[u8],
        body: &mut dyn Read,
        size: Option<u64>,
    ) -> Attempt {
        if self.use_graph {
            return self.attempt_graph(addresses, header, body);
        }
        let auto = self.config.transport == Transport::Auto;
        let reused = self.relay.is_some();
        let utf8_header = !header.is_ascii();
        let relay = match self.relay() {
            Ok(relay) => relay,
            Err(e) if auto && graph::memo::smtp_auth_refused_by_policy(e.cause()) => {
                // The same message goes through Graph now, and the next
                // ones straight away.
                self.switch_to_graph(&e);
                return self.attempt_graph(addresses, header, body);
            }
            Err(e) => return Attempt::no_session(&addresses.recipients, e),
        };
        let caps = relay.capabilities();
        let envelope = envelope::esmtp(addresses, delivery, caps, size, utf8_header);
        let (envelope, mut renamed) = match intl::for_server(envelope, caps) {
            Ok(converted) => converted,
            Err(e) => return Attempt::refused(&addresses.recipients, e),
        };
        let mut sent = relay.send(&envelope, header, body);
        // A session kept open between messages (-bs, queue runs) may have
        // been closed by the server while idle, or be closing (421): before
        // anything of this message was read, open a new one, once.
        if reused
            && let Err(e) = &sent
            && stale(e)
            && !relay.message_started()
        {
            if let Some(stale) = self.relay.take() {
                stale.abandon();
            }
            let relay = match self.relay() {
                Ok(relay) => relay,
                Err(e) => return Attempt::no_session(&addresses.recipients, e),
            };
            let caps = relay.capabilities();
            let envelope = envelope::esmtp(addresses, delivery, caps, size, utf8_header);
            let envelope = match intl::for_server(envelope, caps) {
                Ok((envelope, again)) => {
                    renamed = again;
                    envelope
                }
                Err(e) => return Attempt::refused(&addresses.recipients, e),
            };
            sent = relay.send(&envelope, header, body);
        }
        let relay = self.relay.as_mut().expect("open: it just sent");
        match sent {
            Ok(mut receipt) => {
                renamed.restore(&mut receipt.accepted);
                renamed.restore(&mut receipt.refused);
                Attempt::sent(&receipt)
            }
            Err(mut e) => {
                if let Failure::NoRecipients(list) = &mut e.failure {
                    renamed.restore(list);
                }
                let server = relay.server().to_string();
                // After a refusal the session can go on; after a broken
                // connection or protocol it cannot. A message cut short
                // (input broken, too large) leaves the DATA phase open:
                // only closing the connection ends it.
                let usable = !matches!(
                    e.failure,
                    Failure::Io(_)
                        | Failure::Malformed(_)
                        | Failure::Input(_)
                        | Failure::TooLarge(_)
                );
                if !usable {
                    if let Some(relay) = self.relay.take() {
                        relay.abandon();
                    }
                } else if relay.reset().is_err()
                    && let Some(relay) = self.relay.take()
                {
                    relay.close();
                }
                Attempt::failed(&addresses.recipients, e, &server)
            }
        }
    }

    /// The relay, opened on first use.
    fn relay(&mut self) -> Result<&mut Relay> {
        if self.relay.is_none() {
            let transcript = if self.verbose {
                Transcript::stderr()
            } else {
                Transcript::off()
            };
            let opened = Relay::open(self.config, &mut self.tokens, &self.helo, transcript);
            for warning in self.tokens.warnings.drain(..) {
                self.syslog.log(Level::Warning, &warning);
            }
            self.relay = Some(opened?);
        }
        Ok(self.relay.as_mut().expect("opened above"))
    }

    /// The configuration.
    pub fn config(&self) -> &'c Config {
        self.config
    }

    /// Whether a message handed over live was delivered and the session is
    /// still open (then queued messages may follow over it).
    pub fn delivered_live(&self) -> bool {
        self.delivered_live && (self.relay.is_some() || self.graph.is_some())
    }

    /// Writes one line to syslog.
    pub fn log(&mut self, level: Level, line: &str) {
        self.syslog.log(level, line);
    }

    /// The syslog connection, for other lines about the messages it sends.
    pub fn syslog(&mut self) -> &mut Syslog {
        &mut self.syslog
    }

    /// Ends the session (QUIT without waiting).
    pub fn finish(mut self) {
        if let Some(relay) = self.relay.take() {
            relay.close();
        }
    }

    /// Logs the outcome of a live message and picks what the caller sees.
    fn conclude(
        &mut self,
        addresses: &Addresses,
        header: &PreparedHeader,
        started: Instant,
        attempt: Attempt,
        conclusion: Conclusion,
    ) -> Result<Outcome> {
        let queue_id = conclusion.kept.as_ref().map(|(id, _)| id.as_str());
        let record = Record {
            queue_id,
            message_id: Some(&header.message_id),
            size: attempt.size,
            smtp: attempt.reply.clone(),
            credential: self.credential_field(),
            transport: attempt.transport,
            ..Record::delivered(&addresses.sender, &addresses.recipients, started.elapsed())
        };
        let Some(error) = &attempt.error else {
            self.syslog.log(Level::Info, &record.line());
            return Ok(Outcome::Delivered);
        };
        let queued = matches!(conclusion.kept, Some((_, Area::Messages)));
        let (level, outcome, shown) = if queued {
            // Safe in the queue; only permanently refused recipients are an error.
            let shown = (!attempt.refused.is_empty()).then(|| {
                Error::new(
                    Kind::NoUser,
                    format!(
                        "{}; the message is queued for {}",
                        error.message(),
                        addresses_list(&attempt.deferred)
                    ),
                )
            });
            (Level::Warning, Outcome::Queued, shown)
        } else if !attempt.deferred.is_empty() && conclusion.queue_configured {
            // It should have been queued and could not be: say so, exit 75
            // (67 when some recipients have it: a resend to all duplicates).
            let problem = conclusion
                .queue_problem
                .unwrap_or_else(|| "the queue is not usable".into());
            let (kind, hint) = if attempt.delivered.is_empty() {
                (
                    Kind::Temporary,
                    "nothing was kept; the message must be sent again later",
                )
            } else {
                (
                    Kind::NoUser,
                    "nothing was kept; send it again later only to the recipients named",
                )
            };
            let shown = Error::new(
                kind,
                format!("{}; it could not be queued: {problem}", error.message()),
            )
            .with_hint(hint)
            .with_cause("queue-write-failed");
            (Level::Error, Outcome::Failed, Some(shown))
        } else {
            if let Some(problem) = &conclusion.queue_problem {
                self.syslog.log(
                    Level::Warning,
                    &format!("could not keep a copy in failed/: {problem}"),
                );
            }
            if attempt.delivered.is_empty() {
                (Level::Error, Outcome::Failed, None)
            } else {
                (Level::Warning, Outcome::Partial, None)
            }
        };
        let reported = shown.as_ref().unwrap_or(error);
        let note = match outcome {
            Outcome::Queued => format!("queued: {}", error.message()),
            _ => reported.message().to_string(),
        };
        let exit = match (outcome, &shown) {
            (Outcome::Queued, None) => "EX_OK",
            _ => reported.kind().exit_name(),
        };
        let line = Record {
            outcome,
            exit,
            cause: Some(reported.cause().unwrap_or_else(|| error.cause_code())),
            error: Some(&note),
            ..record
        }
        .line();
        self.syslog.log(level, &line);
        match (outcome, shown) {
            (Outcome::Queued, None) => Ok(Outcome::Queued),
            (_, Some(shown)) => Err(shown),
            _ => Err(attempt.error.expect("checked above")),
        }
    }
}

/// Whether a failure says that the session is gone (closed, reset, or a
/// 421 such as Postfix's "4.4.2 timeout exceeded"), not that the server
/// refused the message. A 421 that asks for a pause (4.3.2, "too many")
/// is no stale session: the queue run stops for it.
fn stale(e: &SmtpError) -> bool {
    match &e.failure {
        Failure::Io(_) => true,
        Failure::Reply(reply) => reply.code == 421 && !schedule::throttles(0, &reply.text()),
        _ => false,
    }
}

/// What the client of a `-bs` dialogue said about a message in MAIL FROM.
#[derive(Clone, Debug, Default)]
pub struct Announced {
    /// `BODY=` (`7BIT` or `8BITMIME`).
    pub body: Option<String>,
    /// `SIZE=`, the client's estimate.
    pub size: Option<u64>,
}

/// What became of a message that was not delivered to everyone.
struct Conclusion {
    /// Its queue id and where it is now (`msg/` or `failed/`).
    kept: Option<(String, Area)>,
    /// Why the queue could not take it, if it could not.
    queue_problem: Option<String>,
    /// Whether `[queue] dir` is set.
    queue_configured: bool,
}

/// The retry state of a message queued after its first, live attempt.
fn first_state(attempt: &Attempt) -> State {
    let now = clock::now();
    State {
        attempts: 1,
        last_attempt: now,
        next_attempt: now + schedule::retry_delay(1),
        last_error: attempt
            .error
            .as_ref()
            .map_or_else(String::new, |e| e.message().to_string()),
        delivered: attempt.delivered.clone(),
        refused: attempt.refused.clone(),
    }
}

/// `<a@x>, <b@y>`.
pub fn addresses_list(list: &[String]) -> String {
    list.iter()
        .map(|r| format!("<{r}>"))
        .collect::<Vec<_>>()
        .join(", ")
}

mod graph_path;
#[cfg(test)]
mod tests;
