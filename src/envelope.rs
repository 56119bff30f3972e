//! The envelope of a message: who it is from and whom it goes to.
//!
//! [`resolve`] decides the sender (`from`, or `-f` / `MAIL FROM` where the
//! configuration allows it) and the recipients: those asked for (the
//! command line or `RCPT TO`, and with `-t` the header), each checked; then
//! local names (`root`, `root@localhost`) through the aliases, then
//! `default_recipient`, then `@default_domain`; duplicates removed.
//! [`esmtp`] adds the ESMTP parameters (DSN, BODY, SMTPUTF8) the server
//! supports. Pure: configuration and parsed input in, values out.

use crate::address::{self, LocalDomains};
use crate::aliases::{Aliases, Resolved};
use crate::cli::{Delivery, Invocation};
use crate::config::Config;
use crate::error::{Error, Kind, Result};
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

/// What the caller asked for, before any resolution.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// `-f` / `-r`, or the `MAIL FROM` of an SMTP dialogue.
    pub sender: Option<&'a str>,
    /// Command-line arguments (each may hold a comma list) or `RCPT TO`s.
    pub recipients: &'a [String],
    /// `-t`: the header's recipients too.
    pub extract: bool,
}

impl<'a> Request<'a> {
    /// The request of a command line.
    pub fn from_invocation(invocation: &'a Invocation) -> Self {
        Request {
            sender: invocation.sender.as_deref(),
            recipients: &invocation.recipients,
            extract: invocation.extract_recipients,
        }
    }
}

/// Where local names go.
#[derive(Clone, Copy, Debug)]
pub struct LocalRouting<'a> {
    /// The aliases file's entries (`None`: none configured or not needed).
    pub aliases: Option<&'a Aliases>,
    /// Which addresses are this machine's.
    pub domains: &'a LocalDomains,
    /// Where names without an alias go, if set.
    pub default_recipient: Option<&'a str>,
    /// Otherwise they get this domain.
    pub default_domain: &'a str,
}

/// The recipients asked for, each checked, before local names are resolved.
///
/// # Errors
/// `Kind::Data` naming a malformed address.
pub fn requested_recipients(request: &Request, block: &HeaderBlock) -> Result<Vec<String>> {
    let mut recipients = Vec::new();
    for argument in request.recipients {
        // A line break (or any control character but a tab) in an argument
        // is never part of an address list: it would hide a display name
        // (or a header) around the address used.
        if argument.chars().any(|c| c.is_control() && c != '\t') {
            return Err(Error::data(format!(
                "malformed recipient {:?}: contains a line break, NUL or other control character",
                crate::error::one_line(argument)
            )));
        }
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
    if request.extract {
        recipients.extend(message::header_recipients(block)?);
    }
    Ok(recipients)
}

/// Whether any of `recipients` is a local name (so the aliases are needed).
pub fn has_local(recipients: &[String], domains: &LocalDomains) -> bool {
    recipients.iter().any(|r| domains.local_name(r).is_some())
}

/// Recipients after local names are resolved, and what to warn about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routed {
    /// Full addresses, de-duplicated (case-insensitively), in order.
    pub recipients: Vec<String>,
    /// Alias loops met (`a -> b -> a`).
    pub loops: Vec<String>,
    /// Local names whose aliases lead nowhere deliverable (only `|command`s).
    pub undeliverable: Vec<String>,
}

/// Resolves local names: aliases, then `default_recipient`, then `default_domain`.
pub fn route(recipients: &[String], local: &LocalRouting) -> Routed {
    let mut routed = Routed::default();
    // A set, not a scan of the list: 10,000 recipients must not cost 10^8 comparisons.
    let mut seen = std::collections::HashSet::with_capacity(recipients.len());
    let mut push = |addr: String, routed: &mut Routed| {
        if seen.insert(addr.to_ascii_lowercase()) {
            routed.recipients.push(addr);
        }
    };
    let place = |name: &str| match local.default_recipient {
        Some(fallback) => fallback.to_string(),
        None => address::qualify(name, local.default_domain),
    };
    for recipient in recipients {
        let Some(name) = local.domains.local_name(recipient) else {
            push(recipient.clone(), &mut routed);
            continue;
        };
        let Some(aliases) = local.aliases else {
            push(place(name), &mut routed);
            continue;
        };
        let expansion = aliases.expand(name, &|addr: &str| {
            local.domains.local_name(addr).map(str::to_string)
        });
        if expansion.resolved.is_empty() {
            routed.undeliverable.push(name.to_string());
        }
        routed.loops.extend(expansion.loops);
        for resolved in expansion.resolved {
            match resolved {
                Resolved::Address(addr) => push(addr, &mut routed),
                Resolved::Local(name) => push(place(&name), &mut routed),
            }
        }
    }
    routed
}

