//! Messages larger than one `sendMail` request, the way Graph takes them:
//! the message without its largest base64 parts as a draft
//! (`POST /users/{user}/messages`, MIME), each of those parts as a file
//! attachment through an upload session (`createUploadSession`, then
//! `PUT`s of sequential byte ranges of at most [`CHUNK`] octets to the
//! pre-authenticated `uploadUrl`, no token), then `POST .../send`.
//!
//! The message stays in its temporary file: the draft (at most
//! `input::MAX_MIME`) is copied out of it, and each attachment is decoded
//! from it as each range streams out (`Base64Decoder`), so memory stays
//! flat whatever the sizes. Creating drafts
//! needs the `Mail.ReadWrite` application permission besides `Mail.Send`.
//! What Graph rebuilds differs from the caller's bytes: see docs/graph.md.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};

use base64::Engine as _;
use serde_json::{Value, json};

use super::input::MAX_MIME;
use super::parts::{self, Part};
use super::request::{self, Payload};
use super::{Accepted, Client, Failure};
use crate::cause::Cause;
use crate::error::{Error, Kind};

/// Octets of an attachment per `PUT` (Outlook takes up to 4 MB a range;
/// streamed, so the size costs no memory).
pub const CHUNK: usize = 3 * 1024 * 1024;

type Sent<T> = std::result::Result<T, Failure>;

fn spool_error(e: &std::io::Error) -> Failure {
    Failure::Message(Error::new(
        Kind::Input,
        format!(
            "reading the spooled message failed: {}",
            crate::error::io_reason(e)
        ),
    ))
}

