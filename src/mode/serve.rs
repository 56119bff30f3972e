//! `-bs`: an SMTP dialogue on stdin and stdout, as Symfony Mailer and
//! Laravel use `sendmail -bs`.
//!
//! The protocol is `smtp::server`'s; this file does the I/O around it.
//! Each message is read up to its lone dot (`smtp::dot_reader`), composed
//! like a command-line message (`compose`: aliases, From policy, header)
//! with `MAIL FROM` in the place of `-f` and the `RCPT TO`s in the place of
//! command-line recipients, and handed to the `Submitter`, which keeps one
//! authenticated session for all the messages of the dialogue. Only when
//! the submission has succeeded (or the message is safely queued) is the
//! 250 written; a failure is answered with the 4xx or 5xx that matches it.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::time::Instant;

use crate::cause::Cause;
use crate::cli::Invocation;
use crate::compose::Composer;
use crate::config::Config;
use crate::envelope::{Addresses, Request};
use crate::error::{Error, Kind, Result, io_reason};
use crate::header;
use crate::log::Syslog;
use crate::log::{Level, Record};
use crate::message::PreparedHeader;
use crate::metrics::Event;
use crate::smtp::dot_reader::DotReader;
use crate::smtp::server::{self, Action, Server, Transaction};
use crate::submit::{Announced, Submitter};
use crate::system;

use super::{background, report};

/// Longest command line read (RFC 5321 allows 512 octets; extensions add some).
const MAX_COMMAND: usize = 2048;

/// Runs the dialogue on stdin and stdout.
///
/// # Errors
/// The client vanished in the middle of a message, or stdout was closed.
pub fn run(invocation: &Invocation, config: &Config, syslog: Syslog) -> Result<()> {
    if let Err(e) = super::send::check_full_name(invocation) {
        refuse(&e);
        return Err(e);
    }
    let mut input = BufReader::with_capacity(64 * 1024, io::stdin().lock());
    let mut output = io::stdout().lock();
    serve(invocation, config, syslog, &mut input, &mut output)
}

/// Tells the client that no dialogue is possible (the configuration is
/// broken): a 421 greeting, so it knows to try later.
pub fn refuse(error: &Error) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(server::unavailable_greeting(error.message()).as_bytes());
    let _ = out.flush();
}

/// The dialogue over any input and output.
fn serve<R: BufRead, W: Write>(
    invocation: &Invocation,
    config: &Config,
    syslog: Syslog,
    input: &mut R,
    output: &mut W,
) -> Result<()> {
    let top = config;
    let mut syslog = syslog;
    // One account for the whole dialogue: the caller's binding, else the
    // default; a bound caller's MAIL FROM cannot reach another account.
    let config = super::accounts::for_session(invocation, config, &mut syslog)?;
    let host = system::host_name(config);
    let mut server = Server::new(&host, config.max_message_size);
    let mut composer = Composer::new(config, host.clone(), invocation.full_name.clone());
    let mut submitter = Submitter::for_invocation(config, host, invocation, syslog);
    // The dialogue holds one of the mailbox's connection slots; without one
    // its messages are queued (limits.connections).
    let slot = crate::limits::session_slot(config, crate::limits::LIVE_WAIT);
    let pace = Pace {
        top,
        config,
        invocation,
        busy: slot.as_ref().err().cloned(),
    };
    if let Ok((_, Some(warning))) = &slot {
        submitter.log(Level::Warning, warning);
    }
    let result = dialogue(
        &mut server,
        &mut composer,
        &mut submitter,
        &pace,
        input,
        output,
    );
    // As in the stdin mode: due queued messages may follow over this session.
    if let Some(run) = super::queue::finish_with_flush(submitter, top) {
        let events = report::of_run(run.delivered, &run.failed_causes);
        report::after_sends(
            top,
            config,
            &events,
            &mut super::accounts::syslog_for(top, config),
        );
    }
    drop(slot);
    result
}

/// `[limits]` for the messages of a dialogue.
struct Pace<'a> {
    /// The top level (the metrics file may show every account).
    top: &'a Config,
    /// The dialogue's account.
    config: &'a Config,
    invocation: &'a Invocation,
    /// Why no connection slot was free, if none was.
    busy: Option<String>,
}

impl Pace<'_> {
    /// Why a message to `recipients` recipients may not go now, if so.
    fn hold(&self, recipients: usize) -> Option<String> {
        self.busy.clone().or_else(|| {
            let wait = crate::limits::ledger::LOCK_WAIT;
            match crate::limits::admit_next(self.config, recipients as u32, wait) {
                crate::limits::Next::Stop(why) => Some(why),
                // An unusable ledger does not stop mail (limits::ledger).
                crate::limits::Next::Go(_) | crate::limits::Next::Unusable(_) => None,
            }
        })
    }

    /// Queues a held message (or, without a queue, fails it with 4xx).
    fn queue(
        &self,
        addresses: &Addresses,
        prepared: &PreparedHeader,
        message: &mut dyn BufRead,
        why: &str,
        started: Instant,
        syslog: &mut Syslog,
    ) -> Result<()> {
        if self.config.queue.is_none() {
            return Err(Error::temporary(format!(
                "{why}; there is no queue ([queue] dir) to keep the message"
            ))
            .with_cause(Cause::Limits));
        }
        let id = background::spool(
            self.config,
            &self.invocation.delivery,
            addresses,
            prepared,
            message,
        )?;
        background::log_queued(syslog, addresses, prepared, &id, started, why);
        Ok(())
    }
}

