//! The `--check` tenant step: the tenant's OpenID configuration (next to
//! the token endpoint: `/{tenant}/v2.0/.well-known/openid-configuration`)
//! names its GUID (in `issuer`) and its cloud (`tenant_region_scope`,
//! `tenant_region_sub_scope`; docs/protocol-notes.md, "National clouds"). A tenant in
//! another cloud than `cloud` is a failure: every token request would end
//! in AADSTS900382. Not reaching the document is only a warning: the token
//! step says what is wrong with the endpoint.
//!
//! [`read`] and [`judge`] are pure.

use std::time::Instant;

use serde_json::Value;

use super::report::Step;
use super::step_id::StepId;
use crate::cause::Cause;
use crate::config::{Cloud, Config, Credential, is_guid};
use crate::error::Error;
use crate::token::request::{self, Endpoint};

const ID: StepId = StepId::Tenant;

/// What the OpenID configuration says about the tenant.
#[derive(Debug, PartialEq, Eq)]
pub struct Facts {
    /// The tenant's GUID, from `issuer`.
    pub guid: Option<String>,
    /// `tenant_region_scope`.
    pub region: String,
    /// `tenant_region_sub_scope`.
    pub sub_scope: Option<String>,
}

/// Reads the document, if it is one.
pub fn read(body: &[u8]) -> Option<Facts> {
    let json: Value = serde_json::from_slice(body).ok()?;
    let text = |k: &str| json.get(k).and_then(Value::as_str).map(str::to_string);
    let issuer = text("issuer")?;
    Some(Facts {
        guid: issuer.split('/').find(|p| is_guid(p)).map(str::to_string),
        region: text("tenant_region_scope").unwrap_or_default(),
        sub_scope: text("tenant_region_sub_scope"),
    })
}

fn cloud_label(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::Global => "global (worldwide, also GCC)",
        Cloud::GccHigh => "GCC High",
        Cloud::Dod => "DoD",
        Cloud::China => "China (21Vianet)",
    }
}

/// The summary, or the mismatch between `configured` and the tenant's cloud.
///
/// # Errors
/// `Kind::Config` naming both clouds and the `cloud` value to set.
pub fn judge(tenant: &str, configured: Cloud, facts: &Facts) -> Result<String, Error> {
    let actual = Cloud::from_region(&facts.region, facts.sub_scope.as_deref());
    let region = match &facts.sub_scope {
        Some(sub) => format!("tenant_region_scope {}, sub-scope {sub}", facts.region),
        None => format!("tenant_region_scope {}", facts.region),
    };
    let guid = match &facts.guid {
        Some(g) if !g.eq_ignore_ascii_case(tenant) => format!(" = {g}"),
        _ => String::new(),
    };
    if actual != configured {
        return Err(Error::config(format!(
            "tenant {tenant}{guid} is in the {} cloud ({region}), but cloud = \"{}\"",
            cloud_label(actual),
            configured.name()
        ))
        .with_hint(format!(
            "set cloud = \"{}\" (a token asked for in the wrong cloud is refused with AADSTS900382)",
            actual.name()
        ))
        .with_cause(Cause::CloudMismatch));
    }
    Ok(format!(
        "tenant {tenant}{guid}, {} cloud ({region})",
        cloud_label(actual)
    ))
}

/// The OpenID configuration URL next to the token URL, if it is Entra-shaped.
fn openid_url(token_url: &str) -> Option<String> {
    token_url
        .strip_suffix("/oauth2/v2.0/token")
        .map(|base| format!("{base}/v2.0/.well-known/openid-configuration"))
}

/// The step.
pub fn tenant(config: &Config) -> Step {
    if matches!(config.credential, Credential::Managed(_)) && config.tenant.is_empty() {
        return Step::skip(ID, "a managed identity knows its own tenant");
    }
    let Some(url) = openid_url(&config.token.url) else {
        return Step::skip(ID, "token.url is not an Entra token endpoint");
    };
    let started = Instant::now();
    let endpoint = Endpoint {
        url: &url,
        ca_file: config.ca_file.as_deref(),
        proxy: config.token.proxy.as_deref(),
        timeout: config.token.timeout,
    };
    let unread = |why: String| {
        Step::warn(
            ID,
            format!("cannot read the tenant's OpenID configuration: {why}"),
            "the token step shows whether the token endpoint works",
        )
        .detail(url.clone())
        .took(started.elapsed())
    };
    let facts = match request::get(&endpoint) {
        Ok((200, body)) => match read(&body) {
            Some(facts) => facts,
            None => return unread("the answer is not an OpenID configuration".into()),
        },
        Ok((status, _)) => return unread(format!("HTTP {status}")),
        Err(e) => return unread(e.message().to_string()),
    };
    match judge(&config.tenant, config.cloud, &facts) {
        Ok(summary) => Step::pass(ID, summary),
        Err(e) => Step::fail(ID, &e),
    }
    .detail(url.clone())
    .took(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUID: &str = "6f2d8c1a-3b4e-4f5a-9c7d-0e1f2a3b4c5d";

    fn doc(region: &str, sub: Option<&str>) -> Facts {
        let mut j = serde_json::json!({
            "issuer": format!("https://login.microsoftonline.com/{GUID}/v2.0"),
            "tenant_region_scope": region,
        });
        if let Some(sub) = sub {
            j["tenant_region_sub_scope"] = sub.into();
        }
        read(j.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn clouds_by_table() {
        let table = [
            ("NA", None, Cloud::Global, true),
            ("EU", None, Cloud::GccHigh, false),
            ("USGov", Some("DODCON"), Cloud::GccHigh, true),
            ("USGov", Some("DODCON"), Cloud::Global, false),
            ("USGov", Some("DOD"), Cloud::Dod, true),
            ("USGov", Some("DOD"), Cloud::GccHigh, false),
            ("USGov", Some("GCC"), Cloud::Global, true),
        ];
        for (region, sub, configured, ok) in table {
            let r = judge("contoso.com", configured, &doc(region, sub));
            assert_eq!(r.is_ok(), ok, "{region} {sub:?} {configured:?}: {r:?}");
        }
        let e = judge("contoso.com", Cloud::Global, &doc("USGov", Some("DODCON"))).unwrap_err();
        assert!(
            e.message().contains(&format!("contoso.com = {GUID}")),
            "{}",
            e.message()
        );
        assert!(e.hint().contains("cloud = \"gcc-high\""), "{}", e.hint());
        let ok = judge(GUID, Cloud::Global, &doc("NA", None)).unwrap();
        assert!(!ok.contains(" = "), "a GUID tenant is not repeated: {ok}");
        assert_eq!(read(b"{}"), None);
        assert_eq!(
            openid_url("https://h/t/oauth2/v2.0/token").as_deref(),
            Some("https://h/t/v2.0/.well-known/openid-configuration")
        );
        assert_eq!(openid_url("https://h/token"), None);
    }
}
