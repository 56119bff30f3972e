//! The durable queue: messages that could not go now, kept until they are
//! delivered or an administrator can see why they were not.
//!
//! - [`format`]: the queue file and state file formats (pure);
//! - [`schedule`]: backoff, expiry, throttling replies (pure);
//! - [`caller`]: the real uid recorded with each message;
//! - [`store`]: the directory, claiming a message, moving it on;
//! - [`draft`]: the copy written while a live message streams out.
//!
//! The per-minute limit is `crate::limits`' ledger, shared with live sends.
//!
//! The queue run and `mailq` read this storage from `crate::mode`.

pub mod caller;
pub mod draft;
pub mod format;
pub mod schedule;
pub mod store;

use std::io;

use crate::config::Config;
use crate::error::{Error, Kind};
use store::Spool;

/// The line shown when there is no queue.
pub fn no_queue(config: &Config) -> String {
    format!(
        "oauth2-sendmail: no queue is configured ([queue] dir in {}): nothing is ever queued; a temporary failure exits 75",
        config.path.display()
    )
}

/// The error for a queue directory that cannot be used.
pub fn cant_use(spool: &Spool, e: &io::Error) -> Error {
    Error::new(
        Kind::CantCreate,
        format!("cannot use the queue {}", describe_error(spool, e)),
    )
}

/// A queue I/O error, naming the queue directory.
pub fn describe_error(spool: &Spool, e: &io::Error) -> String {
    format!("{}: {}", spool.root().display(), crate::error::io_reason(e))
}
