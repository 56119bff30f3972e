//! The server side of SMTP for `-bs`: commands in, replies out.
//!
//! Symfony Mailer and Laravel run `sendmail -bs` and speak SMTP over its
//! stdin and stdout (greeting, HELO or EHLO, MAIL, RCPT, DATA, the message
//! ending with a lone dot, then more transactions or QUIT). [`Server`] is
//! that dialogue's state machine: [`Server::command`] takes one command
//! line and says what to answer, and when a DATA is accepted hands back the
//! transaction; the mode runner (`serve`) reads the message, submits it,
//! and answers with [`delivered_reply`] or [`failure_reply`]. Pure: no I/O.

use crate::address;
use crate::error::Kind;

/// Most recipients accepted in one transaction (Postfix's default too).
pub const MAX_RECIPIENTS: usize = 1000;

/// After this many refused commands in a row the session ends: the other
/// side is not speaking SMTP (a message piped into `sendmail -bs`).
const MAX_ERRORS: usize = 50;

/// One accepted transaction, ready for its message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transaction {
    /// `MAIL FROM` address, without brackets (empty for `<>`).
    pub sender: String,
    /// `RCPT TO` addresses, in order.
    pub recipients: Vec<String>,
    /// `BODY=` of MAIL FROM (`7BIT` or `8BITMIME`, upper case), passed on.
    pub body: Option<String>,
    /// `SIZE=` of MAIL FROM: the client's estimate of the message size.
    pub size: Option<u64>,
}

/// What to do after a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write the reply (CRLF included) and read the next command.
    Reply(String),
    /// Write the 354 reply, read the message up to the lone dot, submit it
    /// for this transaction, and answer.
    Data(String, Transaction),
    /// Write the reply and end the session.
    Close(String),
}

/// The dialogue's state.
#[derive(Debug)]
pub struct Server {
    host: String,
    max_size: u64,
    transaction: Option<Transaction>,
    errors: usize,
}

impl Server {
    /// A server that names itself `host` and takes messages up to
    /// `max_size` octets (`max_message_size`, announced as SIZE).
    pub fn new(host: &str, max_size: u64) -> Self {
        Server {
            host: host.to_string(),
            max_size,
            transaction: None,
            errors: 0,
        }
    }

    /// The 220 greeting.
    pub fn greeting(&self) -> String {
        format!("220 {} ESMTP oauth2-sendmail\r\n", self.host)
    }

    /// Answers one command line (without its line ending).
    pub fn command(&mut self, line: &[u8]) -> Action {
        let action = self.answer(&String::from_utf8_lossy(line));
        if let Action::Reply(reply) = &action {
            if reply.starts_with(['4', '5']) {
                self.errors += 1;
                if self.errors >= MAX_ERRORS {
                    return Action::Close("421 4.7.0 Error: too many errors\r\n".into());
                }
            } else {
                self.errors = 0;
            }
        }
        action
    }

    /// The answer to a line that is longer than any command may be.
    pub fn line_too_long(&mut self) -> Action {
        self.errors += 1;
        Action::Reply("500 5.5.2 Error: line too long\r\n".into())
    }

