//! One part taken out of a large message, added to its draft the way
//! Graph takes an attachment of its size (docs/protocol-notes.md): under
//! [`SESSION_MIN`] octets in one `POST .../attachments` carrying a
//! fileAttachment with the bytes in `contentBytes`; from [`SESSION_MIN`]
//! through an upload session (`createUploadSession`, then `PUT`s of
//! sequential byte ranges of at most [`CHUNK`] octets to the
//! pre-authenticated `uploadUrl`, no token). Graph refuses an upload
//! session for an attachment under 3 MB.
//!
//! Either way the bytes are decoded from the spooled message as they go
//! (`decode::Base64Decoder`): an upload session's never held, a posted
//! one's held once, under 3 MB decoded and 4 MB as JSON.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

use base64::Engine as _;
use serde_json::{Value, json};

use super::decode::Base64Decoder;
use super::parts::Part;
use super::request::{self, Payload};
use super::{Client, Failure};
use crate::error::{Error, Kind};

/// The smallest attachment that goes through an upload session. Graph
/// documents one POST for "under 3 MB" and upload sessions for "3 MB to
/// 150 MB"; read as 3,000,000 octets, a posted attachment's base64
/// (under 4,000,000 octets, with its name and type in the JSON) fits
/// Graph's 4 MB request limit, and an uploaded one is above the smallest
/// upload session Graph has been seen to take (2 MiB,
/// docs/protocol-notes.md) whichever way "3 MB" is meant.
pub const SESSION_MIN: u64 = 3_000_000;

/// Octets of an attachment per `PUT` (Outlook takes up to 4 MB a range;
/// streamed, so the size costs no memory).
pub const CHUNK: usize = 3 * 1024 * 1024;

/// A step's result.
pub type Sent<T> = std::result::Result<T, Failure>;

/// How an attachment is added to a draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// `POST .../attachments` with `contentBytes`.
    Post,
    /// `createUploadSession` and `PUT`s.
    Session,
}

/// The way for an attachment of `decoded_len` octets.
pub fn way(decoded_len: u64) -> Way {
    if decoded_len < SESSION_MIN {
        Way::Post
    } else {
        Way::Session
    }
}

/// Reading the spooled message failed.
pub fn spool_error(e: &std::io::Error) -> Failure {
    Failure::Message(Error::new(
        Kind::Input,
        format!(
            "reading the spooled message failed: {}",
            crate::error::io_reason(e)
        ),
    ))
}

/// A string field of a JSON answer.
pub fn json_field(body: &[u8], key: &str) -> Option<String> {
    let json: Value = serde_json::from_slice(body).ok()?;
    json.get(key)?.as_str().map(str::to_string)
}

fn not_base64(part: &Part, e: &base64::DecodeSliceError) -> Failure {
    Failure::Message(Error::data(format!(
        "the attachment {} is not valid base64 ({e}); nothing was sent",
        part.name
    )))
}

fn wrong_length(part: &Part, got: u64) -> Failure {
    Failure::Message(Error::data(format!(
        "the attachment {} decoded to {got} octets, not the {} its base64 promised; nothing was sent",
        part.name, part.decoded_len
    )))
}

/// Adds `part` of the spooled message `file` to the draft at `message`
/// (its URL), the way its size takes.
pub fn add(
    client: &mut Client,
    agent: &ureq::Agent,
    file: &mut File,
    message: &str,
    part: &Part,
) -> Sent<()> {
    file.seek(SeekFrom::Start(part.body_start))
        .map_err(|e| spool_error(&e))?;
    let text = BufReader::new((&mut *file).take(part.body_end - part.body_start));
    let decoder = Base64Decoder::new(text);
    match way(part.decoded_len) {
        Way::Post => post(client, agent, decoder, message, part),
        Way::Session => session(client, agent, decoder, message, part),
    }
}

/// The fileAttachment of `part` with `bytes` as its content, as JSON.
fn file_attachment(part: &Part, bytes: &[u8]) -> String {
    let mut item = json!({
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": part.name,
        "contentType": part.content_type,
        "isInline": part.inline,
    });
    if let Some(id) = &part.content_id {
        item["contentId"] = json!(id);
    }
    // The base64 written straight into the body: it needs no JSON
    // escaping, and is the one large piece.
    let rest = item.to_string();
    let mut body = String::with_capacity(rest.len() + bytes.len().div_ceil(3) * 4 + 20);
    body.push_str("{\"contentBytes\":\"");
    base64::engine::general_purpose::STANDARD.encode_string(bytes, &mut body);
    body.push_str("\",");
    body.push_str(&rest[1..]);
    body
}

