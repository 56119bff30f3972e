//! Syntax checks for the names the configuration holds: tenant, GUID,
//! domain and host names, loopback hosts.

pub fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A DNS name with at least one dot (`contoso.com`).
pub fn is_domain_name(s: &str) -> bool {
    s.len() <= 253
        && s.contains('.')
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

pub(super) fn is_host(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
        || s == "localhost"
        || is_domain_name(s)
        || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// Whether `host` names this machine's loopback interface.
pub(super) fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Entra accepts a tenant GUID or a verified domain; `common` and friends
/// fail for client credentials (AADSTS9001023), so catch them here.
pub(super) fn check_tenant(tenant: &str) -> std::result::Result<(), String> {
    match tenant.to_ascii_lowercase().as_str() {
        "common" | "organizations" | "consumers" => Err(format!(
            "{tenant} cannot be used for client credentials: use the Directory (tenant) ID GUID or the tenant's domain (contoso.onmicrosoft.com)"
        )),
        t if is_guid(t) || is_domain_name(t) => Ok(()),
        _ => Err(
            "must be the Directory (tenant) ID (a GUID) or a domain like contoso.onmicrosoft.com"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_guid("11111111-2222-3333-4444-555555555555"));
        assert!(!is_guid("11111111-2222-3333-4444-55555555555"));
        assert!(is_domain_name("contoso.onmicrosoft.com"));
        assert!(!is_domain_name("contoso"));
        assert!(!is_domain_name("a..b"));
        assert!(is_loopback("127.0.0.2") && is_loopback("[::1]") && !is_loopback("10.0.0.1"));
    }
}
