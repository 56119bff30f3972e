//! `metrics_file`: a Prometheus text-format file for node_exporter's
//! textfile collector, replaced atomically (a temporary file beside it,
//! then rename) after each send and queue run.
//!
//! The counters are cumulative across processes: they live in a small
//! state file per account in its token cache directory (`metrics.<mailbox
//! key>`, `metrics.<mailbox key>.<NAME>` for `[accounts.NAME]`), read,
//! counted and written back under the top level's state file's lock (one
//! lock for every account, a bounded wait: [`crate::limits::files`]); the
//! metrics file is written while that lock is held, so the last writer
//! shows every count of every account that writes to that file, each
//! under its own `account` label.
//! The gauges (queue depth and oldest age, token and credential expiry,
//! recipients today) are read fresh each time. [`render`] holds the format.
//!
//! The same directory keeps the day of the last credential-expiry warning,
//! so syslog gets one a day ([`notice_expiry`]).

pub mod render;

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::cause::Cause;
use crate::clock;
use crate::config::{Config, DEFAULT_ACCOUNT, Transport};
use crate::expiry;
use crate::limits::files::{lock_within, mailbox_key, open_shared, rewrite};
use crate::limits::ledger::LOCK_WAIT;
use crate::log::{Level, Syslog};
use crate::spool::store::Spool;
use crate::token::TokenSource;
use render::{Counters, Snapshot};

/// One message's outcome, for the counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `delivered`, `queued` or `failed`.
    pub outcome: &'static str,
    /// The catalogue's cause code, or `none`.
    pub cause: String,
}

impl Event {
    /// An event; a cause that is not a plain code becomes `other`.
    pub fn new(outcome: &'static str, cause: &str) -> Event {
        let cause = if render::label_safe(cause) {
            cause
        } else {
            "other"
        };
        Event {
            outcome,
            cause: cause.to_string(),
        }
    }
}

/// Counts `events` of the account `config` (the top level `top` or one
/// of its accounts) and rewrites the metrics file; does nothing without
/// `metrics_file`. Failures are syslog warnings: metrics never stop mail.
pub fn record(top: &Config, config: &Config, events: &[Event], syslog: &mut Syslog) {
    let Some(target) = &config.metrics_file else {
        return;
    };
    if let Err(e) = update(top, config, target, events) {
        syslog.log(
            Level::Warning,
            &format!(
                "metrics_file {} not written: {}",
                target.display(),
                crate::error::io_reason(&e)
            ),
        );
    }
}

/// The counters' state file of an account.
fn state_path(config: &Config) -> PathBuf {
    let key = mailbox_key(&config.user);
    let name = if config.account == DEFAULT_ACCOUNT {
        format!("metrics.{key}")
    } else {
        format!("metrics.{key}.{}", config.account)
    };
    crate::limits::dir(config).join(name)
}

fn update(top: &Config, config: &Config, target: &Path, events: &[Event]) -> io::Result<()> {
    // The top level's state file is the lock of every account's.
    let mut guard = open_shared(&state_path(top))?;
    lock_within(&guard, LOCK_WAIT)?;
    let now = clock::now();
    let mut snapshots = Vec::new();
    for account in std::iter::once(top).chain(&top.accounts) {
        if account.metrics_file.as_deref() != Some(target) {
            continue;
        }
        let mut own;
        let state: &mut File = if account.account == top.account {
            &mut guard
        } else {
            own = open_shared(&state_path(account))?;
            &mut own
        };
        let mut text = String::new();
        state.seek(SeekFrom::Start(0))?;
        let _ = state.read_to_string(&mut text);
        let mut counters = render::parse_counters(&text);
        if account.account == config.account && !events.is_empty() {
            for event in events {
                counters.count(event.outcome, &event.cause, now);
            }
            rewrite(state, render::format_counters(&counters).as_bytes())?;
        }
        snapshots.push(snapshot(top, account, counters, now));
    }
    write_atomic(target, render::render(&snapshots).as_bytes())
}

/// The gauges of one account, read now: its own messages in the queue
/// (a queued message carries its account's name), its own token.
fn snapshot(top: &Config, config: &Config, counters: Counters, now: u64) -> Snapshot {
    let queue = config.queue.as_ref().map(|q| {
        let spool = Spool::new(&q.dir);
        let ids = spool.ids().map(|(ids, _)| ids).unwrap_or_default();
        if top.accounts.is_empty() {
            let oldest = ids
                .first()
                .and_then(|id| spool.peek(id).ok())
                .map_or(0, |meta| now.saturating_sub(meta.arrival));
            return (ids.len() as u64, oldest);
        }
        let own: Vec<u64> = ids
            .iter()
            .filter_map(|id| spool.peek(id).ok())
            .filter(|meta| meta.account.as_deref().unwrap_or(DEFAULT_ACCOUNT) == config.account)
            .map(|meta| meta.arrival)
            .collect();
        let oldest = own.iter().min().map_or(0, |t| now.saturating_sub(*t));
        (own.len() as u64, oldest)
    });
    let tokens = if config.transport == Transport::Graph {
        TokenSource::for_scope(config, &config.graph.scope())
    } else {
        TokenSource::new(config)
    };
    Snapshot {
        account: config.account.clone(),
        counters,
        queue,
        token_expiry: tokens.cached_until(),
        credential_expiry: expiry::of(config).map(|e| (e.at, e.kind)),
        recipients_today: crate::limits::recipients_today(config),
    }
}

/// Replaces `target` with `bytes`: a new file beside it (never through a
/// link, mode 0644 for node_exporter), then rename.
fn write_atomic(target: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::other("no file name"))?;
    let temporary: PathBuf = target.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&temporary);
    let result = (|| {
        // Never through a link, never a FIFO. Readable by node_exporter,
        // which is not in the group: the one file here with bits for
        // others; under the umask 007 `create_new` sets its mode on the new
        // file's own descriptor, before the file gets its name.
        let mut file = crate::safe_fs::create_new(&temporary, 0o644)?;
        file.write_all(bytes)?;
        std::fs::rename(&temporary, target)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// One syslog warning a day from [`expiry::WARNING_DAYS`] days before the
/// credential expires (an error once it has).
pub fn notice_expiry(config: &Config, syslog: &mut Syslog) {
    let Some(expiry) = expiry::of(config) else {
        return;
    };
    let now = clock::now();
    let Some(sentence) = expiry::describe(&expiry, now) else {
        return;
    };
    let today = now / 86_400;
    let marker = crate::limits::dir(config).join(format!("expiry.{}", mailbox_key(&config.user)));
    let first_today = (|| -> io::Result<bool> {
        let mut file = open_shared(&marker)?;
        lock_within(&file, LOCK_WAIT)?;
        let mut text = String::new();
        let _ = file.read_to_string(&mut text);
        if text.trim().parse::<u64>().ok() == Some(today) {
            return Ok(false);
        }
        rewrite(&mut file, format!("{today}\n").as_bytes())?;
        Ok(true)
    })()
    // Without the marker a warning too many beats none.
    .unwrap_or(true);
    if first_today {
        let level = match expiry::stage(expiry.at, now) {
            expiry::Stage::Expired => Level::Error,
            _ => Level::Warning,
        };
        syslog.log(
            level,
            &format!("cause={} {sentence}", Cause::CredentialExpiry),
        );
    }
}
