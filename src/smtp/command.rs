//! SMTP commands as values whose encoding is their wire bytes.
//!
//! Every command knows two renderings: [`Command::encode`], the exact bytes
//! sent, and [`Command::transcript`], what `-v` shows, in which AUTH
//! payloads are `<redacted>`. Arguments are checked by the callers (see
//! `address`); encoding never adds a line break of its own except the
//! final CRLF.

use base64::Engine as _;

use crate::secret::Secret;

/// Longest AUTH line that carries its initial response (RFC 4954 §4: 12,288
/// octets "is considered sufficient"); longer ones use the two-step form.
pub const MAX_AUTH_LINE: usize = 12_288;

/// A client command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// `EHLO name`.
    Ehlo(&'a str),
    /// `STARTTLS`.
    StartTls,
    /// `AUTH XOAUTH2` with or without the initial response on the line.
    AuthXoauth2(Option<&'a Secret>),
    /// A SASL response line (base64), or the empty line after an error challenge.
    AuthResponse(Option<&'a Secret>),
    /// `MAIL FROM:<sender> params…`.
    MailFrom {
        /// Envelope sender (may be empty: the null sender).
        sender: &'a str,
        /// ESMTP parameters (`SIZE=…`, `BODY=8BITMIME`, `RET=…`).
        params: &'a [String],
    },
    /// `RCPT TO:<recipient> params…`.
    RcptTo {
        /// Recipient address.
        recipient: &'a str,
        /// ESMTP parameters (`NOTIFY=…`).
        params: &'a [String],
    },
    /// `DATA`.
    Data,
    /// `RSET`.
    Rset,
    /// `QUIT`.
    Quit,
}

impl Command<'_> {
    /// Appends the wire bytes, CRLF included, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Command::Ehlo(name) => push(out, &["EHLO ", name]),
            Command::StartTls => out.extend_from_slice(b"STARTTLS"),
            Command::AuthXoauth2(None) => out.extend_from_slice(b"AUTH XOAUTH2"),
            Command::AuthXoauth2(Some(ir)) => push(out, &["AUTH XOAUTH2 ", ir.expose()]),
            Command::AuthResponse(None) => {}
            Command::AuthResponse(Some(r)) => out.extend_from_slice(r.expose().as_bytes()),
            Command::MailFrom { sender, params } => {
                push(out, &["MAIL FROM:<", sender, ">"]);
                push_params(out, params);
            }
            Command::RcptTo { recipient, params } => {
                push(out, &["RCPT TO:<", recipient, ">"]);
                push_params(out, params);
            }
            Command::Data => out.extend_from_slice(b"DATA"),
            Command::Rset => out.extend_from_slice(b"RSET"),
            Command::Quit => out.extend_from_slice(b"QUIT"),
        }
        out.extend_from_slice(b"\r\n");
    }

    /// The line as `-v` shows it: credentials replaced by `<redacted>`.
    pub fn transcript(&self) -> String {
        match self {
            Command::AuthXoauth2(Some(_)) => "AUTH XOAUTH2 <redacted>".into(),
            Command::AuthResponse(Some(_)) => "<redacted>".into(),
            Command::AuthResponse(None) => String::new(),
            _ => {
                let mut bytes = Vec::new();
                self.encode(&mut bytes);
                String::from_utf8_lossy(&bytes).trim_end().to_string()
            }
        }
    }
}

fn push(out: &mut Vec<u8>, parts: &[&str]) {
    for part in parts {
        out.extend_from_slice(part.as_bytes());
    }
}

fn push_params(out: &mut Vec<u8>, params: &[String]) {
    for p in params {
        out.push(b' ');
        out.extend_from_slice(p.as_bytes());
    }
}

/// The XOAUTH2 initial client response:
/// `base64("user=" user "\x01auth=Bearer " token "\x01\x01")`.
pub fn xoauth2_response(user: &str, token: &Secret) -> Secret {
    let raw = Secret::new(format!(
        "user={user}\x01auth=Bearer {}\x01\x01",
        token.expose()
    ));
    Secret::new(base64::engine::general_purpose::STANDARD.encode(raw.expose()))
}

/// Whether `AUTH XOAUTH2 <response>` fits in one command line.
pub fn fits_on_auth_line(response: &Secret) -> bool {
    "AUTH XOAUTH2 ".len() + response.expose().len() + 2 <= MAX_AUTH_LINE
}

/// The line length below which no server cuts a command: Postfix's
/// default `line_length_limit` (2048), which an Entra token on the AUTH
/// line passes.
pub const COMMON_LINE_LIMIT: usize = 2048;

