//! The modes of an invocation, on top of everything else: each runner
//! reads the configuration's parts and drives the layers below; nothing
//! below calls up into here.
//!
//! - [`send`]: the default mode, one message from stdin;
//! - [`serve`]: `-bs`, an SMTP dialogue on stdin and stdout;
//! - [`background`]: `-odb`/`-odq` spooling and `--deliver-queued`;
//! - [`queue`]: `-q`, `--queue-run` and the flush after a live send
//!   (`summary`: what a run did);
//! - [`mailq`]: `mailq` / `-bp`;
//! - [`newaliases`]: `newaliases` / `-bi`, which checks the aliases file;
//! - `--check` runs `crate::diagnose`, which reports on stdout itself.

mod accounts;
pub mod background;
pub mod mailq;
pub mod newaliases;
pub mod queue;
mod report;
pub mod send;
pub mod serve;
mod summary;

use std::path::Path;

use crate::cli::{self, Invocation, Mode};
use crate::config;
use crate::diagnose;
use crate::error::Result;
use crate::log::{Level, Syslog};
use crate::privilege;

/// How a mode that did not fail ended.
pub enum Finish {
    /// Done: exit 0.
    Done,
    /// `--check` and `--explain` report on stdout themselves and pick
    /// their own exit code.
    Code(u8),
}

/// Runs the invocation's mode.
///
/// # Errors
/// The mode's failure, for the caller to print and turn into an exit code.
pub fn run(invocation: &Invocation) -> Result<Finish> {
    let done: Result<()> = match invocation.mode {
        Mode::Check => {
            let code = diagnose::check(invocation, config_path(invocation));
            return Ok(Finish::Code(code));
        }
        // Reads only the text: no configuration, no privileges needed.
        Mode::Explain => return Ok(Finish::Code(crate::explain::run(invocation))),
        Mode::Help => {
            print!("{}", cli::help_text());
            Ok(())
        }
        Mode::Version => {
            println!("oauth2-sendmail {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Mode::Send => {
            let config = load_config(invocation)?;
            let syslog = Syslog::open(config.syslog_socket.as_deref());
            send::send(invocation, &config, syslog)
        }
        Mode::SmtpSession => {
            let config = load_config(invocation).inspect_err(serve::refuse)?;
            let syslog = Syslog::open(config.syslog_socket.as_deref());
            serve::run(invocation, &config, syslog)
        }
        Mode::CheckAliases => {
            // Package scripts run newaliases before any configuration exists.
            let unconfigured =
                invocation.config_path.is_none() && !Path::new(config::DEFAULT_PATH).exists();
            let config = if unconfigured {
                None
            } else {
                Some(load_config(invocation)?)
            };
            newaliases::run(config.as_ref())
        }
        Mode::ListQueue => mailq::show(&load_config(invocation)?),
        Mode::FlushQueue | Mode::RunDueQueue => {
            let config = load_config(invocation)?;
            let syslog = Syslog::open(config.syslog_socket.as_deref());
            queue::from_command(invocation, &config, syslog)
        }
        Mode::DeliverQueued => {
            let config = load_config(invocation)?;
            let syslog = Syslog::open(config.syslog_socket.as_deref());
            background::deliver_queued(invocation, &config, syslog)
        }
        Mode::SetupScript => crate::setup_script::run(invocation),
    };
    done.map(|()| Finish::Done)
}

/// The configuration file this invocation uses (`-C`, else the default).
fn config_path(invocation: &Invocation) -> &Path {
    invocation
        .config_path
        .as_deref()
        .unwrap_or(Path::new(config::DEFAULT_PATH))
}

/// Loads the configuration; a broken one is logged too, since it stops all mail.
fn load_config(invocation: &Invocation) -> Result<config::Config> {
    let path = config_path(invocation);
    let caller = privilege::Caller::current();
    config::load_for(path, caller.audience())
        .and_then(|config| {
            // Every account's files: any of them may be used by this caller.
            std::iter::once(&config)
                .chain(&config.accounts)
                .try_for_each(|account| privilege::check_files(account, &caller))
                .map(|()| config)
        })
        .inspect_err(|e| {
            let line = format!(
                "outcome=failed exit={} cause={} error=\"{}\"",
                e.kind().exit_name(),
                e.cause_code(),
                e.message().replace('"', "'")
            );
            Syslog::connect(Path::new("/dev/log")).log(Level::Error, &line);
        })
}
