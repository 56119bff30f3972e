//! A Graph send's result as an [`Attempt`], the shape the live send and
//! the queue run take their decisions from: 202 delivers to every
//! envelope recipient (Graph takes the message whole, there is no
//! per-recipient answer), a refusal fails them all alike.

use super::{Accepted, Failure};
use crate::attempt::Attempt;
use crate::cause::Cause;

/// The attempt for `recipients` after `result`.
pub fn attempt(recipients: &[String], result: Result<Accepted, Failure>) -> Attempt {
    let (error, no_session, throttled) = match result {
        Ok(accepted) => {
            return Attempt {
                delivered: recipients.to_vec(),
                refused: Vec::new(),
                deferred: Vec::new(),
                error: None,
                reply: Some(accepted.reply()),
                size: Some(accepted.size),
                no_session: false,
                throttled: false,
                transport: Some("graph"),
            };
        }
        Err(Failure::NoSession(e)) => (e, true, false),
        Err(Failure::Message(e)) => (e, false, false),
        Err(Failure::Refused(r)) => {
            // A refusal of the app or the mailbox (401, 403, 404) would meet
            // every message alike: the queue run stops, as after a failed login.
            let every = matches!(
                r.error.cause(),
                Some(
                    Cause::GraphTokenRejected
                        | Cause::GraphAccessDenied
                        | Cause::GraphMailboxNotFound
                        | Cause::GraphMailboxNotEnabled
                )
            );
            (r.error, every || r.throttled, r.throttled)
        }
    };
    let mut attempt = Attempt::whole_message(recipients, error);
    attempt.no_session = no_session;
    attempt.throttled = throttled;
    attempt.transport = Some("graph");
    attempt
}
