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

use crate::config::{Config, Transport};
use ledger::Verdict;
use slots::{Acquired, Pool, Slot};

/// How long a live send waits for a connection slot or the minute's room.
pub const LIVE_WAIT: Duration = Duration::from_secs(5);

/// Microsoft Graph's limit of concurrent requests per mailbox.
pub const GRAPH_CONCURRENT: u32 = 4;

/// The slots a send of `config` takes: SMTP sessions (`limits.connections`;
/// Exchange Online allows 3), or with `transport = "graph"` Graph requests
/// (`limits.connections` too, but never more than Graph's 4). `auto`
/// counts as SMTP, whose limit is the lower.
pub fn pool(config: &Config) -> Pool {
    let size = config.limits.connections;
    match config.transport {
        Transport::Graph => Pool {
            name: "graph-slot",
            size: size.min(GRAPH_CONCURRENT),
        },
        Transport::Smtp | Transport::Auto => Pool { name: "slot", size },
    }
}

/// Why every slot stayed busy.
fn all_busy(config: &Config, pool: &Pool, verb: &str) -> String {
    let what = if pool.name == "slot" {
        "connections"
    } else {
        "Graph requests"
    };
    format!(
        "all {} {what} of {} allowed at once (limits.connections) {verb} busy",
        pool.size, config.user
    )
}

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
    if !crate::safe_fs::is_real_dir(&dir) && !crate::privilege::Caller::current().is_privileged() {
        let _ = crate::safe_fs::mkdir(&dir, 0o700, true);
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
    let pool = pool(config);
    let slot = match slots::acquire(&dir, &pool, &config.user, wait) {
        Acquired::Free(slot, warning) => {
            warnings.extend(warning);
            slot
        }
        Acquired::Busy => return Gate::Hold(all_busy(config, &pool, "stayed")),
    };
    loop {
        match book(&dir, config, recipients, ledger::LOCK_WAIT) {
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

/// Books one message in the ledger, waiting at most `wait` for its lock;
/// a ledger that cannot be used is a warning.
fn book(dir: &Path, config: &Config, recipients: u32, wait: Duration) -> Result<Verdict, String> {
    ledger::reserve(
        dir,
        &config.user,
        &config.limits,
        recipients,
        crate::clock::now(),
        wait,
    )
    .map_err(|e| {
        format!(
            "the pacing ledger {} cannot be used ({}): sending without it",
            ledger::path(dir, &config.user).display(),
            crate::error::io_reason(&e)
        )
    })
}

/// What the ledger says about one more message of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Booked; with a warning for syslog (the day's 80 %).
    Go(Option<String>),
    /// Not now (the minute or the day is used up): the run stops here.
    Stop(String),
    /// The ledger cannot be used (locked longer than the wait, broken):
    /// the caller decides whether to go on without it; a warning.
    Unusable(String),
}

/// Only the minute and the day, for one more message of a run that
/// already holds its slot; waits at most `wait` for the ledger's lock.
pub fn admit_next(config: &Config, recipients: u32, wait: Duration) -> Next {
    match book(&dir(config), config, recipients, wait) {
        Ok(Verdict::Go(warning)) => Next::Go(warning),
        Ok(Verdict::Wait(_)) => Next::Stop(format!(
            "the limit of {} messages a minute (limits.rate) is reached; the next run goes on",
            config.limits.rate
        )),
        Ok(Verdict::OverDaily(why)) => Next::Stop(why),
        Err(warning) => Next::Unusable(warning),
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
    let pool = pool(config);
    match slots::acquire(&dir(config), &pool, &config.user, wait) {
        Acquired::Free(slot, warning) => Ok((slot, warning)),
        Acquired::Busy => Err(all_busy(config, &pool, "are")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_sends_take_graph_slots_never_more_than_four() {
        let table = [
            ("", 3, "slot"),
            ("transport = \"auto\"\n", 3, "slot"),
            ("transport = \"graph\"\n", 3, "graph-slot"),
            (
                "transport = \"graph\"\n[limits]\nconnections = 10\n",
                4,
                "graph-slot",
            ),
            (
                "transport = \"graph\"\n[limits]\nconnections = 0\n",
                0,
                "graph-slot",
            ),
            ("[limits]\nconnections = 10\n", 10, "slot"),
        ];
        for (extra, size, name) in table {
            let (top, section) = extra.split_at(extra.find('[').unwrap_or(extra.len()));
            let text = format!(
                "{top}tenant = \"contoso.onmicrosoft.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\nclient_secret = \"s\"\nuser = \"a@contoso.com\"\n{section}"
            );
            let config = crate::config::parse(&text, Path::new("t.conf")).unwrap();
            assert_eq!(pool(&config), Pool { name, size }, "{extra}");
        }
    }
}