    fn answer(&mut self, line: &str) -> Action {
        let line = line.trim_end();
        let (verb, argument) = match line.split_once(' ') {
            Some((verb, rest)) => (verb, rest.trim()),
            None => (line, ""),
        };
        let reply = |text: &str| Action::Reply(format!("{text}\r\n"));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" | "HELO" if argument.is_empty() => reply(&format!(
                "501 5.5.4 Syntax: {} hostname",
                verb.to_ascii_uppercase()
            )),
            "EHLO" => {
                self.transaction = None;
                Action::Reply(format!(
                    "250-{}\r\n250-PIPELINING\r\n250-SIZE {}\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n",
                    self.host, self.max_size
                ))
            }
            "HELO" => {
                self.transaction = None;
                reply(&format!("250 {}", self.host))
            }
            "MAIL" => self.mail(argument),
            "RCPT" => self.rcpt(argument),
            "DATA" if !argument.is_empty() => reply("501 5.5.4 Syntax: DATA"),
            "DATA" => match self.transaction.take() {
                None => reply("503 5.5.1 Error: need MAIL command"),
                Some(t) if t.recipients.is_empty() => {
                    self.transaction = Some(t);
                    reply("554 5.5.1 Error: no valid recipients")
                }
                Some(t) => Action::Data("354 End data with <CR><LF>.<CR><LF>\r\n".into(), t),
            },
            "RSET" => {
                self.transaction = None;
                reply("250 2.0.0 Ok")
            }
            "NOOP" => reply("250 2.0.0 Ok"),
            "QUIT" => Action::Close("221 2.0.0 Bye\r\n".into()),
            "HELP" => reply("214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT"),
            "VRFY" | "EXPN" => reply("502 5.5.1 Error: command disabled"),
            "STARTTLS" | "AUTH" | "BDAT" | "ETRN" | "TURN" | "ATRN" => {
                reply("502 5.5.1 Error: command not implemented")
            }
            "" => reply("500 5.5.2 Error: bad syntax"),
            _ => reply("502 5.5.2 Error: command not recognized"),
        }
    }

    fn mail(&mut self, argument: &str) -> Action {
        let reply = |text: &str| Action::Reply(format!("{text}\r\n"));
        if self.transaction.is_some() {
            return reply("503 5.5.1 Error: nested MAIL command");
        }
        let Some((path, params)) = prefixed_path(argument, "FROM:") else {
            return reply("501 5.5.4 Syntax: MAIL FROM:<address>");
        };
        let mut body = None;
        let mut size = None;
        for param in &params {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            let known = match key.to_ascii_uppercase().as_str() {
                "BODY" => {
                    let upper = value.to_ascii_uppercase();
                    let known = upper == "7BIT" || upper == "8BITMIME";
                    body = Some(upper);
                    known
                }
                "SIZE" => {
                    size = value.parse::<u64>().ok();
                    !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit())
                }
                "AUTH" => true,
                _ => false,
            };
            if !known {
                return reply(&format!(
                    "555 5.5.4 Unsupported option: {}",
                    printable(param)
                ));
            }
        }
        // RFC 1870: a message announced larger than the limit is refused
        // now, before it is sent (a number too large to read is too).
        let announced_too_large = params
            .iter()
            .any(|p: &&str| p.get(..5).is_some_and(|k| k.eq_ignore_ascii_case("SIZE=")))
            && size.is_none_or(|n| n > self.max_size);
        if announced_too_large {
            return reply("552 5.3.4 Message size exceeds fixed maximum message size");
        }
        if !path.is_empty() && address::check_recipient(path).is_err() {
            return reply("501 5.1.7 Bad sender address syntax");
        }
        self.transaction = Some(Transaction {
            sender: path.to_string(),
            recipients: Vec::new(),
            body,
            size,
        });
        reply("250 2.1.0 Ok")
    }

    fn rcpt(&mut self, argument: &str) -> Action {
        let reply = |text: &str| Action::Reply(format!("{text}\r\n"));
        let Some(transaction) = self.transaction.as_mut() else {
            return reply("503 5.5.1 Error: need MAIL command");
        };
        let Some((path, params)) = prefixed_path(argument, "TO:") else {
            return reply("501 5.5.4 Syntax: RCPT TO:<address>");
        };
        if let Some(param) = params.first() {
            return reply(&format!(
                "555 5.5.4 Unsupported option: {}",
                printable(param)
            ));
        }
        if path.is_empty() || address::check_recipient(path).is_err() {
            return reply("501 5.1.3 Bad recipient address syntax");
        }
        if transaction.recipients.len() >= MAX_RECIPIENTS {
            return reply("452 4.5.3 Error: too many recipients");
        }
        transaction.recipients.push(path.to_string());
        reply("250 2.1.5 Ok")
    }
}

/// `FROM:<path> params` (or `TO:`): the path without brackets and the
/// parameters. Brackets are optional and a space may follow the colon, as
/// lenient servers allow.
fn prefixed_path<'a>(argument: &'a str, prefix: &str) -> Option<(&'a str, Vec<&'a str>)> {
    let head = argument.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = argument[prefix.len()..].trim_start();
    let (path, params) = match rest.strip_prefix('<') {
        Some(inner) => {
            let close = inner.find('>')?;
            (&inner[..close], &inner[close + 1..])
        }
        None => match rest.split_once(char::is_whitespace) {
            Some((path, params)) => (path, params),
            None => (rest, ""),
        },
    };
    if params.starts_with(|c: char| !c.is_whitespace()) {
        return None;
    }
    Some((path.trim(), params.split_whitespace().collect()))
}

/// Text that may go into a reply: ASCII, printable, one line, bounded.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(400)
        .collect()
}

/// The greeting when no dialogue is possible (a broken configuration):
/// 421, so the client tries again later.
pub fn unavailable_greeting(message: &str) -> String {
    format!("421 4.3.5 {}\r\n", printable(message))
}

/// The 250 after a message was handed on (delivered, or queued).
pub fn delivered_reply(message_id: &str) -> String {
    format!("250 2.0.0 Ok: {}\r\n", printable(message_id))
}

