//! SMTP failures as the program's errors: which kind (and so which exit
//! code), which cause code, which hint, with the catalogue's entry when it
//! knows the reply. Pure: an `SmtpError` in, an `Error` out; the session
//! that produced the failure is `relay`'s and `smtp/session`'s business.

use crate::catalogue;
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

/// The error for a protocol failure with `server` (`host:port`).
pub fn smtp_failure(e: SmtpError, server: &str) -> Error {
    let stage = e.stage;
    match e.failure {
        Failure::Io(io) => Error::temporary(format!(
            "SMTP server {server}: {} during {stage}",
            net::describe_io(&io)
        ))
        .with_cause("smtp-connection-lost"),
        Failure::Malformed(why) => Error::protocol(format!(
            "SMTP server {server} broke the protocol during {stage}: {why}"
        ))
        .with_hint("check that smtp.host and smtp.port name an SMTP submission server")
        .with_cause("smtp-protocol"),
        Failure::NoStartTls => Error::protocol(format!(
            "SMTP server {server} does not offer STARTTLS; no credential was sent"
        ))
        .with_hint("smtp.tls = \"starttls\" requires it: check smtp.host and smtp.port (Exchange Online: smtp.office365.com, 587), or a device in between strips STARTTLS")
        .with_cause("starttls-missing"),
        Failure::BufferedAfterStartTls => Error::protocol(format!(
            "SMTP server {server} sent data before the TLS handshake (STARTTLS injection?); no credential was sent"
        ))
        .with_hint("something between this machine and the server tampers with the connection")
        .with_cause("starttls-injection"),
        Failure::NoXoauth2(offered) => Error::config(format!(
            "SMTP server {server} does not offer AUTH XOAUTH2 (offers: {})",
            if offered.is_empty() { "nothing".to_string() } else { offered.join(" ") }
        ))
        .with_hint("smtp.host must be an XOAUTH2 server such as smtp.office365.com")
        .with_cause("xoauth2-missing"),
        Failure::AuthChallenge { challenge, reply } => {
            reply_failure(stage, &reply, server).context(format!("server said {challenge}"))
        }
        Failure::Input(io) => Error::new(
            Kind::Input,
            format!("reading the message failed: {}; nothing was sent", net::describe_io(&io)),
        )
        .with_cause("input-error"),
        Failure::NoRecipients(refused) => no_recipients(&refused, server),
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
    let message = format!("SMTP server {server} {what} ({stage}): {reply}");
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
fn unknown_reply_cause(stage: Stage) -> &'static str {
    match stage {
        Stage::Greeting => "greeting-refused",
        Stage::Ehlo => "ehlo-refused",
        Stage::StartTls => "starttls-refused",
        Stage::Auth => "auth-refused",
        Stage::MailFrom => "sender-refused",
        Stage::RcptTo => "recipient-refused",
        Stage::Data | Stage::EndOfMessage => "message-refused",
        Stage::Rset => "rset-refused",
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
        None => error.with_cause("recipient-refused"),
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
mod tests {
    use super::*;

    use crate::testing::reply;

    fn failure(stage: Stage, code: u16, text: &str) -> Error {
        smtp_failure(
            SmtpError {
                stage,
                failure: Failure::Reply(reply(code, text)),
            },
            "smtp.example:587",
        )
    }

    #[test]
    fn reply_failures_by_stage_and_class() {
        let table = [
            (Stage::Greeting, 421, "4.3.2 Service not active", 75),
            (Stage::Greeting, 554, "no service", 69),
            (Stage::Auth, 535, "5.7.3 Authentication unsuccessful", 77),
            (
                Stage::Auth,
                454,
                "4.7.0 Temporary authentication failure",
                75,
            ),
            (Stage::MailFrom, 550, "5.7.60 not allowed", 77),
            (Stage::MailFrom, 451, "try later", 75),
            (Stage::RcptTo, 550, "5.1.1 unknown", 67),
            (Stage::Data, 554, "no", 69),
            (Stage::EndOfMessage, 554, "5.2.252 SendAsDenied; x", 77),
            (
                Stage::EndOfMessage,
                552,
                "5.3.4 Message size exceeds fixed maximum message size",
                65,
            ),
            (Stage::EndOfMessage, 451, "4.3.0 Error", 75),
        ];
        for (stage, code, text, exit) in table {
            let e = failure(stage, code, text);
            assert_eq!(e.exit_code(), exit, "{stage} {code} {text}");
            assert!(e.message().contains(text), "{}", e.message());
            assert!(e.message().contains("smtp.example:587"));
        }
    }

    #[test]
    fn other_failures() {
        let io = |kind| SmtpError {
            stage: Stage::EndOfMessage,
            failure: Failure::Io(std::io::Error::from(kind)),
        };
        let e = smtp_failure(io(std::io::ErrorKind::UnexpectedEof), "s:1");
        assert_eq!(e.exit_code(), 75);
        assert!(e.message().contains("closed"), "{}", e.message());
        let e = smtp_failure(io(std::io::ErrorKind::TimedOut), "s:1");
        assert!(e.message().contains("timed out"));
        let e = smtp_failure(
            SmtpError {
                stage: Stage::StartTls,
                failure: Failure::NoStartTls,
            },
            "s:1",
        );
        assert_eq!(e.exit_code(), 76);
        assert!(e.message().contains("no credential was sent"));
        let e = smtp_failure(
            SmtpError {
                stage: Stage::StartTls,
                failure: Failure::BufferedAfterStartTls,
            },
            "s:1",
        );
        assert_eq!(e.exit_code(), 76);
        let e = smtp_failure(
            SmtpError {
                stage: Stage::Auth,
                failure: Failure::NoXoauth2(vec!["PLAIN".into()]),
            },
            "s:1",
        );
        assert_eq!(e.exit_code(), 78);
        assert!(e.message().contains("PLAIN"));
        let challenge = SmtpError {
            stage: Stage::Auth,
            failure: Failure::AuthChallenge {
                challenge: "{\"status\":\"invalid_token\"}".into(),
                reply: reply(535, "5.7.8 Authentication failed"),
            },
        };
        assert!(token_rejected(&challenge));
        let e = smtp_failure(challenge, "s:1");
        assert_eq!(e.exit_code(), 77);
        assert!(e.message().contains("invalid_token"));
    }

    #[test]
    fn policy_refusals_do_not_renew_the_token() {
        let auth = |code, text: &str| SmtpError {
            stage: Stage::Auth,
            failure: Failure::Reply(reply(code, text)),
        };
        assert!(token_rejected(&auth(
            535,
            "5.7.3 Authentication unsuccessful"
        )));
        assert!(!token_rejected(&auth(
            535,
            "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."
        )));
        assert!(!token_rejected(&auth(454, "4.7.0 later")));
    }

    #[test]
    fn every_recipient_refused() {
        let refused = |code, text: &str| RecipientReply {
            recipient: "a@x".into(),
            reply: reply(code, text),
        };
        let e = smtp_failure(
            SmtpError {
                stage: Stage::RcptTo,
                failure: Failure::NoRecipients(vec![refused(550, "5.1.1 unknown")]),
            },
            "s:1",
        );
        assert_eq!(e.exit_code(), 67);
        assert!(e.message().contains("<a@x>: 550 5.1.1 unknown"));
        let e = smtp_failure(
            SmtpError {
                stage: Stage::RcptTo,
                failure: Failure::NoRecipients(vec![refused(550, "no"), refused(451, "later")]),
            },
            "s:1",
        );
        assert_eq!(e.exit_code(), 75);
    }
}
