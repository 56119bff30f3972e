//! The integration tests, one binary: linked once, and sharing one loopback
//! sandbox (`common::sandbox`), started on first use; tests that need no
//! server (`cli`, `docs`, `layers`, `token_tls`) never start it. Each file
//! is one area; run one with `cargo test --test suite faults::`.

mod common;

mod accounts;
mod accounts_fleet;
mod accounts_setgid;
mod callers;
mod catalogue;
mod certificate;
mod check;
mod chunking;
mod cli;
mod delivery;
mod docs;
mod explain;
mod faults;
mod fleet;
mod graph;
mod hostile;
mod identity;
mod input;
mod layers;
mod metrics;
mod options;
mod packaging;
mod protocol;
mod queue;
mod queue_runs;
mod review;
mod setgid;
mod setgid_attacks;
mod setgid_service;
mod setup_script;
mod tls;
mod token_tls;
mod transcript;
