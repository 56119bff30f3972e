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
//! per-minute limit or the time budget ends the run and leaves the rest.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::attempt::Attempt;
use crate::cli::{Delivery, Invocation, Mode};
use crate::clock;
use crate::config::{Config, QueueConfig};
use crate::envelope::Addresses;
use crate::error::{Error, Kind, Result};
use crate::log::{Level, Outcome, Record, Syslog};
use crate::spool::{cant_use, describe_error, no_queue};
use crate::submit::{Submitter, addresses_list};
use crate::system;

use crate::spool::caller;
use crate::spool::format::{Corrupt, State};
use crate::spool::schedule;
use crate::spool::store::{Area, Claim, Claimed, Spool};

/// Which messages a run takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Every message (`-q`).
    All,
    /// Those whose retry time has come (`--queue-run`, the flush).
    Due,
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Messages delivered to every remaining recipient.
    pub delivered: usize,
    /// Messages tried (or passed over for a dead session) and kept for later.
    pub deferred: usize,
    /// Messages given up (moved to `failed/`).
    pub failed: usize,
    /// Messages another process held.
    pub busy: usize,
    /// Files moved to `corrupt/`.
    pub set_aside: usize,
    /// Why the run ended early, if it did.
    pub stopped: Option<String>,
    /// The cause code of each message given up (for the metrics).
    pub failed_causes: Vec<String>,
}

/// `-q` and `--queue-run`: runs the queue of `config` and, for `-q`,
/// prints a one-line summary.
///
/// # Errors
/// The queue directory cannot be created or read (exit 73).
pub fn from_command(invocation: &Invocation, config: &Config, syslog: Syslog) -> Result<()> {
    let Some(queue) = &config.queue else {
        println!("{}", no_queue(config));
        return Ok(());
    };
    let spool = Spool::new(&queue.dir);
    spool.prepare().map_err(|e| cant_use(&spool, &e))?;
    spool.clean_up(std::time::SystemTime::now());
    let selection = match invocation.mode {
        Mode::RunDueQueue => Selection::Due,
        _ => Selection::All,
    };
    // The transcript names other users' senders and recipients, which
    // mailq hides from them too.
    let verbose = invocation.verbose && caller::real_uid() == 0;
    if invocation.verbose && !verbose {
        eprintln!("oauth2-sendmail: -v shows a queue run's transcript to root only");
    }
    let mut submitter = Submitter::new(
        config,
        system::host_name(config),
        Delivery::default(),
        verbose,
        syslog,
    );
    // The run holds one of the mailbox's connection slots (limits.connections)
    // until its QUIT.
    let slot = crate::limits::session_slot(config, Duration::from_secs(1));
    let summary = match &slot {
        Ok((_, warning)) => {
            if let Some(warning) = warning {
                submitter.log(Level::Warning, warning);
            }
            run(&mut submitter, queue, selection, None)
        }
        Err(why) => Ok(Summary {
            stopped: Some(format!("{why}; the next run goes on")),
            ..Summary::default()
        }),
    };
    if let Ok(summary) = &summary {
        super::report::after_sends(
            config,
            &super::report::of_run(summary.delivered, &summary.failed_causes),
            submitter.syslog(),
        );
    }
    submitter.finish();
    drop(slot);
    let summary = summary?;
    if selection == Selection::All {
        let left = spool.ids().map_or(0, |(ids, _)| ids.len());
        println!("{}", describe(&summary, left));
    }
    Ok(())
}

/// Ends a live invocation: if a message was just delivered and the queue
/// holds due messages, sends them over the same session within the
/// configured time budget; then QUIT.
pub fn finish_with_flush(mut submitter: Submitter) -> Option<Summary> {
    let config = submitter.config();
    // A transcript of other users' messages is not for a non-root caller.
    let private = !submitter.verbose() || caller::real_uid() == 0;
    if let Some(queue) = &config.queue
        && submitter.delivered_live()
        && !queue.flush_budget.is_zero()
        && private
    {
        let deadline = Instant::now() + queue.flush_budget;
        let summary = run(&mut submitter, queue, Selection::Due, Some(deadline)).ok();
        submitter.finish();
        return summary;
    }
    submitter.finish();
    None
}

/// One line for people: what the run did, what is left, why it stopped.
pub fn describe(summary: &Summary, left: usize) -> String {
    let mut line = format!(
        "oauth2-sendmail: queue run: {} delivered, {} deferred, {} failed",
        summary.delivered, summary.deferred, summary.failed
    );
    if summary.busy > 0 {
        line.push_str(&format!(", {} held by another run", summary.busy));
    }
    if summary.set_aside > 0 {
        line.push_str(&format!(", {} moved to corrupt/", summary.set_aside));
    }
    line.push_str(&format!("; {left} left in the queue"));
    if let Some(why) = &summary.stopped {
        line.push_str(&format!(" (stopped: {why})"));
    }
    line
}

