//! Workload identity federation: `client_assertion_file`.
//!
//! The file holds a JWT that another identity provider issued (a Kubernetes
//! projected service-account token, a GitHub or GitLab OIDC token, an AWS
//! or GCP identity token). It is sent as the client assertion of the
//! client-credentials grant, and Entra accepts it when a *federated
//! identity credential* on the application names its issuer, subject and
//! the audience `api://AzureADTokenExchange` (docs/protocol-notes.md, "Credentials
//! without a secret"). The provider rotates the file, so it is read again
//! for every token request and never cached here.
//!
//! [`inspect`] is pure (text and clock in); [`read`] adds the file.

use std::path::Path;

use crate::cause::Cause;
use crate::error::{Error, Result, io_reason};
use crate::secret::Secret;

/// The audience Entra expects in a federated assertion.
pub const AUDIENCE: &str = "api://AzureADTokenExchange";

/// An assertion read from the file, with the claims a fix must name.
#[derive(Debug)]
pub struct Assertion {
    /// The JWT itself: a bearer credential while it lives.
    pub jwt: Secret,
    /// `iss`.
    pub issuer: Option<String>,
    /// `sub`.
    pub subject: Option<String>,
    /// `aud` (the first, when it is a list).
    pub audience: Option<String>,
    /// `exp`, Unix seconds.
    pub expires: Option<u64>,
}

impl Assertion {
    /// "issuer X, subject Y, audience Z": what the federated credential must match.
    pub fn describe(&self) -> String {
        let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
        format!(
            "issuer {}, subject {}, audience {}",
            or_none(&self.issuer),
            or_none(&self.subject),
            or_none(&self.audience)
        )
    }
}

/// Why a file's text is not a usable assertion.
#[derive(Debug, PartialEq, Eq)]
pub enum Problem {
    /// Not three base64url parts with a JSON payload.
    NotJwt,
    /// `exp` is not after `now`.
    Expired(u64),
}

/// Reads the assertion out of the file's text, as of `now`.
///
/// # Errors
/// [`Problem`] when it is not a JWT or has expired.
pub fn inspect(text: &str, now: u64) -> std::result::Result<Assertion, Problem> {
    use base64::Engine as _;
    let jwt = text.trim();
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(Problem::NotJwt);
    }
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1].trim_end_matches('='))
        .map_err(|_| Problem::NotJwt)?;
    let claims: serde_json::Value =
        serde_json::from_slice(&payload).map_err(|_| Problem::NotJwt)?;
    if !claims.is_object() {
        return Err(Problem::NotJwt);
    }
    let text_claim = |key: &str| claims.get(key).and_then(|v| v.as_str()).map(str::to_string);
    let audience = text_claim("aud").or_else(|| {
        claims
            .get("aud")
            .and_then(|a| a.as_array())
            .and_then(|a| a.first())
            .and_then(|a| a.as_str())
            .map(str::to_string)
    });
    let expires = claims.get("exp").and_then(serde_json::Value::as_u64);
    if let Some(exp) = expires
        && exp <= now
    {
        return Err(Problem::Expired(exp));
    }
    Ok(Assertion {
        jwt: Secret::new(jwt),
        issuer: text_claim("iss"),
        subject: text_claim("sub"),
        audience,
        expires,
    })
}

