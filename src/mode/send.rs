//! One sendmail invocation in the default mode: read the message from
//! stdin, resolve the envelope, submit, report.
//!
//! The header block is read here (bounded); the body stays on stdin and
//! streams to the server. Nothing here parses a wire format; that is the
//! job of the modules below.

use std::io::{self, BufRead, BufReader};
use std::time::Instant;

use crate::body::DotEndReader;
use crate::cli::Invocation;
use crate::compose::Composer;
use crate::config::Config;
use crate::envelope;
use crate::envelope::Addresses;
use crate::error::{Error, Result};
use crate::header;
use crate::log::{Level, Record, Syslog};
use crate::message::PreparedHeader;
use crate::submit::Submitter;
use crate::system;

/// Reads a message from stdin and sends it.
///
/// # Errors
/// Every failure, already logged; the caller prints it and exits with its code.
pub fn send(invocation: &Invocation, config: &Config, syslog: Syslog) -> Result<()> {
    let started = Instant::now();
    let mut syslog = syslog;
    let stdin = io::stdin().lock();
    let mut input: Box<dyn BufRead> = if invocation.ignore_dots {
        Box::new(stdin)
    } else {
        Box::new(BufReader::with_capacity(
            64 * 1024,
            DotEndReader::new(stdin),
        ))
    };
    let composed = compose(invocation, config, &mut input, &mut syslog);
    let top = config;
    let (config, (addresses, prepared, host)) = composed.inspect_err(|e| {
        // One syslog line per message, even one refused before it was sent.
        let from = invocation.sender.as_deref().unwrap_or(&config.from);
        let record = Record::refused(from, &invocation.recipients, started.elapsed(), e);
        syslog.log(Level::Error, &record.line());
    })?;
    let mut submitter = Submitter::for_invocation(config, host, invocation, syslog);
    let result = submitter.submit(&addresses, &prepared, &mut input);
    super::queue::finish_with_flush(submitter, top);
    result.map(drop)
}

/// The checks and rewriting before anything is sent: `-F`, the header
/// block, the account, aliases and From policy; returns the account, the
/// envelope, the header to send and this host's name.
fn compose<'c>(
    invocation: &Invocation,
    config: &'c Config,
    input: &mut dyn BufRead,
    syslog: &mut Syslog,
) -> Result<(&'c Config, (Addresses, PreparedHeader, String))> {
    check_full_name(invocation)?;
    let block = header::read_header_block(input, header::MAX_HEADER_BLOCK)?;
    let config = super::accounts::choose(invocation, config, &block, syslog)?;
    let mut composer = Composer::new(
        config,
        system::host_name(config),
        invocation.full_name.clone(),
    );
    let (addresses, prepared) = composer.compose(
        &envelope::Request::from_invocation(invocation),
        block,
        syslog,
    )?;
    Ok((config, (addresses, prepared, composer.host().to_string())))
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
