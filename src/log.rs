//! The syslog line: one per message (facility mail, key=value).
//!
//! [`Record`] renders the line (pure, tested); [`Syslog`] sends it to the
//! local syslog socket. Logging never fails a send: without `/dev/log`
//! (containers, chroots) or with a stuck syslog daemon the line is dropped.
//! Nothing secret is ever handed to this module: records hold addresses,
//! sizes, server replies and error messages, all built without secrets.

use std::fmt::Write as _;
use std::time::Duration;

use crate::cause::Cause;

/// What happened to a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The server accepted it for every recipient.
    Delivered,
    /// Accepted for some recipients, refused for others.
    Partial,
    /// Not sent.
    Failed,
    /// Not sent now, safely in the queue for a later try.
    Queued,
    /// A queue run tried it again; it stays queued.
    Deferred,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Partial => "partial",
            Outcome::Failed => "failed",
            Outcome::Queued => "queued",
            Outcome::Deferred => "deferred",
        }
    }
}

/// One message's log record.
#[derive(Clone, Debug)]
pub struct Record<'a> {
    /// Queue id, when the message is (or was) in the queue.
    pub queue_id: Option<&'a str>,
    /// The Message-ID header.
    pub message_id: Option<&'a str>,
    /// Envelope sender.
    pub from: &'a str,
    /// Envelope recipients.
    pub recipients: &'a [String],
    /// Message size in octets, when known.
    pub size: Option<u64>,
    /// The outcome.
    pub outcome: Outcome,
    /// The server's final reply, when there is one.
    pub smtp: Option<String>,
    /// The kind of credential (`client-secret`, `federated-assertion`, …)
    /// that fetched a token in this process, when one was fetched.
    pub credential: Option<&'static str>,
    /// The transport when it is not SMTP (`graph`): logged as
    /// `transport=graph`, and the reply under its name instead of `smtp`.
    pub transport: Option<&'static str>,
    /// How long the attempt took.
    pub duration: Duration,
    /// sysexits name of the exit status.
    pub exit: &'static str,
    /// Catalogue cause code of a failure.
    pub cause: Option<Cause>,
    /// The error message of a failure, or the reason it was queued.
    pub error: Option<&'a str>,
}

impl<'a> Record<'a> {
    /// The record of a message delivered to `recipients`, nothing more
    /// known: the other fields are filled in with struct update syntax.
    pub fn delivered(from: &'a str, recipients: &'a [String], duration: Duration) -> Self {
        Record {
            queue_id: None,
            message_id: None,
            from,
            recipients,
            size: None,
            outcome: Outcome::Delivered,
            smtp: None,
            credential: None,
            transport: None,
            duration,
            exit: "EX_OK",
            cause: None,
            error: None,
        }
    }

    /// The record of a message refused before it reached the server (a
    /// malformed address or header, no recipient): `error` says why.
    pub fn refused(
        from: &'a str,
        recipients: &'a [String],
        duration: Duration,
        error: &'a crate::error::Error,
    ) -> Self {
        Record {
            outcome: Outcome::Failed,
            exit: error.kind().exit_name(),
            cause: Some(error.cause_or_fallback()),
            error: Some(error.message()),
            ..Record::delivered(from, recipients, duration)
        }
    }

    /// The line: `key=value` pairs, values quoted when they hold spaces.
    pub fn line(&self) -> String {
        let mut line = String::new();
        let mut field = |key: &str, value: &str| {
            if !line.is_empty() {
                line.push(' ');
            }
            let _ = write!(line, "{key}={}", quote(value));
        };
        if let Some(id) = self.queue_id {
            field("queue-id", id);
        }
        if let Some(id) = self.message_id {
            field("message-id", id);
        }
        field("from", &format!("<{}>", self.from));
        let recipients: Vec<String> = self.recipients.iter().map(|r| format!("<{r}>")).collect();
        field("to", &recipients.join(","));
        if let Some(size) = self.size {
            field("size", &size.to_string());
        }
        field("outcome", self.outcome.as_str());
        if let Some(transport) = self.transport {
            field("transport", transport);
        }
        if let Some(smtp) = &self.smtp {
            field(self.transport.unwrap_or("smtp"), smtp);
        }
        if let Some(credential) = self.credential {
            field("credential", credential);
        }
        field("duration", &format!("{:.3}", self.duration.as_secs_f64()));
        field("exit", self.exit);
        if let Some(cause) = self.cause {
            field("cause", cause.as_str());
        }
        if let Some(error) = self.error {
            field("error", error);
        }
        line
    }
}

/// `value`, or `"value"` when it holds spaces or quotes (quotes become `'`).
fn quote(value: &str) -> String {
    let clean = crate::error::one_line(value);
    if clean.is_empty() || clean.contains([' ', '"', '=']) {
        format!("\"{}\"", clean.replace('"', "'"))
    } else {
        clean
    }
}

