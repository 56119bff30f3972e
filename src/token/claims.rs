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

/// The Exchange Online resource, as app-only tokens name their audience.
const EXCHANGE_AUDIENCES: &[&str] = &[
    "https://outlook.office365.com",
    "https://outlook.office.com",
    "00000002-0000-0ff1-ce00-000000000000",
    "https://outlook.office365.us",
    "https://outlook-dod.office365.us",
    "https://partner.outlook.cn",
];

/// Why a token that Entra issued may still be refused by Exchange, from
/// its claims: the first problem found, as a fix for the administrator.
pub fn diagnose(claims: &Claims, client_id: &str) -> Option<String> {
    if let Some(aud) = &claims.aud {
        let aud = aud.trim_end_matches('/');
        if !EXCHANGE_AUDIENCES
            .iter()
            .any(|a| a.eq_ignore_ascii_case(aud))
        {
            return Some(format!(
                "the token is for {aud}, not Exchange Online: token.scope must be https://outlook.office365.com/.default"
            ));
        }
    }
    if claims.scp.is_some() {
        return Some("the token is a delegated (user) token; oauth2-sendmail needs an app-only token from the client-credentials flow".into());
    }
    if let Some(appid) = &claims.appid
        && !appid.eq_ignore_ascii_case(client_id)
    {
        return Some(format!(
            "the token belongs to application {appid}, not client_id {client_id}"
        ));
    }
    let has_role = claims
        .roles
        .as_ref()
        .is_some_and(|r| r.iter().any(|role| role == "SMTP.SendAsApp"));
    if !has_role {
        return Some(
            "the token carries no SMTP.SendAsApp role: in Entra admin center > App registrations > your app > API permissions, add Office 365 Exchange Online > Application permissions > SMTP.SendAsApp and grant admin consent (with RBAC for Applications instead, check New-ManagementRoleAssignment -Role 'Application SMTP.SendAsApp')".into(),
        );
    }
    None
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
    fn diagnosis_names_the_first_problem() {
        let good = Claims {
            aud: Some("https://outlook.office365.com".into()),
            roles: Some(vec!["SMTP.SendAsApp".into()]),
            appid: Some("c1".into()),
            ..Claims::default()
        };
        assert_eq!(diagnose(&good, "C1"), None);
        let table: Vec<(Claims, &str)> = vec![
            (
                Claims {
                    aud: Some("https://graph.microsoft.com".into()),
                    ..good.clone()
                },
                "token.scope",
            ),
            (
                Claims {
                    scp: Some("SMTP.Send".into()),
                    ..good.clone()
                },
                "delegated",
            ),
            (
                Claims {
                    appid: Some("other".into()),
                    ..good.clone()
                },
                "not client_id",
            ),
            (
                Claims {
                    roles: None,
                    ..good.clone()
                },
                "SMTP.SendAsApp",
            ),
            (
                Claims {
                    roles: Some(vec![]),
                    ..good.clone()
                },
                "admin consent",
            ),
        ];
        for (claims, want) in table {
            let got = diagnose(&claims, "c1").unwrap();
            assert!(got.contains(want), "{got}");
        }
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
