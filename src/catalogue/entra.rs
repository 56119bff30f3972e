//! The Entra ID table: AADSTS error numbers from the token endpoint.

use super::{Entry, entry};
use crate::cause::Cause;
use crate::error::Kind;

/// Entra ID (AADSTS) errors from the token endpoint.
pub(super) const ENTRA: &[(u64, Entry)] = &[
    (
        7_000_215,
        entry(
            Cause::SecretInvalid,
            Kind::Config,
            "the client secret is wrong: in Entra admin center > App registrations > your app > Certificates & secrets, create a new secret and copy its Value (not the Secret ID) into client_secret_file",
        )
        .means(
            "Entra refused the client secret.",
            &["the Secret ID was pasted instead of the secret's Value", "the secret was mistyped, truncated or has stray whitespace", "the secret belongs to another application"],
        ),
    ),
    (
        7_000_222,
        entry(
            Cause::SecretExpired,
            Kind::Config,
            "the client secret has expired: create a new one under App registrations > your app > Certificates & secrets, put its Value in client_secret_file and its expiry date in client_secret_expires (then --check and syslog warn 30 days ahead)",
        )
        .means(
            "The application's client secret has passed its expiry date.",
            &["the secret reached the end of the lifetime chosen when it was created (at most 24 months)", "a newer secret exists but was never put on this server"],
        ),
    ),
    (
        7_000_218,
        entry(
            Cause::SecretMissing,
            Kind::Config,
            "no credential reached Entra: set client_secret_file (or certificate_file + private_key_file)",
        )
        .means(
            "The token request carried no credential at all.",
            &["no client secret or certificate is configured", "the program sent an empty secret (an empty secret file)"],
        ),
    ),
    (
        700_016,
        entry(
            Cause::ClientUnknown,
            Kind::Config,
            "no application with this client_id in this tenant: copy the Application (client) ID from App registrations > your app > Overview, and check tenant",
        )
        .means(
            "No application with this client ID exists in the tenant asked.",
            &["the client ID was mistyped or is another app's", "the tenant is the wrong one (the app lives in another tenant)", "the app was deleted"],
        ),
    ),
    (
        90_002,
        entry(
            Cause::TenantUnknown,
            Kind::Config,
            "the tenant does not exist: use the Directory (tenant) ID from Entra admin center > Overview (or the tenant's .onmicrosoft.com domain); for national clouds set token.url",
        )
        .means(
            "Entra knows no tenant by this name in this cloud.",
            &["the tenant ID or domain was mistyped", "the tenant lives in a national cloud (US Government, China) and the global login host was used"],
        ),
    ),
    (
        900_023,
        entry(
            Cause::TenantInvalid,
            Kind::Config,
            "tenant must be the Directory (tenant) ID GUID or a domain of the tenant",
        )
        .means(
            "The tenant string is neither a GUID nor a DNS domain.",
            &["a display name or short name was used instead of the Directory (tenant) ID"],
        ),
    ),
    (
        9_001_023,
        entry(
            Cause::TenantCommon,
            Kind::Config,
            "client credentials need a specific tenant: set tenant to the Directory (tenant) ID, not common/organizations/consumers",
        )
        .means(
            "Client credentials were asked of the shared /common or /consumers endpoint.",
            &["tenant is set to common, organizations or consumers"],
        ),
    ),
    (
        7_000_229,
        entry(
            Cause::ServicePrincipalMissing,
            Kind::Config,
            "the application has no service principal (Enterprise application) in this tenant: grant admin consent under App registrations > your app > API permissions, which creates it (or New-MgServicePrincipal -AppId <client_id>)",
        )
        .means(
            "The application has no service principal (Enterprise application) in the tenant.",
            &["admin consent was never granted, so no Enterprise application was created", "the Enterprise application was deleted"],
        ),
    ),
    (
        90_038,
        entry(
            Cause::WrongCloud,
            Kind::Config,
            "the tenant lives in another Microsoft cloud: set token.url to that cloud's login host (login.microsoftonline.us, login.partner.microsoftonline.cn) and token.scope and smtp.host to match",
        )
        .means(
            "The tenant belongs to another Microsoft cloud than the login host asked.",
            &["a US Government or China tenant was sent to the global login host"],
        ),
    ),
    (
        900_382,
        entry(
            Cause::WrongCloud,
            Kind::Config,
            "the tenant lives in another Microsoft cloud: set token.url to that cloud's login host (login.microsoftonline.us, login.partner.microsoftonline.cn) and token.scope and smtp.host to match",
        )
        .means(
            "A confidential client asked for a token across clouds, which Entra refuses.",
            &["the login host and the tenant are in different clouds (global versus US Government or China)", "the scope names another cloud's Exchange host"],
        ),
    ),
    (
        900_144,
        entry(
            Cause::RequestIncomplete,
            Kind::Config,
            "the token request lacked a parameter Entra requires: check that token.scope is set (https://outlook.office365.com/.default) and that token.url is the v2.0 token endpoint",
        )
        .means(
            "The token request lacked a parameter Entra requires.",
            &["the scope was empty", "the token URL is the v1 endpoint, which wants resource= instead of scope="],
        ),
    ),
    (
        50_194,
        entry(
            Cause::TenantCommon,
            Kind::Config,
            "the application is single-tenant: use the tenant-specific token URL (set tenant to the Directory (tenant) ID)",
        )
        .means(
            "A single-tenant application used a shared endpoint.",
            &["tenant is common or organizations while the app is single-tenant"],
        ),
    ),
    (
        1_002_012,
        entry(
            Cause::ScopeInvalid,
            Kind::Config,
            "client credentials need a /.default scope: set token.scope = \"https://outlook.office365.com/.default\" (or remove it)",
        )
        .means(
            "The scope of a client-credentials request must end in /.default.",
            &["a delegated scope such as SMTP.Send or Mail.Send was asked for", "the scope lacks the /.default suffix"],
        ),
    ),
    (
        70_011,
        entry(
            Cause::ScopeInvalid,
            Kind::Config,
            "the scope is not valid: set token.scope = \"https://outlook.office365.com/.default\" (or remove it)",
        )
        .means(
            "Entra refused the scope.",
            &["the Graph scope was used for SMTP, or the SMTP scope for Graph", "a typo in the scope", "another cloud's resource"],
        ),
    ),
    (
        700_022,
        entry(
            Cause::ScopeInvalid,
            Kind::Config,
            "only one resource may be asked for: token.scope = \"https://outlook.office365.com/.default\"",
        )
        .means(
            "The scope named more than one resource.",
            &["several scopes were listed; client credentials take exactly one resource/.default"],
        ),
    ),
    (
        500_011,
        entry(
            Cause::ResourceUnknown,
            Kind::Config,
            "Exchange Online is not available in this tenant (or token.scope names the wrong cloud): check licences and that token.scope is https://outlook.office365.com/.default",
        )
        .means(
            "The resource asked for does not exist in the tenant.",
            &["the tenant has no Exchange Online licence", "the scope names another cloud's Exchange host", "a typo in the scope"],
        ),
    ),
    (
        700_027,
        entry(
            Cause::CertificateUnknown,
            Kind::Config,
            "the certificate is not registered on the application: upload certificate_file under App registrations > your app > Certificates & secrets > Certificates",
        )
        .means(
            "The certificate that signed the client assertion is not registered on the application.",
            &["the certificate was never uploaded, or another one was", "the certificate was renewed on the server but not in Entra", "the wrong private key signs the assertion"],
        ),
    ),
    (
        700_024,
        entry(
            Cause::AssertionTime,
            Kind::Config,
            "the client assertion is outside its valid time: this machine's clock is wrong; enable NTP (timedatectl set-ntp true)",
        )
        .means(
            "The client assertion's validity window does not contain Entra's current time.",
            &["this machine's clock is wrong (no NTP)", "a federated token file (workload identity) was not refreshed and has expired"],
        ),
    ),
    (
        700_023,
        entry(
            Cause::AssertionInvalid,
            Kind::Config,
            "the client assertion names another audience: token.url must be the tenant's own token endpoint (https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token)",
        )
        .means(
            "The client assertion names another audience than this token endpoint.",
            &["the token URL is not the tenant's own v2.0 token endpoint", "the assertion was made for another cloud"],
        ),
    ),
    (
        700_021,
        entry(
            Cause::AssertionInvalid,
            Kind::Config,
            "the client assertion was issued for another application: client_id must be the Application (client) ID the certificate is registered on",
        )
        .means(
            "The client assertion was issued for another application.",
            &["client_id is not the app the certificate is registered on"],
        ),
    ),
    (
        50_048,
        entry(
            Cause::AssertionInvalid,
            Kind::Config,
            "the client assertion's subject and issuer differ: client_id must be the Application (client) ID the certificate is registered on",
        )
        .means(
            "The client assertion's subject and issuer differ.",
            &["client_id is not the app the certificate is registered on"],
        ),
    ),
    (
        700_082,
        entry(
            Cause::RefreshTokenExpired,
            Kind::Config,
            "sign in again with the program that stored the refresh token (its authorization step), or move to app-only client credentials, which use no refresh token: oauth2-sendmail --setup-script prints the steps",
        )
        .means(
            "A stored refresh token was unused for 90 days and has expired; only a delegated (user) sign-in gets a new one.",
            &["the mail program (for example a Postfix SASL XOAUTH2 plugin or msmtp with a token helper) sent nothing for 90 days", "the token file was restored from an old backup", "the user's password was reset or sessions revoked (then AADSTS50173 is also seen)"],
        ),
    ),
    (
        70_000,
        entry(
            Cause::GrantInvalid,
            Kind::Config,
            "the stored grant is no longer valid: run the program's authorization step again as the mailbox user; for a server, prefer app-only client credentials (oauth2-sendmail --setup-script)",
        )
        .means(
            "Entra refused the grant (a refresh token or authorization code): it is invalid, was revoked, or the scopes it holds are no longer consented.",
            &["consent for the scopes was revoked, or the app's permissions changed", "the refresh token was revoked (password reset, Revoke sessions)", "the token was issued to another client or for another scope"],
        ),
    ),
    (
        70_021,
        entry(
            Cause::FederationMismatch,
            Kind::Config,
            "the federated identity credential must match the presented token exactly: Entra admin center > App registrations > your app > Certificates & secrets > Federated credentials: issuer, subject (for Kubernetes system:serviceaccount:<namespace>:<name>) and audience api://AzureADTokenExchange",
        )
        .means(
            "No federated identity credential on the application matches the issuer, subject and audience of the presented assertion (workload identity federation).",
            &["the subject differs (another Kubernetes namespace or service account, another GitHub branch or environment)", "the issuer URL differs (for example a trailing slash, or the cluster's OIDC issuer changed)", "the audience is not api://AzureADTokenExchange", "the credential was added to another app registration"],
        ),
    ),
    (
        50_012,
        entry(
            Cause::AssertionInvalid,
            Kind::Config,
            "the client assertion was refused: check that private_key_file belongs to certificate_file and that the certificate is uploaded to the application",
        )
        .means(
            "Entra could not verify the client assertion.",
            &["the private key does not belong to the registered certificate", "the assertion's signature algorithm or thumbprint header is wrong"],
        ),
    ),
    (
        7_000_112,
        entry(
            Cause::ApplicationDisabled,
            Kind::Config,
            "the application is disabled: Entra admin center > Enterprise applications > your app > Properties > Enabled for users to sign-in = Yes",
        )
        .means(
            "The application is disabled in the tenant.",
            &["an administrator turned off Enabled for users to sign-in on the Enterprise application"],
        ),
    ),
    (
        70_001,
        entry(
            Cause::ApplicationDisabled,
            Kind::Config,
            "the application is disabled in this tenant: check Enterprise applications > your app > Properties",
        )
        .means(
            "The application is disabled in this tenant.",
            &["the Enterprise application was disabled", "the app is not available in this tenant"],
        ),
    ),
    (
        53_003,
        entry(
            Cause::ConditionalAccess,
            Kind::NoPermission,
            "a Conditional Access policy blocks this application: an Entra administrator must exclude it (or this server's IP) in Protection > Conditional Access",
        )
        .means(
            "A Conditional Access policy refused the token.",
            &["a policy for workload identities blocks this app or this server's IP address", "a location-based policy does not know this server's network"],
        ),
    ),
    (
        530_035,
        entry(
            Cause::SecurityDefaults,
            Kind::NoPermission,
            "Entra Security Defaults blocked the sign-in: an Entra administrator must review Entra admin center > Overview > Properties > Manage security defaults, or replace them with Conditional Access policies that allow this application",
        )
        .means(
            "Security Defaults blocked the sign-in.",
            &["the tenant uses Security Defaults, which block legacy and risky sign-ins"],
        ),
    ),
    (
        50_034,
        entry(
            Cause::UserFlow,
            Kind::Config,
            "a user account was looked up: oauth2-sendmail uses client credentials; check client_id and tenant",
        )
        .means(
            "A user account was looked up, which the client-credentials flow never does.",
            &["a delegated (user) flow was used", "the client ID or tenant is wrong"],
        ),
    ),
    (
        50_196,
        entry(
            Cause::TokenThrottled,
            Kind::Temporary,
            "Entra throttled repeated token requests; they are cached, so this clears by itself",
        )
        .means(
            "Entra saw a loop of identical requests and throttled them.",
            &["a program asks for a new token for every message instead of caching it"],
        ),
    ),
    (
        90_055,
        entry(
            Cause::TokenThrottled,
            Kind::Temporary,
            "Entra throttled the tenant's token requests; the message can be sent later",
        )
        .means(
            "Entra throttled the tenant's token requests.",
            &["too many token requests from this tenant or app in a short time"],
        ),
    ),
    (
        50_033,
        entry(
            Cause::TokenEndpointUnavailable,
            Kind::Temporary,
            "a transient Entra error; the message can be sent later",
        )
        .means(
            "A transient error inside Entra.",
            &["a temporary Entra outage"],
        ),
    ),
    (
        90_006,
        entry(
            Cause::TokenEndpointUnavailable,
            Kind::Temporary,
            "a transient Entra error; the message can be sent later",
        )
        .means(
            "A transient error inside Entra.",
            &["a temporary Entra outage"],
        ),
    ),
    (
        90_024,
        entry(
            Cause::TokenEndpointUnavailable,
            Kind::Temporary,
            "a transient Entra error; the message can be sent later",
        )
        .means(
            "A transient error inside Entra.",
            &["a temporary Entra outage"],
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
            assert_eq!(
                (e.cause.as_str(), e.kind.exit_code()),
                (cause, exit),
                "{code}"
            );
            assert!(e.fix.len() > 40, "{code}: fix too thin");
        }
        assert!(entra(1).is_none());
    }
}
