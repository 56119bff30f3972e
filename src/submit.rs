//! Submitting messages: one authenticated session, reused, and one log
//! line per message.
//!
//! A [`Submitter`] opens the SMTP relay when the first message needs it and
//! keeps it for the next (a `-bs` dialogue or a queue run sends several over
//! one login). Each [`Submitter::submit`] runs one transaction, writes the
//! message's syslog line and returns the error to show, if any. A failed
//! transaction leaves the session usable after RSET; a broken connection is
//! dropped and the next message opens a new one.

use std::io::Read;
use std::time::Instant;

use crate::catalogue;
use crate::cli::Delivery;
use crate::config::Config;
use crate::envelope::{self, Addresses};
use crate::error::{Error, Kind, Result};
use crate::log::{Level, Outcome, Record, Syslog};
use crate::message::PreparedHeader;
use crate::relay::{Relay, smtp_failure};
use crate::smtp::session::{Failure, Receipt};
use crate::token::TokenSource;
use crate::transcript::Transcript;

/// Sends messages for one invocation.
pub struct Submitter<'c> {
    config: &'c Config,
    helo: String,
    delivery: Delivery,
    verbose: bool,
    tokens: TokenSource<'c>,
    relay: Option<Relay>,
    syslog: Syslog,
}

impl<'c> Submitter<'c> {
    /// A submitter for `config`; `helo` names this host, `delivery` holds the
    /// DSN and body options, `verbose` turns the transcript on.
    pub fn new(
        config: &'c Config,
        helo: String,
        delivery: Delivery,
        verbose: bool,
        syslog: Syslog,
    ) -> Self {
        Submitter {
            config,
            helo,
            delivery,
            verbose,
            tokens: TokenSource::new(config),
            relay: None,
            syslog,
        }
    }

    /// Sends one message and logs its outcome.
    ///
    /// # Errors
    /// The failure to show (already logged): refused recipients, or what
    /// stopped the message.
    pub fn submit(
        &mut self,
        addresses: &Addresses,
        header: &PreparedHeader,
        body: &mut dyn Read,
    ) -> Result<()> {
        let started = Instant::now();
        let result = self.deliver(addresses, header, body);
        report(addresses, header, started, result, &mut self.syslog)
    }

    /// The relay, opened on first use.
    fn relay(&mut self) -> Result<&mut Relay> {
        if self.relay.is_none() {
            let transcript = if self.verbose {
                Transcript::stderr()
            } else {
                Transcript::off()
            };
            let opened = Relay::open(self.config, &mut self.tokens, &self.helo, transcript);
            for warning in self.tokens.warnings.drain(..) {
                self.syslog.log(Level::Warning, &warning);
            }
            self.relay = Some(opened?);
        }
        Ok(self.relay.as_mut().expect("opened above"))
    }

    fn deliver(
        &mut self,
        addresses: &Addresses,
        header: &PreparedHeader,
        body: &mut dyn Read,
    ) -> Result<Receipt> {
        let delivery = self.delivery.clone();
        let relay = self.relay()?;
        let envelope = envelope::esmtp(addresses, &delivery, relay.capabilities());
        match relay.send(&envelope, &header.bytes, body) {
            Ok(receipt) => Ok(receipt),
            Err(e) => {
                let server = relay.server().to_string();
                // After a refusal the session can go on; after a broken
                // connection or protocol it cannot.
                let usable = !matches!(
                    e.failure,
                    Failure::Io(_) | Failure::Malformed(_) | Failure::Input(_)
                );
                if !(usable && relay.reset().is_ok()) {
                    self.relay = None;
                }
                Err(smtp_failure(e, &server))
            }
        }
    }

    /// Ends the session (QUIT without waiting).
    pub fn finish(mut self) {
        if let Some(relay) = self.relay.take() {
            relay.close();
        }
    }
}

/// Logs the outcome and turns refused recipients into the error to show.
fn report(
    addresses: &Addresses,
    prepared: &PreparedHeader,
    started: Instant,
    result: Result<Receipt>,
    syslog: &mut Syslog,
) -> Result<()> {
    let base = Record {
        queue_id: None,
        message_id: Some(&prepared.message_id),
        from: &addresses.sender,
        recipients: &addresses.recipients,
        size: None,
        outcome: Outcome::Delivered,
        smtp: None,
        duration: started.elapsed(),
        exit: "EX_OK",
        cause: None,
        error: None,
    };
    match result {
        Ok(receipt) if receipt.refused.is_empty() => {
            let record = Record {
                size: Some(receipt.size),
                smtp: Some(receipt.reply.to_string()),
                ..base
            };
            syslog.log(Level::Info, &record.line());
            Ok(())
        }
        Ok(receipt) => {
            let error = partial_failure(&receipt);
            let record = Record {
                size: Some(receipt.size),
                outcome: Outcome::Partial,
                smtp: Some(receipt.reply.to_string()),
                exit: error.kind().exit_name(),
                cause: Some(error.cause_code()),
                error: Some(error.message()),
                ..base
            };
            syslog.log(Level::Warning, &record.line());
            Err(error)
        }
        Err(error) => {
            let record = Record {
                outcome: Outcome::Failed,
                exit: error.kind().exit_name(),
                cause: Some(error.cause_code()),
                error: Some(error.message()),
                ..base
            };
            syslog.log(Level::Error, &record.line());
            Err(error)
        }
    }
}

/// Some recipients were refused: name each, exit 67 (75 if only temporarily).
fn partial_failure(receipt: &Receipt) -> Error {
    let refused: Vec<String> = receipt
        .refused
        .iter()
        .map(|r| format!("<{}>: {}", r.recipient, r.reply))
        .collect();
    let accepted: Vec<String> = receipt
        .accepted
        .iter()
        .map(|r| format!("<{}>", r.recipient))
        .collect();
    let temporary = receipt.refused.iter().all(|r| r.reply.is_transient());
    let kind = if temporary {
        Kind::Temporary
    } else {
        Kind::NoUser
    };
    let error = Error::new(
        kind,
        format!(
            "delivered to {}, but the server refused {}",
            accepted.join(", "),
            refused.join("; ")
        ),
    );
    // The first refusal the catalogue knows explains the others best.
    let known = receipt
        .refused
        .iter()
        .find_map(|r| catalogue::smtp_reply(r.reply.code, &r.reply.text()));
    match known {
        Some(entry) => error.with_hint(entry.fix).with_cause(entry.cause),
        None => error,
    }
}