fn dialogue<R: BufRead, W: Write>(
    server: &mut Server,
    composer: &mut Composer,
    submitter: &mut Submitter,
    pace: &Pace,
    input: &mut R,
    output: &mut W,
) -> Result<()> {
    write(output, &server.greeting())?;
    loop {
        let action = match read_command(input)? {
            None => return Ok(()),
            Some(Some(line)) => server.command(&line),
            Some(None) => server.line_too_long(),
        };
        match action {
            Action::Reply(reply) => write(output, &reply)?,
            Action::Close(reply) => return write(output, &reply),
            Action::Data(reply, transaction) => {
                write(output, &reply)?;
                let reply = receive(&transaction, composer, submitter, pace, input)?;
                write(output, &reply)?;
            }
        }
    }
}

/// Reads one message and submits it; returns the reply for it.
///
/// # Errors
/// Only when the input ends before the message does (the client is gone).
fn receive<R: BufRead>(
    transaction: &Transaction,
    composer: &mut Composer,
    submitter: &mut Submitter,
    pace: &Pace,
    input: &mut R,
) -> Result<String> {
    let mut message = BufReader::with_capacity(64 * 1024, DotReader::new(&mut *input));
    let outcome = submit_one(transaction, composer, submitter, pace, &mut message);
    // Whatever happened, the rest of the message is read so the dialogue
    // can go on with the next command.
    io::copy(&mut message, &mut io::sink()).map_err(|e| {
        Error::new(
            Kind::Input,
            format!(
                "the SMTP client stopped inside a message: {}; it was not sent",
                io_reason(&e)
            ),
        )
    })?;
    Ok(match outcome {
        Ok(message_id) => server::delivered_reply(&message_id),
        Err(e) => server::failure_reply(e.kind(), e.message()),
    })
}

/// Composes and submits one message; returns its Message-ID.
fn submit_one(
    transaction: &Transaction,
    composer: &mut Composer,
    submitter: &mut Submitter,
    pace: &Pace,
    message: &mut BufReader<impl Read>,
) -> Result<String> {
    let started = Instant::now();
    let request = Request {
        sender: Some(&transaction.sender),
        recipients: &transaction.recipients,
        extract: false,
    };
    let composed = header::read_header_block(message, header::MAX_HEADER_BLOCK)
        .and_then(|block| composer.compose(&request, block, submitter.syslog()));
    let (addresses, prepared) = composed.inspect_err(|e| {
        // One syslog line per message, even one refused before it was sent.
        let record = Record::refused(
            &transaction.sender,
            &transaction.recipients,
            started.elapsed(),
            e,
        );
        submitter.log(Level::Error, &record.line());
    })?;
    let (result, events) = match pace.hold(addresses.recipients.len()) {
        Some(why) => {
            let result = pace.queue(
                &addresses,
                &prepared,
                message,
                &why,
                started,
                submitter.syslog(),
            );
            let event = match &result {
                Ok(()) => Event::new("queued", "limits"),
                Err(e) => Event::new("failed", e.cause_code()),
            };
            (result, vec![event])
        }
        None => {
            let announced = Announced {
                body: transaction.body.clone(),
                size: transaction.size,
            };
            let result = submitter.submit_as(&addresses, &prepared, message, &announced);
            let events = report::of_submit(&result);
            (result.map(drop), events)
        }
    };
    report::after_sends(pace.top, pace.config, &events, submitter.syslog());
    result?;
    Ok(prepared.message_id)
}

/// One command line without its ending: `None` at the end of input,
/// `Some(None)` for a line too long to be a command (skipped).
fn read_command<R: BufRead>(input: &mut R) -> Result<Option<Option<Vec<u8>>>> {
    let mut line = Vec::new();
    let n = input
        .by_ref()
        .take(MAX_COMMAND as u64 + 2)
        .read_until(b'\n', &mut line)
        .map_err(read_failed)?;
    if n == 0 {
        return Ok(None);
    }
    if !line.ends_with(b"\n") && line.len() > MAX_COMMAND {
        let mut skipped = Vec::new();
        loop {
            skipped.clear();
            let n = input
                .by_ref()
                .take(64 * 1024)
                .read_until(b'\n', &mut skipped)
                .map_err(read_failed)?;
            if n == 0 || skipped.ends_with(b"\n") {
                return Ok(Some(None));
            }
        }
    }
    while line.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
        line.pop();
    }
    Ok(Some(Some(line)))
}

fn read_failed(e: io::Error) -> Error {
    Error::new(
        Kind::Input,
        format!("reading the SMTP dialogue failed: {}", io_reason(&e)),
    )
}

fn write<W: Write>(output: &mut W, reply: &str) -> Result<()> {
    output
        .write_all(reply.as_bytes())
        .and_then(|()| output.flush())
        .map_err(|e| {
            Error::new(
                Kind::Input,
                format!("the SMTP client closed the dialogue: {}", io_reason(&e)),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines() {
        let long = format!("NOOP {}\r\nQUIT\r\n", "x".repeat(5000));
        let mut input: &[u8] = long.as_bytes();
        assert_eq!(read_command(&mut input).unwrap(), Some(None));
        assert_eq!(
            read_command(&mut input).unwrap(),
            Some(Some(b"QUIT".to_vec()))
        );
        assert_eq!(read_command(&mut input).unwrap(), None);
        let mut input: &[u8] = b"HELO x\nNOOP";
        assert_eq!(
            read_command(&mut input).unwrap(),
            Some(Some(b"HELO x".to_vec()))
        );
        assert_eq!(
            read_command(&mut input).unwrap(),
            Some(Some(b"NOOP".to_vec()))
        );
    }
}
