//! The modes of an invocation, on top of everything else: each runner
//! reads the configuration's parts and drives the layers below; nothing
//! below calls up into here.
//!
//! - [`send`]: the default mode, one message from stdin;
//! - [`serve`]: `-bs`, an SMTP dialogue on stdin and stdout;
//! - [`queue`]: `-q`, `--queue-run` and the flush after a live send;
//! - [`mailq`]: `mailq` / `-bp`;
//! - [`newaliases`]: `newaliases` / `-bi`, which checks the aliases file.

pub mod mailq;
pub mod newaliases;
pub mod queue;
pub mod send;
pub mod serve;
