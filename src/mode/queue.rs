//! Queue runs: `-q` (every message now), `--queue-run` (the messages whose
//! retry time has come, what the timer runs) and the flush after a live
//! send (due messages, over the session that just worked, for a moment).
//!
//! A run walks the queue oldest first and claims each message with its
//! lock: what another run holds is skipped, so two runs never send the
//! same message at once. Messages go over one session (the submitter keeps
//! it; RSET after a refusal). Each message ends delivered (removed),
//! deferred (attempts + 1, next try after an exponential backoff) or given
//! up (`failed/`, logged at error level): refused for good, or older than
//! `max_age`. A session that cannot be opened defers every remaining due
//! message with the same reason; a 421 or a throttling reply, the
//! per-minute limit, the time budget or a result that cannot be recorded
//! ends the run and leaves the rest.
//!
//! A caller running the set-group-ID binary (any local user) touches only
//! the messages it queued itself, and only when they are due, even with
//! `-q` ([`caller::run_owner`]); it never moves files aside or cleans up.
//! No lock is waited for without limit: the pacing ledger's lock
//! (`crate::limits`) for [`LEDGER_PATIENCE`] in a run of the whole queue
//! (then the run goes on without the ledger), not at all in a flush or a
//! caller's own run (which then stop): a live send never waits on another
//! process's work. A run holds one of the mailbox's connection slots.
//!
//! With `[accounts.NAME]`, each account's run has its own session, slot
//! and pacing, and takes only the messages tagged with its name (the
//! default account's run also those of an account the file no longer
//! has, to fail them); every message's account is checked again against
//! the binding of the user who queued it (`super::accounts`).

use std::io::Read;
use std::time::{Duration, Instant};

use crate::attempt::Attempt;
use crate::cause::Cause;
use crate::clock;
use crate::config::{Config, QueueConfig};
use crate::envelope::Addresses;
use crate::error::{Error, Kind, Result};
use crate::log::{Level, Outcome, Record};
use crate::spool::{cant_use, describe_error};
use crate::submit::{Submitter, addresses_list};

use super::accounts;
pub use super::summary::{Summary, describe};
use crate::limits::{self, Next};
use crate::spool::caller;
use crate::spool::format::{Corrupt, State};
use crate::spool::schedule;
use crate::spool::store::{Area, Claim, Claimed, Spool};

mod command;
mod decide;
pub use command::from_command;
use decide::{Plan, Settlement, plan, settlement};

/// How long a run of the whole queue waits for the pacing ledger's lock,
/// which is held for a moment by each send of every run.
pub const LEDGER_PATIENCE: Duration = Duration::from_secs(2);

/// Which messages a run takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Every message (`-q`).
    All,
    /// Those whose retry time has come (`--queue-run`, the flush).
    Due,
}

/// Ends a live invocation: if a message was just delivered and the queue
/// holds due messages (this caller's own, for a set-group-ID caller),
/// sends them over the same session within the configured time budget;
/// then QUIT.
pub fn finish_with_flush(mut submitter: Submitter, top: &Config) -> Option<Summary> {
    let config = submitter.config();
    if let Some(queue) = &config.queue
        && submitter.delivered_live()
        && !queue.flush_budget.is_zero()
    {
        let deadline = Instant::now() + queue.flush_budget;
        let summary = run(&mut submitter, top, queue, Selection::Due, Some(deadline)).ok();
        submitter.finish();
        return summary;
    }
    submitter.finish();
    None
}

/// Runs the queue once for the submitter's account (`top` is the top
/// level, which knows every account).
///
/// # Errors
/// The queue directory cannot be read.
pub fn run(
    submitter: &mut Submitter,
    top: &Config,
    queue: &QueueConfig,
    selection: Selection,
    deadline: Option<Instant>,
) -> Result<Summary> {
    let spool = Spool::new(&queue.dir);
    // Also for a flush: an area replaced by a link to another directory
    // would have this run move that directory's files aside.
    spool.prepare().map_err(|e| cant_use(&spool, &e))?;
    let owner = caller::run_owner();
    // A caller's own run respects the backoff, even with -q.
    let selection = if owner.is_some() {
        Selection::Due
    } else {
        selection
    };
    let mut run = Run {
        submitter,
        top,
        queue,
        spool: &spool,
        summary: Summary::default(),
        session_down: None,
        owner,
        ledger: if owner.is_none() && deadline.is_none() {
            Ledger::Wait(LEDGER_PATIENCE)
        } else {
            Ledger::Never
        },
    };
    let (ids, foreign) = spool.ids().map_err(|e| cant_use(&spool, &e))?;
    if owner.is_none() {
        for name in foreign {
            run.set_aside(&name, "its name is not a queue id");
        }
    }
    for id in &ids {
        if run.summary.stopped.is_some() {
            break;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            run.summary.stopped = Some("time budget used up".into());
            break;
        }
        // Most of a long queue is not due: skip it without opening the
        // message (the state is read again under the lock).
        if selection == Selection::Due
            && spool
                .read_state(id)
                .is_ok_and(|state| !schedule::is_due(state.next_attempt, clock::now()))
        {
            continue;
        }
        run.take(id, selection);
    }
    Ok(run.summary)
}

