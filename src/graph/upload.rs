//! Messages larger than one `sendMail` request, the way Graph takes them:
//! the message without its largest base64 parts as a draft
//! (`POST /users/{user}/messages`, MIME), each of those parts added to it
//! as a file attachment (`attach`: in one request under 3 MB, through an
//! upload session from 3 MB), then `POST .../send`. When a step after the
//! draft fails, the draft is deleted (best effort), so that no half-built
//! message stays in the mailbox's Drafts folder.
//!
//! The message stays in its temporary file: the draft (at most
//! `input::MAX_MIME`) is copied out of it, and each attachment is decoded
//! from it as it is sent, so memory stays bounded whatever the sizes.
//! Creating drafts needs the `Mail.ReadWrite` application permission
//! besides `Mail.Send`. What Graph rebuilds differs from the caller's
//! bytes: see docs/graph.md.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

use super::attach::{self, Sent, Way, json_field, spool_error};
use super::input::MAX_MIME;
use super::parts::{self, Part};
use super::request::{self, Payload};
use super::{Accepted, Client, Failure};
use crate::cause::Cause;
use crate::error::{Error, Kind};

/// The parts to take out of the draft and add as attachments: the
/// largest base64 leaves, until the rest fits one request.
///
/// # Errors
/// [`Kind::Data`] when no such choice makes the rest small enough.
pub fn choose(parts: &[Part], total: u64) -> Result<Vec<Part>, Error> {
    let mut candidates: Vec<&Part> = parts
        .iter()
        .filter(|p| p.base64 && p.decoded_len > 0)
        .collect();
    candidates.sort_by_key(|p| std::cmp::Reverse(p.end - p.start));
    let mut rest = total;
    let mut chosen = Vec::new();
    for part in candidates {
        if rest <= MAX_MIME as u64 {
            break;
        }
        rest -= part.end - part.start;
        chosen.push(part.clone());
    }
    if rest > MAX_MIME as u64 {
        return Err(Error::data(format!(
            "the message is {total} octets, and without its base64 attachments still {rest}: more than the {} MiB Graph takes in one request",
            MAX_MIME / (1024 * 1024)
        ))
        .with_hint("Graph can take large attachments, not a large text body: send this message with transport = \"smtp\"")
        .with_cause(Cause::GraphMessageTooLarge));
    }
    chosen.sort_by_key(|p| p.start);
    Ok(chosen)
}

/// Sends the spooled message of `len` octets.
pub fn send(client: &mut Client, agent: &ureq::Agent, mut file: File, len: u64) -> Sent<Accepted> {
    file.seek(SeekFrom::Start(0)).map_err(|e| spool_error(&e))?;
    let found = parts::scan(&mut BufReader::new(&file)).map_err(Failure::Message)?;
    let chosen = choose(&found, len).map_err(Failure::Message)?;
    let draft = skeleton(&mut file, len, &chosen).map_err(|e| spool_error(&e))?;
    let base = format!(
        "{}/v1.0/users/{}",
        client.config.graph.url,
        request::mailbox_segment(&client.config.user)
    );
    let sessions = chosen
        .iter()
        .filter(|p| attach::way(p.decoded_len) == Way::Session)
        .count();
    client.transcript.note(&format!(
        "graph: the message ({len} octets) is too large for one sendMail: a draft of {} octets, then {} attachment(s) in one request each and {sessions} through upload sessions",
        draft.len(),
        chosen.len() - sessions
    ));
    client.transcript.note(&format!(
        "graph: POST {base}/messages Authorization: Bearer <redacted> Content-Type: text/plain (the draft as MIME)"
    ));
    let created = client
        .exchange(
            agent,
            &format!("{base}/messages"),
            &|| Payload::Mime(&draft),
            201,
        )
        .map_err(needs_readwrite)?;
    let id = json_field(&created.body, "id").ok_or_else(|| {
        Failure::Message(Error::protocol(
            "Microsoft Graph created the draft but named no id",
        ))
    })?;
    let message = format!("{base}/messages/{id}");
    let sent = complete(client, agent, &mut file, &message, &chosen);
    if sent.is_err() {
        discard(client, agent, &message);
    }
    Ok(Accepted {
        request_id: sent?.request_id.unwrap_or_default(),
        size: len,
    })
}