/// The reply for a message that could not be handed on: 4xx when trying
/// again later can help, 5xx when it cannot; the text says why.
pub fn failure_reply(kind: Kind, message: &str) -> String {
    let (code, enhanced) = match kind {
        Kind::Temporary | Kind::Input | Kind::Software | Kind::CantCreate => (451, "4.3.0"),
        // Configuration and TLS set-up are the administrator's to fix: the
        // message should wait, not bounce.
        Kind::Config => (451, "4.3.5"),
        Kind::Protocol => (451, "4.4.0"),
        Kind::NoUser => (550, "5.1.1"),
        Kind::Data => (554, "5.6.0"),
        Kind::Usage => (554, "5.5.0"),
        Kind::NoPermission => (554, "5.7.1"),
        Kind::Unavailable => (554, "5.3.0"),
    };
    format!("{code} {enhanced} {}\r\n", printable(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a dialogue: (command, expected reply start); `DATA` accepted
    /// shows as `354`.
    fn dialogue(steps: &[(&str, &str)]) -> Server {
        let mut server = Server::new("web1.contoso.com", 1000);
        for (command, want) in steps {
            let got = match server.command(command.as_bytes()) {
                Action::Reply(r) | Action::Close(r) => r,
                Action::Data(r, _) => r,
            };
            assert!(
                got.starts_with(want),
                "{command:?}: got {got:?}, want {want:?}"
            );
            assert!(got.ends_with("\r\n"), "{got:?}");
        }
        server
    }

    #[test]
    fn symfony_dialogue() {
        let mut server = dialogue(&[
            ("HELO [127.0.0.1]", "250 web1.contoso.com"),
            ("MAIL FROM:<app@shop.example>", "250 2.1.0"),
            ("RCPT TO:<a@example.com>", "250 2.1.5"),
            ("RCPT TO:<root>", "250 2.1.5"),
        ]);
        let Action::Data(reply, transaction) = server.command(b"DATA") else {
            panic!("DATA not accepted");
        };
        assert!(reply.starts_with("354 "));
        assert_eq!(
            transaction,
            Transaction {
                sender: "app@shop.example".into(),
                recipients: vec!["a@example.com".into(), "root".into()],
                body: None,
                size: None,
            }
        );
        // The next transaction starts clean.
        let mut server = {
            let mut s = server;
            for (c, w) in [
                ("NOOP", "250"),
                ("MAIL FROM:<> body=8bitmime SIZE=99", "250"),
                ("RCPT TO:<b@example.com>", "250"),
            ] {
                match s.command(c.as_bytes()) {
                    Action::Reply(r) => assert!(r.starts_with(w), "{c}: {r}"),
                    other => panic!("{c}: {other:?}"),
                }
            }
            s
        };
        let Action::Data(_, second) = server.command(b"data") else {
            panic!("second DATA");
        };
        assert_eq!(second.sender, "");
        assert_eq!(second.body.as_deref(), Some("8BITMIME"));
        assert_eq!(second.size, Some(99));
        assert_eq!(second.recipients, ["b@example.com"]);
        assert_eq!(
            server.command(b"QUIT"),
            Action::Close("221 2.0.0 Bye\r\n".into())
        );
    }

    #[test]
    fn ehlo_offers_what_is_implemented() {
        let mut server = Server::new("h", 1000);
        let Action::Reply(r) = server.command(b"EHLO client.example") else {
            panic!()
        };
        assert_eq!(
            r,
            "250-h\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"
        );
    }

    #[test]
    fn command_table() {
        // Each line runs in a fresh session after "EHLO x" and the given setup.
        let table: &[(&[&str], &str, &str)] = &[
            (&[], "MAIL FROM:<a@b.c>", "250 2.1.0"),
            (&[], "mail from: <a@b.c>", "250 2.1.0"),
            (&[], "MAIL FROM:a@b.c", "250 2.1.0"),
            (&[], "MAIL FROM:<a@b.c> BODY=8BITMIME SIZE=1000", "250"),
            (&[], "MAIL FROM:<a@b.c> SIZE=1001", "552 5.3.4"),
            (
                &[],
                "MAIL FROM:<a@b.c> size=99999999999999999999999",
                "552 5.3.4",
            ),
            (&[], "MAIL FROM:<a@b.c> AUTH=<>", "250"),
            (&[], "MAIL FROM:<a@b.c> RET=HDRS", "555 5.5.4"),
            (&[], "MAIL FROM:<a@b.c> BODY=BINARYMIME", "555"),
            (&[], "MAIL FROM:<a@b.c>x", "501 5.5.4"),
            (&[], "MAIL FROM:<a b@c.d>", "501 5.1.7"),
            (&[], "MAIL FROM:<a@b.c\r\nRCPT TO:<x@y.z>>", "501"),
            (&[], "MAIL TO:<a@b.c>", "501 5.5.4"),
            (&[], "MAIL", "501"),
            (&["MAIL FROM:<a@b.c>"], "MAIL FROM:<a@b.c>", "503 5.5.1"),
            (&[], "RCPT TO:<a@b.c>", "503 5.5.1"),
            (&["MAIL FROM:<>"], "RCPT TO:<>", "501 5.1.3"),
            (&["MAIL FROM:<>"], "RCPT TO:<root>", "250"),
            (&["MAIL FROM:<>"], "RCPT TO:<a@b.c> NOTIFY=NEVER", "555"),
            (&["MAIL FROM:<>"], "RCPT TO:<@route:a@b.c>", "501"),
            (&[], "DATA", "503 5.5.1"),
            (&["MAIL FROM:<>"], "DATA", "554 5.5.1"),
            (
                &["MAIL FROM:<>", "RCPT TO:<a@b.c>"],
                "DATA now",
                "501 5.5.4",
            ),
            (&["MAIL FROM:<>", "RCPT TO:<a@b.c>"], "DATA", "354"),
            (&["MAIL FROM:<>", "RCPT TO:<a@b.c>", "RSET"], "DATA", "503"),
            (&["MAIL FROM:<>"], "EHLO again", "250-"),
            (&["MAIL FROM:<>", "HELO again"], "DATA", "503"),
            (&[], "HELO", "501 5.5.4 Syntax: HELO"),
            (&[], "NOOP", "250 2.0.0"),
            (&[], "HELP", "214"),
            (&[], "VRFY root", "502"),
            (&[], "STARTTLS", "502"),
            (&[], "AUTH XOAUTH2", "502"),
            (&[], "BDAT 10 LAST", "502"),
            (&[], "", "500"),
            (&[], "Subject: a message piped in by mistake", "502 5.5.2"),
            (&[], "QUIT", "221"),
        ];
        for (setup, command, want) in table {
            let mut steps = vec![("EHLO x", "250")];
            steps.extend(setup.iter().map(|s| (*s, "")));
            steps.push((command, want));
            dialogue(&steps);
        }
    }

    #[test]
    fn recipient_limit() {
        let mut server = Server::new("h", 1000);
        server.command(b"MAIL FROM:<>");
        for n in 0..MAX_RECIPIENTS {
            let Action::Reply(r) = server.command(format!("RCPT TO:<r{n}@x.com>").as_bytes())
            else {
                panic!()
            };
            assert!(r.starts_with("250"));
        }
        let Action::Reply(r) = server.command(b"RCPT TO:<one-more@x.com>") else {
            panic!()
        };
        assert!(r.starts_with("452 4.5.3"), "{r}");
    }

    #[test]
    fn a_message_piped_in_by_mistake_ends_the_session() {
        let mut server = Server::new("h", 1000);
        let mut closed = None;
        for n in 0..MAX_ERRORS {
            if let Action::Close(r) = server.command(format!("Line {n} of text").as_bytes()) {
                closed = Some((n, r));
                break;
            }
        }
        let (n, reply) = closed.expect("the session ends");
        assert_eq!(n + 1, MAX_ERRORS);
        assert!(reply.starts_with("421 4.7.0"), "{reply}");
    }

    #[test]
    fn failure_replies_by_kind() {
        let table = [
            (Kind::Temporary, "451 4.3.0 "),
            (Kind::Config, "451 4.3.5 "),
            (Kind::Protocol, "451 4.4.0 "),
            (Kind::Input, "451 4.3.0 "),
            (Kind::CantCreate, "451 4.3.0 "),
            (Kind::Software, "451 4.3.0 "),
            (Kind::NoUser, "550 5.1.1 "),
            (Kind::Data, "554 5.6.0 "),
            (Kind::Usage, "554 5.5.0 "),
            (Kind::NoPermission, "554 5.7.1 "),
            (Kind::Unavailable, "554 5.3.0 "),
        ];
        for (kind, want) in table {
            let reply = failure_reply(kind, "what went wrong");
            assert_eq!(reply, format!("{want}what went wrong\r\n"), "{kind:?}");
        }
        let reply = failure_reply(Kind::Temporary, "Zürich\r\n250 fake");
        assert_eq!(reply, "451 4.3.0 Z?rich??250 fake\r\n");
        assert_eq!(delivered_reply("<1.a@h>"), "250 2.0.0 Ok: <1.a@h>\r\n");
        assert_eq!(unavailable_greeting("bad\nconf"), "421 4.3.5 bad?conf\r\n");
    }
}
