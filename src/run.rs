//! One sendmail invocation: read the message, resolve the envelope,
//! deliver, report.
//!
//! The steps are named functions: [`read_input`] (header block, body left
//! streaming), [`resolve_envelope`] (sender and recipients from the command
//! line and, with `-t`, the header), [`deliver`] (token, SMTP, transaction)
//! and [`report`] (one syslog line, and the error for stderr). Nothing here
//! parses a wire format; that is the job of the modules below.

use std::io::{self, BufRead, BufReader};
use std::time::Instant;

use crate::address;
use crate::body::DotEndReader;
use crate::cli::{Delivery, Invocation};
use crate::clock;
use crate::config::Config;
use crate::error::{Error, Kind, Result};
use crate::header::{self, HeaderBlock};
use crate::log::{Level, Outcome, Record, Syslog};
use crate::message::{self, Additions, PreparedHeader};
use crate::relay::{Relay, smtp_failure};
use crate::smtp::capabilities::Capabilities;
use crate::smtp::session::{Envelope, Receipt};
use crate::system;
use crate::token::TokenSource;
use crate::transcript::Transcript;

/// Sender and recipients of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addresses {
    /// Envelope sender.
    pub sender: String,
    /// Envelope recipients, resolved and de-duplicated.
    pub recipients: Vec<String>,
}

/// Reads a message from stdin and sends it.
///
/// # Errors
/// Every failure, already logged; the caller prints it and exits with its code.
pub fn send(invocation: &Invocation, config: &Config, syslog: &mut Syslog) -> Result<()> {
    let started = Instant::now();
    check_full_name(invocation)?;
    let stdin = io::stdin().lock();
    let mut input: Box<dyn BufRead> = if invocation.ignore_dots {
        Box::new(stdin)
    } else {
        Box::new(BufReader::with_capacity(
            64 * 1024,
            DotEndReader::new(stdin),
        ))
    };
    let block = header::read_header_block(&mut input, header::MAX_HEADER_BLOCK)?;
    let addresses = resolve_envelope(invocation, config, &block)?;
    let host = system::host_name(config);
    let now = clock::now();
    let prepared = message::prepare(
        block,
        &Additions {
            date: clock::rfc5322_date(now),
            message_id: clock::message_id(now, clock::random_bytes(), &host),
            from_address: &config.from,
            from_name: invocation
                .full_name
                .as_deref()
                .or(config.from_name.as_deref()),
        },
    );
    let transcript = if invocation.verbose {
        Transcript::stderr()
    } else {
        Transcript::off()
    };
    let result = deliver(
        config,
        &host,
        &addresses,
        &invocation.delivery,
        &prepared,
        &mut input,
        transcript,
        syslog,
    );
    report(&addresses, &prepared, started, result, syslog)
}

/// `-F` ends up in a header: a line break there would inject header fields.
fn check_full_name(invocation: &Invocation) -> Result<()> {
    match &invocation.full_name {
        Some(name) if name.chars().any(char::is_control) => Err(Error::usage(
            "the -F full name contains a line break or control character",
        )),
        _ => Ok(()),
    }
}

/// The envelope: `from` (or `-f` where allowed) and the recipients from the
/// command line plus, with `-t`, the header; bare names qualified.
///
/// # Errors
/// [`Kind::Data`] for a malformed address, [`Kind::Usage`] for no recipient.
pub fn resolve_envelope(
    invocation: &Invocation,
    config: &Config,
    block: &HeaderBlock,
) -> Result<Addresses> {
    let mut recipients = Vec::new();
    for argument in &invocation.recipients {
        for addr in address::split_list(argument) {
            address::check_recipient(&addr).map_err(|why| {
                Error::data(format!(
                    "malformed recipient {:?}: {why}",
                    crate::error::one_line(&addr)
                ))
            })?;
            recipients.push(addr);
        }
    }
    if invocation.extract_recipients {
        recipients.extend(message::header_recipients(block)?);
    }
    let mut resolved: Vec<String> = Vec::with_capacity(recipients.len());
    for r in recipients {
        let r = address::qualify(&r, &config.addresses.default_domain);
        if !resolved.iter().any(|seen| seen.eq_ignore_ascii_case(&r)) {
            resolved.push(r);
        }
    }
    if resolved.is_empty() {
        let hint = if invocation.extract_recipients {
            "the message has no To, Cc or Bcc"
        } else {
            "name recipients on the command line, or use -t to read them from the header"
        };
        return Err(Error::usage(format!("no recipients ({hint})")));
    }
    let sender = match &invocation.sender {
        Some(requested) if config.addresses.allow_from_override => {
            let requested = requested.trim_matches(['<', '>']).to_string();
            if !requested.is_empty() {
                address::check_recipient(&requested)
                    .map_err(|why| Error::data(format!("malformed sender for -f: {why}")))?;
            }
            address::qualify(&requested, &config.addresses.default_domain)
        }
        _ => config.from.clone(),
    };
    Ok(Addresses {
        sender,
        recipients: resolved,
    })
}

