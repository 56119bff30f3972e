//! What can go wrong in an SMTP session, and in which protocol step.

use std::fmt;
use std::io;

use super::RecipientReply;
use crate::smtp::reply::{Reply, ReplyError};

/// The protocol step a failure happened in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Waiting for the 220 greeting.
    Greeting,
    /// EHLO.
    Ehlo,
    /// STARTTLS.
    StartTls,
    /// AUTH XOAUTH2.
    Auth,
    /// MAIL FROM.
    MailFrom,
    /// RCPT TO.
    RcptTo,
    /// DATA.
    Data,
    /// The reply after the final dot.
    EndOfMessage,
    /// RSET between messages.
    Rset,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Greeting => "greeting",
            Stage::Ehlo => "EHLO",
            Stage::StartTls => "STARTTLS",
            Stage::Auth => "AUTH XOAUTH2",
            Stage::MailFrom => "MAIL FROM",
            Stage::RcptTo => "RCPT TO",
            Stage::Data => "DATA",
            Stage::EndOfMessage => "end of message",
            Stage::Rset => "RSET",
        })
    }
}

/// What went wrong in a session.
#[derive(Debug)]
pub enum Failure {
    /// The connection failed, timed out or was closed.
    Io(io::Error),
    /// The server's bytes are not a valid reply.
    Malformed(ReplyError),
    /// The server answered with a reply that is not the expected one.
    Reply(Reply),
    /// The server does not offer STARTTLS; no credential was sent.
    NoStartTls,
    /// Bytes arrived after the STARTTLS reply, before the TLS handshake.
    BufferedAfterStartTls,
    /// The server does not offer AUTH XOAUTH2.
    NoXoauth2(Vec<String>),
    /// XOAUTH2 error challenge (decoded JSON), then the final reply.
    AuthChallenge {
        /// The server's decoded challenge, e.g. `{"status":"invalid_token"}`.
        challenge: String,
        /// The final reply after our empty response.
        reply: Reply,
    },
    /// Reading the message failed in the middle of DATA; nothing was accepted.
    Input(io::Error),
    /// Every recipient was refused.
    NoRecipients(Vec<RecipientReply>),
    /// The message passed a size limit while it was sent; DATA was not ended.
    TooLarge(crate::size::TooLarge),
}

/// A failure and the step it happened in.
#[derive(Debug)]
pub struct SmtpError {
    /// Where.
    pub stage: Stage,
    /// What.
    pub failure: Failure,
}

impl SmtpError {
    pub(super) fn new(stage: Stage, failure: Failure) -> Self {
        SmtpError { stage, failure }
    }

    /// The server reply behind this failure, if there is one.
    #[cfg(test)]
    pub fn reply(&self) -> Option<&Reply> {
        match &self.failure {
            Failure::Reply(r) | Failure::AuthChallenge { reply: r, .. } => Some(r),
            _ => None,
        }
    }
}
