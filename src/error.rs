//! The one error type of the program.
//!
//! Every failure ends as an [`Error`]: a [`Kind`] that knows its sysexits(3)
//! code and a generic hint, a one-line message saying what failed (with the
//! server's or Entra's own words where there are some), an optional specific
//! hint (usually from the failure catalogue) and an optional short cause code
//! that goes into the syslog line so administrators can grep and alert.
//!
//! Messages never contain secrets or tokens: the code that builds them only
//! ever sees those through [`crate::secret::Secret`], which has no `Display`.

use std::fmt;

use crate::cause::Cause;

/// What kind of failure this is; decides the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Bad command line or no recipients (EX_USAGE).
    Usage,
    /// Malformed message or address (EX_DATAERR).
    Data,
    /// A recipient was refused permanently (EX_NOUSER).
    NoUser,
    /// Permanent refusal by the server (EX_UNAVAILABLE).
    Unavailable,
    /// A bug, or the program cannot run as installed (EX_SOFTWARE).
    Software,
    /// Cannot write the queue or the token cache (EX_CANTCREAT).
    CantCreate,
    /// Reading the message failed (EX_IOERR).
    Input,
    /// Temporary failure: network, token endpoint down, SMTP 4xx (EX_TEMPFAIL).
    Temporary,
    /// The server broke the protocol, or TLS could not be set up as required (EX_PROTOCOL).
    Protocol,
    /// Authentication refused, not allowed to send as, `-C` refused (EX_NOPERM).
    NoPermission,
    /// Configuration error, including credentials the token endpoint rejects (EX_CONFIG).
    Config,
}

impl Kind {
    /// The sysexits.h code for this kind.
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Usage => 64,
            Kind::Data => 65,
            Kind::NoUser => 67,
            Kind::Unavailable => 69,
            Kind::Software => 70,
            Kind::CantCreate => 73,
            Kind::Input => 74,
            Kind::Temporary => 75,
            Kind::Protocol => 76,
            Kind::NoPermission => 77,
            Kind::Config => 78,
        }
    }

    /// The sysexits.h name, for logs.
    pub fn exit_name(self) -> &'static str {
        match self {
            Kind::Usage => "EX_USAGE",
            Kind::Data => "EX_DATAERR",
            Kind::NoUser => "EX_NOUSER",
            Kind::Unavailable => "EX_UNAVAILABLE",
            Kind::Software => "EX_SOFTWARE",
            Kind::CantCreate => "EX_CANTCREAT",
            Kind::Input => "EX_IOERR",
            Kind::Temporary => "EX_TEMPFAIL",
            Kind::Protocol => "EX_PROTOCOL",
            Kind::NoPermission => "EX_NOPERM",
            Kind::Config => "EX_CONFIG",
        }
    }

    /// The cause code logged when no more specific one is known, so that
    /// every failure's syslog line carries `cause=`.
    pub fn fallback_cause(self) -> Cause {
        match self {
            Kind::Usage => Cause::Usage,
            Kind::Data => Cause::BadMessage,
            Kind::NoUser => Cause::RecipientRefused,
            Kind::Unavailable => Cause::Refused,
            Kind::Software => Cause::InternalError,
            Kind::CantCreate => Cause::CannotWrite,
            Kind::Input => Cause::InputError,
            Kind::Temporary => Cause::Temporary,
            Kind::Protocol => Cause::Protocol,
            Kind::NoPermission => Cause::NotPermitted,
            Kind::Config => Cause::Config,
        }
    }

    /// The hint shown when nothing more specific is known.
    pub fn default_hint(self) -> &'static str {
        match self {
            Kind::Usage => "see oauth2-sendmail --help",
            Kind::Data => "the message or an address in it is malformed; nothing was sent",
            Kind::NoUser => "the other recipients got the message; check the refused addresses",
            Kind::Unavailable => {
                "the server refused the message permanently; retrying will not help"
            }
            Kind::Software => {
                "this is a bug in oauth2-sendmail; please report it with the -v output"
            }
            Kind::CantCreate => "check the owner and mode of the directory named above",
            Kind::Input => "the program that called sendmail did not hand over the whole message",
            Kind::Temporary => "nothing was sent; the same message can be sent again later",
            Kind::Protocol => {
                "no credential was sent; check smtp.host, smtp.port, smtp.tls and ca_file"
            }
            Kind::NoPermission => {
                "the mailbox or application is not allowed to do this; see sendmail.conf(5)"
            }
            Kind::Config => "fix the configuration file; oauth2-sendmail --check tests it",
        }
    }
}

