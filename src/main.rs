//! oauth2-sendmail: a drop-in `/usr/sbin/sendmail` that submits mail to
//! Microsoft 365 / Exchange Online with an OAuth2 client-credentials token
//! over SMTP STARTTLS and AUTH XOAUTH2.
//!
//! This file only wires things together: parse the command line, pick the
//! mode, run it, and turn the result into one stderr line and a sysexits
//! exit code.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use oauth2_sendmail::cli;
use oauth2_sendmail::error::Error;
use oauth2_sendmail::{mode, privilege};

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
    match mode::run(&invocation) {
        Ok(mode::Finish::Done) => ExitCode::SUCCESS,
        Ok(mode::Finish::Code(code)) => ExitCode::from(code),
        Err(e) => fail(&e),
    }
}

/// Prints the one stderr line and picks the exit code.
fn fail(e: &Error) -> ExitCode {
    eprintln!("oauth2-sendmail: {e}");
    ExitCode::from(e.exit_code())
}
