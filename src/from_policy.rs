//! A From header Exchange accepts (`addresses.from_policy = "rewrite"`).
//!
//! Exchange Online refuses a message whose From names an address the
//! mailbox may not send as (`554 5.2.252 SendAsDenied`), and the mail
//! servers send is full of such Froms: `root`, `Logwatch`,
//! `mdadm monitoring <root>`, `root (Cron Daemon)`, a web shop's customer
//! address. [`rewrite`] keeps who wrote the message visible and makes the
//! address the configured `from`:
//!
//! `From: Shop <shop@example.com>` becomes
//! `From: "Shop via web1" <alerts@contoso.com>` plus
//! `Reply-To: Shop <shop@example.com>` (when the message has no Reply-To
//! and the original is a full address, so replies still reach the writer).
//! A `Sender` naming another address is removed: Exchange checks it too
//! (SendOnBehalf). Pure: fields in, fields out.

use crate::address::{self, LocalDomains};
use crate::header::Field;
use crate::message::{self, Mailbox};

/// What the rewrite needs to know.
#[derive(Clone, Copy, Debug)]
pub struct Policy<'a> {
    /// The address the mailbox sends as (`from`).
    pub from: &'a str,
    /// This machine's short host name, for "… via host".
    pub host: &'a str,
    /// Which addresses are this machine's (no Reply-To to those).
    pub local: &'a LocalDomains,
}

/// Rewrites From (and Sender, and adds Reply-To) in `fields` so that the
/// message comes from `policy.from`. A message without From is left for
/// `message::prepare` to complete; an empty From (`From: <>`) is removed so
/// that it is completed the same way.
pub fn rewrite(fields: &mut Vec<Field>, policy: &Policy) {
    fields.retain(|f| !f.is("Sender") || is_from(&message::mailboxes([f]), policy));
    let Some(position) = fields.iter().position(|f| f.is("From")) else {
        return;
    };
    let originals: Vec<Field> = fields.iter().filter(|f| f.is("From")).cloned().collect();
    let mailboxes = message::mailboxes(&originals);
    if is_from(&mailboxes, policy) {
        return;
    }
    fields.retain(|f| !f.is("From"));
    if mailboxes.is_empty() {
        return;
    }
    let shown = display_name(&mailboxes[0]);
    let name = format!("{shown} via {}", short_host(policy.host));
    let mut insert = vec![Field::new(
        "From",
        &message::format_mailbox(Some(&name), policy.from),
    )];
    let has_reply_to = fields.iter().any(|f| f.is("Reply-To"));
    let all_full = mailboxes.iter().all(|m| {
        m.address.as_deref().is_some_and(|a| {
            address::domain_of(a).is_some() && policy.local.local_name(a).is_none()
        })
    });
    if !has_reply_to && all_full {
        insert.push(reply_to(&originals, &mailboxes));
    }
    fields.splice(position..position, insert);
}

/// Whether the mailboxes are exactly the configured sender.
fn is_from(mailboxes: &[Mailbox], policy: &Policy) -> bool {
    matches!(mailboxes, [only] if only
        .address
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case(policy.from)))
}

/// The writer's name as it should appear before "via": the display name,
/// else the address as written; never a control character.
fn display_name(mailbox: &Mailbox) -> String {
    let text = mailbox
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .or(mailbox.address.as_deref())
        .unwrap_or("unknown sender");
    crate::error::one_line(text)
}

/// `Reply-To` with the original From's value, bytes as written (encoded
/// words and all), or rebuilt when there were several From fields.
fn reply_to(originals: &[Field], mailboxes: &[Mailbox]) -> Field {
    if let [single] = originals {
        let colon = single.raw.iter().position(|&b| b == b':').unwrap_or(0);
        let mut raw = b"Reply-To:".to_vec();
        raw.extend_from_slice(&single.raw[colon + 1..]);
        if !raw.ends_with(b"\n") {
            raw.push(b'\n');
        }
        return Field {
            name: "Reply-To".into(),
            raw,
        };
    }
    let list: Vec<String> = mailboxes
        .iter()
        .filter_map(|m| {
            let addr = m.address.as_deref()?;
            Some(message::format_mailbox(m.name.as_deref(), addr))
        })
        .collect();
    Field::new("Reply-To", &list.join(", "))
}

