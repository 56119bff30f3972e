//! Which failures of a reused session mean it went stale.

use super::*;
use crate::smtp::session::Stage;
use crate::testing::reply;

#[test]
fn which_failures_mean_a_stale_session() {
    let e = |failure| SmtpError {
        stage: Stage::MailFrom,
        failure,
    };
    let table = [
        (e(Failure::Io(io::ErrorKind::UnexpectedEof.into())), true),
        (e(Failure::Io(io::ErrorKind::ConnectionReset.into())), true),
        (
            e(Failure::Reply(reply(
                421,
                "4.4.2 mx Error: timeout exceeded",
            ))),
            true,
        ),
        (
            e(Failure::Reply(reply(
                421,
                "Service closing transmission channel",
            ))),
            true,
        ),
        (
            e(Failure::Reply(reply(
                421,
                "4.3.2 Service not available, too busy",
            ))),
            false,
        ),
        (e(Failure::Reply(reply(451, "4.3.0 try later"))), false),
        (e(Failure::Reply(reply(550, "5.7.60 not allowed"))), false),
    ];
    for (error, want) in table {
        assert_eq!(stale(&error), want, "{error:?}");
    }
}
