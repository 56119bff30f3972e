//! The transport seam: how a message reaches Microsoft 365 for one
//! account. The [`Submitter`](crate::submit::Submitter), and through it
//! the default mode, `-bs` and the queue runner, sees only [`Transport`]:
//! open it for an [`Account`], send an envelope, a header and a body
//! stream, get what became of each recipient as an [`Attempt`].
//!
//! - [`smtp`]: SMTP with STARTTLS and AUTH XOAUTH2 (`relay`);
//! - [`graph`]: Microsoft Graph's `sendMail` (`crate::graph`);
//! - [`auto`]: `transport = "auto"`, SMTP until its AUTH is refused by
//!   policy, then Graph.

mod auto;
mod graph;
mod smtp;

use std::io::Read;

use crate::account::Account;
use crate::attempt::Attempt;
use crate::cli::Delivery;
use crate::config;
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

    /// Problems worth logging that did not stop a message (an unwritable
    /// token cache, `auto`'s switch to Graph), taken once.
    fn take_warnings(&mut self) -> Vec<String> {
        Vec::new()
    }

    /// Token requests made for tokens the transport holds itself (Graph's
    /// scope); SMTP's are the [`Account`]'s.
    fn token_requests(&self) -> u32 {
        0
    }

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

/// Opens the transport `account` is configured for (SMTP: takes one of
/// its tokens and logs in; Graph: no network until the first message);
/// `helo` names this host, `verbose` gives it a transcript on stderr.
///
/// # Errors
/// Token, network, TLS and authentication failures, each with its kind
/// and hint.
pub fn open<'c>(
    account: &mut Account<'c>,
    helo: &str,
    verbose: bool,
) -> Result<Box<dyn Transport + 'c>> {
    match account.config.transport {
        config::Transport::Smtp => smtp::open(account, helo, transcript(verbose)),
        config::Transport::Graph => Ok(graph::open(account, transcript(verbose), Vec::new())),
        config::Transport::Auto => auto::open(account, helo, verbose),
    }
}

/// The transcript of a transport: on stderr with `-v`, else none.
fn transcript(verbose: bool) -> Transcript {
    if verbose {
        Transcript::stderr()
    } else {
        Transcript::off()
    }
}