/// How serious a line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Delivered.
    Info,
    /// Partial, or a warning.
    Warning,
    /// Failed.
    Error,
}

/// The connection to the local syslog daemon, if there is one.
pub struct Syslog {
    logger: Option<syslog::Logger<syslog::LoggerBackend, syslog::Formatter3164>>,
    /// `account=NAME`, put first on every line when the file has accounts.
    account: Option<String>,
}

impl Syslog {
    /// Connects to the socket at `path`; never fails (without a socket,
    /// lines are dropped).
    pub fn connect(path: &std::path::Path) -> Self {
        let formatter = syslog::Formatter3164 {
            facility: syslog::Facility::LOG_MAIL,
            hostname: None,
            process: "oauth2-sendmail".into(),
            pid: std::process::id(),
        };
        let mut logger = syslog::unix_custom(formatter, path).ok();
        if let Some(l) = logger.as_mut() {
            // A stuck syslog daemon must not hold up the mail.
            match &mut l.backend {
                syslog::LoggerBackend::Unix(socket) => {
                    let _ = socket.set_nonblocking(true);
                }
                syslog::LoggerBackend::UnixStream(stream) => {
                    let _ = stream
                        .get_ref()
                        .set_write_timeout(Some(Duration::from_millis(200)));
                }
                _ => {}
            }
        }
        Syslog {
            logger,
            account: None,
        }
    }

    /// Every further line starts with `account=NAME`.
    #[must_use]
    pub fn for_account(mut self, name: &str) -> Self {
        self.account = Some(format!("account={}", quote(name)));
        self
    }

    /// Connects to `socket` (the configuration's `syslog_socket`), or
    /// drops everything when there is none (logging turned off).
    pub fn open(socket: Option<&std::path::Path>) -> Self {
        socket.map_or_else(Syslog::none, Syslog::connect)
    }

    /// A logger that drops everything.
    pub fn none() -> Self {
        Syslog {
            logger: None,
            account: None,
        }
    }

    /// Sends one line; a failure disables logging for the rest of the run.
    pub fn log(&mut self, level: Level, line: &str) {
        let Some(logger) = self.logger.as_mut() else {
            return;
        };
        let tagged;
        let line = match &self.account {
            Some(account) => {
                tagged = format!("{account} {line}");
                tagged.as_str()
            }
            None => line,
        };
        let sent = match level {
            Level::Info => logger.info(line),
            Level::Warning => logger.warning(line),
            Level::Error => logger.err(line),
        };
        if sent.is_err() {
            self.logger = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_line() {
        let recipients = vec!["a@x.com".to_string(), "b@y.org".to_string()];
        let record = Record {
            queue_id: None,
            message_id: Some("<1.ab@host>"),
            from: "alerts@contoso.com",
            recipients: &recipients,
            size: Some(1234),
            outcome: Outcome::Delivered,
            smtp: Some("250 2.0.0 Ok: queued as 4X".into()),
            credential: None,
            transport: None,
            duration: Duration::from_millis(1500),
            exit: "EX_OK",
            cause: None,
            error: None,
        };
        assert_eq!(
            record.line(),
            "message-id=<1.ab@host> from=<alerts@contoso.com> to=<a@x.com>,<b@y.org> size=1234 \
             outcome=delivered smtp=\"250 2.0.0 Ok: queued as 4X\" duration=1.500 exit=EX_OK"
        );
        let graph = Record {
            transport: Some("graph"),
            smtp: Some("202 Accepted request-id=r1".into()),
            ..record.clone()
        };
        assert!(
            graph
                .line()
                .contains("outcome=delivered transport=graph graph=\"202 Accepted request-id=r1\""),
            "{}",
            graph.line()
        );
        let failed = Record {
            outcome: Outcome::Failed,
            smtp: None,
            size: None,
            cause: Some(Cause::TokenRejected),
            error: Some("SMTP server refused \"x\"\nnext"),
            exit: "EX_NOPERM",
            credential: Some("federated-assertion"),
            ..record
        };
        let line = failed.line();
        assert!(line.contains(" credential=federated-assertion "), "{line}");
        assert!(
            line.ends_with(
                "exit=EX_NOPERM cause=token-rejected error=\"SMTP server refused 'x' next\""
            ),
            "{line}"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("a=b"), "\"a=b\"");
    }

    #[test]
    fn missing_syslog_is_not_an_error() {
        let mut log = Syslog::none();
        log.log(Level::Error, "dropped");
        let mut log = Syslog::connect(std::path::Path::new("/nonexistent/log"));
        log.log(Level::Info, "oauth2-sendmail unit test");
    }
}
