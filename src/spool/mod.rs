//! The durable queue: messages that could not go now, kept until they are
//! delivered or an administrator can see why they were not.
//!
//! - [`format`]: the queue file and state file formats (pure);
//! - [`schedule`]: backoff, expiry, the rate window, throttling replies (pure);
//! - [`caller`]: the real uid recorded with each message;
//! - [`store`]: the directory, claiming a message, moving it on;
//! - [`draft`]: the copy written while a live message streams out;
//! - [`rate`]: the per-minute limit shared by queue runs.
//!
//! The queue run and `mailq` read this storage from `crate::mode`.

pub mod caller;
pub mod draft;
pub mod format;
pub mod rate;
pub mod schedule;
pub mod store;
