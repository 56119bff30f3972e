//! The envelope of a message: who it is from and whom it goes to.
//!
//! [`resolve`] decides the sender (`from`, or `-f` where the configuration
//! allows it) and the recipients (the command line and, with `-t`, the
//! header), checks every address, qualifies bare names and removes
//! duplicates. [`esmtp`] adds the ESMTP parameters (DSN, BODY, SMTPUTF8)
//! the server supports. Pure: configuration and parsed input in, values out.

use crate::address;
use crate::cli::{Delivery, Invocation};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::header::HeaderBlock;
use crate::message;
use crate::smtp::capabilities::Capabilities;
use crate::smtp::session::Envelope;

/// Sender and recipients of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addresses {
    /// Envelope sender.
    pub sender: String,
    /// Envelope recipients, resolved and de-duplicated.
    pub recipients: Vec<String>,
}

/// The envelope: `from` (or `-f` where allowed) and the recipients from the
/// command line plus, with `-t`, the header; bare names qualified.
///
/// # Errors
/// `Kind::Data` for a malformed address, `Kind::Usage` for no recipient.
pub fn resolve(invocation: &Invocation, config: &Config, block: &HeaderBlock) -> Result<Addresses> {
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
    // A set, not a scan of `resolved`: 10,000 recipients must not cost 10^8 comparisons.
    let mut seen = std::collections::HashSet::with_capacity(recipients.len());
    for r in recipients {
        let r = address::qualify(&r, &config.addresses.default_domain);
        if seen.insert(r.to_ascii_lowercase()) {
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

/// The envelope with the ESMTP parameters the server supports.
pub fn esmtp(addresses: &Addresses, delivery: &Delivery, caps: &Capabilities) -> Envelope {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli;
    use crate::header;
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

    fn resolve_line(args: &str, header: &str, extra: &str) -> Result<Addresses> {
        let inv = cli::parse(std::iter::once("sendmail").chain(args.split_whitespace())).unwrap();
        resolve(&inv, &config(extra), &block(header))
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
            let got = resolve_line(args, header, extra).unwrap_or_else(|e| panic!("{args}: {e}"));
            assert_eq!(got.sender, *sender, "{args}");
            assert_eq!(got.recipients, *recipients, "{args}");
        }
    }

    #[test]
    fn envelope_errors() {
        assert_eq!(
            resolve_line("", "To: a@x.com\n\n", "")
                .unwrap_err()
                .exit_code(),
            64
        );
        assert_eq!(
            resolve_line("-t", "Subject: x\n\n", "")
                .unwrap_err()
                .exit_code(),
            64
        );
        let e = resolve_line("--", "", "").unwrap_err();
        assert_eq!(e.exit_code(), 64);
        let inv = Invocation {
            recipients: vec!["a@x>\r\nRCPT TO:<evil@x".into()],
            ..cli::parse(["sendmail"]).unwrap()
        };
        let e = resolve(&inv, &config(""), &block("")).unwrap_err();
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
        let none = esmtp(&addresses, &delivery, &Capabilities::default());
        assert!(none.mail_params.is_empty() && none.rcpt_params.is_empty());
        let caps = Capabilities {
            dsn: true,
            eight_bit_mime: true,
            ..Capabilities::default()
        };
        let all = esmtp(&addresses, &delivery, &caps);
        assert_eq!(all.mail_params, ["BODY=8BITMIME", "RET=HDRS", "ENVID=id-1"]);
        assert_eq!(all.rcpt_params, ["NOTIFY=SUCCESS,FAILURE"]);
        let bad = Delivery {
            notify: Some("sometimes".into()),
            envid: Some("a b".into()),
            ..delivery
        };
        let filtered = esmtp(&addresses, &bad, &caps);
        assert!(filtered.rcpt_params.is_empty());
        assert!(!filtered.mail_params.iter().any(|p| p.starts_with("ENVID")));
    }
}
