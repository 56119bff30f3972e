//! One sendmail invocation in the default mode: read the message from
//! stdin, resolve the envelope, submit, report.
//!
//! The header block is read here (bounded); the body stays on stdin and
//! streams to the server. Nothing here parses a wire format; that is the
//! job of the modules below.

use std::io::{self, BufRead, BufReader};
use std::time::Instant;

use crate::body::DotEndReader;
use crate::cause::Cause;
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

use super::{background, report};
use crate::metrics::Event;
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
        report::after_sends(
            config,
            config,
            &[Event::new("failed", e.cause_code())],
            &mut syslog,
        );
    })?;
    let held = match background::effective(invocation, config) {
        DeliveryMode::Foreground => None,
        DeliveryMode::Queue => Some((
            "queued by the delivery mode (-odq, delivery = queue)".to_string(),
            Cause::QueueMode,
        )),
        DeliveryMode::Background => Some((
            "queued for background delivery (-odb, delivery = background)".to_string(),
            Cause::Background,
        )),
    };
    let recipients = addresses.recipients.len() as u32;
    let (slot, held) = match held {
        Some(held) => (None, Some(held)),
        None => match limits::admit(config, recipients, limits::LIVE_WAIT) {
            Gate::Go(slot, warnings) => {
                for warning in warnings {
                    syslog.log(Level::Warning, &warning);
                }
                (Some(slot), None)
            }
            Gate::Hold(why) => (None, Some((why, Cause::Limits))),
        },
    };
    if let Some((why, cause)) = held {
        return hold(
            invocation,
            (top, config),
            (&addresses, &prepared),
            &mut input,
            (&why, cause),
            started,
            syslog,
        );
    }
    let mut submitter = Submitter::for_invocation(config, host, invocation, syslog);
    let result = submitter.submit(&addresses, &prepared, &mut input);
    let mut events = report::of_submit(&result);
    // The metrics are written once the session is closed and the slot free.
    let flushed = super::queue::finish_with_flush(submitter, top);
    drop(slot);
    if let Some(run) = flushed {
        events.extend(report::of_run(run.delivered, &run.failed_causes));
    }
    report::after_sends(
        top,
        config,
        &events,
        &mut super::accounts::syslog_for(top, config),
    );
    result.map(drop)
}

/// A message that does not go now: spooled (and, for `-odb`, handed to a
/// detached process), or, without a queue, a temporary failure (75).
/// `why` is the reason and its metrics cause.
fn hold(
    invocation: &Invocation,
    (top, config): (&Config, &Config),
    (addresses, prepared): (&Addresses, &PreparedHeader),
    input: &mut dyn BufRead,
    (why, cause): (&str, Cause),
    started: Instant,
    mut syslog: Syslog,
) -> Result<()> {
    let spooled = if config.queue.is_none() {
        Err(Error::temporary(format!(
            "{why}; there is no queue ([queue] dir) to keep the message"
        ))
        .with_cause(cause))
    } else {
        background::spool(config, &invocation.delivery, addresses, prepared, input)
    };
    let id = match spooled {
        Ok(id) => id,
        Err(e) => {
            let record = Record::refused(
                &addresses.sender,
                &addresses.recipients,
                started.elapsed(),
                &e,
            );
            syslog.log(Level::Error, &record.line());
            let events = [Event::new("failed", e.cause_code())];
            report::after_sends(top, config, &events, &mut syslog);
            return Err(e);
        }
    };
    background::log_queued(&mut syslog, addresses, prepared, &id, started, why);
    report::after_sends(
        top,
        config,
        &[Event::new("queued", cause.as_str())],
        &mut syslog,
    );
    if background::effective(invocation, config) == DeliveryMode::Background {
        background::start_detached(invocation, &id, &mut syslog);
    }
    Ok(())
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
