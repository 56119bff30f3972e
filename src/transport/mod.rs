//! The transport seam: how a message reaches Microsoft 365 for one
//! account. The [`Submitter`](crate::submit::Submitter), and through it
//! the default mode, `-bs` and the queue runner, sees only [`Transport`]:
//! open it for an [`Account`], send an envelope, a header and a body
//! stream, get what became of each recipient as an [`Attempt`].
//!
//! - [`smtp`]: SMTP with STARTTLS and AUTH XOAUTH2 (`relay`), the one
//!   transport today.
//!
//! A second transport (Microsoft Graph) is a new file here and a branch in
//! [`open`]; nothing above this module changes.

mod smtp;

use std::io::Read;

use crate::account::Account;
use crate::attempt::Attempt;
use crate::cli::Delivery;
use crate::envelope::Addresses;
use crate::error::Result;
use crate::transcript::Transcript;

/// An open way to send mail, reused for every message of an invocation or
/// a queue run.
pub trait Transport {
    /// Sends one message from `addresses.sender` to `addresses.recipients`
    /// with `delivery`'s options (DSN, body type); `header` is the header
    /// block as it leaves, `body` the rest of the message.
    fn send(
        &mut self,
        addresses: &Addresses,
        delivery: &Delivery,
        header: &[u8],
        body: &mut dyn Read,
    ) -> Sent;

    /// Ends it without waiting for the other side.
    fn close(self: Box<Self>);
}

/// What [`Transport::send`] did.
pub struct Sent {
    /// Recipient by recipient.
    pub attempt: Attempt,
    /// Whether the transport can take another message (false after a
    /// broken connection or protocol).
    pub reusable: bool,
}

/// Opens the transport `account` is configured for: takes one of its
/// tokens and logs in; `helo` names this host.
///
/// # Errors
/// Token, network, TLS and authentication failures, each with its kind
/// and hint.
pub fn open(
    account: &mut Account,
    helo: &str,
    transcript: Transcript,
) -> Result<Box<dyn Transport>> {
    smtp::open(account, helo, transcript)
}