/// Whether a refusal of the one-line `AUTH XOAUTH2 <response>` (of
/// `line_len` octets) calls for one more try in the two-step form: the
/// server did not take the initial response (500, 501, 504), or it cut
/// the line (Postfix answers 535 "Invalid base64 data" for a line past its
/// `line_length_limit`; past 2048 octets any 535 but Exchange's token and
/// policy refusals, 5.7.3 and 5.7.139, may be a cut).
pub fn retry_auth_in_two_steps(reply: &super::reply::Reply, line_len: usize) -> bool {
    // High Volume Email answers 501 about the token itself (5.5.127: it
    // expires too soon; 5.5.124: refused): the line arrived whole, and
    // the answer is a fresh token, not the same one in two steps.
    if matches!(reply.enhanced_code(), Some("5.5.124" | "5.5.127")) {
        return false;
    }
    match reply.code {
        500 | 501 | 504 => true,
        535 => {
            let text = reply.text().to_ascii_lowercase();
            let exchange = matches!(reply.enhanced_code(), Some("5.7.3" | "5.7.139"));
            text.contains("base64") || (line_len > COMMON_LINE_LIMIT && !exchange)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_the_one_line_auth_is_tried_again_in_two_steps() {
        // Not crate::testing::reply: testing already uses smtp.
        let reply = |code, text: &str| crate::smtp::reply::Reply {
            code,
            lines: vec![text.to_string()],
        };
        let table = [
            (500, "5.5.2 Error: command not recognized", 100, true),
            (501, "5.5.4 Syntax error in parameters", 100, true),
            (501, "5.5.127 Token will expire soon", 3000, false),
            (501, "5.5.124 Token refused", 3000, false),
            (504, "5.7.4 Unrecognized authentication type", 100, true),
            (
                535,
                "5.7.8 Error: authentication failed: Invalid base64 data in initial response",
                100,
                true,
            ),
            (535, "5.7.8 Error: authentication failed", 3000, true),
            (535, "5.7.8 Error: authentication failed", 1000, false),
            (535, "5.7.3 Authentication unsuccessful [x]", 3000, false),
            (
                535,
                "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled",
                3000,
                false,
            ),
            (454, "4.7.0 Temporary authentication failure", 3000, false),
            (235, "2.7.0 ok", 3000, false),
        ];
        for (code, text, len, want) in table {
            assert_eq!(
                retry_auth_in_two_steps(&reply(code, text), len),
                want,
                "{code} {text} {len}"
            );
        }
    }

    fn wire(c: Command) -> String {
        let mut out = Vec::new();
        c.encode(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn wire_format() {
        let params = vec!["SIZE=1024".to_string(), "BODY=8BITMIME".to_string()];
        let none: Vec<String> = Vec::new();
        let notify = vec!["NOTIFY=SUCCESS,FAILURE".to_string()];
        let secret = Secret::new("dG9rZW4=");
        let table = [
            (Command::Ehlo("host.example"), "EHLO host.example\r\n"),
            (Command::StartTls, "STARTTLS\r\n"),
            (Command::AuthXoauth2(None), "AUTH XOAUTH2\r\n"),
            (
                Command::AuthXoauth2(Some(&secret)),
                "AUTH XOAUTH2 dG9rZW4=\r\n",
            ),
            (Command::AuthResponse(Some(&secret)), "dG9rZW4=\r\n"),
            (Command::AuthResponse(None), "\r\n"),
            (
                Command::MailFrom {
                    sender: "a@x",
                    params: &params,
                },
                "MAIL FROM:<a@x> SIZE=1024 BODY=8BITMIME\r\n",
            ),
            (
                Command::MailFrom {
                    sender: "",
                    params: &none,
                },
                "MAIL FROM:<>\r\n",
            ),
            (
                Command::RcptTo {
                    recipient: "b@y",
                    params: &notify,
                },
                "RCPT TO:<b@y> NOTIFY=SUCCESS,FAILURE\r\n",
            ),
            (Command::Data, "DATA\r\n"),
            (Command::Rset, "RSET\r\n"),
            (Command::Quit, "QUIT\r\n"),
        ];
        for (command, want) in table {
            assert_eq!(wire(command), want);
        }
    }

    #[test]
    fn transcript_redacts_credentials() {
        let secret = Secret::new("dG9rZW4=");
        assert_eq!(
            Command::AuthXoauth2(Some(&secret)).transcript(),
            "AUTH XOAUTH2 <redacted>"
        );
        assert_eq!(
            Command::AuthResponse(Some(&secret)).transcript(),
            "<redacted>"
        );
        assert_eq!(Command::Ehlo("h").transcript(), "EHLO h");
    }

    #[test]
    fn xoauth2_encoding() {
        let token = Secret::new("ya29.token");
        let r = xoauth2_response("alerts@contoso.com", &token);
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(r.expose())
            .unwrap();
        assert_eq!(
            decoded,
            b"user=alerts@contoso.com\x01auth=Bearer ya29.token\x01\x01"
        );
        assert!(fits_on_auth_line(&r));
        let long = xoauth2_response("a@b", &Secret::new("x".repeat(9300)));
        assert!(!fits_on_auth_line(&long));
    }
}
