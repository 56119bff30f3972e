//! Microsoft Graph as a [`Transport`]: the message, as MIME, to the
//! account's mailbox through `crate::graph`, its result an [`Attempt`].
//! Graph keeps no session between messages, so nothing goes stale and
//! closing it has nothing to say to anyone.

use std::io::Read;

use super::{After, Sent, Transport};
use crate::account::Account;
use crate::cli::Delivery;
use crate::envelope::Addresses;
use crate::graph::{self, Client};
use crate::transcript::Transcript;

/// A Graph client for `account`, its tokens restricted as the account's
/// are; `warnings` are logged with the first message's.
pub fn open<'c>(
    account: &Account<'c>,
    transcript: Transcript,
    warnings: Vec<String>,
) -> Box<dyn Transport + 'c> {
    let tokens = account.tokens_for(&account.config.graph.scope());
    Box::new(GraphTransport {
        client: Client::with_tokens(account.config, tokens, transcript),
        warnings,
    })
}

struct GraphTransport<'c> {
    client: Client<'c>,
    warnings: Vec<String>,
}

impl Transport for GraphTransport<'_> {
    /// Graph takes no DSN request and announces no size: `delivery` and
    /// `size` have no field to go into (docs/graph.md).
    fn send(
        &mut self,
        addresses: &Addresses,
        _delivery: &Delivery,
        header: &[u8],
        body: &mut dyn Read,
        _size: Option<u64>,
        _reused: bool,
    ) -> Sent {
        let result = self.client.send(&addresses.recipients, header, body);
        self.warnings.extend(self.client.take_warnings());
        Sent {
            attempt: graph::outcome::attempt(&addresses.recipients, result),
            after: After::Keep,
        }
    }

    fn take_warnings(&mut self) -> Vec<String> {
        self.warnings.extend(self.client.take_warnings());
        std::mem::take(&mut self.warnings)
    }

    fn token_requests(&self) -> u32 {
        self.client.token_requests()
    }

    fn close(self: Box<Self>) {}

    fn abandon(self: Box<Self>) {}
}
