//! A peek at an access token's claims, for expiry and diagnostics only.
//!
//! Microsoft calls its access tokens opaque: nothing here validates a
//! signature or trusts a claim for security. The payload of a JWT is read
//! (base64url, padding optional) to learn `exp` (a cache must not outlive
//! it) and to explain failures (`aud`, `roles`, `tid`, `appid`).

use base64::Engine as _;
use serde_json::Value;

/// The claims that matter for SMTP app-only tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claims {
    /// Audience: `https://outlook.office365.com` for Exchange Online.
    pub aud: Option<String>,
    /// Application roles; `SMTP.SendAsApp` when the permission is consented.
    pub roles: Option<Vec<String>>,
    /// Tenant ID.
    pub tid: Option<String>,
    /// Client ID of the application (`appid` in v1 tokens, `azp` in v2).
    pub appid: Option<String>,
    /// Expiry, Unix seconds.
    pub exp: Option<u64>,
    /// Delegated scopes: present only when a user flow was used by mistake.
    pub scp: Option<String>,
}

/// Decodes the payload of a JWT, or `None` if it is not one.
pub fn peek(token: &str) -> Option<Claims> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let json: Value = serde_json::from_slice(&bytes).ok()?;
    let text = |key: &str| json.get(key).and_then(Value::as_str).map(str::to_string);
    Some(Claims {
        aud: text("aud"),
        roles: json.get("roles").and_then(Value::as_array).map(|roles| {
            roles
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        }),
        tid: text("tid"),
        appid: text("appid").or_else(|| text("azp")),
        exp: json.get("exp").and_then(Value::as_u64),
        scp: text("scp"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", enc(r#"{"alg":"RS256"}"#), enc(payload))
    }

    #[test]
    fn exchange_app_only_token() {
        let c = peek(&jwt(
            r#"{"aud":"https://outlook.office365.com","roles":["SMTP.SendAsApp"],"tid":"t","appid":"a","exp":1700000000}"#,
        ))
        .unwrap();
        assert_eq!(c.aud.as_deref(), Some("https://outlook.office365.com"));
        assert_eq!(c.roles, Some(vec!["SMTP.SendAsApp".to_string()]));
        assert_eq!(
            (c.tid.as_deref(), c.appid.as_deref(), c.exp),
            (Some("t"), Some("a"), Some(1_700_000_000))
        );
        assert_eq!(c.scp, None);
    }

    #[test]
    fn v2_and_odd_tokens() {
        assert_eq!(
            peek(&jwt(r#"{"azp":"x"}"#)).unwrap().appid.as_deref(),
            Some("x")
        );
        assert_eq!(peek(&jwt(r#"{}"#)).unwrap().roles, None);
        for bad in ["", "opaque-token", "a.b", "a.!!!.c", "a.b.c.d"] {
            assert_eq!(peek(bad), None, "{bad}");
        }
        let padded = jwt(r#"{"exp":5}"#).replace(".sig", "==.sig");
        assert_eq!(peek(&padded).and_then(|c| c.exp), Some(5));
    }
}
