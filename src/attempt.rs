//! How one SMTP transaction went, recipient by recipient.
//!
//! An [`Attempt`] sorts the recipients of one try into delivered, refused
//! for good (5xx) and deferred (4xx, or a failure of the whole message that
//! is temporary or not clearly permanent), and says whether the failure
//! concerns every message alike (no session could be opened) or whether
//! the server asked for a pause (421, throttling). The live send and the
//! queue run take their decisions from it. Pure: protocol outcomes in,
//! values out.

use crate::cause::Cause;
use crate::error::{Error, Kind};
use crate::smtp::session::{Failure, Receipt, RecipientReply, SmtpError};
use crate::smtp_error::{explain_refusals, refusal_list, smtp_failure};
use crate::spool::schedule;

/// The outcome of one try at one message.
#[derive(Debug)]
pub struct Attempt {
    /// Recipients the server accepted the message for.
    pub delivered: Vec<String>,
    /// Recipients refused for good.
    pub refused: Vec<String>,
    /// Recipients to try again later.
    pub deferred: Vec<String>,
    /// What went wrong, if anything did.
    pub error: Option<Error>,
    /// The server's reply to the message, when it took it.
    pub reply: Option<String>,
    /// Message octets sent, when the message went.
    pub size: Option<u64>,
    /// No session could be opened (token, network, TLS, login): every
    /// message would fail alike, so a queue run stops.
    pub no_session: bool,
    /// The server asked for a pause (421, `4.3.2`, "too many").
    pub throttled: bool,
    /// The transport when it is not SMTP (`graph`), for the log line.
    pub transport: Option<&'static str>,
}

/// Whether a failure of this kind may go away by itself (or is not clearly
/// permanent): such messages are kept for another try.
pub fn retryable(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Temporary | Kind::Software | Kind::Protocol | Kind::Input
    )
}

impl Attempt {
    /// The session could not be opened for `recipients`.
    pub fn no_session(recipients: &[String], error: Error) -> Attempt {
        // A server that greets with 421 or a throttled token endpoint asks
        // for a pause; anything else means no session is possible now.
        let throttled = matches!(
            error.cause(),
            Some(Cause::ServerBusy | Cause::Throttled | Cause::TokenThrottled)
        );
        let mut attempt = Attempt::whole_message(recipients, error);
        attempt.no_session = true;
        attempt.throttled = throttled;
        attempt
    }

    /// The message cannot go to this server at all (`error` is permanent
    /// or not, as its kind says); nothing was sent.
    pub fn refused(recipients: &[String], error: Error) -> Attempt {
        Attempt::whole_message(recipients, error)
    }

    /// Every recipient shares `error`'s fate.
    pub fn whole_message(recipients: &[String], error: Error) -> Attempt {
        let (refused, deferred) = if retryable(error.kind()) {
            (Vec::new(), recipients.to_vec())
        } else {
            (recipients.to_vec(), Vec::new())
        };
        Attempt {
            delivered: Vec::new(),
            refused,
            deferred,
            error: Some(error),
            reply: None,
            size: None,
            no_session: false,
            throttled: false,
            transport: None,
        }
    }

    /// The server took the message for some or all recipients.
    pub fn sent(receipt: &Receipt) -> Attempt {
        let (deferred, refused) = split(&receipt.refused);
        Attempt {
            delivered: receipt
                .accepted
                .iter()
                .map(|r| r.recipient.clone())
                .collect(),
            refused,
            deferred,
            error: (!receipt.refused.is_empty()).then(|| partial_failure(receipt)),
            reply: Some(receipt.reply.to_string()),
            size: Some(receipt.size),
            no_session: false,
            throttled: receipt.refused.iter().any(throttling),
            transport: None,
        }
    }

    /// The transaction failed with `e` at `server`.
    pub fn failed(recipients: &[String], e: SmtpError, server: &str) -> Attempt {
        let throttled = match &e.failure {
            Failure::Reply(r) | Failure::AuthChallenge { reply: r, .. } => {
                schedule::throttles(r.code, &r.text())
            }
            Failure::NoRecipients(list) => list.iter().any(throttling),
            _ => false,
        };
        let each = match &e.failure {
            Failure::NoRecipients(list) => Some(split(list)),
            _ => None,
        };
        let error = smtp_failure(e, server);
        let mut attempt = match each {
            Some((deferred, refused)) => Attempt {
                deferred,
                refused,
                ..Attempt::whole_message(&[], error)
            },
            None => Attempt::whole_message(recipients, error),
        };
        attempt.throttled = throttled;
        attempt
    }

    /// Whether every recipient got the message.
    pub fn complete(&self) -> bool {
        self.error.is_none()
    }
}

fn throttling(r: &RecipientReply) -> bool {
    schedule::throttles(r.reply.code, &r.reply.text())
}

/// Temporarily and permanently refused recipients.
fn split(refused: &[RecipientReply]) -> (Vec<String>, Vec<String>) {
    let (temporary, permanent): (Vec<_>, Vec<_>) =
        refused.iter().partition(|r| r.reply.is_transient());
    let names = |list: Vec<&RecipientReply>| list.iter().map(|r| r.recipient.clone()).collect();
    (names(temporary), names(permanent))
}

