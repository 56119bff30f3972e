//! A peek at an access token's claims, for expiry and diagnostics only.
//!
//! Microsoft calls its access tokens opaque: nothing here validates a
//! signature or trusts a claim for security. The payload of a JWT is read
//! (base64url, padding optional) to learn `exp` (a cache must not outlive
//! it) and to explain failures (`aud`, `roles`, `tid`, `appid`).

use crate::cause::Cause;
use base64::Engine as _;
use serde_json::Value;

use crate::config::is_guid;

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

/// How one claim looks for SMTP app-only use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// As expected.
    Good,
    /// Unusual but possibly fine (no `roles` with RBAC for Applications).
    Doubtful,
    /// Exchange will refuse this token.
    Bad,
}

/// What one claim says, for `--check` and for explaining a refused login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The claim (`aud`, `roles`, `tid`, `appid`).
    pub claim: &'static str,
    /// How it looks.
    pub verdict: Verdict,
    /// The value and what it means, for display.
    pub detail: String,
    /// What to do, unless the claim is good.
    pub fix: Option<String>,
    /// Cause code for logs, unless the claim is good.
    pub cause: Option<Cause>,
}

impl Finding {
    fn good(claim: &'static str, detail: String) -> Self {
        Finding {
            claim,
            verdict: Verdict::Good,
            detail,
            fix: None,
            cause: None,
        }
    }

    fn problem(
        claim: &'static str,
        verdict: Verdict,
        detail: String,
        cause: Cause,
        fix: String,
    ) -> Self {
        Finding {
            claim,
            verdict,
            detail,
            fix: Some(fix),
            cause: Some(cause),
        }
    }
}

const NO_ROLE_FIX: &str = "in Entra admin center > App registrations > your app > API permissions, add Office 365 Exchange Online > Application permissions > SMTP.SendAsApp and grant admin consent (with RBAC for Applications instead, no role is needed: check New-ManagementRoleAssignment -Role 'Application SMTP.SendAsApp' with Test-ServicePrincipalAuthorization)";

/// Each claim that matters for SMTP, judged against the configuration:
/// audience, roles (and delegated scopes), tenant, application.
pub fn findings(claims: &Claims, tenant: &str, client_id: &str) -> Vec<Finding> {
    vec![
        audience(claims),
        roles(claims),
        tenant_id(claims, tenant),
        application(claims, client_id),
    ]
}

fn audience(claims: &Claims) -> Finding {
    let Some(aud) = &claims.aud else {
        return Finding::problem(
            "aud",
            Verdict::Doubtful,
            "the token names no audience".into(),
            Cause::TokenWrongAudience,
            "token.scope should be https://outlook.office365.com/.default".into(),
        );
    };
    let trimmed = aud.trim_end_matches('/');
    if EXCHANGE_AUDIENCES
        .iter()
        .any(|a| a.eq_ignore_ascii_case(trimmed))
    {
        Finding::good("aud", format!("{aud} (Exchange Online)"))
    } else {
        Finding::problem(
            "aud",
            Verdict::Bad,
            format!("{aud}, not Exchange Online"),
            Cause::TokenWrongAudience,
            format!(
                "the token is for {trimmed}, not Exchange Online: token.scope must be https://outlook.office365.com/.default"
            ),
        )
    }
}

fn roles(claims: &Claims) -> Finding {
    if let Some(scp) = &claims.scp {
        return Finding::problem(
            "roles",
            Verdict::Bad,
            format!("a delegated (user) token with scopes {scp}"),
            Cause::TokenDelegated,
            "oauth2-sendmail needs an app-only token from the client-credentials flow: check token.url and client_id".into(),
        );
    }
    match &claims.roles {
        Some(roles) if roles.iter().any(|r| r == "SMTP.SendAsApp") => {
            Finding::good("roles", roles.join(", "))
        }
        Some(roles) => Finding::problem(
            "roles",
            Verdict::Bad,
            if roles.is_empty() {
                "an empty roles claim, without SMTP.SendAsApp".into()
            } else {
                format!("{} (no SMTP.SendAsApp)", roles.join(", "))
            },
            Cause::TokenNoRole,
            format!("the token carries no SMTP.SendAsApp role: {NO_ROLE_FIX}"),
        ),
        None => Finding::problem(
            "roles",
            Verdict::Doubtful,
            "no roles claim: fine with RBAC for Applications; otherwise SMTP.SendAsApp or its admin consent is missing".into(),
            Cause::TokenNoRole,
            format!("the token carries no SMTP.SendAsApp role: {NO_ROLE_FIX}"),
        ),
    }
}

