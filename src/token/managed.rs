//! Managed identities: the token comes from Azure, not from a secret.
//!
//! `managed_identity = "azure"` asks the instance metadata service
//! (`[token] imds_url`): `GET ...?api-version=2018-02-01&resource=R` with
//! `Metadata: true`, and `client_id=` for a user-assigned identity.
//! `managed_identity = "arc"` asks the Azure Arc agent (`[token] arc_url`,
//! api-version 2020-06-01): it answers 401 with `WWW-Authenticate: Basic
//! realm=<key file>`, and the second request carries that file's contents
//! as `Authorization: Basic`. The file is readable only by root and the
//! `himds` group (docs/protocol-notes.md, "Credentials without a secret").
//!
//! The agent's challenge names a file to read and send back, so the path
//! is trusted only inside `[token] arc_key_dir`, with the `.key` suffix and
//! at most 4 KiB, as Azure's own client libraries check: anything that can
//! answer on the agent's port must not make us send it another file.
//! Both endpoints are plain HTTP on a local address (checked when the
//! configuration is read) and never go through a proxy.
//!
//! [`query`], [`interpret`] and [`challenge_key`] are pure; [`fetch`] does
//! the requests.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::request::{Granted, access_token, field, lifetime};
use crate::cause::Cause;
use crate::config::ManagedIdentity;
use crate::error::{Error, Result, io_reason};
use crate::secret::Secret;

/// The largest key file the Arc agent writes (Azure's libraries refuse more).
const MAX_KEY_FILE: u64 = 4096;

/// One managed-identity token request.
pub struct Request<'a> {
    /// Azure VM or Arc server.
    pub kind: ManagedIdentity,
    /// `imds_url` or `arc_url`.
    pub url: &'a str,
    /// The resource (the scope without `/.default`).
    pub resource: &'a str,
    /// A user-assigned identity's client ID.
    pub client_id: Option<&'a str>,
    /// Where Arc key files may be.
    pub key_dir: &'a Path,
    /// Limit for each request.
    pub timeout: Duration,
}

/// The query parameters of the request.
pub fn query<'a>(r: &Request<'a>) -> Vec<(&'static str, &'a str)> {
    let version = match r.kind {
        ManagedIdentity::Azure => "2018-02-01",
        ManagedIdentity::Arc => "2020-06-01",
    };
    let mut q = vec![("api-version", version), ("resource", r.resource)];
    if let Some(id) = r.client_id {
        q.push(("client_id", id));
    }
    q
}

/// The resource a `/.default` scope names.
pub fn resource(scope: &str) -> &str {
    scope.strip_suffix("/.default").unwrap_or(scope)
}

/// Who answers, for messages.
fn who(kind: ManagedIdentity) -> &'static str {
    match kind {
        ManagedIdentity::Azure => "the instance metadata service",
        ManagedIdentity::Arc => "the Azure Arc agent",
    }
}

/// Reads a managed-identity token reply (`expires_in` may be a string).
///
/// # Errors
/// `Kind::Config` for refusals (no identity, unknown resource),
/// `Kind::Temporary` for 429, 5xx and unusable answers.
pub fn interpret(kind: ManagedIdentity, status: u16, body: &[u8]) -> Result<Granted> {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let text = |key: &str| field(json.as_ref(), key);
    if status == 200 {
        let token = access_token(json.as_ref());
        let expires_in = lifetime(json.as_ref());
        return match (token, expires_in) {
            (Some(token), Some(expires_in)) => Ok(Granted {
                access_token: Secret::new(token),
                expires_in,
            }),
            _ => Err(Error::temporary(format!(
                "{} answered 200 without a usable access_token and expires_in",
                who(kind)
            ))
            .with_hint("check token.imds_url / token.arc_url; the message can be sent later")
            .with_cause(Cause::ManagedIdentityUnexpected)),
        };
    }
    let error = text("error").unwrap_or_default();
    let description = text("error_description").unwrap_or_default();
    let first_line = description.lines().next().unwrap_or("").trim();
    let mut message = format!("{} refused the token request (HTTP {status}", who(kind));
    if !error.is_empty() {
        message.push_str(&format!(", {error}"));
    }
    message.push(')');
    if !first_line.is_empty() {
        message.push_str(&format!(": {first_line}"));
    }
    if status == 429 || status >= 500 {
        return Err(Error::temporary(message)
            .with_hint("the endpoint is busy or starting; the message can be sent later")
            .with_cause(Cause::ManagedIdentityUnavailable));
    }
    let lower = description.to_ascii_lowercase();
    let (hint, cause) = if lower.contains("identity not found") || status == 404 {
        (
            match kind {
                ManagedIdentity::Azure => {
                    "this VM has no such managed identity: enable the system-assigned identity (Azure portal > the VM > Identity), or attach the user-assigned one and set client_id to its Client ID"
                }
                ManagedIdentity::Arc => {
                    "this server's Arc agent has no identity: connect it with azcmagent connect; Arc servers have only the system-assigned identity"
                }
            },
            Cause::ManagedIdentityMissing,
        )
    } else if error == "invalid_resource" || lower.contains("aadsts500011") {
        (
            "the scope names a resource this cloud does not know: check token.scope and cloud",
            Cause::ManagedIdentityResource,
        )
    } else {
        (
            "check token.imds_url / token.arc_url and the identity's set-up (see sendmail.conf(5), managed_identity)",
            Cause::ManagedIdentityRefused,
        )
    };
    Err(Error::config(message).with_hint(hint).with_cause(cause))
}