/// Reads `client_assertion_file` as of `now`.
///
/// # Errors
/// `Kind::Config` when the file cannot be read or holds no JWT;
/// `Kind::Temporary` when the assertion has expired (its provider has not
/// rotated it yet: the message can wait).
pub fn read(path: &Path, now: u64) -> Result<Assertion> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::config(format!(
            "cannot read client_assertion_file {}: {}",
            path.display(),
            io_reason(&e)
        ))
        .with_hint("the identity provider writes this file (in Kubernetes: the Azure workload identity webhook, for a pod whose service account has the azure.workload.identity/client-id annotation and the label azure.workload.identity/use: \"true\"; its path is in $AZURE_FEDERATED_TOKEN_FILE)")
        .with_cause(Cause::AssertionFileUnreadable)
    })?;
    inspect(&text, now).map_err(|problem| match problem {
        Problem::NotJwt => Error::config(format!(
            "client_assertion_file {} holds no JWT",
            path.display()
        ))
        .with_hint("the file must hold the identity provider's token (three base64url parts separated by dots), nothing else")
        .with_cause(Cause::AssertionFileInvalid),
        Problem::Expired(exp) => Error::temporary(format!(
            "the assertion in client_assertion_file {} expired at {}",
            path.display(),
            crate::clock::utc_timestamp(exp)
        ))
        .with_hint("its identity provider has not renewed it: check that whatever writes the file (kubelet, the CI job, a refresh timer) still runs; the message can be sent later")
        .with_cause(Cause::AssertionExpired),
    })
}

/// The fix for Entra's refusal of a federated assertion, naming what the
/// assertion carries: `None` for codes that are not about federation.
pub fn refusal_hint(aadsts: u64, assertion: &Assertion) -> Option<String> {
    let claims = assertion.describe();
    match aadsts {
        70021 => Some(format!(
            "no federated identity credential of the application matches this assertion ({claims}): in Entra admin center > App registrations > your app > Certificates & secrets > Federated credentials, add one with exactly that issuer and subject, and audience {AUDIENCE}"
        )),
        700024 => Some(format!(
            "the assertion is outside its valid time range ({claims}): check the server's clock (timedatectl) and that the identity provider renews the file before it expires"
        )),
        700027 => Some(format!(
            "Entra could not verify the assertion's signature ({claims}): the issuer's OpenID configuration and keys (issuer + /.well-known/openid-configuration) must be reachable from the internet and match the key that signed it"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn jwt(claims: &str) -> String {
        let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.{}", e(r#"{"alg":"RS256"}"#), e(claims), e("sig"))
    }

    #[test]
    fn assertions_by_table() {
        let good = jwt(
            r#"{"iss":"https://issuer.example","sub":"system:serviceaccount:mail:sender","aud":["api://AzureADTokenExchange"],"exp":2000}"#,
        );
        let a = inspect(&format!("{good}\n"), 1000).unwrap();
        assert_eq!(a.jwt.expose(), good);
        assert_eq!(a.issuer.as_deref(), Some("https://issuer.example"));
        assert_eq!(a.audience.as_deref(), Some(AUDIENCE));
        assert_eq!(a.expires, Some(2000));
        assert!(
            a.describe()
                .contains("subject system:serviceaccount:mail:sender")
        );
        let table: &[(&str, Problem)] = &[
            ("", Problem::NotJwt),
            ("abc", Problem::NotJwt),
            ("a.b", Problem::NotJwt),
            ("a..c", Problem::NotJwt),
            ("a.!!!.c", Problem::NotJwt),
        ];
        for (text, problem) in table {
            assert_eq!(inspect(text, 0).unwrap_err(), *problem, "{text:?}");
        }
        assert_eq!(inspect(&good, 2000).unwrap_err(), Problem::Expired(2000));
        assert_eq!(
            inspect(&jwt("[1]"), 0).unwrap_err(),
            Problem::NotJwt,
            "a payload that is not an object"
        );
    }

    #[test]
    fn refusal_hints_name_the_claims() {
        let a = inspect(&jwt(r#"{"iss":"https://i","sub":"s1","aud":"x"}"#), 0).unwrap();
        let h = refusal_hint(70021, &a).unwrap();
        assert!(
            h.contains("issuer https://i, subject s1, audience x"),
            "{h}"
        );
        assert!(h.contains(AUDIENCE));
        assert!(refusal_hint(700024, &a).unwrap().contains("clock"));
        assert!(refusal_hint(700027, &a).unwrap().contains("signature"));
        assert_eq!(refusal_hint(7_000_215, &a), None);
    }
}
