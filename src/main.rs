//! oauth2-sendmail: a drop-in `/usr/sbin/sendmail` that submits mail to
//! Microsoft 365 / Exchange Online with an OAuth2 client-credentials token
//! over SMTP STARTTLS and AUTH XOAUTH2.
//!
//! This file only wires things together: parse the command line, pick the
//! mode, run it, and turn the result into one stderr line and a sysexits
//! exit code.

#![forbid(unsafe_code)]

mod address;
mod aliases;
mod attempt;
mod body;
mod catalogue;
mod cli;
mod clock;
mod compose;
mod config;
mod diagnose;
mod envelope;
mod error;
mod from_policy;
mod graph;
mod header;
mod hex;
mod log;
mod message;
mod net;
mod newaliases;
mod options;
mod privilege;
#[cfg(test)]
mod proptests;
mod relay;
mod run;
mod secret;
mod serve;
mod smtp;
mod spool;
mod submit;
mod system;
#[cfg(test)]
mod testing;
mod token;
mod transcript;

use std::path::Path;
use std::process::ExitCode;

use cli::{Invocation, Mode};
use error::{Error, Result};
use log::{Level, Syslog};

fn main() -> ExitCode {
    // Before anything reads the environment or a file: see privilege.rs.
    let caller = match privilege::start() {
        Ok(caller) => caller,
        Err(e) => return fail(&e),
    };
    let invocation = match cli::parse(std::env::args_os()) {
        Ok(invocation) => invocation,
        Err(e) => return fail(&e),
    };
    if let Err(e) = privilege::check_invocation(&invocation, &caller) {
        return fail(&e);
    }
    if invocation.mode == Mode::Check {
        // The check reports on stdout itself and picks its own exit code.
        return ExitCode::from(diagnose::check(&invocation, config_path(&invocation)));
    }
    match dispatch(&invocation) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn dispatch(invocation: &Invocation) -> Result<()> {
    match invocation.mode {
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
            run::send(invocation, &config, syslog)
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
        Mode::ListQueue => spool::listing::show(&load_config(invocation)?),
        Mode::FlushQueue | Mode::RunDueQueue => {
            let config = load_config(invocation)?;
            let syslog = Syslog::open(config.syslog_socket.as_deref());
            spool::run::from_command(invocation, &config, syslog)
        }
        // main runs the check itself: it picks its own exit code.
        Mode::Check => unreachable!("--check does not go through dispatch"),
    }
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
        .and_then(|config| privilege::check_files(&config, &caller).map(|()| config))
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

/// Prints the one stderr line and picks the exit code.
fn fail(e: &Error) -> ExitCode {
    eprintln!("oauth2-sendmail: {e}");
    ExitCode::from(e.exit_code())
}
