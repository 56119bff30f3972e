//! Exchange-aware pacing for every send (`[limits]`), per mailbox and
//! across every process of this server: at most `connections` sessions
//! at once ([`slots`]), at most `rate` messages a minute and
//! `recipients_per_day` recipients a day ([`ledger`]). The files live in
//! the configuration's own token cache directory, so two configurations
//! (and two test runs) never share them; [`files`] opens them under the
//! hostile-caller rules.
//!
//! A live send that finds no room waits briefly, then is held back:
//! the caller queues it (exit 0) or, without a queue, exits 75. A queue
//! run stops where a live send would be held back.

pub mod files;
pub mod ledger;
pub mod slots;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::Config;
use ledger::Verdict;
use slots::{Acquired, Slot};

/// How long a live send waits for a connection slot or the minute's room.
pub const LIVE_WAIT: Duration = Duration::from_secs(5);

/// May a message go now?
#[derive(Debug)]
pub enum Gate {
    /// Yes, while the slot is held; with warnings for syslog.
    Go(Slot, Vec<String>),
    /// Not now, for this reason.
    Hold(String),
}

/// The directory of the pacing files: the token cache directory, made
/// here (0700) only by a process that is not set-group-ID, like the cache.
pub fn dir(config: &Config) -> PathBuf {
    let dir = config.token.cache_dir.clone();
    if !dir.is_dir() && !crate::privilege::Caller::current().is_privileged() {
        use std::os::unix::fs::DirBuilderExt;
        let _ = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir);
    }
    dir
}

/// Asks for a session slot and a place in the minute and the day for a
/// message to `recipients` recipients, waiting at most `wait` (for the
/// minute only without a queue).
pub fn admit(config: &Config, recipients: u32, wait: Duration) -> Gate {
    let dir = dir(config);
    let deadline = Instant::now() + wait;
    let mut warnings = Vec::new();
    let slot = match slots::acquire(&dir, &config.user, config.limits.connections, wait) {
        Acquired::Free(slot, warning) => {
            warnings.extend(warning);
            slot
        }
        Acquired::Busy => {
            return Gate::Hold(format!(
                "all {} connections of {} allowed at once (limits.connections) stayed busy",
                config.limits.connections, config.user
            ));
        }
    };
    loop {
        match book(&dir, config, recipients) {
            Ok(Verdict::Go(warning)) => {
                warnings.extend(warning);
                return Gate::Go(slot, warnings);
            }
            Ok(Verdict::Wait(secs)) => {
                let until = Instant::now() + Duration::from_secs(secs);
                // With a queue, waiting gains nothing: the queue run sends
                // it within the minute.
                if until > deadline || config.queue.is_some() {
                    return Gate::Hold(format!(
                        "the limit of {} messages a minute (limits.rate) is reached",
                        config.limits.rate
                    ));
                }
                std::thread::sleep(until - Instant::now());
            }
            Ok(Verdict::OverDaily(why)) => return Gate::Hold(why),
            Err(warning) => {
                warnings.push(warning);
                return Gate::Go(slot, warnings);
            }
        }
    }
}

/// Books one message in the ledger; a ledger that cannot be used is a warning.
fn book(dir: &Path, config: &Config, recipients: u32) -> Result<Verdict, String> {
    ledger::reserve(
        dir,
        &config.user,
        &config.limits,
        recipients,
        crate::clock::now(),
    )
    .map_err(|e| {
        format!(
            "the pacing ledger {} cannot be used ({}): sending without it",
            ledger::path(dir, &config.user).display(),
            crate::error::io_reason(&e)
        )
    })
}

/// Only the minute and the day, for one more message of a run that
/// already holds its slot.
pub fn admit_next(config: &Config, recipients: u32) -> Result<Option<String>, String> {
    match book(&dir(config), config, recipients) {
        Ok(Verdict::Go(warning)) => Ok(warning),
        Ok(Verdict::Wait(_)) => Err(format!(
            "the limit of {} messages a minute (limits.rate) is reached; the next run goes on",
            config.limits.rate
        )),
        Ok(Verdict::OverDaily(why)) => Err(why),
        Err(warning) => Ok(Some(warning)),
    }
}

/// Recipients sent to today by this configuration's mailbox.
pub fn recipients_today(config: &Config) -> u32 {
    ledger::recipients_today(&config.token.cache_dir, &config.user, crate::clock::now())
}

/// Only a session slot, for a queue run (whose messages are booked one by
/// one with [`admit_next`]); waits at most `wait`.
///
/// # Errors
/// Why the run must wait: every slot stayed busy.
pub fn session_slot(config: &Config, wait: Duration) -> Result<(Slot, Option<String>), String> {
    match slots::acquire(&dir(config), &config.user, config.limits.connections, wait) {
        Acquired::Free(slot, warning) => Ok((slot, warning)),
        Acquired::Busy => Err(format!(
            "all {} connections of {} allowed at once (limits.connections) are busy",
            config.limits.connections, config.user
        )),
    }
}
