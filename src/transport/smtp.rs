//! SMTP as a [`Transport`]: the session of `relay` (STARTTLS, XOAUTH2),
//! the ESMTP envelope for what the server offers (internationalised
//! addresses converted for a server without SMTPUTF8), and the SMTP
//! outcome turned into an [`Attempt`].

use std::io::Read;

use super::{After, Sent, Transport};
use crate::account::Account;
use crate::attempt::Attempt;
use crate::cli::Delivery;
use crate::envelope::{self, Addresses};
use crate::error::Result;
use crate::intl;
use crate::relay::Relay;
use crate::smtp::session::{Failure, SmtpError};
use crate::spool::schedule;
use crate::transcript::Transcript;

/// Connects to the account's SMTP server and logs in as its mailbox.
pub fn open<'c>(
    account: &mut Account,
    helo: &str,
    transcript: Transcript,
) -> Result<Box<dyn Transport + 'c>> {
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
        size: Option<u64>,
        reused: bool,
    ) -> Sent {
        let utf8_header = !header.is_ascii();
        let caps = self.capabilities();
        let envelope = envelope::esmtp(addresses, delivery, caps, size, utf8_header);
        let (envelope, renamed) = match intl::for_server(envelope, caps) {
            Ok(converted) => converted,
            Err(e) => {
                return Sent {
                    attempt: Attempt::refused(&addresses.recipients, e),
                    after: After::Keep,
                };
            }
        };
        match Relay::send(self, &envelope, header, body) {
            Ok(mut receipt) => {
                renamed.restore(&mut receipt.accepted);
                renamed.restore(&mut receipt.refused);
                Sent {
                    attempt: Attempt::sent(&receipt),
                    after: After::Keep,
                }
            }
            Err(e) if reused && stale(&e) && !self.message_started() => Sent {
                attempt: Attempt::failed(&addresses.recipients, e, ""),
                after: After::Stale,
            },
            Err(mut e) => {
                if let Failure::NoRecipients(list) = &mut e.failure {
                    renamed.restore(list);
                }
                let server = self.server().to_string();
                // After a refusal the session can go on; after a broken
                // connection or protocol it cannot. A message cut short
                // (input broken, too large) leaves the DATA phase open:
                // only closing the connection ends it.
                let usable = !matches!(
                    e.failure,
                    Failure::Io(_)
                        | Failure::Malformed(_)
                        | Failure::Input(_)
                        | Failure::TooLarge(_)
                );
                let after = if !usable {
                    After::Abandon
                } else if self.reset().is_err() {
                    After::Close
                } else {
                    After::Keep
                };
                Sent {
                    attempt: Attempt::failed(&addresses.recipients, e, &server),
                    after,
                }
            }
        }
    }

    fn close(self: Box<Self>) {
        Relay::close(*self);
    }

    fn abandon(self: Box<Self>) {
        Relay::abandon(*self);
    }
}

/// Whether a failure says that the session is gone (closed, reset, or a
/// 421 such as Postfix's "4.4.2 timeout exceeded"), not that the server
/// refused the message. A 421 that asks for a pause (4.3.2, "too many")
/// is no stale session: the queue run stops for it.
fn stale(e: &SmtpError) -> bool {
    match &e.failure {
        Failure::Io(_) => true,
        Failure::Reply(reply) => reply.code == 421 && !schedule::throttles(0, &reply.text()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::session::Stage;
    use crate::testing::reply;
    use std::io;

    #[test]
    fn which_failures_mean_a_stale_session() {
        let e = |failure| SmtpError {
            stage: Stage::MailFrom,
            failure,
        };
        let table = [
            (e(Failure::Io(io::ErrorKind::UnexpectedEof.into())), true),
            (e(Failure::Io(io::ErrorKind::ConnectionReset.into())), true),
            (
                e(Failure::Reply(reply(
                    421,
                    "4.4.2 mx Error: timeout exceeded",
                ))),
                true,
            ),
            (
                e(Failure::Reply(reply(
                    421,
                    "Service closing transmission channel",
                ))),
                true,
            ),
            (
                e(Failure::Reply(reply(
                    421,
                    "4.3.2 Service not available, too busy",
                ))),
                false,
            ),
            (e(Failure::Reply(reply(451, "4.3.0 try later"))), false),
            (e(Failure::Reply(reply(550, "5.7.60 not allowed"))), false),
        ];
        for (error, want) in table {
            assert_eq!(stale(&error), want, "{error:?}");
        }
    }
}
