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
use crate::config::{Config, DeliveryMode};
use crate::envelope;
use crate::envelope::Addresses;
use crate::error::{Error, Result};
use crate::header;
use crate::limits::{self, Gate};
use crate::log::{Level, Record, Syslog};
use crate::message::PreparedHeader;
use crate::submit::Submitter;

use super::background;
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
    let (addresses, prepared, host) = composed.inspect_err(|e| {
        // One syslog line per message, even one refused before it was sent.
        let from = invocation.sender.as_deref().unwrap_or(&config.from);
        let record = Record::refused(from, &invocation.recipients, started.elapsed(), e);
        syslog.log(Level::Error, &record.line());
    })?;
    let held = match background::effective(invocation, config) {
        DeliveryMode::Foreground => None,
        DeliveryMode::Queue => {
            Some("queued by the delivery mode (-odq, delivery = queue)".to_string())
        }
        DeliveryMode::Background => {
            Some("queued for background delivery (-odb, delivery = background)".to_string())
        }
    };
    let recipients = addresses.recipients.len() as u32;
    let (slot, held) = match held {
        Some(why) => (None, Some(why)),
        None => match limits::admit(config, recipients, limits::LIVE_WAIT) {
            Gate::Go(slot, warnings) => {
                for warning in warnings {
                    syslog.log(Level::Warning, &warning);
                }
                (Some(slot), None)
            }
            Gate::Hold(why) => (None, Some(why)),
        },
    };
    if let Some(why) = held {
        return hold(
            invocation, config, &addresses, &prepared, &mut input, &why, started, syslog,
        );
    }
    let mut submitter = Submitter::for_invocation(config, host, invocation, syslog);
    let result = submitter.submit(&addresses, &prepared, &mut input);
    super::queue::finish_with_flush(submitter);
    drop(slot);
    result.map(drop)
}

/// A message that does not go now: spooled (and, for `-odb`, handed to a
/// detached process), or, without a queue, a temporary failure (75).
#[allow(clippy::too_many_arguments)]
fn hold(
    invocation: &Invocation,
    config: &Config,
    addresses: &Addresses,
    prepared: &PreparedHeader,
    input: &mut dyn BufRead,
    why: &str,
    started: Instant,
    mut syslog: Syslog,
) -> Result<()> {
    if config.queue.is_none() {
        let e = Error::temporary(format!(
            "{why}; there is no queue ([queue] dir) to keep the message"
        ))
        .with_cause("limits");
        let record = Record::refused(
            &addresses.sender,
            &addresses.recipients,
            started.elapsed(),
            &e,
        );
        syslog.log(Level::Error, &record.line());
        return Err(e);
    }
    let id = background::spool(
        config,
        &invocation.delivery,
        addresses,
        prepared,
        input,
        why,
    )
    .inspect_err(|e| {
        let record = Record::refused(
            &addresses.sender,
            &addresses.recipients,
            started.elapsed(),
            e,
        );
        syslog.log(Level::Error, &record.line());
    })?;
    background::log_queued(&mut syslog, addresses, prepared, &id, started, why);
    if background::effective(invocation, config) == DeliveryMode::Background {
        background::start_detached(invocation, &id, &mut syslog);
    }
    Ok(())
}

/// The checks and rewriting before anything is sent: `-F`, the header
/// block, aliases and From policy; returns the envelope, the header to
/// send and this host's name.
fn compose(
    invocation: &Invocation,
    config: &Config,
    input: &mut dyn BufRead,
    syslog: &mut Syslog,
) -> Result<(Addresses, PreparedHeader, String)> {
    check_full_name(invocation)?;
    let block = header::read_header_block(input, header::MAX_HEADER_BLOCK)?;
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
    Ok((addresses, prepared, composer.host().to_string()))
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
