//! One sendmail invocation in the default mode: read the message from
//! stdin, resolve the envelope, submit, report.
//!
//! The header block is read here (bounded); the body stays on stdin and
//! streams to the server. Nothing here parses a wire format; that is the
//! job of the modules below.

use std::io::{self, BufRead, BufReader};

use crate::body::DotEndReader;
use crate::cli::Invocation;
use crate::compose::Composer;
use crate::config::Config;
use crate::envelope;
use crate::error::{Error, Result};
use crate::header;
use crate::log::Syslog;
use crate::spool;
use crate::submit::Submitter;
use crate::system;

/// Reads a message from stdin and sends it.
///
/// # Errors
/// Every failure, already logged; the caller prints it and exits with its code.
pub fn send(invocation: &Invocation, config: &Config, syslog: Syslog) -> Result<()> {
    check_full_name(invocation)?;
    let stdin = io::stdin().lock();
    let mut input: Box<dyn BufRead> = if invocation.ignore_dots {
        Box::new(stdin)
    } else {
        Box::new(BufReader::with_capacity(
            64 * 1024,
            DotEndReader::new(stdin),
        ))
    };
    let block = header::read_header_block(&mut input, header::MAX_HEADER_BLOCK)?;
    let mut syslog = syslog;
    let mut composer = Composer::new(
        config,
        system::host_name(config),
        invocation.full_name.clone(),
    );
    let (addresses, prepared) = composer.compose(
        &envelope::Request::from_invocation(invocation),
        block,
        &mut syslog,
    )?;
    let host = composer.host().to_string();
    let mut submitter = Submitter::new(
        config,
        host,
        invocation.delivery.clone(),
        invocation.verbose,
        syslog,
    );
    let result = submitter.submit(&addresses, &prepared, &mut input);
    spool::run::finish_with_flush(submitter);
    result.map(drop)
}

/// `-F` ends up in a header: a line break there would inject header fields.
pub fn check_full_name(invocation: &Invocation) -> Result<()> {
    match &invocation.full_name {
        Some(name) if name.chars().any(char::is_control) => Err(Error::usage(
            "the -F full name contains a line break or control character",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli;

    #[test]
    fn full_name_with_newline_is_refused() {
        let inv = cli::parse(["sendmail", "-F", "x\nBcc: evil@x", "a@x"]).unwrap();
        assert_eq!(check_full_name(&inv).unwrap_err().exit_code(), 64);
    }
}
