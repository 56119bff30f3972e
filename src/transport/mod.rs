//! The transport seam: how a message reaches Microsoft 365 for one
//! account. The [`Submitter`](crate::submit::Submitter), and through it
//! the default mode, `-bs` and the queue runner, sees only [`Transport`]:
//! open it for an [`Account`], send an envelope, a header and a body
//! stream, get what became of each recipient as an [`Attempt`].
//!
//! - [`smtp`]: SMTP with STARTTLS and AUTH XOAUTH2 (`relay`), the one
//!   transport behind this trait.
//!
//! Microsoft Graph (`crate::graph`) is still a branch in the Submitter
//! (`submit/graph_path.rs`), not a [`Transport`]: docs/architecture.md,
//! "Seams", says what moving it here takes.

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
    /// block as it leaves, `body` the rest of the message, `size` its
    /// size when known. `reused`: the transport carried an earlier
    /// message, so it may have gone stale while idle ([`After::Stale`]).
    fn send(
        &mut self,
        addresses: &Addresses,
        delivery: &Delivery,
        header: &[u8],
        body: &mut dyn Read,
        size: Option<u64>,
        reused: bool,
    ) -> Sent;

    /// Ends it in good order, without waiting for the other side.
    fn close(self: Box<Self>);

    /// Drops it: the connection is broken or in an unknown state.
    fn abandon(self: Box<Self>);
}

/// What to do with the transport after [`Transport::send`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    /// Keep it for the next message.
    Keep,
    /// Close it in good order.
    Close,
    /// Drop it.
    Abandon,
    /// It had gone stale before anything of the message was read: drop
    /// it, open a new one and send again, once.
    Stale,
}

/// What [`Transport::send`] did.
pub struct Sent {
    /// Recipient by recipient.
    pub attempt: Attempt,
    /// What becomes of the transport.
    pub after: After,
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
