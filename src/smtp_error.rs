//! SMTP failures as the program's errors: which kind (and so which exit
//! code), which cause code, which hint, with the catalogue's entry when it
//! knows the reply. Pure: an `SmtpError` in, an `Error` out; the session
//! that produced the failure is `relay`'s and `smtp/session`'s business.

use crate::catalogue;
use crate::cause::Cause;
use crate::error::{Error, Kind};
use crate::net;
use crate::smtp::reply::Reply;
use crate::smtp::session::{Failure, RecipientReply, SmtpError, Stage};

/// Whether the server refused the token itself (535 or an XOAUTH2 error
/// challenge), as opposed to a policy refusal (5.7.139) that no new token cures.
pub fn token_rejected(e: &SmtpError) -> bool {
    match &e.failure {
        Failure::AuthChallenge { .. } => true,
        Failure::Reply(r) => r.code == 535 && r.enhanced_code() != Some("5.7.139"),
        _ => false,
    }
}

/// The hint for a failure after the whole message went out.
const AFTER_THE_DOT: &str = "the whole message went out, but no answer came back: the server may \
     have taken it, and sending it again may deliver it twice";

/// The error for a protocol failure with `server` (`host:port`).
pub fn smtp_failure(e: SmtpError, server: &str) -> Error {
    let stage = e.stage;
    match e.failure {
        // After the final dot the server may have taken the message: never
        // say that nothing was sent (a resend may make it arrive twice).
        Failure::Io(io) if stage == Stage::EndOfMessage => Error::temporary(format!(
            "SMTP server {server}: {} while waiting for its reply to the message; \
             the server may have the message",
            net::describe_io(&io)
        ))
        .with_hint(AFTER_THE_DOT)
        .with_cause(Cause::SmtpConnectionLost),
        Failure::Malformed(why) if stage == Stage::EndOfMessage => Error::temporary(format!(
            "SMTP server {server} broke the protocol in its reply to the message: {why}; \
             the server may have the message"
        ))
        .with_hint(AFTER_THE_DOT)
        .with_cause(Cause::SmtpProtocol),
        Failure::Io(io) => Error::temporary(format!(
            "SMTP server {server}: {} during {stage}",
            net::describe_io(&io)
        ))
        .with_cause(Cause::SmtpConnectionLost),
        Failure::Malformed(why) => Error::protocol(format!(
            "SMTP server {server} broke the protocol during {stage}: {why}"
        ))
        .with_hint("check that smtp.host and smtp.port name an SMTP submission server")
        .with_cause(Cause::SmtpProtocol),
        Failure::NoStartTls => Error::protocol(format!(
            "SMTP server {server} does not offer STARTTLS; no credential was sent"
        ))
        .with_hint("smtp.tls = \"starttls\" requires it: check smtp.host and smtp.port (Exchange Online: smtp.office365.com, 587), or a device in between strips STARTTLS")
        .with_cause(Cause::StarttlsMissing),
        Failure::BufferedAfterStartTls => Error::protocol(format!(
            "SMTP server {server} sent data before the TLS handshake (STARTTLS injection?); no credential was sent"
        ))
        .with_hint("something between this machine and the server tampers with the connection")
        .with_cause(Cause::StarttlsInjection),
        Failure::NoXoauth2(offered) => Error::config(format!(
            "SMTP server {server} does not offer AUTH XOAUTH2 (offers: {})",
            if offered.is_empty() { "nothing".to_string() } else { offered.join(" ") }
        ))
        .with_hint("smtp.host must be an XOAUTH2 server such as smtp.office365.com")
        .with_cause(Cause::Xoauth2Missing),
        Failure::AuthChallenge { challenge, reply } => {
            reply_failure(stage, &reply, server).context(format!("server said {challenge}"))
        }
        Failure::Input(io) => Error::new(
            Kind::Input,
            format!("reading the message failed: {}; nothing was sent", net::describe_io(&io)),
        )
        .with_cause(Cause::InputError),
        Failure::NoRecipients(refused) => no_recipients(&refused, server),
        Failure::TooLarge(too_large) => too_large.error(),
        Failure::Reply(reply) => reply_failure(stage, &reply, server),
    }
}

/// An unexpected reply at `stage`: catalogue first, then the reply class.
fn reply_failure(stage: Stage, reply: &Reply, server: &str) -> Error {
    let what = match stage {
        Stage::Auth => "refused the login",
        Stage::MailFrom => "refused the sender",
        Stage::RcptTo => "refused the recipient",
        Stage::EndOfMessage => "refused the message",
        _ => "refused",
    };
    // A 421 refuses nothing: the server is closing the session.
    let message = if reply.code == 421 {
        format!("SMTP server {server} closed the session during {stage}: {reply}")
    } else {
        format!("SMTP server {server} {what} ({stage}): {reply}")
    };
    let default_kind = match (reply.code, stage) {
        (421, _) | (400..=499, _) => Kind::Temporary,
        (_, Stage::Auth) => Kind::NoPermission,
        (_, Stage::RcptTo) => Kind::NoUser,
        (_, Stage::Ehlo | Stage::StartTls) => Kind::Protocol,
        _ => Kind::Unavailable,
    };
    let error = Error::new(default_kind, message);
    match catalogue::smtp_reply(reply.code, &reply.text()) {
        Some(entry) => error
            .with_kind(entry.kind)
            .with_hint(entry.fix)
            .with_cause(entry.cause),
        // Unknown to the catalogue: the message keeps the server's words
        // (with the bracketed session tail support asks for); the cause says
        // at least which step refused.
        None => error.with_cause(unknown_reply_cause(stage)),
    }
}

/// The cause code of a reply the catalogue does not know, by step.
fn unknown_reply_cause(stage: Stage) -> Cause {
    match stage {
        Stage::Greeting => Cause::GreetingRefused,
        Stage::Ehlo => Cause::EhloRefused,
        Stage::StartTls => Cause::StarttlsRefused,
        Stage::Auth => Cause::AuthRefused,
        Stage::MailFrom => Cause::SenderRefused,
        Stage::RcptTo => Cause::RecipientRefused,
        Stage::Data | Stage::EndOfMessage => Cause::MessageRefused,
        Stage::Rset => Cause::RsetRefused,
    }
}

fn no_recipients(refused: &[RecipientReply], server: &str) -> Error {
    let temporary = refused.iter().any(|r| r.reply.is_transient());
    let kind = if temporary {
        Kind::Temporary
    } else {
        Kind::NoUser
    };
    let error = Error::new(
        kind,
        format!(
            "SMTP server {server} refused every recipient: {}",
            refusal_list(refused)
        ),
    );
    let error = explain_refusals(error, refused);
    match error.cause() {
        Some(_) => error,
        None => error.with_cause(Cause::RecipientRefused),
    }
}

/// Each refused recipient with the server's reply: `<a@x>: 550 …; <b@y>: 451 …`.
pub fn refusal_list(refused: &[RecipientReply]) -> String {
    refused
        .iter()
        .map(|r| format!("<{}>: {}", r.recipient, r.reply))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Adds the catalogue's hint and cause for the first refusal it knows,
/// which explains the others best; `error` unchanged if it knows none.
pub fn explain_refusals(error: Error, refused: &[RecipientReply]) -> Error {
    let known = refused
        .iter()
        .find_map(|r| catalogue::smtp_reply(r.reply.code, &r.reply.text()));
    match known {
        Some(entry) => error.with_hint(entry.fix).with_cause(entry.cause),
        None => error,
    }
}

#[cfg(test)]
mod tests;