/// `web1` of `web1.contoso.com`.
fn short_host(host: &str) -> &str {
    host.split('.')
        .next()
        .filter(|h| !h.is_empty())
        .unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::{MAX_HEADER_BLOCK, read_header_block};

    fn rewritten(header: &str) -> String {
        let block = read_header_block(&mut header.as_bytes(), MAX_HEADER_BLOCK).unwrap();
        let mut fields = block.fields;
        let local = LocalDomains::new("web1.contoso.com");
        let policy = Policy {
            from: "alerts@contoso.com",
            host: "web1.contoso.com",
            local: &local,
        };
        rewrite(&mut fields, &policy);
        fields
            .iter()
            .map(|f| String::from_utf8_lossy(&f.raw).into_owned())
            .collect()
    }

    #[test]
    fn from_rewriting_table() {
        let table: &[(&str, &str)] = &[
            // Already the mailbox: untouched, whatever its display name.
            (
                "From: Alerts <ALERTS@contoso.com>\nTo: a@x.com\n",
                "From: Alerts <ALERTS@contoso.com>\nTo: a@x.com\n",
            ),
            // A full foreign address: via, and Reply-To keeps it as written.
            (
                "From: Shop <shop@example.com>\nSubject: order\n",
                "From: \"Shop via web1\" <alerts@contoso.com>\nReply-To: Shop <shop@example.com>\nSubject: order\n",
            ),
            (
                "From: shop@example.com\n",
                "From: \"shop@example.com via web1\" <alerts@contoso.com>\nReply-To: shop@example.com\n",
            ),
            (
                "From: =?UTF-8?B?SsO2cmc=?= <j@example.com>\n",
                "From: =?UTF-8?B?SsO2cmcgdmlhIHdlYjE=?= <alerts@contoso.com>\nReply-To: =?UTF-8?B?SsO2cmc=?= <j@example.com>\n",
            ),
            // An existing Reply-To wins.
            (
                "Reply-To: list@example.com\nFrom: a@example.com\n",
                "Reply-To: list@example.com\nFrom: \"a@example.com via web1\" <alerts@contoso.com>\n",
            ),
            // Bare names: via, no Reply-To (a reply could not reach them).
            (
                "From: root\n",
                "From: \"root via web1\" <alerts@contoso.com>\n",
            ),
            (
                "From: Logwatch\n",
                "From: \"Logwatch via web1\" <alerts@contoso.com>\n",
            ),
            (
                "From: mdadm monitoring <root>\n",
                "From: \"mdadm monitoring via web1\" <alerts@contoso.com>\n",
            ),
            (
                "From: root (Cron Daemon)\nTo: root\n",
                "From: \"Cron Daemon via web1\" <alerts@contoso.com>\nTo: root\n",
            ),
            (
                "From: \"(Cron Daemon)\" <root>\n",
                "From: \"(Cron Daemon) via web1\" <alerts@contoso.com>\n",
            ),
            (
                "From: root@localhost\n",
                "From: \"root@localhost via web1\" <alerts@contoso.com>\n",
            ),
            (
                "From: root@web1.contoso.com\n",
                "From: \"root@web1.contoso.com via web1\" <alerts@contoso.com>\n",
            ),
            (
                "From: Nagios Monitoring\n",
                "From: \"Nagios Monitoring via web1\" <alerts@contoso.com>\n",
            ),
            // Empty From: removed, for prepare to write a proper one.
            ("From: <>\nTo: a@x.com\n", "To: a@x.com\n"),
            ("From:\nTo: a@x.com\n", "To: a@x.com\n"),
            // No From: nothing to do here.
            ("To: a@x.com\n", "To: a@x.com\n"),
            // A foreign Sender goes; the mailbox's own stays.
            (
                "Sender: other@example.com\nFrom: alerts@contoso.com\n",
                "From: alerts@contoso.com\n",
            ),
            (
                "Sender: alerts@contoso.com\nFrom: alerts@contoso.com\n",
                "Sender: alerts@contoso.com\nFrom: alerts@contoso.com\n",
            ),
            // Folded From.
            (
                "From: \"A very long name\"\n <a@example.com>\n",
                "From: \"A very long name via web1\" <alerts@contoso.com>\nReply-To: \"A very long name\"\n <a@example.com>\n",
            ),
        ];
        for (input, want) in table {
            assert_eq!(rewritten(input), *want, "{input:?}");
        }
    }

    #[test]
    fn names_cannot_inject_header_lines() {
        let got = rewritten("From: =?UTF-8?Q?a=0D=0ABcc:_evil@x.com?= <a@example.com>\n");
        let from = got.lines().next().unwrap();
        assert!(
            from.starts_with("From: \"a Bcc: evil@x.com via web1\""),
            "{got}"
        );
        assert_eq!(got.lines().filter(|l| l.starts_with("Bcc")).count(), 0);
    }
}