/// The steps after the draft: its attachments, then `send`.
fn complete(
    client: &mut Client,
    agent: &ureq::Agent,
    file: &mut File,
    message: &str,
    chosen: &[Part],
) -> Sent<request::Response> {
    for part in chosen {
        attach::add(client, agent, file, message, part)?;
    }
    client.transcript.note(&format!(
        "graph: POST {message}/send Authorization: Bearer <redacted>"
    ));
    client.exchange(agent, &format!("{message}/send"), &|| Payload::Empty, 202)
}

/// Deletes the draft at `message` after a later step failed (a retry
/// makes a new one). Best effort: a failure here is transcribed and
/// logged as a warning, and the failure being reported stays the first.
fn discard(client: &mut Client, agent: &ureq::Agent, message: &str) {
    client.transcript.note(&format!(
        "graph: DELETE {message} Authorization: Bearer <redacted> (the draft of the message that did not go)"
    ));
    let why = match client.exchange(agent, message, &|| Payload::Delete, 204) {
        Ok(_) => return,
        // A 404 (classified as a mailbox not found, but the mailbox has
        // just taken the draft): the draft is gone already, e.g. sent
        // after all by a `send` whose answer was lost.
        Err(Failure::Refused(r)) if r.error.cause() == Some(Cause::GraphMailboxNotFound) => {
            client
                .transcript
                .note("graph: the draft is not there any more: nothing to delete");
            return;
        }
        Err(Failure::NoSession(e) | Failure::Message(e)) => e.message().to_string(),
        Err(Failure::Refused(r)) => r.error.message().to_string(),
    };
    let line = format!(
        "graph: the draft of a message that failed could not be deleted, and stays in the Drafts folder of {}: {why}",
        client.config.user
    );
    client.transcript.note(&line);
    client.tokens.warnings.push(line);
}

/// A 403 on the draft: most likely the missing `Mail.ReadWrite`.
fn needs_readwrite(failure: Failure) -> Failure {
    match failure {
        Failure::Refused(mut r) if r.error.cause() == Some(Cause::GraphAccessDenied) => {
            let message = format!(
                "{} (creating the draft a message over {} MiB needs)",
                r.error.message(),
                MAX_MIME / (1024 * 1024)
            );
            r.error = Error::new(Kind::NoPermission, message)
                .with_hint("messages over 3 MiB go through a draft, which needs the Microsoft Graph Mail.ReadWrite application permission (admin consent; with RBAC for Applications the role \"Application Mail.ReadWrite\" on the same scope) besides Mail.Send")
                .with_cause(Cause::GraphNoReadwrite);
            Failure::Refused(r)
        }
        other => other,
    }
}

/// The message without the `chosen` parts.
fn skeleton(file: &mut File, len: u64, chosen: &[Part]) -> std::io::Result<Vec<u8>> {
    let removed: u64 = chosen.iter().map(|p| p.end - p.start).sum();
    let mut out = Vec::with_capacity((len - removed) as usize);
    let mut at = 0u64;
    for part in chosen.iter().map(|p| (p.start, p.end)).chain([(len, len)]) {
        file.seek(SeekFrom::Start(at))?;
        (&mut *file).take(part.0 - at).read_to_end(&mut out)?;
        at = part.1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(start: u64, end: u64, base64: bool) -> Part {
        Part {
            start,
            end,
            body_start: start,
            body_end: end,
            base64,
            decoded_len: (end - start) / 2,
            name: "a".into(),
            content_type: "application/octet-stream".into(),
            inline: false,
            content_id: None,
        }
    }

    #[test]
    fn the_largest_base64_parts_go_until_the_rest_fits() {
        let m = MAX_MIME as u64;
        // A text part, an attachment of m/2 and one of m: taking the larger
        // leaves m/2 + 400, which fits.
        let parts = [
            part(100, 200, false),
            part(300, 300 + m / 2, true),
            part(300 + m / 2, 300 + m / 2 + m, true),
        ];
        let chosen = choose(&parts, 400 + m / 2 + m).unwrap();
        assert_eq!(chosen.len(), 1);
        assert_eq!(chosen[0].start, 300 + m / 2, "the larger one");
        // Both when one is not enough.
        assert_eq!(choose(&parts, 400 + 2 * m).unwrap().len(), 2);
        let total = 400 + 3 * m;
        let e = choose(&[part(0, 100, true), part(100, 2 * m, false)], total).unwrap_err();
        assert_eq!(e.exit_code(), 65);
    }
}
