//! Submitting messages: one authenticated session, reused, one log line
//! per message, and the queue for what cannot go now.
//!
//! A [`Submitter`] opens the transport (`transport`: SMTP today) when the
//! first message needs it and keeps it for the next (a `-bs` dialogue or a queue run sends several over
//! one login). [`Submitter::submit`] sends one message handed over by a
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
use crate::cli::Delivery;
use crate::clock;
use crate::config::Config;
use crate::envelope::Addresses;
use crate::error::{Error, Kind, Result};
use crate::log::{Level, Outcome, Record, Syslog};
use crate::message::PreparedHeader;
use crate::spool::caller;
use crate::spool::describe_error;
use crate::spool::draft::{Draft, Tee};
use crate::spool::format::{self, Meta, State};
use crate::spool::schedule;
use crate::spool::store::{Area, Spool};
use crate::transcript::Transcript;
use crate::transport::{self, Transport};

/// Sends messages for one invocation.
pub struct Submitter<'c> {
    account: Account<'c>,
    helo: String,
    delivery: Delivery,
    verbose: bool,
    transport: Option<Box<dyn Transport>>,
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
        let spool = self
            .account
            .config
            .queue
            .as_ref()
            .map(|q| Spool::new(&q.dir));
        let (mut draft, mut queue_problem) = match &spool {
            Some(spool) => match self.start_draft(spool, addresses, header) {
                Ok(draft) => (Some(draft), None),
                Err(e) => (None, Some(describe_error(spool, &e))),
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
        let transport = match self.transport() {
            Ok(transport) => transport,
            Err(e) => return Attempt::no_session(&addresses.recipients, e),
        };
        let sent = transport.send(addresses, delivery, header, body);
        if !sent.reusable {
            self.transport = None;
        }
        sent.attempt
    }

    /// The transport, opened on first use.
    fn transport(&mut self) -> Result<&mut Box<dyn Transport>> {
        if self.transport.is_none() {
            let transcript = if self.verbose {
                Transcript::stderr()
            } else {
                Transcript::off()
            };
            let opened = transport::open(&mut self.account, &self.helo, transcript);
            for warning in self.account.tokens.warnings.drain(..) {
                self.syslog.log(Level::Warning, &warning);
            }
            self.transport = Some(opened?);
        }
        Ok(self.transport.as_mut().expect("opened above"))
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
mod tests {
    use super::*;

    /// An attempt that served `delivered`, refused `refused` and deferred
    /// `deferred` recipients (counts), and failed.
    fn attempt(delivered: usize, refused: usize, deferred: usize) -> Attempt {
        let some = |n: usize, name: &str| (0..n).map(|i| format!("{name}{i}@x")).collect();
        Attempt {
            delivered: some(delivered, "ok"),
            refused: some(refused, "no"),
            deferred: some(deferred, "later"),
            error: Some(Error::temporary("451 4.3.0 try later")),
            reply: None,
            size: None,
            no_session: false,
            throttled: false,
        }
    }

    #[test]
    fn endings() {
        use Ending::*;
        let queued = Some(Area::Messages);
        let failed = Some(Area::Failed);
        // (delivered, refused, deferred), where it was kept, queue configured, ending
        let table = [
            ((0, 0, 2), queued, true, Queued { refused: false }),
            ((1, 0, 1), queued, true, Queued { refused: false }),
            ((0, 1, 1), queued, true, Queued { refused: true }),
            ((0, 0, 2), None, true, NotQueued),
            ((1, 1, 1), failed, true, NotQueued),
            ((0, 0, 2), None, false, Failed),
            ((0, 2, 0), failed, true, Failed),
            ((0, 2, 0), None, false, Failed),
            ((1, 1, 0), failed, true, Partial),
            ((1, 0, 1), None, false, Partial),
        ];
        for (i, ((delivered, refused, deferred), kept, configured, want)) in
            table.into_iter().enumerate()
        {
            let got = ending(&attempt(delivered, refused, deferred), kept, configured);
            assert_eq!(got, want, "row {i}");
        }
    }
}
