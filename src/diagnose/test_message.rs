//! The test message of `--check --to ADDR`, like the "send test email"
//! button of other products: sent on the checked session, logged to
//! syslog like any other message.

use std::time::Instant;

use super::report::Step;
use super::step_id::StepId;
use crate::clock;
use crate::config::Config;
use crate::log::{Level, Outcome, Record, Syslog};
use crate::message::format_mailbox;
use crate::net::Stream;
use crate::smtp::capabilities::Capabilities;
use crate::smtp::session::{Envelope, Session};
use crate::smtp_error::smtp_failure;

/// The header of the test message (CRLF lines, blank line included) and its Message-ID.
pub(super) fn test_header(config: &Config, helo: &str, to: &str, now: u64) -> (Vec<u8>, String) {
    let message_id = clock::message_id(now, clock::random_bytes(), helo);
    let from = format_mailbox(
        Some(config.from_name.as_deref().unwrap_or("oauth2-sendmail")),
        &config.from,
    );
    let fields = [
        ("From", from),
        ("To", to.to_string()),
        (
            "Subject",
            format!("oauth2-sendmail test message from {helo}"),
        ),
        ("Date", clock::rfc5322_date(now)),
        ("Message-ID", message_id.clone()),
        ("MIME-Version", "1.0".to_string()),
        ("Content-Type", "text/plain; charset=us-ascii".to_string()),
    ];
    let mut header = String::new();
    for (name, value) in fields {
        header.push_str(&format!("{name}: {value}\r\n"));
    }
    header.push_str("\r\n");
    (header.into_bytes(), message_id)
}

/// The body of the test message.
pub(super) fn test_body(config: &Config, helo: &str, to: &str, server: &str) -> String {
    format!(
        "This is a test message from oauth2-sendmail {} on {helo}.\r\n\
         \r\n\
         It was sent by `oauth2-sendmail --check --to {to}` through {server}\r\n\
         as {}, with an OAuth2 token for the application {}.\r\n\
         If you can read it, this server can send mail.\r\n",
        env!("CARGO_PKG_VERSION"),
        config.user,
        config.client_id
    )
}

/// Sends the test message on the authenticated session, and logs it like
/// any other message. `helo` is our name, as in EHLO.
pub fn send(
    session: &mut Session<Stream>,
    caps: &Capabilities,
    config: &Config,
    helo: &str,
    to: &str,
    server: &str,
) -> Step {
    let started = Instant::now();
    let (header, message_id) = test_header(config, helo, to, clock::now());
    let body = test_body(config, helo, to, server);
    let envelope = Envelope {
        sender: config.from.clone(),
        recipients: vec![to.to_string()],
        mail_params: Vec::new(),
        rcpt_params: Vec::new(),
    };
    let recipients = [to.to_string()];
    let result = session
        .send_mail(caps, &envelope, &header, &mut body.as_bytes())
        .map_err(|e| smtp_failure(e, server));
    let mut record = Record {
        message_id: Some(&message_id),
        ..Record::delivered(&config.from, &recipients, started.elapsed())
    };
    let mut syslog = Syslog::open(config.syslog_socket.as_deref());
    let step = match &result {
        // One recipient: accepted, or the whole transaction is an error.
        Ok(receipt) => {
            record.size = Some(receipt.size);
            record.smtp = Some(receipt.reply.to_string());
            syslog.log(Level::Info, &record.line());
            Step::pass(
                StepId::SmtpSend,
                format!("accepted for {to}: {}", receipt.reply),
            )
            .detail(format!("Message-ID {message_id}"))
        }
        Err(error) => {
            record.outcome = Outcome::Failed;
            record.exit = error.kind().exit_name();
            record.cause = Some(error.cause_or_fallback());
            record.error = Some(error.message());
            syslog.log(Level::Error, &record.line());
            Step::fail(StepId::SmtpSend, error)
        }
    };
    step.took(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config() -> Config {
        crate::config::parse(
            "tenant = \"6f2d8c1a-3b4e-4f5a-9c7d-0e1f2a3b4c5d\"\n\
             client_id = \"0a4f3c2e-7b1d-4e8f-9a6c-5d2b1e0f3a47\"\n\
             client_secret = \"x\"\nuser = \"alerts@contoso.com\"\n",
            Path::new("t.conf"),
        )
        .unwrap()
    }

    #[test]
    fn test_message_header() {
        let c = config();
        let (header, id) = test_header(&c, "web1.contoso.com", "admin@contoso.com", 0);
        let text = String::from_utf8(header).unwrap();
        assert!(
            text.starts_with(
                "From: \"oauth2-sendmail\" <alerts@contoso.com>\r\nTo: admin@contoso.com\r\n"
            ),
            "{text}"
        );
        assert!(text.contains("Subject: oauth2-sendmail test message from web1.contoso.com\r\n"));
        assert!(text.contains("Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"));
        assert!(text.contains(&format!("Message-ID: {id}\r\n")));
        assert!(text.ends_with("\r\n\r\n"));
        let body = test_body(&c, "web1", "admin@contoso.com", "smtp:587");
        assert!(body.contains("through smtp:587") && body.contains("as alerts@contoso.com"));
    }
}