fn tenant_id(claims: &Claims, tenant: &str) -> Finding {
    let Some(tid) = &claims.tid else {
        return Finding::problem(
            "tid",
            Verdict::Doubtful,
            "the token names no tenant".into(),
            Cause::TokenWrongTenant,
            "check tenant and token.url".into(),
        );
    };
    if tenant.is_empty() {
        // A managed identity configured without a tenant: its own.
        return Finding::good("tid", format!("{tid} (the managed identity's tenant)"));
    }
    if !is_guid(tenant) {
        return Finding::good(
            "tid",
            format!("{tid} (tenant is set to the domain {tenant}; only a GUID can be compared)"),
        );
    }
    if tid.eq_ignore_ascii_case(tenant) {
        Finding::good("tid", tid.clone())
    } else {
        Finding::problem(
            "tid",
            Verdict::Bad,
            format!("{tid}, not the configured tenant {tenant}"),
            Cause::TokenWrongTenant,
            format!(
                "the token was issued by tenant {tid}: token.url must contain {{tenant}} or the tenant {tenant} itself"
            ),
        )
    }
}

fn application(claims: &Claims, client_id: &str) -> Finding {
    let Some(appid) = &claims.appid else {
        return Finding::problem(
            "appid",
            Verdict::Doubtful,
            "the token names no application".into(),
            Cause::TokenWrongApp,
            "check client_id".into(),
        );
    };
    if client_id.is_empty() {
        // A system-assigned managed identity: no client_id to compare.
        return Finding::good("appid", format!("{appid} (the system-assigned identity)"));
    }
    if appid.eq_ignore_ascii_case(client_id) {
        Finding::good("appid", appid.clone())
    } else {
        Finding::problem(
            "appid",
            Verdict::Bad,
            format!("{appid}, not the configured client_id {client_id}"),
            Cause::TokenWrongApp,
            format!("the token belongs to application {appid}, not client_id {client_id}"),
        )
    }
}

/// Why Exchange may have refused a token Entra issued, from its claims: the
/// cause code and fix of the first bad claim, else of a missing `roles`
/// claim (the usual reason; with RBAC for Applications the fix says what
/// to check instead).
pub fn diagnose(claims: &Claims, tenant: &str, client_id: &str) -> Option<(Cause, String)> {
    let findings = findings(claims, tenant, client_id);
    let bad = findings.iter().find(|f| f.verdict == Verdict::Bad);
    let no_role = || {
        findings
            .iter()
            .find(|f| f.claim == "roles" && f.verdict == Verdict::Doubtful)
    };
    let finding = bad.or_else(no_role)?;
    Some((finding.cause?, finding.fix.clone()?))
}

/// What to check when Exchange refused a token whose claims are all right:
/// then the mailbox side is wrong, not the application's.
const MAILBOX_FIX: &str = "the token itself is right (Exchange Online audience, SMTP.SendAsApp role, this tenant and application), so the server refused it for the mailbox: check that user is the mailbox the application was given (Add-MailboxPermission -Identity <user> -User <service principal> -AccessRights FullAccess), that New-ServicePrincipal was run with the Enterprise application's Object ID (not the App registration's), and that SMTP AUTH is on for the mailbox (Set-CASMailbox -Identity <user> -SmtpClientAuthenticationDisabled $false); such changes can take a while to apply";