/// Token, connection, transaction. The body streams from `input`.
#[allow(clippy::too_many_arguments)]
fn deliver(
    config: &Config,
    host: &str,
    addresses: &Addresses,
    delivery: &Delivery,
    prepared: &PreparedHeader,
    input: &mut dyn BufRead,
    transcript: Transcript,
    syslog: &mut Syslog,
) -> Result<Receipt> {
    let mut tokens = TokenSource::new(config);
    let opened = Relay::open(config, &mut tokens, host, transcript);
    for warning in tokens.warnings.drain(..) {
        syslog.log(Level::Warning, &warning);
    }
    let mut relay = opened?;
    let envelope = envelope(addresses, delivery, relay.capabilities());
    let sent = relay.send(&envelope, &prepared.bytes, input);
    let server = relay.server().to_string();
    relay.close();
    sent.map_err(|e| smtp_failure(e, &server))
}

/// The envelope with the ESMTP parameters the server supports.
pub fn envelope(addresses: &Addresses, delivery: &Delivery, caps: &Capabilities) -> Envelope {
    let mut mail_params = Vec::new();
    let mut rcpt_params = Vec::new();
    if caps.eight_bit_mime
        && let Some(body) = delivery
            .body
            .as_deref()
            .filter(|b| b.eq_ignore_ascii_case("8BITMIME") || b.eq_ignore_ascii_case("7BIT"))
    {
        mail_params.push(format!("BODY={}", body.to_ascii_uppercase()));
    }
    if caps.dsn {
        if let Some(ret) = delivery.ret.as_deref() {
            let ret = if ret.eq_ignore_ascii_case("hdrs") {
                "HDRS"
            } else {
                "FULL"
            };
            mail_params.push(format!("RET={ret}"));
        }
        if let Some(envid) = delivery.envid.as_deref().filter(|e| is_xtext_safe(e)) {
            mail_params.push(format!("ENVID={envid}"));
        }
        if let Some(notify) = delivery.notify.as_deref().filter(|n| is_notify(n)) {
            rcpt_params.push(format!("NOTIFY={}", notify.to_ascii_uppercase()));
        }
    }
    let non_ascii =
        !addresses.sender.is_ascii() || addresses.recipients.iter().any(|r| !r.is_ascii());
    if non_ascii && caps.smtputf8 {
        mail_params.push("SMTPUTF8".into());
    }
    Envelope {
        sender: addresses.sender.clone(),
        recipients: addresses.recipients.clone(),
        mail_params,
        rcpt_params,
    }
}

/// `never` or a comma list of `success`, `failure`, `delay` (RFC 3461 §4.1).
fn is_notify(value: &str) -> bool {
    value.eq_ignore_ascii_case("never")
        || value.split(',').all(|v| {
            ["success", "failure", "delay"]
                .iter()
                .any(|k| v.eq_ignore_ascii_case(k))
        })
}

/// ENVID values go on the MAIL line: printable ASCII without `+`, `=` or spaces.
fn is_xtext_safe(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 100
        && value
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'+' && b != b'=')
}

/// Logs the outcome and turns refused recipients into the error to show.
fn report(
    addresses: &Addresses,
    prepared: &PreparedHeader,
    started: Instant,
    result: Result<Receipt>,
    syslog: &mut Syslog,
) -> Result<()> {
    let base = Record {
        queue_id: None,
        message_id: Some(&prepared.message_id),
        from: &addresses.sender,
        recipients: &addresses.recipients,
        size: None,
        outcome: Outcome::Delivered,
        smtp: None,
        duration: started.elapsed(),
        exit: "EX_OK",
        cause: None,
        error: None,
    };
    match result {
        Ok(receipt) if receipt.refused.is_empty() => {
            let record = Record {
                size: Some(receipt.size),
                smtp: Some(receipt.reply.to_string()),
                ..base
            };
            syslog.log(Level::Info, &record.line());
            Ok(())
        }
        Ok(receipt) => {
            let error = partial_failure(&receipt);
            let record = Record {
                size: Some(receipt.size),
                outcome: Outcome::Partial,
                smtp: Some(receipt.reply.to_string()),
                exit: error.kind().exit_name(),
                error: Some(error.message()),
                ..base
            };
            syslog.log(Level::Warning, &record.line());
            Err(error)
        }
        Err(error) => {
            let record = Record {
                outcome: Outcome::Failed,
                exit: error.kind().exit_name(),
                cause: error.cause(),
                error: Some(error.message()),
                ..base
            };
            syslog.log(Level::Error, &record.line());
            Err(error)
        }
    }
}

