//! `metrics_file`: a Prometheus text-format file for node_exporter's
//! textfile collector, replaced atomically (a temporary file beside it,
//! then rename) after each send and queue run.
//!
//! The counters are cumulative across processes: they live in a small
//! state file in the configuration's token cache directory
//! (`metrics.<mailbox key>`), read, counted and written back under a lock
//! with a bounded wait ([`crate::limits::files`]); the metrics file is
//! written while that lock is held, so the last writer shows every count.
//! The gauges (queue depth and oldest age, token and credential expiry,
//! recipients today) are read fresh each time. [`render`] holds the format.
//!
//! The same directory keeps the day of the last credential-expiry warning,
//! so syslog gets one a day ([`notice_expiry`]).

pub mod render;

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::clock;
use crate::config::Config;
use crate::expiry;
use crate::limits::files::{lock_within, mailbox_key, open_shared, rewrite};
use crate::limits::ledger::LOCK_WAIT;
use crate::log::{Level, Syslog};
use crate::spool::store::Spool;
use crate::token::TokenSource;
use render::{Counters, Snapshot};

/// The `account` label until accounts exist.
pub const ACCOUNT: &str = "default";

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

/// Counts `events` and rewrites the metrics file; does nothing without
/// `metrics_file`. Failures are syslog warnings: metrics never stop mail.
pub fn record(config: &Config, events: &[Event], syslog: &mut Syslog) {
    let Some(target) = &config.metrics_file else {
        return;
    };
    if let Err(e) = update(config, target, events) {
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

fn update(config: &Config, target: &Path, events: &[Event]) -> io::Result<()> {
    let dir = crate::limits::dir(config);
    let mut state = open_shared(&dir.join(format!("metrics.{}", mailbox_key(&config.user))))?;
    lock_within(&state, LOCK_WAIT)?;
    let mut text = String::new();
    let _ = state.read_to_string(&mut text);
    let mut counters = render::parse_counters(&text);
    let now = clock::now();
    for event in events {
        counters.count(event.outcome, &event.cause, now);
    }
    if !events.is_empty() {
        rewrite(&mut state, render::format_counters(&counters).as_bytes())?;
    }
    write_atomic(
        target,
        render::render(&snapshot(config, counters, now)).as_bytes(),
    )
}

/// The gauges, read now.
fn snapshot(config: &Config, counters: Counters, now: u64) -> Snapshot {
    let queue = config.queue.as_ref().map(|q| {
        let spool = Spool::new(&q.dir);
        let ids = spool.ids().map(|(ids, _)| ids).unwrap_or_default();
        let oldest = ids
            .first()
            .and_then(|id| spool.peek(id).ok())
            .map_or(0, |meta| now.saturating_sub(meta.arrival));
        (ids.len() as u64, oldest)
    });
    Snapshot {
        account: ACCOUNT.into(),
        counters,
        queue,
        token_expiry: TokenSource::new(config).cached_until(),
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
        syslog.log(level, &format!("cause=credential-expiry {sentence}"));
    }
}