/// Cause code and fix for a token the SMTP server refused, from its claims:
/// a bad claim, else the mailbox side. `None` when the token is not a JWT.
pub fn explain_refusal(token: &str, tenant: &str, client_id: &str) -> Option<(Cause, String)> {
    let claims = peek(token)?;
    Some(
        diagnose(&claims, tenant, client_id)
            .unwrap_or_else(|| (Cause::MailboxNotPermitted, MAILBOX_FIX.to_string())),
    )
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
            tid: Some("t1".into()),
            ..Claims::default()
        };
        assert_eq!(diagnose(&good, "contoso.com", "C1"), None);
        let table: Vec<(Claims, &str, &str)> = vec![
            (
                Claims {
                    aud: Some("https://graph.microsoft.com".into()),
                    ..good.clone()
                },
                "token-wrong-audience",
                "token.scope",
            ),
            (
                Claims {
                    scp: Some("SMTP.Send".into()),
                    ..good.clone()
                },
                "token-delegated",
                "client-credentials",
            ),
            (
                Claims {
                    appid: Some("other".into()),
                    ..good.clone()
                },
                "token-wrong-app",
                "not client_id",
            ),
            (
                Claims {
                    roles: None,
                    ..good.clone()
                },
                "token-no-role",
                "SMTP.SendAsApp",
            ),
            (
                Claims {
                    roles: Some(vec![]),
                    ..good.clone()
                },
                "token-no-role",
                "admin consent",
            ),
            (
                // A bad claim beats a missing roles claim.
                Claims {
                    roles: None,
                    appid: Some("other".into()),
                    ..good.clone()
                },
                "token-wrong-app",
                "not client_id",
            ),
        ];
        for (claims, cause, want) in table {
            let (got_cause, fix) = diagnose(&claims, "contoso.com", "c1").unwrap();
            assert_eq!(got_cause.as_str(), cause, "{claims:?}");
            assert!(fix.contains(want), "{fix}");
        }
    }

    #[test]
    fn findings_by_claim() {
        let tenant = "6f2d8c1a-3b4e-4f5a-9c7d-0e1f2a3b4c5d";
        let good = Claims {
            aud: Some("https://outlook.office365.com".into()),
            roles: Some(vec!["SMTP.SendAsApp".into()]),
            appid: Some("c1".into()),
            tid: Some(tenant.into()),
            ..Claims::default()
        };
        // (claims, tenant, claim, verdict, detail fragment)
        let table: Vec<(Claims, &str, &str, Verdict, &str)> = vec![
            (
                good.clone(),
                tenant,
                "aud",
                Verdict::Good,
                "Exchange Online",
            ),
            (
                good.clone(),
                tenant,
                "roles",
                Verdict::Good,
                "SMTP.SendAsApp",
            ),
            (good.clone(), tenant, "tid", Verdict::Good, tenant),
            (good.clone(), tenant, "appid", Verdict::Good, "c1"),
            (
                good.clone(),
                "contoso.onmicrosoft.com",
                "tid",
                Verdict::Good,
                "only a GUID can be compared",
            ),
            (
                Claims {
                    tid: Some("00000000-0000-0000-0000-000000000000".into()),
                    ..good.clone()
                },
                tenant,
                "tid",
                Verdict::Bad,
                "not the configured tenant",
            ),
            (
                Claims {
                    tid: Some(tenant.to_uppercase()),
                    ..good.clone()
                },
                tenant,
                "tid",
                Verdict::Good,
                "",
            ),
            (
                Claims {
                    roles: None,
                    ..good.clone()
                },
                tenant,
                "roles",
                Verdict::Doubtful,
                "RBAC for Applications",
            ),
            (
                Claims {
                    roles: Some(vec!["Mail.Send".into()]),
                    ..good.clone()
                },
                tenant,
                "roles",
                Verdict::Bad,
                "Mail.Send (no SMTP.SendAsApp)",
            ),
            (
                Claims {
                    aud: Some("00000002-0000-0ff1-ce00-000000000000".into()),
                    ..good.clone()
                },
                tenant,
                "aud",
                Verdict::Good,
                "",
            ),
            (
                Claims {
                    aud: None,
                    ..good.clone()
                },
                tenant,
                "aud",
                Verdict::Doubtful,
                "no audience",
            ),
            (
                Claims {
                    appid: None,
                    ..good.clone()
                },
                tenant,
                "appid",
                Verdict::Doubtful,
                "no application",
            ),
        ];
        for (claims, tenant, claim, verdict, detail) in table {
            let found = findings(&claims, tenant, "C1");
            let f = found.iter().find(|f| f.claim == claim).unwrap();
            assert_eq!(f.verdict, verdict, "{claim}: {f:?}");
            assert!(f.detail.contains(detail), "{claim}: {}", f.detail);
            assert_eq!(f.fix.is_some(), verdict != Verdict::Good, "{f:?}");
            assert_eq!(f.cause.is_some(), verdict != Verdict::Good, "{f:?}");
        }
        assert!(is_guid(tenant) && !is_guid("contoso.com") && !is_guid("6f2d8c1a-3b4e"));
    }

    #[test]
    fn refusals_explained() {
        let good = jwt(
            r#"{"aud":"https://outlook.office365.com","roles":["SMTP.SendAsApp"],"tid":"t","appid":"c1"}"#,
        );
        let (cause, fix) = explain_refusal(&good, "contoso.com", "c1").unwrap();
        assert_eq!(cause, Cause::MailboxNotPermitted);
        assert!(fix.contains("Add-MailboxPermission") && fix.contains("New-ServicePrincipal"));
        let no_role = jwt(r#"{"aud":"https://outlook.office365.com","appid":"c1"}"#);
        assert_eq!(
            explain_refusal(&no_role, "contoso.com", "c1").map(|(c, _)| c),
            Some(Cause::TokenNoRole)
        );
        assert_eq!(explain_refusal("opaque", "contoso.com", "c1"), None);
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