/// Some recipients were refused: name each, exit 67 (75 if only temporarily).
fn partial_failure(receipt: &Receipt) -> Error {
    let refused: Vec<String> = receipt
        .refused
        .iter()
        .map(|r| format!("<{}>: {}", r.recipient, r.reply))
        .collect();
    let accepted: Vec<String> = receipt
        .accepted
        .iter()
        .map(|r| format!("<{}>", r.recipient))
        .collect();
    let temporary = receipt.refused.iter().all(|r| r.reply.is_transient());
    let kind = if temporary {
        Kind::Temporary
    } else {
        Kind::NoUser
    };
    Error::new(
        kind,
        format!(
            "delivered to {}, but the server refused {}",
            accepted.join(", "),
            refused.join("; ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli;
    use std::path::Path;

    fn config(extra: &str) -> Config {
        let text = format!(
            "tenant = \"contoso.onmicrosoft.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\n\
             client_secret = \"s\"\nuser = \"alerts@contoso.com\"\n{extra}"
        );
        crate::config::parse(&text, Path::new("t.conf")).unwrap()
    }

    fn block(text: &str) -> HeaderBlock {
        header::read_header_block(&mut text.as_bytes(), header::MAX_HEADER_BLOCK).unwrap()
    }

    fn resolve(args: &str, header: &str, extra: &str) -> Result<Addresses> {
        let inv = cli::parse(std::iter::once("sendmail").chain(args.split_whitespace())).unwrap();
        resolve_envelope(&inv, &config(extra), &block(header))
    }

    #[test]
    fn envelope_table() {
        // (args, header, extra config, sender, recipients)
        let table: &[(&str, &str, &str, &str, &[&str])] = &[
            ("a@x.com", "", "", "alerts@contoso.com", &["a@x.com"]),
            (
                "-t",
                "To: a@x.com\nBcc: b@x.com\n\n",
                "",
                "alerts@contoso.com",
                &["a@x.com", "b@x.com"],
            ),
            (
                "-t c@x.com",
                "To: a@x.com\n\n",
                "",
                "alerts@contoso.com",
                &["c@x.com", "a@x.com"],
            ),
            (
                "-t a@x.com",
                "To: A@x.com\n\n",
                "",
                "alerts@contoso.com",
                &["a@x.com"],
            ),
            ("root", "", "", "alerts@contoso.com", &["root@contoso.com"]),
            (
                "root",
                "",
                "[addresses]\ndefault_domain = \"ops.example\"\n",
                "alerts@contoso.com",
                &["root@ops.example"],
            ),
            (
                "a@x.com,b@x.com",
                "",
                "",
                "alerts@contoso.com",
                &["a@x.com", "b@x.com"],
            ),
            (
                "-f other@x.com a@x.com",
                "",
                "",
                "alerts@contoso.com",
                &["a@x.com"],
            ),
            (
                "-f other@x.com a@x.com",
                "",
                "[addresses]\nallow_from_override = true\n",
                "other@x.com",
                &["a@x.com"],
            ),
            (
                "a@x.com",
                "To: ignored@x.com\n\n",
                "",
                "alerts@contoso.com",
                &["a@x.com"],
            ),
        ];
        for (args, header, extra, sender, recipients) in table {
            let got = resolve(args, header, extra).unwrap_or_else(|e| panic!("{args}: {e}"));
            assert_eq!(got.sender, *sender, "{args}");
            assert_eq!(got.recipients, *recipients, "{args}");
        }
    }

    #[test]
    fn envelope_errors() {
        assert_eq!(
            resolve("", "To: a@x.com\n\n", "").unwrap_err().exit_code(),
            64
        );
        assert_eq!(
            resolve("-t", "Subject: x\n\n", "").unwrap_err().exit_code(),
            64
        );
        let e = resolve("--", "", "").unwrap_err();
        assert_eq!(e.exit_code(), 64);
        let inv = Invocation {
            recipients: vec!["a@x>\r\nRCPT TO:<evil@x".into()],
            ..cli::parse(["sendmail"]).unwrap()
        };
        let e = resolve_envelope(&inv, &config(""), &block("")).unwrap_err();
        assert_eq!(e.exit_code(), 65);
        assert!(!e.message().contains('\n'));
    }

    #[test]
    fn esmtp_parameters_only_when_offered() {
        let addresses = Addresses {
            sender: "a@x".into(),
            recipients: vec!["b@y".into()],
        };
        let delivery = Delivery {
            notify: Some("success,failure".into()),
            ret: Some("hdrs".into()),
            envid: Some("id-1".into()),
            body: Some("8BITMIME".into()),
        };
        let none = envelope(&addresses, &delivery, &Capabilities::default());
        assert!(none.mail_params.is_empty() && none.rcpt_params.is_empty());
        let caps = Capabilities {
            dsn: true,
            eight_bit_mime: true,
            ..Capabilities::default()
        };
        let all = envelope(&addresses, &delivery, &caps);
        assert_eq!(all.mail_params, ["BODY=8BITMIME", "RET=HDRS", "ENVID=id-1"]);
        assert_eq!(all.rcpt_params, ["NOTIFY=SUCCESS,FAILURE"]);
        let bad = Delivery {
            notify: Some("sometimes".into()),
            envid: Some("a b".into()),
            ..delivery
        };
        let filtered = envelope(&addresses, &bad, &caps);
        assert!(filtered.rcpt_params.is_empty());
        assert!(!filtered.mail_params.iter().any(|p| p.starts_with("ENVID")));
    }

    #[test]
    fn full_name_with_newline_is_refused() {
        let inv = cli::parse(["sendmail", "-F", "x\nBcc: evil@x", "a@x"]).unwrap();
        assert_eq!(check_full_name(&inv).unwrap_err().exit_code(), 64);
    }
}
