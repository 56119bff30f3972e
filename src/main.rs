//! oauth2-sendmail: a drop-in `/usr/sbin/sendmail` that submits mail to
//! Microsoft 365 / Exchange Online with an OAuth2 client-credentials token
//! over SMTP STARTTLS and AUTH XOAUTH2.
//!
//! This file only wires things together: parse the command line, pick the
//! mode, run it, and turn the result into one stderr line and a sysexits
//! exit code.

#![forbid(unsafe_code)]

mod address;
mod body;
mod catalogue;
mod cli;
mod clock;
mod config;
mod envelope;
mod error;
mod header;
mod log;
mod message;
mod net;
mod privilege;
#[cfg(test)]
mod proptests;
mod relay;
mod run;
mod secret;
mod smtp;
mod submit;
mod system;
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
            let syslog = syslog_for(&config);
            run::send(invocation, &config, syslog)
        }
        Mode::SmtpSession
        | Mode::ListQueue
        | Mode::CheckAliases
        | Mode::FlushQueue
        | Mode::RunDueQueue
        | Mode::Check => Err(Error::usage(format!(
            "{:?} mode is not supported yet",
            invocation.mode
        ))),
    }
}

/// Loads the configuration; a broken one is logged too, since it stops all mail.
fn load_config(invocation: &Invocation) -> Result<config::Config> {
    let path = invocation
        .config_path
        .as_deref()
        .unwrap_or(Path::new(config::DEFAULT_PATH));
    let caller = privilege::Caller::current();
    let loaded = if caller.is_privileged() {
        config::load_for(path, config::Audience::Caller)
    } else {
        config::load(path)
    };
    loaded
        .and_then(|config| privilege::check_files(&config, &caller).map(|()| config))
        .inspect_err(|e| {
            let line = format!(
                "outcome=failed exit={} error=\"{}\"",
                e.kind().exit_name(),
                e.message().replace('"', "'")
            );
            Syslog::connect(Path::new("/dev/log")).log(Level::Error, &line);
        })
}

/// The syslog connection the configuration asks for.
fn syslog_for(config: &config::Config) -> Syslog {
    match &config.syslog_socket {
        Some(path) => Syslog::connect(path),
        None => Syslog::none(),
    }
}

/// Prints the one stderr line and picks the exit code.
fn fail(e: &Error) -> ExitCode {
    eprintln!("oauth2-sendmail: {e}");
    ExitCode::from(e.exit_code())
}
