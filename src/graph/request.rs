//! The HTTPS request to Graph: ureq over the project's OpenSSL context
//! (`token::https`, `net`), so Graph gets the TLS policy SMTP and the
//! token endpoint get (TLS 1.2+, system roots plus `ca_file`, host name
//! checked). https only, no redirects, `token.proxy` if set, a limit of
//! `graph.timeout` on the whole request.

use crate::cause::Cause;
use ureq::SendBody;

use super::mime::Base64Reader;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::token::Token;

/// What came back.
#[derive(Debug)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// The `request-id` header.
    pub request_id: Option<String>,
    /// `Retry-After` in seconds (the delta form; a date counts as absent).
    pub retry_after: Option<u64>,
    /// The body, at most 64 KiB of it.
    pub body: Vec<u8>,
}

/// `{url}/v1.0/users/{user}/sendMail`, the mailbox percent-encoded where
/// a path needs it.
pub fn send_mail_url(base: &str, user: &str) -> String {
    format!("{base}/v1.0/users/{}/sendMail", mailbox_segment(user))
}

/// The mailbox as a path segment, percent-encoded where a path needs it.
pub fn mailbox_segment(user: &str) -> String {
    let mut encoded = String::with_capacity(user.len());
    for b in user.bytes() {
        if b.is_ascii_alphanumeric() || b"@.-_+~!$&'()*,;=".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    encoded
}

/// The agent for Graph requests.
///
/// # Errors
/// A bad `token.proxy` or `ca_file` (configuration).
pub fn agent(config: &Config) -> Result<ureq::Agent> {
    let proxy =
        match config.token.proxy.as_deref() {
            None => None,
            Some(url) => Some(ureq::Proxy::new(url).map_err(|_| {
                Error::config(format!("token.proxy {url} is not a valid proxy URL"))
            })?),
        };
    let agent_config = ureq::Agent::config_builder()
        .https_only(true)
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(proxy)
        .timeout_global(Some(config.graph.timeout))
        .user_agent(concat!("oauth2-sendmail/", env!("CARGO_PKG_VERSION")))
        .build();
    let tls = crate::net::tls_connector(config.ca_file.as_deref())?;
    Ok(crate::token::https::agent(agent_config, tls))
}

/// What a request carries.
pub enum Payload<'a> {
    /// MIME, sent as base64 with `Content-Type: text/plain`.
    Mime(&'a [u8]),
    /// A JSON document.
    Json(&'a str),
    /// An upload session's range: `Content-Range`, its length, and a
    /// reader that yields exactly that many octets.
    Range(String, u64, &'a mut dyn std::io::Read),
    /// Nothing (`Content-Length: 0`).
    Empty,
    /// No body, and the method is `DELETE`.
    Delete,
}

/// POSTs `mime` as base64 (`Content-Type: text/plain`) with the token.
///
/// # Errors
/// Graph unreachable, not trusted, or silent: [`transport_error`].
pub fn post_mime(agent: &ureq::Agent, url: &str, token: &Token, mime: &[u8]) -> Result<Response> {
    call(agent, url, Some(token), Payload::Mime(mime))
}

/// One request: POST (or DELETE) with a bearer token, or PUT of a range
/// without one (an upload session's URL is pre-authenticated).
///
/// # Errors
/// Graph unreachable, not trusted, or silent: [`transport_error`].
pub fn call(
    agent: &ureq::Agent,
    url: &str,
    token: Option<&Token>,
    payload: Payload,
) -> Result<Response> {
    let bearer = token.map(|t| format!("Bearer {}", t.access.expose()));
    if let Payload::Delete = payload {
        let mut builder = agent.delete(url).header("Accept", "application/json");
        if let Some(bearer) = &bearer {
            builder = builder.header("Authorization", bearer);
        }
        let response = builder.call().map_err(|e| transport_error(url, &e))?;
        return Ok(read(response));
    }
    let mut builder = match payload {
        Payload::Range(..) => agent.put(url),
        _ => agent.post(url),
    };
    if let Some(bearer) = &bearer {
        builder = builder.header("Authorization", bearer);
    }
    builder = builder.header("Accept", "application/json");
    let sent = match payload {
        Payload::Mime(mime) => {
            let mut reader = Base64Reader::new(mime);
            let length = Base64Reader::encoded_len(mime.len());
            builder
                .header("Content-Type", "text/plain")
                .header("Content-Length", &length.to_string())
                .send(SendBody::from_reader(&mut reader))
        }
        Payload::Json(text) => builder
            .header("Content-Type", "application/json")
            .send(text.as_bytes()),
        Payload::Range(range, length, reader) => builder
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", &range)
            .header("Content-Length", &length.to_string())
            .send(SendBody::from_reader(reader)),
        Payload::Empty | Payload::Delete => builder.header("Content-Length", "0").send(&[][..]),
    };
    Ok(read(sent.map_err(|e| transport_error(url, &e))?))
}

/// Status, the headers that matter and at most 64 KiB of body.
fn read(mut response: ureq::http::Response<ureq::Body>) -> Response {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                crate::error::one_line(v)
                    .chars()
                    .take(100)
                    .collect::<String>()
            })
    };
    let request_id = header("request-id");
    let retry_after = header("retry-after").and_then(|v| v.trim().parse().ok());
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_vec()
        .unwrap_or_default();
    Response {
        status,
        request_id,
        retry_after,
        body,
    }
}

/// A `HEAD` of `url` without a token, its answer ignored: it leaves a
/// connection to Graph (TCP and TLS done) in the agent's pool.
pub fn touch(agent: &ureq::Agent, url: &str) {
    if let Ok(mut response) = agent.head(url).call() {
        let _ = response.body_mut().read_to_vec();
    }
}

/// A request that got no answer, as the program's error.
pub fn transport_error(url: &str, e: &ureq::Error) -> Error {
    let host = crate::token::https::host(url);
    let (detail, untrusted) = crate::token::https::failure(e);
    if untrusted {
        return Error::protocol(format!("Microsoft Graph at {host} is not trusted: {detail}"))
            .with_hint("its certificate is not signed by a trusted CA: add the CA to the system store or name it in ca_file; no token was sent")
            .with_cause(Cause::GraphUntrusted);
    }
    if matches!(e, ureq::Error::Timeout(_)) || detail.to_ascii_lowercase().contains("timed out") {
        return Error::temporary(format!("Microsoft Graph at {host} did not answer in time: {detail}"))
            .with_hint("Graph may have accepted the message all the same, so a retry can deliver it twice; raise graph.timeout if this repeats")
            .with_cause(Cause::GraphTimeout);
    }
    Error::temporary(format!("cannot reach Microsoft Graph at {host}: {detail}"))
        .with_hint("check the network, graph.url and token.proxy; the message can be sent later")
        .with_cause(Cause::GraphUnreachable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mailbox_goes_into_the_path() {
        assert_eq!(
            send_mail_url("https://graph.microsoft.com", "alerts@contoso.com"),
            "https://graph.microsoft.com/v1.0/users/alerts@contoso.com/sendMail"
        );
        assert_eq!(
            send_mail_url("https://g", "a/b?c#d%@x"),
            "https://g/v1.0/users/a%2Fb%3Fc%23d%25@x/sendMail"
        );
    }
}