/// Delivers the one queued message `id` now, whatever its retry time
/// (the detached process of `-odb`); a set-group-ID caller's only if it
/// queued it, and only with the submitter's account if it is the
/// message's.
///
/// # Errors
/// None today; the signature matches [`run`].
pub fn run_one(
    submitter: &mut Submitter,
    top: &Config,
    queue: &QueueConfig,
    id: &str,
) -> Result<Summary> {
    let spool = Spool::new(&queue.dir);
    let owner = caller::run_owner();
    let mut run = Run {
        submitter,
        top,
        queue,
        spool: &spool,
        summary: Summary::default(),
        session_down: None,
        owner,
        ledger: if owner.is_none() {
            Ledger::Wait(LEDGER_PATIENCE)
        } else {
            Ledger::Never
        },
    };
    run.take(id, Selection::All);
    Ok(run.summary)
}

/// How a run uses the pacing ledger when its lock is busy or it cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ledger {
    /// Wait this long, then go on without it (a run of the whole queue).
    Wait(Duration),
    /// Do not wait; stop the run (a flush, a caller's own run).
    Never,
    /// Not used any more in this run (it failed once; warned).
    Off,
}

/// One run's working state.
struct Run<'r, 'c> {
    submitter: &'r mut Submitter<'c>,
    /// The top level: every account, for the messages' tags.
    top: &'r Config,
    queue: &'r QueueConfig,
    spool: &'r Spool,
    summary: Summary,
    /// Why no session could be opened, once that happened.
    session_down: Option<String>,
    /// The caller whose messages alone this run touches (set-group-ID).
    owner: Option<u32>,
    ledger: Ledger,
}

impl Run<'_, '_> {
    /// Claims message `id` and handles it; what another run holds is
    /// skipped, and so is, in a caller's own run, everything that is not
    /// this caller's (released at once, untouched).
    fn take(&mut self, id: &str, selection: Selection) {
        let owner = self.owner;
        // Another user's message is never locked by a caller, not even for
        // a moment: a caller who stopped its run while it held the lock
        // would keep that message from every run for as long as it likes.
        if owner.is_some_and(|uid| self.spool.peek(id).map_or(true, |m| m.uid != uid)) {
            return;
        }
        match self.spool.claim(id) {
            Ok(Claim::Taken(claimed)) if owner.is_some_and(|uid| claimed.meta.uid != uid) => {}
            // Another account's: its own run sends it, with its own session.
            Ok(Claim::Taken(claimed))
                if !accounts::belongs(self.top, self.submitter.config(), &claimed.meta) => {}
            Ok(Claim::Taken(claimed)) => match accounts::may_send(self.top, &claimed.meta) {
                Ok(()) => self.one(*claimed, selection),
                // A caller's own run leaves it; root's and the service's fail it.
                Err(_) if owner.is_some() => {}
                Err(e) => {
                    let line = format!("queue-id={id} not sent: {}", e.message());
                    let state = State {
                        last_error: e.message().to_string(),
                        ..State::default()
                    };
                    self.summary.failed_causes.push(Cause::Account);
                    self.give_up_logged(*claimed, &state, &line);
                }
            },
            Ok(Claim::Busy) if owner.is_none() => self.summary.busy += 1,
            Ok(Claim::Corrupt(why)) if owner.is_none() => self.set_aside(id, &why),
            Ok(Claim::Busy | Claim::Gone | Claim::Corrupt(_)) => {}
            Err(e) => self.log(
                Level::Warning,
                &format!(
                    "queue-id={id} cannot be read: {}",
                    crate::error::io_reason(&e)
                ),
            ),
        }
    }

    fn log(&mut self, level: Level, line: &str) {
        self.submitter.log(level, line);
    }