/// Some recipients were refused: name each, exit 67 even when every
/// refusal was temporary. The others have the message: exit 75 would make
/// the caller send it again to everyone; without a queue, those refused
/// temporarily are named so that they alone can be sent to again.
fn partial_failure(receipt: &Receipt) -> Error {
    let accepted: Vec<String> = receipt
        .accepted
        .iter()
        .map(|r| format!("<{}>", r.recipient))
        .collect();
    let error = Error::new(
        Kind::NoUser,
        format!(
            "delivered to {}, but not to {}",
            accepted.join(", "),
            refusal_list(&receipt.refused)
        ),
    );
    let error = explain_refusals(error, &receipt.refused);
    if error.hint() == Kind::NoUser.default_hint()
        && receipt.refused.iter().any(|r| r.reply.is_transient())
    {
        error.with_hint(
            "the other recipients got the message: send it again only to the ones named, later",
        )
    } else {
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::session::Stage;

    use crate::testing::reply;

    fn rcpt(who: &str, code: u16, text: &str) -> RecipientReply {
        RecipientReply {
            recipient: who.into(),
            reply: reply(code, text),
        }
    }

    fn all() -> Vec<String> {
        vec!["a@x".into(), "b@x".into()]
    }

    #[test]
    fn a_receipt_sorts_recipients() {
        let receipt = Receipt {
            accepted: vec![rcpt("a@x", 250, "ok")],
            refused: vec![
                rcpt("b@x", 451, "4.3.0 later"),
                rcpt("c@x", 550, "5.1.1 no"),
            ],
            reply: reply(250, "2.0.0 queued"),
            size: 10,
        };
        let a = Attempt::sent(&receipt);
        assert_eq!(a.delivered, vec!["a@x"]);
        assert_eq!(a.deferred, vec!["b@x"]);
        assert_eq!(a.refused, vec!["c@x"]);
        assert_eq!(a.error.as_ref().unwrap().exit_code(), 67);
        assert!(!a.complete() && !a.throttled);
        let clean = Receipt {
            refused: Vec::new(),
            ..receipt
        };
        assert!(Attempt::sent(&clean).complete());
        // Only temporary refusals: still 67, never 75 (the caller would
        // send it again to everyone).
        let partial = Receipt {
            refused: vec![rcpt("b@x", 451, "4.3.0 later")],
            ..clean
        };
        let e = Attempt::sent(&partial).error.unwrap();
        assert_eq!(e.exit_code(), 67);
        assert!(
            e.message().contains("but not to <b@x>: 451 4.3.0 later"),
            "{}",
            e.message()
        );
        assert!(e.hint().contains("only to the ones named"), "{}", e.hint());
    }

    #[test]
    fn whole_message_failures_by_kind() {
        let table = [
            (Stage::EndOfMessage, 451, "4.3.0 try later", true, false),
            (Stage::EndOfMessage, 554, "5.6.0 bad", false, false),
            (Stage::MailFrom, 421, "4.3.2 closing", true, true),
            (Stage::EndOfMessage, 452, "4.3.2 throttled", true, true),
            (
                Stage::MailFrom,
                550,
                "5.7.60 not allowed to send as",
                false,
                false,
            ),
        ];
        for (stage, code, text, deferred, throttled) in table {
            let e = SmtpError {
                stage,
                failure: Failure::Reply(reply(code, text)),
            };
            let a = Attempt::failed(&all(), e, "s:1");
            assert_eq!(a.deferred.len() == 2, deferred, "{code} {text}");
            assert_eq!(a.refused.len() == 2, !deferred, "{code} {text}");
            assert_eq!(a.throttled, throttled, "{code} {text}");
            assert!(a.delivered.is_empty() && !a.no_session);
        }
        let dropped = SmtpError {
            stage: Stage::EndOfMessage,
            failure: Failure::Io(std::io::ErrorKind::ConnectionReset.into()),
        };
        assert_eq!(Attempt::failed(&all(), dropped, "s:1").deferred, all());
    }

    #[test]
    fn every_recipient_refused_is_split_per_recipient() {
        let e = SmtpError {
            stage: Stage::RcptTo,
            failure: Failure::NoRecipients(vec![
                rcpt("a@x", 550, "5.1.1 unknown"),
                rcpt("b@x", 450, "4.2.1 busy"),
            ]),
        };
        let a = Attempt::failed(&all(), e, "s:1");
        assert_eq!(
            (a.refused, a.deferred),
            (vec!["a@x".into()], vec!["b@x".into()])
        );
    }

    #[test]
    fn no_session_keeps_the_kind_for_the_live_send() {
        let a = Attempt::no_session(&all(), Error::temporary("token endpoint down"));
        assert!(a.no_session);
        assert_eq!(a.deferred, all());
        let a = Attempt::no_session(&all(), Error::config("secret expired"));
        assert_eq!(a.refused, all());
        assert!(retryable(Kind::Protocol) && !retryable(Kind::NoPermission));
    }
}
