//! The managed-identity endpoints' keys: their defaults, and the rule
//! that they stay on this machine.

use super::super::names::is_loopback;
use super::{S, Validator};
use crate::error::Result;

/// Where Azure's instance metadata service answers (docs/protocol-notes.md).
pub(super) const IMDS_URL: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
/// Where the Azure Arc agent answers (docs/protocol-notes.md).
pub(super) const ARC_URL: &str = "http://127.0.0.1:40342/metadata/identity/oauth2/token";
/// Where the Arc agent writes its challenge key files on Linux.
pub(super) const ARC_KEY_DIR: &str = "/var/opt/azcmagent/tokens";

/// A managed-identity endpoint: plain http (as Azure serves it) and never
/// across a network: loopback, or Azure's link-local metadata address when
/// `link_local` is allowed. No proxy is ever used for it.
pub(super) fn local_url(
    v: &Validator,
    value: &S<String>,
    key: &str,
    default: &str,
    link_local: bool,
) -> Result<String> {
    let Some(url) = v.string(value, key)? else {
        return Ok(default.to_string());
    };
    let host = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split(['/', '?']).next())
        .map(|authority| match authority.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => authority,
        })
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'));
    let allowed = host.is_some_and(|h| is_loopback(h) || (link_local && h == "169.254.169.254"));
    if !allowed || url.contains(char::is_whitespace) {
        let what = if link_local {
            "must be an http:// URL on 169.254.169.254 or a loopback address"
        } else {
            "must be an http:// URL on a loopback address (the agent's own)"
        };
        return Err(v.at(value.as_ref().unwrap(), key, what));
    }
    Ok(url)
}