/// An attachment under [`SESSION_MIN`]: one `POST .../attachments`.
fn post<R: std::io::BufRead>(
    client: &mut Client,
    agent: &ureq::Agent,
    mut decoder: Base64Decoder<R>,
    message: &str,
    part: &Part,
) -> Sent<()> {
    // decoded_len is under SESSION_MIN here, so the capacity is bounded.
    let mut bytes = Vec::with_capacity(part.decoded_len as usize);
    let read = decoder.read_to_end(&mut bytes);
    if let Some(e) = decoder.failure.take() {
        return Err(not_base64(part, &e));
    }
    read.map_err(|e| spool_error(&e))?;
    if bytes.len() as u64 != part.decoded_len {
        return Err(wrong_length(part, bytes.len() as u64));
    }
    let body = file_attachment(part, &bytes);
    drop(bytes);
    let url = format!("{message}/attachments");
    client.transcript.note(&format!(
        "graph: POST {url} Authorization: Bearer <redacted> ({}, {} octets as contentBytes, under {SESSION_MIN}: no upload session)",
        part.name, part.decoded_len
    ));
    client.exchange(agent, &url, &|| Payload::Json(&body), 201)?;
    Ok(())
}

/// An attachment from [`SESSION_MIN`]: its upload session, then its bytes
/// range by range.
fn session<R: std::io::BufRead>(
    client: &mut Client,
    agent: &ureq::Agent,
    mut decoder: Base64Decoder<R>,
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
    let session = client.exchange(agent, &url, &|| Payload::Json(&body), 201)?;
    let upload_url = json_field(&session.body, "uploadUrl")
        .filter(|u| u.starts_with("https://"))
        .ok_or_else(|| {
            Failure::Message(Error::protocol(
                "Microsoft Graph opened an upload session without an https uploadUrl",
            ))
        })?;
    let mut sent = 0u64;
    while sent < part.decoded_len {
        let length = (CHUNK as u64).min(part.decoded_len - sent);
        let result = put(client, agent, &upload_url, part, sent, length, &mut decoder);
        if let Some(e) = decoder.failure.take() {
            return Err(not_base64(part, &e));
        }
        result?;
        sent += length;
    }
    let mut more = [0u8; 1];
    if decoder.read(&mut more).unwrap_or(0) > 0 {
        sent += 1;
    }
    if sent != part.decoded_len {
        return Err(wrong_length(part, sent));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_3_mb_is_posted_and_from_3_mb_uploaded() {
        let table = [
            (1, Way::Post),
            (2 * 1024 * 1024, Way::Post),
            (SESSION_MIN - 1, Way::Post),
            (SESSION_MIN, Way::Session),
            (3 * 1024 * 1024, Way::Session),
            (150_000_000, Way::Session),
        ];
        for (len, want) in table {
            assert_eq!(way(len), want, "{len}");
        }
    }

    #[test]
    fn the_largest_posted_attachment_fits_one_request() {
        let part = Part {
            start: 0,
            end: 0,
            body_start: 0,
            body_end: 0,
            base64: true,
            decoded_len: SESSION_MIN - 1,
            name: "n".repeat(255),
            content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                .into(),
            inline: true,
            content_id: Some("c".repeat(255)),
        };
        let bytes: Vec<u8> = (0..SESSION_MIN - 1).map(|i| (i * 7 % 251) as u8).collect();
        let body = file_attachment(&part, &bytes);
        // The 4 MiB the input's MAX_MIME is chosen for (input.rs).
        assert!(body.len() <= 4 * 1024 * 1024, "{}", body.len());
        let json: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["@odata.type"], "#microsoft.graph.fileAttachment");
        assert_eq!(json["name"], part.name.as_str());
        assert_eq!(json["isInline"], true);
        assert_eq!(json["contentId"], part.content_id.as_deref().unwrap());
        let content = base64::engine::general_purpose::STANDARD
            .decode(json["contentBytes"].as_str().unwrap())
            .unwrap();
        assert!(content == bytes);
    }
}
