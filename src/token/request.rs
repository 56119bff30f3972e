//! The client-credentials token request (RFC 6749 §4.4, Entra v2 endpoint).
//!
//! [`form`] builds the form fields and [`interpret`] reads the reply: both
//! pure, so every Entra answer is tested by table. [`post`] is the one
//! HTTPS call (ureq on the system's OpenSSL): no proxy unless `token.proxy`
//! names one, no redirects, https only, a timeout on the whole request.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::catalogue;
use crate::cause::Cause;
use crate::error::{Error, Kind, Result};
use crate::secret::Secret;

/// How the application proves itself.
pub enum ClientAuth {
    /// `client_secret`.
    Secret(Secret),
    /// A signed client assertion (certificate credentials); a bearer
    /// credential for its few minutes of life, so kept secret too.
    Assertion(Secret),
}

/// The form fields of the request (values are URL-encoded by the sender).
pub fn form<'a>(
    client_id: &'a str,
    scope: &'a str,
    auth: &'a ClientAuth,
) -> Vec<(&'static str, &'a str)> {
    let mut fields = vec![
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("scope", scope),
    ];
    match auth {
        ClientAuth::Secret(secret) => fields.push(("client_secret", secret.expose())),
        ClientAuth::Assertion(jwt) => {
            fields.push(("client_assertion_type", super::assertion::ASSERTION_TYPE));
            fields.push(("client_assertion", jwt.expose()));
        }
    }
    fields
}

/// A token the endpoint granted.
#[derive(Debug, PartialEq, Eq)]
pub struct Granted {
    /// The access token.
    pub access_token: Secret,
    /// Lifetime in seconds as the endpoint said.
    pub expires_in: u64,
}

/// Lifetime assumed when the reply names none (Entra always does).
const DEFAULT_LIFETIME: u64 = 3600;

