//! SMTP as a [`Transport`]: the session of `relay` (STARTTLS, XOAUTH2),
//! the ESMTP envelope for what the server offers, and the SMTP outcome
//! turned into an [`Attempt`].

use std::io::Read;

use super::{Sent, Transport};
use crate::account::Account;
use crate::attempt::Attempt;
use crate::cli::Delivery;
use crate::envelope::{self, Addresses};
use crate::error::Result;
use crate::relay::Relay;
use crate::smtp::session::Failure;
use crate::transcript::Transcript;

/// Connects to the account's SMTP server and logs in as its mailbox.
pub fn open(
    account: &mut Account,
    helo: &str,
    transcript: Transcript,
) -> Result<Box<dyn Transport>> {
    let relay = Relay::open(account.config, &mut account.tokens, helo, transcript)?;
    Ok(Box::new(relay))
}

impl Transport for Relay {
    fn send(
        &mut self,
        addresses: &Addresses,
        delivery: &Delivery,
        header: &[u8],
        body: &mut dyn Read,
    ) -> Sent {
        let envelope = envelope::esmtp(addresses, delivery, self.capabilities());
        match Relay::send(self, &envelope, header, body) {
            Ok(receipt) => Sent {
                attempt: Attempt::sent(&receipt),
                reusable: true,
            },
            Err(e) => {
                let server = self.server().to_string();
                // After a refusal the session can go on; after a broken
                // connection or protocol it cannot.
                let usable = !matches!(
                    e.failure,
                    Failure::Io(_) | Failure::Malformed(_) | Failure::Input(_)
                );
                let reusable = usable && self.reset().is_ok();
                Sent {
                    attempt: Attempt::failed(&addresses.recipients, e, &server),
                    reusable,
                }
            }
        }
    }

    fn close(self: Box<Self>) {
        Relay::close(*self);
    }
}
