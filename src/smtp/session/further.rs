//! Recipients a server refused for their number (452, "too many
//! recipients"): RFC 5321 §4.5.3.1.10 has the client send the message to
//! them in a further transaction at once. The first transaction keeps a
//! copy of the message as it streams ([`Recording`], only when such a
//! refusal came), and each further transaction sends that copy to the
//! recipients still waiting, as long as the server takes at least one more.

use std::io::{self, Read, Write};

use super::{Envelope, Failure, Patience, RecipientReply, Session};
use crate::smtp::capabilities::Capabilities;

/// Whether a recipient was refused for the number of recipients.
pub fn too_many(r: &RecipientReply) -> bool {
    r.reply.code == 452 || r.reply.enhanced_code() == Some("4.5.3")
}

/// A reader that keeps a copy of what it reads.
pub struct Recording<'a> {
    inner: &'a mut dyn Read,
    copy: &'a mut Vec<u8>,
}

impl<'a> Recording<'a> {
    /// Copies what `inner` yields into `copy`.
    pub fn new(inner: &'a mut dyn Read, copy: &'a mut Vec<u8>) -> Self {
        Recording { inner, copy }
    }
}

impl Read for Recording<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl<S: Read + Write + Patience> Session<S> {
    /// Sends `message` (the body; `header` before it) to the recipients in
    /// `refused` that were refused for their number, in as many further
    /// transactions as the server needs, moving each one it takes to
    /// `accepted`. A failure leaves the rest in `refused`: the first
    /// transaction stands.
    pub(super) fn further_transactions(
        &mut self,
        caps: &Capabilities,
        envelope: &Envelope,
        header: &[u8],
        message: &[u8],
        accepted: &mut Vec<RecipientReply>,
        refused: &mut Vec<RecipientReply>,
    ) {
        loop {
            let (waiting, others): (Vec<_>, Vec<_>) =
                std::mem::take(refused).into_iter().partition(too_many);
            *refused = others;
            if waiting.is_empty() {
                return;
            }
            self.transcript.note(&format!(
                "{} recipient(s) refused for their number: a further transaction",
                waiting.len()
            ));
            let further = Envelope {
                recipients: waiting.iter().map(|r| r.recipient.clone()).collect(),
                ..envelope.clone()
            };
            let (taken, still) = match self.envelope(caps, &further) {
                Ok(split) => split,
                Err(e) => {
                    // None taken (all refused again, or the session broke):
                    // each keeps its newest refusal, and the loop ends.
                    match e.failure {
                        Failure::NoRecipients(list) => refused.extend(list),
                        _ => refused.extend(waiting),
                    }
                    return;
                }
            };
            // Each round that goes on has delivered to at least one more.
            match self.data(caps, header, &mut &message[..]) {
                Ok(_) => {
                    accepted.extend(taken);
                    refused.extend(still);
                }
                Err(e) => {
                    let reply = match e.failure {
                        Failure::Reply(reply) => reply,
                        _ => waiting[0].reply.clone(),
                    };
                    refused.extend(taken.into_iter().map(|r| RecipientReply {
                        recipient: r.recipient,
                        reply: reply.clone(),
                    }));
                    refused.extend(still);
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::smtp::session::scripted::{caps, envelope, session, written};

    #[test]
    fn recipients_refused_for_their_number_get_a_further_transaction() {
        // Two recipients a transaction: five make three transactions.
        let round = |n: usize| {
            let mut r = "250 ok\r\n".to_string();
            for i in 0..n {
                r.push_str(if i < 2 {
                    "250 ok\r\n"
                } else {
                    "452 4.5.3 Too many recipients\r\n"
                });
            }
            r + "354 go\r\n250 2.0.0 queued\r\n"
        };
        let replies = round(5) + &round(3) + &round(1);
        let mut s = session(&replies);
        let all = ["a@x.com", "b@x.com", "c@x.com", "d@x.com", "e@x.com"];
        let receipt = s
            .send_mail(
                &caps(true),
                &envelope(&all),
                b"Subject: s\r\n\r\n",
                &mut &b"body\n"[..],
            )
            .unwrap();
        let mut got: Vec<&str> = receipt
            .accepted
            .iter()
            .map(|r| r.recipient.as_str())
            .collect();
        got.sort_unstable();
        assert_eq!(got, all);
        assert!(receipt.refused.is_empty());
        let w = written(s);
        assert_eq!(w.matches("MAIL FROM").count(), 3, "{w}");
        assert_eq!(w.matches("body\r\n").count(), 3, "{w}");
    }

    #[test]
    fn no_progress_ends_the_rounds() {
        // The further transaction takes nobody: the 452s stay refused.
        let replies = "250 ok\r\n250 ok\r\n452 4.5.3 Too many\r\n354 go\r\n250 ok\r\n\
                       250 ok\r\n452 4.5.3 Too many\r\n554 no valid recipients\r\n";
        let mut s = session(replies);
        let receipt = s
            .send_mail(
                &caps(true),
                &envelope(&["a@x.com", "b@x.com"]),
                b"",
                &mut &b"x"[..],
            )
            .unwrap();
        assert_eq!(receipt.accepted.len(), 1);
        assert_eq!(receipt.refused.len(), 1);
        assert_eq!(receipt.refused[0].reply.code, 452);
    }
}