/// Runs the queue once.
///
/// # Errors
/// The queue directory cannot be read.
pub fn run(
    submitter: &mut Submitter,
    queue: &QueueConfig,
    selection: Selection,
    deadline: Option<Instant>,
) -> Result<Summary> {
    let spool = Spool::new(&queue.dir);
    let mut run = Run {
        submitter,
        queue,
        spool: &spool,
        summary: Summary::default(),
        session_down: None,
        ledger_warned: false,
    };
    let (ids, foreign) = spool.ids().map_err(|e| cant_use(&spool, &e))?;
    for name in foreign {
        run.set_aside(&name, "its name is not a queue id");
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
/// (the detached process of `-odb`).
///
/// # Errors
/// None today; the signature matches [`run`].
pub fn run_one(submitter: &mut Submitter, queue: &QueueConfig, id: &str) -> Result<Summary> {
    let spool = Spool::new(&queue.dir);
    let mut run = Run {
        submitter,
        queue,
        spool: &spool,
        summary: Summary::default(),
        session_down: None,
        ledger_warned: false,
    };
    run.take(id, Selection::All);
    Ok(run.summary)
}

/// One run's working state.
struct Run<'r, 'c> {
    submitter: &'r mut Submitter<'c>,
    queue: &'r QueueConfig,
    spool: &'r Spool,
    summary: Summary,
    /// Why no session could be opened, once that happened.
    session_down: Option<String>,
    ledger_warned: bool,
}

impl Run<'_, '_> {
    /// Claims message `id` and handles it; what another run holds is skipped.
    fn take(&mut self, id: &str, selection: Selection) {
        match self.spool.claim(id) {
            Ok(Claim::Taken(claimed)) => self.one(*claimed, selection),
            Ok(Claim::Busy) => self.summary.busy += 1,
            Ok(Claim::Gone) => {}
            Ok(Claim::Corrupt(why)) => self.set_aside(id, &why),
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
        if selection == Selection::Due && !schedule::is_due(state.next_attempt, now) {
            return;
        }
        let pending = state.pending(&claimed.meta);
        if pending.is_empty() {
            // Everyone was served before a crash could record the end.
            let _ = self.spool.remove(claimed);
            return;
        }
        if let Some(reason) = self.session_down.clone() {
            let attempt = Attempt::no_session(&pending, Error::temporary(reason));
            self.settle(claimed, state, &attempt, Instant::now());
            return;
        }
        // Pacing (limits.rate, limits.recipients_per_day) counts live
        // and queued sends in one ledger.
        match crate::limits::admit_next(self.submitter.config(), pending.len() as u32) {
            Ok(None) => {}
            Ok(Some(warning)) if !self.ledger_warned => {
                self.ledger_warned = true;
                self.log(Level::Warning, &warning);
            }
            Ok(Some(_)) => {}
            Err(why) => {
                self.summary.stopped = Some(why);
                return;
            }
        }
        let started = Instant::now();
        let addresses = Addresses {
            sender: claimed.meta.sender.clone(),
            recipients: pending,
        };
        let delivery = claimed.meta.delivery.clone();
        let mut attempt = match claimed.message() {
            Ok(mut body) => {
                let body: &mut dyn Read = &mut body;
                self.submitter.attempt(&addresses, &delivery, &[], body)
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
            cause: attempt.error.as_ref().and_then(Error::cause),
            error: error_text.as_deref(),
            ..Record::delivered(&meta.sender, &tried, started.elapsed())
        };
        let pending = state.pending(&meta);
        if pending.is_empty() && attempt.refused.is_empty() {
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
        if pending.is_empty() {
            // Refused for good: kept for the administrator.
            record.outcome = if attempt.delivered.is_empty() {
                Outcome::Failed
            } else {
                Outcome::Partial
            };
            record.exit = kind.exit_name();
            let cause = record.cause.unwrap_or("refused").to_string();
            self.summary.failed_causes.push(cause);
            self.give_up(claimed, &state, &record);
            return;
        }
        state.attempts = state.attempts.saturating_add(1);
        state.last_attempt = now;
        state.next_attempt = now + schedule::retry_delay(state.attempts);
        let max_age = self.queue.max_age.as_secs();
        if schedule::is_expired(meta.arrival, max_age, now) {
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
                cause: Some("expired"),
                ..record.clone()
            }
            .line();
            self.summary.failed_causes.push("expired".into());
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

    fn cannot_record(&mut self, id: &str, e: &std::io::Error, what: &str) {
        let line = format!(
            "queue-id={id}: cannot {what}: {}",
            describe_error(self.spool, e)
        );
        self.log(Level::Error, &line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_for_people() {
        let summary = Summary {
            delivered: 3,
            deferred: 1,
            failed: 0,
            busy: 2,
            set_aside: 1,
            stopped: Some("the server asked for a pause: 421".into()),
            failed_causes: Vec::new(),
        };
        assert_eq!(
            describe(&summary, 4),
            "oauth2-sendmail: queue run: 3 delivered, 1 deferred, 0 failed, 2 held by another run, \
             1 moved to corrupt/; 4 left in the queue (stopped: the server asked for a pause: 421)"
        );
        assert_eq!(
            describe(&Summary::default(), 0),
            "oauth2-sendmail: queue run: 0 delivered, 0 deferred, 0 failed; 0 left in the queue"
        );
    }
}
