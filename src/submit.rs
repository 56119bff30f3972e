//! Submitting messages: one authenticated session, reused, one log line
//! per message, and the queue for what cannot go now.
//!
//! A [`Submitter`] opens the account's transport (SMTP, Graph, or `auto`'s
//! choice, `crate::transport`) when the first message needs it and keeps
//! it for the next (a `-bs` dialogue or a queue run sends several over one
//! login). [`Submitter::submit`] sends one message handed over by a
//! caller. With `[queue] dir` set, the message is copied into a draft in
//! the queue as it streams to the server; a temporary failure (or one that
//! is not clearly permanent) then queues it, durably, before `submit`
//! returns, and a permanent one keeps it in `failed/`. A failed transaction
//! leaves the session usable after RSET; a broken connection is dropped
//! and the next message opens a new one.

use std::io::{self, Read};
use std::time::Instant;

use crate::account::Account;
use crate::attempt::Attempt;
use crate::cause::Cause;
use crate::cli::Delivery;
use crate::clock;
use crate::config::Config;
use crate::envelope::Addresses;
use crate::error::{Error, Kind, Result};
use crate::log::{Level, Outcome, Record, Syslog};
use crate::message::PreparedHeader;
use crate::size::{SizeLimit, TooLarge, Whose};
use crate::spool::describe_error;
use crate::spool::draft::{Draft, Tee};
use crate::spool::format::{Meta, State};
use crate::spool::schedule;
use crate::spool::store::{Area, Spool};
use crate::transcript::Transcript;
use crate::transport::{self, After, Transport};

/// Sends messages for one invocation.
pub struct Submitter<'c> {
    account: Account<'c>,
    helo: String,
    delivery: Delivery,
    verbose: bool,
    transport: Option<Box<dyn Transport + 'c>>,
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
            account: Account::from_config(config),
            helo,
            delivery,
            verbose,
            transport: None,
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
        let by_transport = self.transport.as_ref().map_or(0, |t| t.token_requests());
        (self.account.tokens.requests + by_transport > 0)
            .then(|| self.account.config.credential.kind_slug())
    }

    /// Cached tokens only, when `credential_access = "service"`.
    pub fn callers_only(&mut self) {
        self.account.callers_only();
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
        let result = self.account.tokens.warm(&mut transcript);
        for warning in self.account.tokens.warnings.drain(..) {
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
        let spool = self
            .account
            .config
            .queue
            .as_ref()
            .map(|q| Spool::new(&q.dir));
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
            self.account.config.max_message_size,
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
            .is_some_and(|e| e.kind() == Kind::Input || e.cause() == Some(Cause::MessageTooLarge));
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
        if self.transport.is_some() && attempt.complete() {
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
        let meta = Meta {
            sender: addresses.sender.clone(),
            recipients: addresses.recipients.clone(),
            message_id: header.message_id.clone(),
            delivery: delivery.clone(),
            account: self.account.config.account_tag(),
            ..Meta::default()
        };
        Draft::begin(spool, meta, &header.bytes)
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
        let reused = self.transport.is_some();
        let transport = match self.transport() {
            Ok(transport) => transport,
            Err(e) => return Attempt::no_session(&addresses.recipients, e),
        };
        let mut sent = transport.send(addresses, delivery, header, body, size, reused);
        self.log_warnings();
        // A session kept open between messages (-bs, queue runs) may have
        // been closed by the server while idle, or be closing (421): before
        // anything of this message was read, open a new one, once.
        if sent.after == After::Stale {
            if let Some(stale) = self.transport.take() {
                stale.abandon();
            }
            let transport = match self.transport() {
                Ok(transport) => transport,
                Err(e) => return Attempt::no_session(&addresses.recipients, e),
            };
            sent = transport.send(addresses, delivery, header, body, size, false);
            self.log_warnings();
        }
        match sent.after {
            After::Keep => {}
            After::Close => {
                if let Some(transport) = self.transport.take() {
                    transport.close();
                }
            }
            After::Abandon | After::Stale => {
                if let Some(transport) = self.transport.take() {
                    transport.abandon();
                }
            }
        }
        sent.attempt
    }

    /// The transport, opened on first use.
    fn transport(&mut self) -> Result<&mut Box<dyn Transport + 'c>> {
        let transport = match self.transport.take() {
            Some(transport) => transport,
            // The warnings of a transport that opened are logged after
            // its first message (`attempt`), still before that message's
            // own line.
            None => transport::open(&mut self.account, &self.helo, self.verbose)
                .inspect_err(|_| self.log_warnings())?,
        };
        Ok(self.transport.insert(transport))
    }

    /// Logs what the account's tokens and the transport found worth a
    /// warning.
    fn log_warnings(&mut self) {
        let from_transport = self
            .transport
            .as_mut()
            .map(|t| t.take_warnings())
            .unwrap_or_default();
        for warning in self.account.tokens.warnings.drain(..).chain(from_transport) {
            self.syslog.log(Level::Warning, &warning);
        }
    }

    /// The configuration.
    pub fn config(&self) -> &'c Config {
        self.account.config
    }

    /// Whether a message handed over live was delivered and the session is
    /// still open (then queued messages may follow over it).
    pub fn delivered_live(&self) -> bool {
        self.delivered_live && self.transport.is_some()
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
        if let Some(transport) = self.transport.take() {
            transport.close();
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
        let kept = conclusion.kept.as_ref().map(|(_, area)| *area);
        let (level, outcome, shown) = match ending(&attempt, kept, conclusion.queue_configured) {
            Ending::Queued { refused } => {
                // Safe in the queue; only permanently refused recipients are an error.
                let shown = refused.then(|| {
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
            }
            Ending::NotQueued => {
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
                .with_cause(Cause::QueueWriteFailed);
                (Level::Error, Outcome::Failed, Some(shown))
            }
            ending => {
                if let Some(problem) = &conclusion.queue_problem {
                    self.syslog.log(
                        Level::Warning,
                        &format!("could not keep a copy in failed/: {problem}"),
                    );
                }
                match ending {
                    Ending::Partial => (Level::Warning, Outcome::Partial, None),
                    _ => (Level::Error, Outcome::Failed, None),
                }
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
            cause: Some(
                reported
                    .cause()
                    .unwrap_or_else(|| error.cause_or_fallback()),
            ),
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

/// What the client of a `-bs` dialogue said about a message in MAIL FROM.
#[derive(Clone, Debug, Default)]
pub struct Announced {
    /// `BODY=` (`7BIT` or `8BITMIME`).
    pub body: Option<String>,
    /// `SIZE=`, the client's estimate.
    pub size: Option<u64>,
}

/// How a live message that was not delivered to everyone ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// Safe in the queue for the deferred recipients; an error for the
    /// caller only if some were `refused` for good.
    Queued { refused: bool },
    /// Recipients should have been queued and could not be (exit 75).
    NotQueued,
    /// Accepted for some recipients, refused for the others.
    Partial,
    /// Accepted for nobody (kept in `failed/`, or nowhere).
    Failed,
}

/// The decision behind [`Submitter::conclude`]: from what the attempt did,
/// where the message was `kept`, and whether there is a queue at all.
fn ending(attempt: &Attempt, kept: Option<Area>, queue_configured: bool) -> Ending {
    if kept == Some(Area::Messages) {
        Ending::Queued {
            refused: !attempt.refused.is_empty(),
        }
    } else if !attempt.deferred.is_empty() && queue_configured {
        Ending::NotQueued
    } else if attempt.delivered.is_empty() {
        Ending::Failed
    } else {
        Ending::Partial
    }
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

#[cfg(test)]
mod tests;