/// The envelope sender: `from`, or the requested one where
/// `allow_from_override` permits (bare names qualified, `<>` kept empty).
///
/// # Errors
/// `Kind::Data` for a malformed requested sender.
pub fn sender(request: &Request, config: &Config) -> Result<String> {
    match request.sender {
        Some(requested) if config.addresses.allow_from_override => {
            let requested = requested.trim().trim_matches(['<', '>']).to_string();
            if requested.is_empty() {
                return Ok(requested);
            }
            address::check_recipient(&requested)
                .map_err(|why| Error::data(format!("malformed sender for -f: {why}")))?;
            Ok(address::qualify(
                &requested,
                &config.addresses.default_domain,
            ))
        }
        _ => Ok(config.from.clone()),
    }
}

/// The envelope: sender and resolved recipients.
///
/// # Errors
/// `Kind::Data` for a malformed address, `Kind::Usage` for no recipient,
/// `Kind::NoUser` when every recipient is an alias of commands or files.
pub fn resolve(
    request: &Request,
    config: &Config,
    block: &HeaderBlock,
    local: &LocalRouting,
) -> Result<(Addresses, Routed)> {
    let requested = requested_recipients(request, block)?;
    let routed = route(&requested, local);
    if routed.recipients.is_empty() {
        if !routed.undeliverable.is_empty() {
            return Err(Error::new(
                Kind::NoUser,
                format!(
                    "no deliverable recipient: {} in the aliases file lead(s) only to commands or files, which oauth2-sendmail cannot deliver",
                    routed.undeliverable.join(", ")
                ),
            ));
        }
        let hint = if request.extract {
            "the message has no To, Cc or Bcc"
        } else {
            "name recipients on the command line, or use -t to read them from the header"
        };
        return Err(Error::usage(format!("no recipients ({hint})")));
    }
    let addresses = Addresses {
        sender: sender(request, config)?,
        recipients: routed.recipients.clone(),
    };
    Ok((addresses, routed))
}

