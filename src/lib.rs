//! oauth2-sendmail as a library: everything but `main`.
//!
//! The binary (`src/main.rs`) parses the command line, hands the
//! invocation to [`mode`], and turns the error into an exit code. The fuzz
//! targets (`fuzz/`) call the parsers here directly. The module map and the
//! layers are drawn in `docs/architecture.md`.

#![forbid(unsafe_code)]

mod account;
pub mod address;
mod aliases;
mod attempt;
pub mod body;
mod catalogue;
pub mod cause;
pub mod cli;
mod clock;
mod compose;
mod config;
mod diagnose;
mod envelope;
pub mod error;
mod expiry;
mod explain;
mod from_policy;
mod graph;
pub mod header;
mod hex;
mod intl;
mod limits;
mod log;
mod message;
mod metrics;
pub mod mode;
mod net;
mod options;
pub mod privilege;
#[cfg(test)]
mod proptests;
mod quoted_local;
mod relay;
mod safe_fs;
mod secret;
mod setup_script;
mod size;
pub mod smtp;
mod smtp_error;
pub mod spool;
mod submit;
mod system;
#[cfg(test)]
mod testing;
mod token;
mod transcript;
mod transport;