/// The key file an Arc challenge names, if it is one we may read.
///
/// # Errors
/// `Kind::Protocol` when the challenge names no file, or one outside
/// `key_dir` or without the `.key` suffix.
pub fn challenge_key(www_authenticate: Option<&str>, key_dir: &Path) -> Result<PathBuf> {
    let refuse = |why: &str| {
        Error::protocol(format!("the Azure Arc agent's challenge {why}"))
            .with_hint("token.arc_url must be the Arc agent's own endpoint (himds); token.arc_key_dir must be where it writes its key files")
            .with_cause(Cause::ArcChallengeInvalid)
    };
    let header = www_authenticate.ok_or_else(|| refuse("has no WWW-Authenticate header"))?;
    let realm = header
        .trim()
        .strip_prefix("Basic realm=")
        .or_else(|| header.trim().strip_prefix("basic realm="))
        .map(|r| r.trim().trim_matches('"'))
        .filter(|r| !r.is_empty())
        .ok_or_else(|| refuse("is not \"Basic realm=<key file>\""))?;
    let path = PathBuf::from(realm);
    let inside = path.parent() == Some(key_dir)
        && path.extension().and_then(|e| e.to_str()) == Some("key")
        && path.components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::RootDir
            )
        });
    if !path.is_absolute() || !inside {
        return Err(refuse(&format!(
            "names {} , which is not a .key file in {}",
            path.display(),
            key_dir.display()
        )));
    }
    Ok(path)
}

