//! Unit tests of `smtp_error`: failures by stage and reply class, token
//! rejection versus policy refusals, refused recipients.

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
    // After the dot: never "nothing was sent".
    for e in [
        smtp_failure(io(std::io::ErrorKind::UnexpectedEof), "s:1"),
        smtp_failure(
            SmtpError {
                stage: Stage::EndOfMessage,
                failure: Failure::Malformed(
                    crate::smtp::reply::try_parse_reply(b"xyz\r\n").unwrap_err(),
                ),
            },
            "s:1",
        ),
    ] {
        assert_eq!(e.exit_code(), 75);
        assert!(
            e.message().contains("may have the message"),
            "{}",
            e.message()
        );
        assert!(!e.hint().contains("nothing was sent"), "{}", e.hint());
    }
    // Before it (the data could not be written): nothing was accepted.
    let before = SmtpError {
        stage: Stage::Data,
        failure: Failure::Io(std::io::Error::from(std::io::ErrorKind::BrokenPipe)),
    };
    assert!(!smtp_failure(before, "s:1").message().contains("may have"));
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