/// The parts to upload: the largest base64 leaves, until the rest fits
/// one request.
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
    client.transcript.note(&format!(
        "graph: the message ({len} octets) is too large for one sendMail: a draft of {} octets, then {} attachment(s) through upload sessions",
        draft.len(),
        chosen.len()
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
    for part in &chosen {
        upload(client, agent, &mut file, &message, part)?;
    }
    client.transcript.note(&format!(
        "graph: POST {message}/send Authorization: Bearer <redacted>"
    ));
    let sent = client.exchange(agent, &format!("{message}/send"), &|| Payload::Empty, 202)?;
    Ok(Accepted {
        request_id: sent.request_id.unwrap_or_default(),
        size: len,
    })
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

fn json_field(body: &[u8], key: &str) -> Option<String> {
    let json: Value = serde_json::from_slice(body).ok()?;
    json.get(key)?.as_str().map(str::to_string)
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

/// One attachment: its upload session, then its bytes range by range.
fn upload(
    client: &mut Client,
    agent: &ureq::Agent,
    file: &mut File,
    message: &str,
    part: &Part,
) -> Sent<()> {
    let mut item = json!({
        "attachmentType": "file",
        "name": part.name,
        "size": part.decoded_len,
        "contentType": part.content_type,
        "isInline": part.inline,
    });
    if let Some(id) = &part.content_id {
        item["contentId"] = json!(id);
    }
    let body = json!({ "AttachmentItem": item }).to_string();
    let url = format!("{message}/attachments/createUploadSession");
    client.transcript.note(&format!(
        "graph: POST {url} Authorization: Bearer <redacted> ({}, {} octets)",
        part.name, part.decoded_len
    ));
    let session = client.exchange(agent, &url, &|| Payload::Json(body.clone()), 201)?;
    let upload_url = json_field(&session.body, "uploadUrl")
        .filter(|u| u.starts_with("https://"))
        .ok_or_else(|| {
            Failure::Message(Error::protocol(
                "Microsoft Graph opened an upload session without an https uploadUrl",
            ))
        })?;
    file.seek(SeekFrom::Start(part.body_start))
        .map_err(|e| spool_error(&e))?;
    let body = BufReader::new((&mut *file).take(part.body_end - part.body_start));
    let mut decoder = Base64Decoder::new(body);
    let mut sent = 0u64;
    while sent < part.decoded_len {
        let length = (CHUNK as u64).min(part.decoded_len - sent);
        let result = put(client, agent, &upload_url, part, sent, length, &mut decoder);
        if let Some(e) = decoder.failure.take() {
            return Err(Failure::Message(Error::data(format!(
                "the attachment {} is not valid base64 ({e}); nothing was sent",
                part.name
            ))));
        }
        result?;
        sent += length;
    }
    let mut more = [0u8; 1];
    if decoder.read(&mut more).unwrap_or(0) > 0 {
        sent += 1;
    }
    if sent != part.decoded_len {
        return Err(Failure::Message(Error::data(format!(
            "the attachment {} decoded to {sent} octets, not the {} its base64 promised; nothing was sent",
            part.name, part.decoded_len
        ))));
    }
    Ok(())
}

/// One range of an attachment, streamed from `decoder`, without the token
/// (the URL carries its own).
fn put(
    client: &mut Client,
    agent: &ureq::Agent,
    url: &str,
    part: &Part,
    from: u64,
    length: u64,
    decoder: &mut dyn Read,
) -> Sent<()> {
    let range = format!("bytes {from}-{}/{}", from + length - 1, part.decoded_len);
    let mut limited = decoder.take(length);
    let answer = request::call(
        agent,
        url,
        None,
        Payload::Range(range.clone(), length, &mut limited),
    )
    .map_err(Failure::NoSession)?;
    client.transcript.note(&format!(
        "graph: PUT <uploadUrl> Content-Range: {range} -> HTTP {}",
        answer.status
    ));
    if matches!(answer.status, 200 | 201) {
        return Ok(());
    }
    Err(Failure::Refused(super::errors::interpret(
        &super::errors::Answer {
            status: answer.status,
            request_id: answer.request_id.as_deref(),
            retry_after: answer.retry_after,
            body: &answer.body,
        },
    )))
}

/// The bytes of a base64 body, decoded as they are read: a line at a
/// time, so neither the text nor a whole range is ever held. A decoding
/// error ends the stream and is kept in `failure`.
pub struct Base64Decoder<R> {
    input: R,
    line: Vec<u8>,
    carry: Vec<u8>,
    out: Vec<u8>,
    at: usize,
    done: bool,
    /// Why decoding stopped early, if it did.
    pub failure: Option<base64::DecodeSliceError>,
}

impl<R: BufRead> Base64Decoder<R> {
    /// A decoder of the base64 text `input`.
    pub fn new(input: R) -> Self {
        Base64Decoder {
            input,
            line: Vec::with_capacity(256),
            carry: Vec::with_capacity(512),
            out: Vec::with_capacity(16 * 1024),
            at: 0,
            done: false,
            failure: None,
        }
    }

    /// Decodes more input into `out`; false at the end.
    fn fill(&mut self) -> std::io::Result<bool> {
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        self.out.clear();
        self.at = 0;
        while self.out.len() < 8 * 1024 && !self.done {
            self.line.clear();
            let n = self.input.read_until(b'\n', &mut self.line)?;
            self.done = n == 0;
            self.carry
                .extend(self.line.iter().filter(|b| !b.is_ascii_whitespace()));
            let whole = if self.done {
                self.carry.len()
            } else {
                self.carry.len() / 4 * 4
            };
            if whole == 0 {
                continue;
            }
            let at = self.out.len();
            self.out.resize(at + whole / 4 * 3 + 3, 0);
            match engine.decode_slice(&self.carry[..whole], &mut self.out[at..]) {
                Ok(got) => self.out.truncate(at + got),
                Err(e) => {
                    self.failure = Some(e);
                    self.done = true;
                    self.out.truncate(at);
                    return Err(std::io::Error::other("the attachment is not valid base64"));
                }
            }
            self.carry.drain(..whole);
        }
        Ok(!self.out.is_empty())
    }
}

impl<R: BufRead> Read for Base64Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.out.len() && !self.fill()? {
            return Ok(0);
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
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
    fn base64_decodes_line_by_line_across_reads() {
        use base64::Engine as _;
        let data: Vec<u8> = (0..100_003u32).map(|i| (i * 31 % 251) as u8).collect();
        let text = base64::engine::general_purpose::STANDARD.encode(&data);
        let mut wrapped = String::new();
        for line in text.as_bytes().chunks(76) {
            wrapped.push_str(std::str::from_utf8(line).unwrap());
            wrapped.push_str("\r\n");
        }
        let mut decoder = Base64Decoder::new(wrapped.as_bytes());
        let mut got = Vec::new();
        let mut first = vec![0u8; 1000];
        (&mut decoder).take(1000).read_exact(&mut first).unwrap();
        got.extend_from_slice(&first);
        decoder.read_to_end(&mut got).unwrap();
        assert!(got == data);
        let mut bad = Base64Decoder::new(&b"AAAA\r\n!!!!\r\n"[..]);
        assert!(bad.read_to_end(&mut Vec::new()).is_err());
        assert!(bad.failure.is_some());
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