    fn set_aside(&mut self, name: &str, why: &str) {
        match self.spool.set_aside(Area::Messages, name) {
            Ok(to) => {
                self.summary.set_aside += 1;
                let line = format!(
                    "{} is not a valid queue file ({why}): moved to {}",
                    self.spool.path(Area::Messages, name).display(),
                    to.display()
                );
                self.log(Level::Error, &line);
            }
            Err(e) => {
                let line = format!(
                    "{} is not a valid queue file ({why}) and cannot be moved aside: {}",
                    self.spool.path(Area::Messages, name).display(),
                    crate::error::io_reason(&e)
                );
                self.log(Level::Error, &line);
            }
        }
    }

    /// Handles one claimed message.
    fn one(&mut self, mut claimed: Claimed, selection: Selection) {
        let id = claimed.meta.id.clone();
        let mut state = match self.spool.read_state(&id) {
            Ok(state) => state,
            Err(Corrupt(why)) => {
                let line = format!("queue-id={id} retry state unreadable ({why}): starting over");
                self.log(Level::Warning, &line);
                State::default()
            }
        };
        let now = clock::now();
        let pending = state.pending(&claimed.meta);
        let session_down = self.session_down.is_some();
        match plan(selection, state.next_attempt, now, &pending, session_down) {
            Plan::NotDue => return,
            Plan::Served => {
                // Everyone was served before a crash could record the end.
                let _ = self.spool.remove(claimed);
                return;
            }
            Plan::Wait => {
                let reason = self.session_down.clone().unwrap_or_default();
                let attempt = Attempt::no_session(&pending, Error::temporary(reason));
                self.settle(claimed, state, &attempt, Instant::now());
                return;
            }
            Plan::Try => {}
        }
        // Pacing (limits.rate, limits.recipients_per_day) counts live
        // and queued sends in one ledger.
        if !self.book(pending.len()) {
            return;
        }
        let started = Instant::now();
        let addresses = Addresses {
            sender: claimed.meta.sender.clone(),
            recipients: pending,
        };
        let delivery = claimed.meta.delivery.clone();
        let size = claimed.meta.size;
        let mut attempt = match claimed.message() {
            Ok(mut body) => {
                let body: &mut dyn Read = &mut body;
                self.submitter
                    .attempt(&addresses, &delivery, &[], body, Some(size))
            }
            Err(e) => Attempt::no_session(
                &addresses.recipients,
                Error::new(Kind::Input, format!("reading the queue file failed: {e}")),
            ),
        };
        if attempt.no_session {
            // Not the message's fault (token, network, login): it waits,
            // whatever the kind of failure.
            self.session_down = attempt.error.as_ref().map(|e| e.message().to_string());
            attempt.refused.clear();
            attempt.deferred.clone_from(&addresses.recipients);
        }
        if attempt.throttled {
            let why = attempt.error.as_ref().map_or("", |e| e.message());
            self.summary.stopped = Some(format!("the server asked for a pause: {why}"));
        }
        state.delivered.extend(attempt.delivered.iter().cloned());
        state.refused.extend(attempt.refused.iter().cloned());
        self.settle(claimed, state, &attempt, started);
    }

    /// Books a send to `recipients` recipients in the pacing ledger
    /// (limits.rate, limits.recipients_per_day); false when the run stops here.
    fn book(&mut self, recipients: usize) -> bool {
        let patience = match self.ledger {
            Ledger::Off => return true,
            Ledger::Wait(patience) => patience,
            Ledger::Never => Duration::ZERO,
        };
        let recipients = u32::try_from(recipients).unwrap_or(u32::MAX);
        match limits::admit_next(self.submitter.config(), recipients, patience) {
            Next::Go(warning) => {
                if let Some(warning) = warning {
                    self.log(Level::Warning, &warning);
                }
                true
            }
            Next::Stop(why) => {
                self.summary.stopped = Some(why);
                false
            }
            Next::Unusable(warning) if self.ledger == Ledger::Never => {
                self.summary.stopped = Some(warning.replace(": sending without it", ""));
                false
            }
            Next::Unusable(warning) => {
                self.ledger = Ledger::Off;
                self.log(Level::Warning, &warning);
                true
            }
        }
    }

