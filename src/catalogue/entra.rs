//! The Entra ID table: AADSTS error numbers from the token endpoint.

use super::{Entry, entry};
use crate::error::Kind;

/// Entra ID (AADSTS) errors from the token endpoint.
pub(super) const ENTRA: &[(u64, Entry)] = &[
    (
        7_000_215,
        entry(
            "secret-invalid",
            Kind::Config,
            "the client secret is wrong: in Entra admin center > App registrations > your app > Certificates & secrets, create a new secret and copy its Value (not the Secret ID) into client_secret_file",
        ),
    ),
    (
        7_000_222,
        entry(
            "secret-expired",
            Kind::Config,
            "the client secret has expired: create a new one under App registrations > your app > Certificates & secrets and put its Value in client_secret_file",
        ),
    ),
    (
        7_000_218,
        entry(
            "secret-missing",
            Kind::Config,
            "no credential reached Entra: set client_secret_file (or certificate_file + private_key_file)",
        ),
    ),
    (
        700_016,
        entry(
            "client-unknown",
            Kind::Config,
            "no application with this client_id in this tenant: copy the Application (client) ID from App registrations > your app > Overview, and check tenant",
        ),
    ),
    (
        90_002,
        entry(
            "tenant-unknown",
            Kind::Config,
            "the tenant does not exist: use the Directory (tenant) ID from Entra admin center > Overview (or the tenant's .onmicrosoft.com domain); for national clouds set token.url",
        ),
    ),
    (
        900_023,
        entry(
            "tenant-invalid",
            Kind::Config,
            "tenant must be the Directory (tenant) ID GUID or a domain of the tenant",
        ),
    ),
    (
        9_001_023,
        entry(
            "tenant-common",
            Kind::Config,
            "client credentials need a specific tenant: set tenant to the Directory (tenant) ID, not common/organizations/consumers",
        ),
    ),
    (
        7_000_229,
        entry(
            "service-principal-missing",
            Kind::Config,
            "the application has no service principal (Enterprise application) in this tenant: grant admin consent under App registrations > your app > API permissions, which creates it (or New-MgServicePrincipal -AppId <client_id>)",
        ),
    ),
    (
        90_038,
        entry(
            "wrong-cloud",
            Kind::Config,
            "the tenant lives in another Microsoft cloud: set token.url to that cloud's login host (login.microsoftonline.us, login.partner.microsoftonline.cn) and token.scope and smtp.host to match",
        ),
    ),
    (
        900_382,
        entry(
            "wrong-cloud",
            Kind::Config,
            "the tenant lives in another Microsoft cloud: set token.url to that cloud's login host (login.microsoftonline.us, login.partner.microsoftonline.cn) and token.scope and smtp.host to match",
        ),
    ),
    (
        900_144,
        entry(
            "request-incomplete",
            Kind::Config,
            "the token request lacked a parameter Entra requires: check that token.scope is set (https://outlook.office365.com/.default) and that token.url is the v2.0 token endpoint",
        ),
    ),
    (
        50_194,
        entry(
            "tenant-common",
            Kind::Config,
            "the application is single-tenant: use the tenant-specific token URL (set tenant to the Directory (tenant) ID)",
        ),
    ),
    (
        1_002_012,
        entry(
            "scope-invalid",
            Kind::Config,
            "client credentials need a /.default scope: set token.scope = \"https://outlook.office365.com/.default\" (or remove it)",
        ),
    ),
    (
        70_011,
        entry(
            "scope-invalid",
            Kind::Config,
            "the scope is not valid: set token.scope = \"https://outlook.office365.com/.default\" (or remove it)",
        ),
    ),
    (
        700_022,
        entry(
            "scope-invalid",
            Kind::Config,
            "only one resource may be asked for: token.scope = \"https://outlook.office365.com/.default\"",
        ),
    ),
    (
        500_011,
        entry(
            "resource-unknown",
            Kind::Config,
            "Exchange Online is not available in this tenant (or token.scope names the wrong cloud): check licences and that token.scope is https://outlook.office365.com/.default",
        ),
    ),
    (
        700_027,
        entry(
            "certificate-unknown",
            Kind::Config,
            "the certificate is not registered on the application: upload certificate_file under App registrations > your app > Certificates & secrets > Certificates",
        ),
    ),
    (
        700_024,
        entry(
            "assertion-time",
            Kind::Config,
            "the client assertion is outside its valid time: this machine's clock is wrong; enable NTP (timedatectl set-ntp true)",
        ),
    ),
    (
        700_023,
        entry(
            "assertion-invalid",
            Kind::Config,
            "the client assertion names another audience: token.url must be the tenant's own token endpoint (https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token)",
        ),
    ),
    (
        700_021,
        entry(
            "assertion-invalid",
            Kind::Config,
            "the client assertion was issued for another application: client_id must be the Application (client) ID the certificate is registered on",
        ),
    ),
    (
        50_048,
        entry(
            "assertion-invalid",
            Kind::Config,
            "the client assertion's subject and issuer differ: client_id must be the Application (client) ID the certificate is registered on",
        ),
    ),
    (
        50_012,
        entry(
            "assertion-invalid",
            Kind::Config,
            "the client assertion was refused: check that private_key_file belongs to certificate_file and that the certificate is uploaded to the application",
        ),
    ),
    (
        7_000_112,
        entry(
            "application-disabled",
            Kind::Config,
            "the application is disabled: Entra admin center > Enterprise applications > your app > Properties > Enabled for users to sign-in = Yes",
        ),
    ),
    (
        70_001,
        entry(
            "application-disabled",
            Kind::Config,
            "the application is disabled in this tenant: check Enterprise applications > your app > Properties",
        ),
    ),
    (
        53_003,
        entry(
            "conditional-access",
            Kind::NoPermission,
            "a Conditional Access policy blocks this application: an Entra administrator must exclude it (or this server's IP) in Protection > Conditional Access",
        ),
    ),
    (
        530_035,
        entry(
            "security-defaults",
            Kind::NoPermission,
            "Entra Security Defaults blocked the sign-in: an Entra administrator must review Entra admin center > Overview > Properties > Manage security defaults, or replace them with Conditional Access policies that allow this application",
        ),
    ),
    (
        50_034,
        entry(
            "user-flow",
            Kind::Config,
            "a user account was looked up: oauth2-sendmail uses client credentials; check client_id and tenant",
        ),
    ),
    (
        50_196,
        entry(
            "token-throttled",
            Kind::Temporary,
            "Entra throttled repeated token requests; they are cached, so this clears by itself",
        ),
    ),
    (
        90_055,
        entry(
            "token-throttled",
            Kind::Temporary,
            "Entra throttled the tenant's token requests; the message can be sent later",
        ),
    ),
    (
        50_033,
        entry(
            "token-endpoint-unavailable",
            Kind::Temporary,
            "a transient Entra error; the message can be sent later",
        ),
    ),
    (
        90_006,
        entry(
            "token-endpoint-unavailable",
            Kind::Temporary,
            "a transient Entra error; the message can be sent later",
        ),
    ),
    (
        90_024,
        entry(
            "token-endpoint-unavailable",
            Kind::Temporary,
            "a transient Entra error; the message can be sent later",
        ),
    ),
];

#[cfg(test)]
mod tests {
    use crate::catalogue::entra;

    #[test]
    fn entra_codes() {
        let table = [
            (7_000_215, "secret-invalid", 78),
            (7_000_222, "secret-expired", 78),
            (700_016, "client-unknown", 78),
            (90_002, "tenant-unknown", 78),
            (900_023, "tenant-invalid", 78),
            (1_002_012, "scope-invalid", 78),
            (70_011, "scope-invalid", 78),
            (500_011, "resource-unknown", 78),
            (700_027, "certificate-unknown", 78),
            (700_024, "assertion-time", 78),
            (7_000_112, "application-disabled", 78),
            (53_003, "conditional-access", 77),
            (9_001_023, "tenant-common", 78),
            (50_196, "token-throttled", 75),
        ];
        for (code, cause, exit) in table {
            let e = entra(code).unwrap_or_else(|| panic!("{code} missing"));
            assert_eq!((e.cause, e.kind.exit_code()), (cause, exit), "{code}");
            assert!(e.fix.len() > 40, "{code}: fix too thin");
        }
        assert!(entra(1).is_none());
    }
}