/// The envelope with the ESMTP parameters the server supports.
pub fn esmtp(
    addresses: &Addresses,
    delivery: &Delivery,
    caps: &Capabilities,
    size: Option<u64>,
    utf8_header: bool,
) -> Envelope {
    let mut mail_params = Vec::new();
    let mut rcpt_params = Vec::new();
    // RFC 1870: a server that knows the size up front refuses at MAIL,
    // before a byte of the message is sent.
    if caps.size.is_some()
        && let Some(size) = size
    {
        mail_params.push(format!("SIZE={size}"));
    }
    // BODY=8BITMIME whenever the server offers it, unless the caller said
    // 7BIT (-B 7BIT): callers such as PHP write 8-bit bodies without -B,
    // and declaring 8BITMIME for a 7-bit message is harmless (RFC 6152).
    if caps.eight_bit_mime {
        let seven = delivery
            .body
            .as_deref()
            .is_some_and(|b| b.eq_ignore_ascii_case("7BIT"));
        mail_params.push(if seven { "BODY=7BIT" } else { "BODY=8BITMIME" }.to_string());
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
    // RFC 6531: UTF-8 in the addresses or in header fields.
    let non_ascii = utf8_header
        || !addresses.sender.is_ascii()
        || addresses.recipients.iter().any(|r| !r.is_ascii());
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
        resolve_with(args, header, extra, None)
    }

    fn resolve_with(
        args: &str,
        header: &str,
        extra: &str,
        aliases: Option<&str>,
    ) -> Result<Addresses> {
        let inv = cli::parse(std::iter::once("sendmail").chain(args.split_whitespace())).unwrap();
        let config = config(extra);
        let aliases = aliases.map(|text| crate::aliases::parse(text).0);
        let domains = LocalDomains::new("web1.contoso.com");
        let local = LocalRouting {
            aliases: aliases.as_ref(),
            domains: &domains,
            default_recipient: config.addresses.default_recipient.as_deref(),
            default_domain: &config.addresses.default_domain,
        };
        resolve(
            &Request::from_invocation(&inv),
            &config,
            &block(header),
            &local,
        )
        .map(|(addresses, _)| addresses)
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
                "root@localhost",
                "",
                "",
                "alerts@contoso.com",
                &["root@contoso.com"],
            ),
            (
                "root",
                "",
                "[addresses]\ndefault_domain = \"ops.example\"\n",
                "alerts@contoso.com",
                &["root@ops.example"],
            ),
            (
                "root www-data",
                "",
                "[addresses]\ndefault_recipient = \"admins@contoso.com\"\n",
                "alerts@contoso.com",
                &["admins@contoso.com"],
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
                "-f root a@x.com",
                "",
                "[addresses]\nallow_from_override = true\n",
                "root@contoso.com",
                &["a@x.com"],
            ),
            (
                "-f <> a@x.com",
                "",
                "[addresses]\nallow_from_override = true\n",
                "",
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
    fn local_names_through_aliases() {
        let aliases = "root: admin@example.com, root\nwww-data: root\nbot: |/usr/bin/bot\n";
        let fallback = "[addresses]\ndefault_recipient = \"ops@contoso.com\"\n";
        // (args, header, extra config, recipients)
        let table: &[(&str, &str, &str, &[&str])] = &[
            ("root", "", "", &["admin@example.com", "root@contoso.com"]),
            (
                "www-data root@localhost",
                "",
                "",
                &["admin@example.com", "root@contoso.com"],
            ),
            (
                "root",
                "",
                fallback,
                &["admin@example.com", "ops@contoso.com"],
            ),
            ("alice", "", fallback, &["ops@contoso.com"]),
            ("alice", "", "", &["alice@contoso.com"]),
            (
                "-t",
                "To: root (Cron Daemon)\n\n",
                "",
                &["admin@example.com", "root@contoso.com"],
            ),
            ("bot a@x.com", "", "", &["a@x.com"]),
        ];
        for (args, header, extra, recipients) in table {
            let got = resolve_with(args, header, extra, Some(aliases))
                .unwrap_or_else(|e| panic!("{args}: {e}"));
            assert_eq!(got.recipients, *recipients, "{args}");
        }
        let e = resolve_with("bot", "", "", Some(aliases)).unwrap_err();
        assert_eq!(e.exit_code(), 67);
        assert!(e.message().contains("bot"), "{}", e.message());
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
        let e = requested_recipients(&Request::from_invocation(&inv), &block("")).unwrap_err();
        assert_eq!(e.exit_code(), 65);
        assert!(!e.message().contains('\n'));
        // A display name around the address hid the line break before.
        for argument in [
            "Evil\r\nBcc: x@y <a@x.com>",
            "Name\n <a@x.com>",
            "a@x.com,\rb@x.com",
            "a@x.com\0",
            "Name\x0b<a@x.com>",
            "Name\x1b[2J <a@x.com>",
        ] {
            let inv = Invocation {
                recipients: vec![argument.into()],
                ..cli::parse(["sendmail"]).unwrap()
            };
            let e = requested_recipients(&Request::from_invocation(&inv), &block("")).unwrap_err();
            assert_eq!(e.exit_code(), 65, "{argument:?}");
            assert!(e.message().contains("line break"), "{}", e.message());
        }
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
        let none = esmtp(
            &addresses,
            &delivery,
            &Capabilities::default(),
            Some(10),
            true,
        );
        assert!(none.mail_params.is_empty() && none.rcpt_params.is_empty());
        let caps = Capabilities {
            dsn: true,
            eight_bit_mime: true,
            ..Capabilities::default()
        };
        let all = esmtp(&addresses, &delivery, &caps, None, false);
        assert_eq!(all.mail_params, ["BODY=8BITMIME", "RET=HDRS", "ENVID=id-1"]);
        assert_eq!(all.rcpt_params, ["NOTIFY=SUCCESS,FAILURE"]);
        let bad = Delivery {
            notify: Some("sometimes".into()),
            envid: Some("a b".into()),
            ..delivery.clone()
        };
        let filtered = esmtp(&addresses, &bad, &caps, None, false);
        let sized = Capabilities {
            size: Some(0),
            ..caps.clone()
        };
        assert_eq!(
            esmtp(&addresses, &bad, &sized, Some(1234), false).mail_params[0],
            "SIZE=1234"
        );
        assert!(filtered.rcpt_params.is_empty());
        assert!(!filtered.mail_params.iter().any(|p| p.starts_with("ENVID")));
        // SMTPUTF8 for a UTF-8 header too, when offered.
        let utf8 = Capabilities {
            smtputf8: true,
            ..Capabilities::default()
        };
        assert!(
            esmtp(&addresses, &delivery, &utf8, None, false)
                .mail_params
                .is_empty()
        );
        assert_eq!(
            esmtp(&addresses, &delivery, &utf8, None, true).mail_params,
            ["SMTPUTF8"]
        );
        // BODY=8BITMIME whenever offered; 7BIT only when the caller says so.
        let eight = Capabilities {
            eight_bit_mime: true,
            ..Capabilities::default()
        };
        for (body, want) in [
            (None, "BODY=8BITMIME"),
            (Some("7bit"), "BODY=7BIT"),
            (Some("8BITMIME"), "BODY=8BITMIME"),
            (Some("BINARYMIME"), "BODY=8BITMIME"),
        ] {
            let delivery = Delivery {
                body: body.map(str::to_string),
                ..Delivery::default()
            };
            assert_eq!(
                esmtp(&addresses, &delivery, &eight, None, false).mail_params,
                [want]
            );
        }
    }
}