/// A string member of a JSON reply.
pub(super) fn field(json: Option<&Value>, key: &str) -> Option<String> {
    json.and_then(|j| j.get(key))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// A reply's `access_token`, if it is one we can send (printable ASCII,
/// not empty).
pub(super) fn access_token(json: Option<&Value>) -> Option<String> {
    field(json, "access_token").filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
}

/// A reply's `expires_in`, a number or a string (managed identities
/// send a string).
pub(super) fn lifetime(json: Option<&Value>) -> Option<u64> {
    json.and_then(|j| j.get("expires_in")).and_then(|v| {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
    })
}

/// Reads the endpoint's reply: HTTP status and body.
///
/// # Errors
/// Entra errors become [`Kind::Config`] (wrong credentials, tenant, scope),
/// [`Kind::NoPermission`] (Conditional Access) or [`Kind::Temporary`]
/// (throttling, 5xx), with the AADSTS code, the first sentence of the
/// description, trace and correlation IDs, and the catalogue's hint.
pub fn interpret(status: u16, body: &[u8]) -> Result<Granted> {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let text = |key: &str| field(json.as_ref(), key);
    if status == 200 {
        let token = access_token(json.as_ref());
        let Some(token) = token else {
            return Err(Error::temporary(
                "the token endpoint answered 200 without a usable access_token",
            )
            .with_hint("the token endpoint did not answer like Entra ID: check token.url (and token.proxy); the message can be sent later")
            .with_cause(Cause::TokenEndpointUnexpected));
        };
        let expires_in = lifetime(json.as_ref()).unwrap_or(DEFAULT_LIFETIME);
        return Ok(Granted {
            access_token: Secret::new(token),
            expires_in,
        });
    }

    let code = json
        .as_ref()
        .and_then(|j| j.get("error_codes"))
        .and_then(Value::as_array)
        .and_then(|codes| codes.first())
        .and_then(Value::as_u64);
    let description = text("error_description").unwrap_or_default();
    let error = text("error");
    let mut message = format!("token request refused (HTTP {status}");
    if let Some(error) = &error {
        message.push_str(&format!(", {error}"));
    }
    message.push(')');
    let aadsts = code.or_else(|| aadsts_in(&description));
    let known = aadsts.and_then(catalogue::entra);
    // A known code gets its fix as the hint, so its first sentence is
    // enough; an unknown one keeps Entra's whole first line.
    let sentence = if known.is_some() {
        first_sentence(&description)
    } else {
        description.lines().next().unwrap_or("").trim().to_string()
    };
    if !sentence.is_empty() {
        message.push_str(&format!(": {sentence}"));
    }
    let ids: Vec<String> = [
        ("trace ID", "trace_id"),
        ("correlation ID", "correlation_id"),
        ("timestamp", "timestamp"),
    ]
    .iter()
    .filter_map(|(label, key)| text(key).map(|v| format!("{label} {v}")))
    .collect();
    if !ids.is_empty() {
        message.push_str(&format!(" [{}]", ids.join(", ")));
    }

    let default_kind =
        if status == 429 || status >= 500 || error.as_deref() == Some("temporarily_unavailable") {
            Kind::Temporary
        } else {
            Kind::Config
        };
    let mut err = Error::new(default_kind, message);
    if let Some(entry) = known {
        err = err
            .with_kind(entry.kind)
            .with_hint(entry.fix)
            .with_cause(entry.cause);
    } else if default_kind == Kind::Temporary {
        err = err
            .with_hint("the token endpoint is having trouble; the message can be sent later")
            .with_cause(Cause::TokenEndpointUnavailable);
    } else if json.is_none() {
        err = err.with_hint("the token endpoint did not answer like Entra ID: check token.url (and token.proxy)").with_cause(Cause::TokenEndpointUnexpected);
    } else {
        err = err
            .with_hint("Entra refused the token request for a reason oauth2-sendmail does not know: look the AADSTS code up at https://login.microsoftonline.com/error, and find the trace ID in Entra admin center > Monitoring & health > Sign-in logs > Service principal sign-ins")
            .with_cause(Cause::TokenRefused);
    }
    Err(err)
}

/// `AADSTS7000215: Invalid client secret provided. Ensure …` → the code's number.
pub fn aadsts_in(description: &str) -> Option<u64> {
    let rest = description.split("AADSTS").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The first sentence of an Entra description (they run to several, then
/// "Trace ID: …" lines): up to the first ". " or line break.
fn first_sentence(description: &str) -> String {
    let line = description.lines().next().unwrap_or("").trim();
    match line.find(". ") {
        Some(i) => line[..=i].to_string(),
        None => line.to_string(),
    }
}

/// Where the token request goes and how.
pub struct Endpoint<'a> {
    /// Token URL.
    pub url: &'a str,
    /// Extra trusted CAs.
    pub ca_file: Option<&'a Path>,
    /// Proxy URL, if any.
    pub proxy: Option<&'a str>,
    /// Limit for the whole request.
    pub timeout: Duration,
}

fn agent(endpoint: &Endpoint) -> Result<ureq::Agent> {
    let proxy =
        match endpoint.proxy {
            None => None,
            Some(url) => Some(ureq::Proxy::new(url).map_err(|_| {
                Error::config(format!("token.proxy {url} is not a valid proxy URL"))
            })?),
        };
    if let Some(proxy) = &proxy
        && !matches!(
            proxy.protocol(),
            ureq::ProxyProtocol::Http | ureq::ProxyProtocol::Https
        )
    {
        return Err(Error::config(format!(
            "token.proxy {}: only http:// and https:// (CONNECT) proxies are supported",
            endpoint.proxy.unwrap_or_default()
        )));
    }
    let config = ureq::Agent::config_builder()
        .https_only(true)
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(proxy)
        .timeout_global(Some(endpoint.timeout))
        .user_agent(concat!("oauth2-sendmail/", env!("CARGO_PKG_VERSION")))
        .build();
    let tls = crate::net::tls_connector(endpoint.ca_file)?;
    Ok(super::https::agent(config, tls))
}

/// POSTs the form and returns the HTTP status and body.
///
/// # Errors
/// Unreachable, timing out or TLS failures: [`Kind::Temporary`], or
/// [`Kind::Protocol`] when the endpoint's certificate is not trusted.
pub fn post(endpoint: &Endpoint, fields: &[(&str, &str)]) -> Result<(u16, Vec<u8>)> {
    let agent = agent(endpoint)?;
    let sent = agent
        .post(endpoint.url)
        .header("Accept", "application/json")
        .send_form(fields.iter().copied());
    answer(endpoint, sent, 64 * 1024)
}

/// GETs `endpoint.url` (JSON) the way [`post`] posts: `--check` reads the
/// tenant's OpenID configuration with it.
///
/// # Errors
/// As [`post`].
pub fn get(endpoint: &Endpoint) -> Result<(u16, Vec<u8>)> {
    let agent = agent(endpoint)?;
    let sent = agent
        .get(endpoint.url)
        .header("Accept", "application/json")
        .call();
    answer(endpoint, sent, 256 * 1024)
}

/// The status and at most `limit` bytes of body of what [`post`] or
/// [`get`] sent, or the error of a request that got no answer.
fn answer(
    endpoint: &Endpoint,
    sent: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    limit: u64,
) -> Result<(u16, Vec<u8>)> {
    let host = super::https::host(endpoint.url);
    let mut response = sent.map_err(|e| transport_error(host, &e))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| transport_error(host, &e))?;
    Ok((status, body))
}

fn transport_error(host: &str, e: &ureq::Error) -> Error {
    let (detail, untrusted) = super::https::failure(e);
    if untrusted {
        return Error::protocol(format!("the token endpoint {host} is not trusted: {detail}"))
            .with_hint("its certificate is not signed by a trusted CA: add the CA to the system store or name it in ca_file; the secret was not sent")
            .with_cause(Cause::TokenEndpointUntrusted);
    }
    let what = match e {
        ureq::Error::HostNotFound => "cannot resolve the host name".to_string(),
        ureq::Error::Timeout(_) => "timed out".to_string(),
        ureq::Error::ConnectionFailed => "connection failed".to_string(),
        _ => detail,
    };
    Error::temporary(format!("token endpoint {host} unreachable: {what}"))
        .with_hint("the message can be sent later; if this persists, check the network, DNS and token.proxy")
        .with_cause(Cause::TokenEndpointUnreachable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connect_proxies_are_accepted() {
        let endpoint = |proxy| Endpoint {
            url: "https://login.example/t/oauth2/v2.0/token",
            ca_file: None,
            proxy,
            timeout: Duration::from_secs(5),
        };
        assert!(agent(&endpoint(None)).is_ok());
        assert!(agent(&endpoint(Some("http://proxy.example:3128"))).is_ok());
        let e = agent(&endpoint(Some("socks5://proxy.example:1080"))).unwrap_err();
        assert_eq!(e.exit_code(), 78);
        assert!(
            e.message().contains("only http:// and https://"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn form_fields() {
        let auth = ClientAuth::Secret(Secret::new("a~b+c/d=e.f"));
        let f = form("cid", "https://outlook.office365.com/.default", &auth);
        assert_eq!(
            f,
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "cid"),
                ("scope", "https://outlook.office365.com/.default"),
                ("client_secret", "a~b+c/d=e.f"),
            ]
        );
        let auth = ClientAuth::Assertion(Secret::new("h.c.s"));
        let f = form("cid", "scope", &auth);
        assert_eq!(
            &f[3..],
            [
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                ),
                ("client_assertion", "h.c.s"),
            ]
        );
    }

    #[test]
    fn granted_tokens() {
        let table: &[(&str, u64)] = &[
            (
                r#"{"token_type":"Bearer","expires_in":3599,"access_token":"abc.def.ghi"}"#,
                3599,
            ),
            (
                r#"{"token_type":"Bearer","expires_in":"3599","access_token":"abc.def.ghi"}"#,
                3599,
            ),
            (r#"{"access_token":"abc.def.ghi"}"#, DEFAULT_LIFETIME),
        ];
        for (body, lifetime) in table {
            let g = interpret(200, body.as_bytes()).unwrap();
            assert_eq!(g.access_token.expose(), "abc.def.ghi");
            assert_eq!(g.expires_in, *lifetime);
        }
        for body in [
            r#"{"token_type":"Bearer"}"#,
            "not json",
            r#"{"access_token":"a b"}"#,
        ] {
            assert_eq!(
                interpret(200, body.as_bytes()).unwrap_err().exit_code(),
                75,
                "{body}"
            );
        }
    }

    fn entra_error(status: u16, error: &str, code: u64, text: &str) -> Error {
        let body = serde_json::json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: t-1\r\nCorrelation ID: c-1\r\nTimestamp: 2026-11-22 10:00:00Z"),
            "error_codes": [code],
            "timestamp": "2026-11-22 10:00:00Z",
            "trace_id": "t-1",
            "correlation_id": "c-1",
        });
        interpret(status, body.to_string().as_bytes()).unwrap_err()
    }

    #[test]
    fn entra_errors_carry_code_ids_and_fix() {
        let e = entra_error(
            401,
            "invalid_client",
            7_000_215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        );
        assert_eq!(e.exit_code(), 78);
        assert!(
            e.message()
                .contains("AADSTS7000215: Invalid client secret provided."),
            "{}",
            e.message()
        );
        assert!(
            !e.message().contains("Ensure the secret"),
            "only the first sentence: {}",
            e.message()
        );
        assert!(e.message().contains("trace ID t-1") && e.message().contains("correlation ID c-1"));
        assert!(e.hint().contains("Value"), "{}", e.hint());
        assert_eq!(e.cause(), Some(Cause::SecretInvalid));
    }

    #[test]
    fn temporary_and_unknown_answers() {
        let e = interpret(503, b"<html>busy</html>").unwrap_err();
        assert_eq!(e.exit_code(), 75);
        let e = interpret(429, br#"{"error":"temporarily_unavailable"}"#).unwrap_err();
        assert_eq!(e.exit_code(), 75);
        let e = interpret(404, b"<html>not found</html>").unwrap_err();
        assert_eq!(e.exit_code(), 78);
        assert!(e.hint().contains("token.url"));
        let e = entra_error(
            400,
            "invalid_request",
            999_999,
            "Something new. With a second sentence.",
        );
        assert_eq!(e.exit_code(), 78);
        assert!(
            e.message()
                .contains("AADSTS999999: Something new. With a second sentence."),
            "an unknown code keeps the whole first line: {}",
            e.message()
        );
        assert!(e.message().contains("trace ID t-1"));
        assert_eq!(e.cause(), Some(Cause::TokenRefused));
    }

    #[test]
    fn sentences_and_codes() {
        assert_eq!(
            first_sentence("AADSTS1: One. Two.\r\nTrace ID: x"),
            "AADSTS1: One."
        );
        assert_eq!(first_sentence("Single line"), "Single line");
        assert_eq!(aadsts_in("AADSTS700016: Application"), Some(700_016));
        assert_eq!(aadsts_in("nothing"), None);
    }
}
