//! Internationalised addresses (RFC 6531) and a server without SMTPUTF8.
//!
//! A server that offers SMTPUTF8 takes UTF-8 addresses as they are (the
//! MAIL FROM then says SMTPUTF8). One that does not must never see a raw
//! non-ASCII address: [`for_server`] turns each domain outside ASCII into
//! its A-label form and refuses an address whose local part is outside
//! ASCII, which has no ASCII form. The server's replies name the A-label
//! forms; [`Renamed::restore`] gives recipients their names back, so the
//! queue's lists of delivered and refused recipients match the message's.
//! Pure.

use std::collections::HashMap;

use crate::address;
use crate::cause::Cause;
use crate::error::Error;
use crate::smtp::capabilities::Capabilities;
use crate::smtp::session::{Envelope, RecipientReply};

/// Recipients whose address the envelope carries in another form.
#[derive(Debug, Default)]
pub struct Renamed(HashMap<String, String>);

impl Renamed {
    /// Gives each recipient in `list` the name the caller knows it by.
    pub fn restore(&self, list: &mut [RecipientReply]) {
        for r in list {
            if let Some(original) = self.0.get(&r.recipient) {
                r.recipient.clone_from(original);
            }
        }
    }
}

/// The envelope as `caps`' server can take it.
///
/// # Errors
/// A [`crate::error::Kind::Data`] error naming an address that cannot be
/// sent to a server without SMTPUTF8.
pub fn for_server(
    mut envelope: Envelope,
    caps: &Capabilities,
) -> Result<(Envelope, Renamed), Error> {
    let mut renamed = Renamed::default();
    if caps.smtputf8 {
        return Ok((envelope, renamed));
    }
    let refuse = |why: String| {
        Error::data(format!(
            "{why}; the server does not offer SMTPUTF8; nothing was sent"
        ))
        .with_hint("use an ASCII address, or a server that offers SMTPUTF8 (Exchange Online does)")
        .with_cause(Cause::Smtputf8Missing)
    };
    envelope.sender = address::ascii_form(&envelope.sender)
        .map_err(refuse)?
        .into_owned();
    for recipient in &mut envelope.recipients {
        let ascii = address::ascii_form(recipient).map_err(refuse)?.into_owned();
        if ascii != *recipient {
            renamed
                .0
                .insert(ascii.clone(), std::mem::replace(recipient, ascii));
        }
    }
    Ok((envelope, renamed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::reply;

    fn envelope(sender: &str, recipients: &[&str]) -> Envelope {
        Envelope {
            sender: sender.into(),
            recipients: recipients.iter().map(|r| r.to_string()).collect(),
            ..Envelope::default()
        }
    }

    #[test]
    fn without_smtputf8_domains_become_a_labels() {
        let e = envelope("a@bücher.example", &["b@x.com", "c@müller.example"]);
        let (got, renamed) = for_server(e.clone(), &Capabilities::default()).unwrap();
        assert_eq!(got.sender, "a@xn--bcher-kva.example");
        assert_eq!(got.recipients, ["b@x.com", "c@xn--mller-kva.example"]);
        let mut replies = vec![RecipientReply {
            recipient: "c@xn--mller-kva.example".into(),
            reply: reply(250, "ok"),
        }];
        renamed.restore(&mut replies);
        assert_eq!(replies[0].recipient, "c@müller.example");
        // With SMTPUTF8 nothing changes.
        let utf8 = Capabilities {
            smtputf8: true,
            ..Capabilities::default()
        };
        assert_eq!(for_server(e.clone(), &utf8).unwrap().0, e);
    }

    #[test]
    fn a_local_part_outside_ascii_is_refused_without_smtputf8() {
        for e in [
            envelope("jörg@example.com", &["b@x.com"]),
            envelope("a@x.com", &["b@x.com", "пользователь@example.com"]),
        ] {
            let err = for_server(e, &Capabilities::default()).unwrap_err();
            assert_eq!(err.exit_code(), 65);
            assert!(err.message().contains("SMTPUTF8"), "{}", err.message());
        }
    }
}