    /// Records what the attempt means for the message: removed, kept in
    /// `failed/`, or deferred (or given up when too old).
    fn settle(&mut self, claimed: Claimed, mut state: State, attempt: &Attempt, started: Instant) {
        let now = clock::now();
        let meta = claimed.meta.clone();
        let error_text = attempt.error.as_ref().map(|e| e.message().to_string());
        let tried: Vec<String> = attempt
            .delivered
            .iter()
            .chain(&attempt.refused)
            .chain(&attempt.deferred)
            .cloned()
            .collect();
        let mut record = Record {
            queue_id: Some(&meta.id),
            message_id: (!meta.message_id.is_empty()).then_some(meta.message_id.as_str()),
            size: attempt.size.or(Some(meta.size)),
            smtp: attempt.reply.clone(),
            transport: attempt.transport,
            cause: attempt.error.as_ref().and_then(Error::cause),
            error: error_text.as_deref(),
            credential: self.submitter.credential_field(),
            ..Record::delivered(&meta.sender, &tried, started.elapsed())
        };
        let pending = state.pending(&meta);
        let max_age = self.queue.max_age.as_secs();
        let expired = schedule::is_expired(meta.arrival, max_age, now);
        let settlement = settlement(&pending, attempt, expired);
        if settlement == Settlement::Done {
            match self.spool.remove(claimed) {
                Ok(()) => {
                    self.summary.delivered += 1;
                    self.log(Level::Info, &record.line());
                }
                Err(e) => self.cannot_record(&meta.id, &e, "remove it; it will be sent again"),
            }
            return;
        }
        let kind = attempt.error.as_ref().map_or(Kind::Temporary, Error::kind);
        state.last_error = error_text.clone().unwrap_or_default();
        if let Settlement::GiveUp { partial } = settlement {
            // Refused for good: kept for the administrator.
            record.outcome = if partial {
                Outcome::Partial
            } else {
                Outcome::Failed
            };
            record.exit = kind.exit_name();
            let cause = record.cause.unwrap_or(Cause::Refused);
            self.summary.failed_causes.push(cause);
            self.give_up(claimed, &state, &record);
            return;
        }
        state.attempts = state.attempts.saturating_add(1);
        state.last_attempt = now;
        state.next_attempt = now + schedule::retry_delay(state.attempts);
        if settlement == Settlement::Expired {
            state.last_error = format!(
                "gave up after {} attempts in {} (max_age): {}; not delivered to {}",
                state.attempts,
                schedule::human_duration(now.saturating_sub(meta.arrival)),
                state.last_error,
                addresses_list(&pending)
            );
            let line = Record {
                outcome: Outcome::Failed,
                exit: Kind::Temporary.exit_name(),
                error: Some(&state.last_error),
                cause: Some(Cause::Expired),
                ..record.clone()
            }
            .line();
            self.summary.failed_causes.push(Cause::Expired);
            self.give_up_logged(claimed, &state, &line);
            return;
        }
        match self.spool.write_state(&meta.id, &state) {
            Ok(()) => {
                self.summary.deferred += 1;
                let note = format!(
                    "attempt {} failed, next in {}: {}",
                    state.attempts,
                    schedule::human_duration(state.next_attempt - now),
                    state.last_error
                );
                let line = Record {
                    outcome: Outcome::Deferred,
                    exit: kind.exit_name(),
                    error: Some(&note),
                    ..record
                }
                .line();
                // A recipient refused for good deserves the administrator's eye.
                let level = if attempt.refused.is_empty() {
                    Level::Warning
                } else {
                    Level::Error
                };
                self.log(level, &line);
            }
            Err(e) => self.cannot_record(&meta.id, &e, "record the attempt"),
        }
    }

    fn give_up(&mut self, claimed: Claimed, state: &State, record: &Record) {
        let line = record.line();
        self.give_up_logged(claimed, state, &line);
    }

    fn give_up_logged(&mut self, claimed: Claimed, state: &State, line: &str) {
        let id = claimed.meta.id.clone();
        match self.spool.fail(claimed, state) {
            Ok(()) => {
                self.summary.failed += 1;
                self.log(Level::Error, line);
            }
            Err(e) => self.cannot_record(&id, &e, "move it to failed/"),
        }
    }

    /// A result that cannot be recorded stops the run: going on would
    /// send the next messages with the same broken queue, and this one
    /// again to everyone at the next run.
    fn cannot_record(&mut self, id: &str, e: &std::io::Error, what: &str) {
        let line = format!(
            "queue-id={id}: cannot {what}: {}",
            describe_error(self.spool, e)
        );
        self.log(Level::Error, &line);
        self.summary.stopped = Some(format!("cannot {what}: {}", crate::error::io_reason(e)));
    }
}
