//! `-q` and `--queue-run` as commands: one run per account that has a
//! queue (`[accounts.NAME]` each with its own session, connection slot,
//! pacing and metrics), then, for `-q`, the one-line summary.

use std::time::Duration;

use super::{Selection, Summary, describe, run};
use crate::cli::{Delivery, Invocation, Mode};
use crate::config::{Config, QueueConfig};
use crate::error::Result;
use crate::log::{Level, Syslog};
use crate::mode::accounts;
use crate::spool::caller;
use crate::spool::store::Spool;
use crate::spool::{cant_use, no_queue};
use crate::submit::Submitter;
use crate::system;

/// `-q` and `--queue-run`: runs the queue of `config` and, for `-q`,
/// prints a one-line summary.
///
/// # Errors
/// The queue directory cannot be created or read (exit 73).
pub fn from_command(invocation: &Invocation, config: &Config, syslog: Syslog) -> Result<()> {
    let privileged = crate::privilege::Caller::current().is_privileged();
    let dirs = accounts::queue_dirs(config);
    let owner = caller::run_owner();
    for dir in &dirs {
        let spool = Spool::new(dir);
        spool.prepare().map_err(|e| cant_use(&spool, &e))?;
        if owner.is_none() {
            spool.clean_up(std::time::SystemTime::now());
        }
    }
    let selection = match invocation.mode {
        Mode::RunDueQueue => Selection::Due,
        _ => Selection::All,
    };
    // One session per account, each sending only its own messages; the
    // transcript shows only messages this caller may touch.
    let mut summary = Summary::default();
    for account in std::iter::once(config).chain(&config.accounts) {
        match &account.queue {
            Some(account_queue) => summary.add(run_account(
                invocation,
                config,
                account,
                account_queue,
                selection,
            )?),
            // The token cache of an account without a queue is still kept
            // warm for its callers.
            None if !privileged => warm(config, account),
            None => {}
        }
    }
    drop(syslog);
    if dirs.is_empty() {
        println!("{}", no_queue(config));
    } else if selection == Selection::All {
        let left: usize = dirs
            .iter()
            .map(|dir| {
                let spool = Spool::new(dir);
                spool.ids().map_or(0, |(ids, _)| {
                    ids.iter()
                        .filter(|id| {
                            owner.is_none_or(|uid| spool.peek(id).is_ok_and(|m| m.uid == uid))
                        })
                        .count()
                })
            })
            .sum();
        println!("{}", describe(&summary, left));
    }
    Ok(())
}

/// The queue service's token work for an account without a queue.
fn warm(top: &Config, account: &Config) {
    let mut submitter = Submitter::new(
        account,
        system::host_name(account),
        Delivery::default(),
        false,
        accounts::syslog_for(top, account),
    );
    submitter.warm_token();
}

/// One account's part of `-q` or `--queue-run`: its session, holding one
/// of its mailbox's connection slots (`limits.connections`) until QUIT.
fn run_account(
    invocation: &Invocation,
    top: &Config,
    account: &Config,
    queue: &QueueConfig,
    selection: Selection,
) -> Result<Summary> {
    let mut submitter = Submitter::new(
        account,
        system::host_name(account),
        Delivery::default(),
        invocation.verbose,
        accounts::syslog_for(top, account),
    );
    // With credential_access = "service" the queue service keeps each
    // account's token cache warm for callers; a set-group-ID caller's -q
    // only uses it.
    if crate::privilege::Caller::current().is_privileged() {
        submitter.callers_only();
    } else {
        submitter.warm_token();
    }
    let slot = crate::limits::session_slot(account, Duration::from_secs(1));
    let summary = match &slot {
        Ok((_, warning)) => {
            if let Some(warning) = warning {
                submitter.log(Level::Warning, warning);
            }
            run(&mut submitter, top, queue, selection, None)
        }
        Err(why) => Ok(Summary {
            stopped: Some(format!("{why}; the next run goes on")),
            ..Summary::default()
        }),
    };
    if let Ok(summary) = &summary {
        crate::mode::report::after_sends(
            top,
            account,
            &crate::mode::report::of_run(summary.delivered, &summary.failed_causes),
            submitter.syslog(),
        );
    }
    submitter.finish();
    drop(slot);
    summary
}