/// Reads the Arc key file (root or the himds group only).
fn read_key(path: &Path) -> Result<Secret> {
    let unreadable = |reason: String| {
        Error::config(format!(
            "cannot read the Azure Arc key file {}: {reason}",
            path.display()
        ))
        .with_hint("only root and the himds group may read it: set credential_access = \"service\" so that only the queue service reads it, and give the service's user (oauth2-sendmail in the packages) the himds group: usermod -a -G himds oauth2-sendmail")
        .with_cause(Cause::ArcKeyUnreadable)
    };
    let meta = std::fs::metadata(path).map_err(|e| unreadable(io_reason(&e)))?;
    if !meta.is_file() || meta.len() > MAX_KEY_FILE {
        return Err(unreadable(format!(
            "not a regular file of at most {MAX_KEY_FILE} bytes"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| unreadable(io_reason(&e)))?;
    Ok(Secret::new(text.trim()))
}

/// Asks the endpoint for a token.
///
/// # Errors
/// Unreachable endpoints are `Kind::Temporary`; see [`interpret`] and
/// [`challenge_key`].
pub fn fetch(r: &Request) -> Result<Granted> {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .https_only(false)
        .max_redirects(0)
        .proxy(None)
        .timeout_global(Some(r.timeout))
        .user_agent(concat!("oauth2-sendmail/", env!("CARGO_PKG_VERSION")))
        .build();
    let agent: ureq::Agent = config.into();
    let send = |authorization: Option<&Secret>| -> Result<(u16, Option<String>, Vec<u8>)> {
        let mut request = agent.get(r.url).header("Metadata", "true");
        for (k, v) in query(r) {
            request = request.query(k, v);
        }
        if let Some(key) = authorization {
            request = request.header("Authorization", format!("Basic {}", key.expose()));
        }
        let mut response = request.call().map_err(|e| unreachable(r, &e))?;
        let challenge = response
            .headers()
            .get("WWW-Authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_vec()
            .map_err(|e| unreachable(r, &e))?;
        Ok((response.status().as_u16(), challenge, body))
    };
    let (mut status, challenge, mut body) = send(None)?;
    if r.kind == ManagedIdentity::Arc && status == 401 {
        let key = read_key(&challenge_key(challenge.as_deref(), r.key_dir)?)?;
        (status, _, body) = send(Some(&key))?;
    }
    interpret(r.kind, status, &body)
}

fn unreachable(r: &Request, e: &ureq::Error) -> Error {
    let hint = match r.kind {
        ManagedIdentity::Azure => {
            "is this an Azure VM (or scale set, App Service) with a managed identity? The instance metadata service answers only there; the message can be sent later"
        }
        ManagedIdentity::Arc => {
            "is the Azure Arc agent (himds) running? systemctl status himds; the message can be sent later"
        }
    };
    Error::temporary(format!("{} at {} unreachable: {e}", who(r.kind), r.url))
        .with_hint(hint)
        .with_cause(Cause::ManagedIdentityUnreachable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        let mut r = Request {
            kind: ManagedIdentity::Azure,
            url: "http://127.0.0.1:1/x",
            resource: resource("https://outlook.office365.com/.default"),
            client_id: None,
            key_dir: Path::new("/k"),
            timeout: Duration::from_secs(1),
        };
        assert_eq!(
            query(&r),
            [
                ("api-version", "2018-02-01"),
                ("resource", "https://outlook.office365.com")
            ]
        );
        r.client_id = Some("cid");
        r.kind = ManagedIdentity::Arc;
        assert_eq!(query(&r)[0], ("api-version", "2020-06-01"));
        assert_eq!(query(&r)[2], ("client_id", "cid"));
    }

    #[test]
    fn replies_by_table() {
        let az = ManagedIdentity::Azure;
        let g = interpret(
            az,
            200,
            br#"{"access_token":"a.b.c","expires_in":"86399","expires_on":"1","resource":"r","token_type":"Bearer"}"#,
        )
        .unwrap();
        assert_eq!((g.access_token.expose(), g.expires_in), ("a.b.c", 86399));
        let table: &[(u16, &str, i32, &str)] = &[
            (
                200,
                r#"{"access_token":"a.b.c"}"#,
                75,
                "managed-identity-unexpected",
            ),
            (200, "not json", 75, "managed-identity-unexpected"),
            (
                400,
                r#"{"error":"invalid_request","error_description":"Identity not found"}"#,
                78,
                "managed-identity-missing",
            ),
            (
                400,
                r#"{"error":"invalid_resource","error_description":"AADSTS500011: The resource principal named x was not found in the tenant."}"#,
                78,
                "managed-identity-resource",
            ),
            (400, r#"{"error":"bad"}"#, 78, "managed-identity-refused"),
            (500, "", 75, "managed-identity-unavailable"),
            (429, "", 75, "managed-identity-unavailable"),
        ];
        for (status, body, code, cause) in table {
            let e = interpret(az, *status, body.as_bytes()).unwrap_err();
            assert_eq!(e.exit_code(), *code as u8, "{status} {body}");
            assert_eq!(
                e.cause().map(Cause::as_str),
                Some(*cause),
                "{status} {body}"
            );
        }
        let e = interpret(
            az,
            400,
            br#"{"error":"invalid_request","error_description":"Identity not found"}"#,
        )
        .unwrap_err();
        assert!(
            e.message().contains("Identity not found"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn challenges_by_table() {
        let dir = Path::new("/var/opt/azcmagent/tokens");
        let ok =
            challenge_key(Some("Basic realm=/var/opt/azcmagent/tokens/ab12.key"), dir).unwrap();
        assert_eq!(ok, Path::new("/var/opt/azcmagent/tokens/ab12.key"));
        for bad in [
            None,
            Some("Bearer realm=/var/opt/azcmagent/tokens/a.key"),
            Some("Basic realm="),
            Some("Basic realm=/etc/shadow"),
            Some("Basic realm=/var/opt/azcmagent/tokens/a.txt"),
            Some("Basic realm=/var/opt/azcmagent/tokens/../../../etc/x.key"),
            Some("Basic realm=/var/opt/azcmagent/tokens/sub/a.key"),
            Some("Basic realm=a.key"),
        ] {
            let e = challenge_key(bad, dir).unwrap_err();
            assert_eq!(e.cause(), Some(Cause::ArcChallengeInvalid), "{bad:?}");
        }
    }
}
