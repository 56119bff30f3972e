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
use crate::log::{Level, Outcome, Record, Syslog};
use crate::message::PreparedHeader;
use crate::relay::Relay;
use crate::smtp::session::Failure;
use crate::spool::caller;
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
        Self::new(
            config,
            helo,
            invocation.delivery.clone(),
            invocation.verbose,
            syslog,
        )
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
        let started = Instant::now();
        let spool = self.config.queue.as_ref().map(|q| Spool::new(&q.dir));
        let (mut draft, mut queue_problem) = match &spool {
            Some(spool) => match self.start_draft(spool, addresses, header) {
                Ok(draft) => (Some(draft), None),
                Err(e) => (None, Some(describe_spool_error(spool, &e))),
            },
            None => (None, None),
        };
        let has_draft = draft.is_some();
        let mut tee = Tee::new(body, draft.as_mut());
        let delivery = self.delivery.clone();
        let mut attempt = self.attempt(addresses, &delivery, &header.bytes, &mut tee);
        let input_failed = attempt
            .error
            .as_ref()
            .is_some_and(|e| e.kind() == Kind::Input);
        let worth_keeping = !attempt.complete() && !input_failed;
        if worth_keeping
            && has_draft
            && let Err(e) = tee.drain()
        {
            // Without the whole message there is nothing to keep.
            attempt.error = Some(Error::new(
                Kind::Input,
                format!(
                    "reading the message failed: {}; it was not queued ({})",
                    crate::error::io_reason(&e),
                    attempt.error.as_ref().map_or("", |e| e.message())
                ),
            ));
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
                        queue_problem = Some(describe_spool_error(spool, &e));
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
            delivery: self.delivery.clone(),
            size: 0,
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
    ) -> Attempt {
        if self.use_graph {
            return self.attempt_graph(addresses, header, body);
        }
        let auto = self.config.transport == Transport::Auto;
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
        let envelope = envelope::esmtp(addresses, delivery, relay.capabilities());
        match relay.send(&envelope, header, body) {
            Ok(receipt) => Attempt::sent(&receipt),
            Err(e) => {
                let server = relay.server().to_string();
                // After a refusal the session can go on; after a broken
                // connection or protocol it cannot.
                let usable = !matches!(
                    e.failure,
                    Failure::Io(_) | Failure::Malformed(_) | Failure::Input(_)
                );
                if !(usable && relay.reset().is_ok()) {
                    self.relay = None;
                }
                Attempt::failed(&addresses.recipients, e, &server)
            }
        }
    }

    /// Tries one message through Microsoft Graph; logs nothing.
    fn attempt_graph(
        &mut self,
        addresses: &Addresses,
        header: &[u8],
        body: &mut dyn Read,
    ) -> Attempt {
        let verbose = self.verbose;
        let config = self.config;
        let client = self.graph.get_or_insert_with(|| {
            let transcript = if verbose {
                Transcript::stderr()
            } else {
                Transcript::off()
            };
            graph::Client::new(config, transcript)
        });
        let result = client.send(&addresses.recipients, header, body);
        let warnings = client.take_warnings();
        for warning in warnings {
            self.syslog.log(Level::Warning, &warning);
        }
        graph::outcome::attempt(&addresses.recipients, result)
    }

    /// `auto`: SMTP AUTH was refused by policy (`refusal`); Graph from now on.
    fn switch_to_graph(&mut self, refusal: &Error) {
        self.use_graph = true;
        let mut line = format!(
            "transport=auto: SMTP AUTH is refused by policy ({}); sending through Microsoft Graph",
            refusal.message()
        );
        match graph::memo::remember_graph(self.config) {
            Ok(()) => line.push_str(&format!(
                ", and so for the next {} days",
                graph::memo::REMEMBER_FOR / 86_400
            )),
            Err(e) => line.push_str(&format!(
                " (the choice cannot be remembered in {}: {})",
                self.config.token.cache_dir.display(),
                crate::error::io_reason(&e)
            )),
        }
        if self.verbose {
            eprintln!("* {line}");
        }
        self.syslog.log(Level::Warning, &line);
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

    /// Whether the transcript goes to stderr (`-v`).
    pub fn verbose(&self) -> bool {
        self.verbose
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
            // It should have been queued and could not be: say so, exit 75.
            let problem = conclusion
                .queue_problem
                .unwrap_or_else(|| "the queue is not usable".into());
            let shown = Error::new(
                Kind::Temporary,
                format!("{}; it could not be queued: {problem}", error.message()),
            )
            .with_hint("nothing was kept; the message must be sent again later")
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

/// A queue I/O error, naming the queue directory.
pub fn describe_spool_error(spool: &Spool, e: &io::Error) -> String {
    format!("{}: {}", spool.root().display(), crate::error::io_reason(e))
}