/// A failure with everything needed to report it.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
    message: String,
    hint: Option<String>,
    cause: Option<Cause>,
}

/// The program's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` whose one-line `message` says what failed.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        let message = one_line(&message.into());
        Error {
            kind,
            message,
            hint: None,
            cause: None,
        }
    }

    /// Shorthand for [`Kind::Usage`].
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }

    /// Shorthand for [`Kind::Config`].
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(Kind::Config, message)
    }

    /// Shorthand for [`Kind::Data`].
    pub fn data(message: impl Into<String>) -> Self {
        Self::new(Kind::Data, message)
    }

    /// Shorthand for [`Kind::Temporary`].
    pub fn temporary(message: impl Into<String>) -> Self {
        Self::new(Kind::Temporary, message)
    }

    /// Shorthand for [`Kind::Protocol`].
    pub fn protocol(message: impl Into<String>) -> Self {
        Self::new(Kind::Protocol, message)
    }

    /// Attaches a specific hint (replacing any earlier one).
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(one_line(&hint.into()));
        self
    }

    /// Attaches the catalogue's short cause code (`smtp-auth-disabled`, …).
    pub fn with_cause(mut self, cause: Cause) -> Self {
        self.cause = Some(cause);
        self
    }

    /// Puts `context` in front of the message: "context: message".
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// Changes the kind, keeping message and hint.
    pub fn with_kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }

    /// The kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The sysexits code.
    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }

    /// What failed, without the hint.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The specific hint, or the kind's generic one.
    pub fn hint(&self) -> &str {
        self.hint
            .as_deref()
            .unwrap_or_else(|| self.kind.default_hint())
    }

    /// The catalogue cause code, if the failure was recognised.
    pub fn cause(&self) -> Option<Cause> {
        self.cause
    }

    /// The cause code for logs: the specific one, else the kind's fallback.
    pub fn cause_code(&self) -> &'static str {
        self.cause_or_fallback().as_str()
    }

    /// The specific cause, else the kind's fallback.
    pub fn cause_or_fallback(&self) -> Cause {
        self.cause.unwrap_or_else(|| self.kind.fallback_cause())
    }
}

impl fmt::Display for Error {
    /// The one stderr line: what failed, then the hint.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -- hint: {}", self.message, self.hint())
    }
}

impl std::error::Error for Error {}

/// An I/O error's reason without Rust's "(os error N)" suffix.
pub fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Folds control characters (CR, LF, TAB, …) into spaces so that a message
/// built from server or file text is always exactly one line.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last_space = false;
    for c in text.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if c == ' ' && last_space {
            continue;
        }
        last_space = c == ' ';
        out.push(c);
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_sysexits() {
        let table = [
            (Kind::Usage, 64),
            (Kind::Data, 65),
            (Kind::NoUser, 67),
            (Kind::Unavailable, 69),
            (Kind::Software, 70),
            (Kind::CantCreate, 73),
            (Kind::Input, 74),
            (Kind::Temporary, 75),
            (Kind::Protocol, 76),
            (Kind::NoPermission, 77),
            (Kind::Config, 78),
        ];
        for (kind, code) in table {
            assert_eq!(kind.exit_code(), code, "{kind:?}");
            assert!(kind.exit_name().starts_with("EX_"));
            assert!(!kind.default_hint().is_empty());
            let documented = include_str!("../docs/troubleshooting.md");
            assert!(
                documented.contains(&format!("`{}`", kind.fallback_cause())),
                "{kind:?}: cause undocumented"
            );
        }
    }

    #[test]
    fn messages_are_one_line() {
        let e = Error::temporary("a\r\nb\tc  d\n").with_hint("x\ny");
        assert_eq!(e.message(), "a b c d");
        assert_eq!(e.to_string(), "a b c d -- hint: x y");
    }

    #[test]
    fn context_and_hint() {
        let e = Error::config("bad").context("file.conf:3");
        assert_eq!(e.message(), "file.conf:3: bad");
        assert_eq!(e.hint(), Kind::Config.default_hint());
        let e = e
            .with_cause(Cause::SmtpAuthDisabled)
            .with_kind(Kind::NoPermission);
        assert_eq!(e.cause(), Some(Cause::SmtpAuthDisabled));
        assert_eq!(e.cause_code(), "smtp-auth-disabled");
        assert_eq!(Error::temporary("t").cause_code(), "temporary");
        assert_eq!(e.exit_code(), 77);
    }
}
