//! Known Entra ID and Exchange Online failures: cause and fix.
//!
//! One table per side. Entra errors are keyed by their AADSTS number;
//! SMTP replies by reply code, enhanced status code and a distinctive piece
//! of text (Microsoft changes wording, so matches are on short fragments
//! and the server's own line is always shown too). Each entry carries a
//! short cause code for syslog (`cause=smtp-auth-disabled`), the exit kind,
//! and a fix naming the portal blade or PowerShell cmdlet.

use crate::error::Kind;

/// A known failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Short cause code for logs and alerts.
    pub cause: &'static str,
    /// How the failure ends the invocation.
    pub kind: Kind,
    /// What to do about it.
    pub fix: &'static str,
}

const fn entry(cause: &'static str, kind: Kind, fix: &'static str) -> Entry {
    Entry { cause, kind, fix }
}

/// Entra ID (AADSTS) errors from the token endpoint.
const ENTRA: &[(u64, Entry)] = &[
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

/// The entry for an AADSTS code.
pub fn entra(code: u64) -> Option<&'static Entry> {
    ENTRA.iter().find(|(c, _)| *c == code).map(|(_, e)| e)
}

/// How an SMTP reply is recognised.
struct SmtpPattern {
    /// Reply code (0: any).
    code: u16,
    /// Enhanced status code prefix ("" : any).
    enhanced: &'static str,
    /// Fragment of the text, lower case ("" : any).
    fragment: &'static str,
    entry: Entry,
}

const fn smtp(
    code: u16,
    enhanced: &'static str,
    fragment: &'static str,
    entry: Entry,
) -> SmtpPattern {
    SmtpPattern {
        code,
        enhanced,
        fragment,
        entry,
    }
}

/// Exchange Online replies, most specific first.
const SMTP: &[SmtpPattern] = &[
    smtp(
        535,
        "5.7.139",
        "disabled for the tenant",
        entry(
            "smtp-auth-disabled",
            Kind::NoPermission,
            "SMTP AUTH is disabled for the tenant: enable it for this mailbox with Set-CASMailbox -Identity <user> -SmtpClientAuthenticationDisabled $false (Exchange Online PowerShell); the mailbox setting overrides the tenant's",
        ),
    ),
    smtp(
        535,
        "5.7.139",
        "disabled for the mailbox",
        entry(
            "smtp-auth-disabled",
            Kind::NoPermission,
            "SMTP AUTH is disabled for this mailbox: Set-CASMailbox -Identity <user> -SmtpClientAuthenticationDisabled $false (Exchange Online PowerShell), or Microsoft 365 admin center > Users > the user > Mail > Manage email apps > Authenticated SMTP",
        ),
    ),
    smtp(
        535,
        "5.7.139",
        "security defaults",
        entry(
            "security-defaults",
            Kind::NoPermission,
            "Entra Security Defaults block SMTP AUTH for this account; the OAuth app-only flow should not need this to change: check that the mailbox is licensed and that user is the right mailbox",
        ),
    ),
    smtp(
        535,
        "5.7.139",
        "basic authentication is disabled",
        entry(
            "basic-auth-disabled",
            Kind::Config,
            "the server expects OAuth; oauth2-sendmail uses XOAUTH2, so smtp.host probably points at the wrong server",
        ),
    ),
    smtp(
        535,
        "5.7.139",
        "",
        entry(
            "smtp-auth-blocked",
            Kind::NoPermission,
            "the tenant's policy (Conditional Access or Security Defaults) refuses this sign-in: an administrator must allow SMTP AUTH for the application",
        ),
    ),
    smtp(
        535,
        "5.7.3",
        "",
        entry(
            "token-rejected",
            Kind::NoPermission,
            "Exchange rejected the token: check that the app has the Office 365 Exchange Online > SMTP.SendAsApp application permission with admin consent, that New-ServicePrincipal was run with the Enterprise application's Object ID (not the App registration's), and that Add-MailboxPermission -Identity <user> -User <service principal> -AccessRights FullAccess was granted; changes can take a while to apply",
        ),
    ),
    smtp(
        535,
        "5.7.8",
        "",
        entry(
            "token-rejected",
            Kind::NoPermission,
            "the server rejected the token: check user (the mailbox the application may use) and the application's permissions on it",
        ),
    ),
    smtp(
        550,
        "5.7.30",
        "",
        entry(
            "basic-auth-disabled",
            Kind::Config,
            "the server refused basic authentication; oauth2-sendmail uses XOAUTH2, so smtp.host probably points at the wrong server",
        ),
    ),
    smtp(
        530,
        "5.7.57",
        "",
        entry(
            "not-authenticated",
            Kind::Config,
            "the server wants authentication before MAIL FROM: check smtp.host and smtp.port (587 with STARTTLS for Exchange Online)",
        ),
    ),
    smtp(
        0,
        "5.7.60",
        "",
        entry(
            "send-as-denied",
            Kind::NoPermission,
            "the mailbox may not send as this sender: keep addresses.from_policy = \"rewrite\" (From becomes the from address), or grant Add-RecipientPermission <from> -Trustee <service principal> -AccessRights SendAs",
        ),
    ),
    smtp(
        0,
        "5.2.252",
        "",
        entry(
            "send-as-denied",
            Kind::NoPermission,
            "the mailbox may not send as the From address: keep addresses.from_policy = \"rewrite\", or grant Add-RecipientPermission <from> -Trustee <service principal> -AccessRights SendAs",
        ),
    ),
    smtp(
        0,
        "",
        "sendasdenied",
        entry(
            "send-as-denied",
            Kind::NoPermission,
            "the mailbox may not send as the From address: keep addresses.from_policy = \"rewrite\", or grant Add-RecipientPermission <from> -Trustee <service principal> -AccessRights SendAs",
        ),
    ),
    smtp(
        501,
        "5.5.124",
        "",
        entry(
            "xoauth2-invalid",
            Kind::Config,
            "the server could not read the XOAUTH2 data: check that user is a plain mailbox address and that smtp.host is smtp.office365.com",
        ),
    ),
    smtp(
        0,
        "4.5.3",
        "",
        entry(
            "too-many-recipients",
            Kind::Temporary,
            "too many recipients for one message: Exchange Online allows 500 by default; the message can be split or sent later",
        ),
    ),
    smtp(
        552,
        "",
        "",
        entry(
            "message-too-large",
            Kind::Data,
            "the message is larger than the mailbox may send (35 MB by default, counted after encoding): shrink it, or an administrator raises MaxSendSize with Set-Mailbox",
        ),
    ),
    smtp(
        554,
        "5.2.2",
        "quota",
        entry(
            "mailbox-full",
            Kind::Unavailable,
            "the sending mailbox is full (sent copies go to its Sent Items): clean it up or set a retention policy",
        ),
    ),
    smtp(
        0,
        "5.2.0",
        "submissionquotaexceeded",
        entry(
            "submission-quota",
            Kind::Temporary,
            "the mailbox passed Exchange Online's 10,000 recipients per 24 hours: wait, or spread the mail over more mailboxes",
        ),
    ),
    smtp(
        0,
        "4.3.2",
        "",
        entry(
            "throttled",
            Kind::Temporary,
            "Exchange is throttling this mailbox (at most 30 messages a minute and 3 connections at once): the message can be sent later",
        ),
    ),
    smtp(
        421,
        "",
        "",
        entry(
            "server-busy",
            Kind::Temporary,
            "the server is closing the connection for now: the message can be sent later",
        ),
    ),
    smtp(
        0,
        "5.7.708",
        "",
        entry(
            "tenant-blocked",
            Kind::Unavailable,
            "Exchange Online does not accept mail from this IP for the tenant: contact Microsoft support",
        ),
    ),
    smtp(
        0,
        "5.7.750",
        "",
        entry(
            "unregistered-domain",
            Kind::Unavailable,
            "the sender's domain is not an accepted domain of the tenant: add and verify it in Microsoft 365 admin center > Settings > Domains, or use a from address in a verified domain",
        ),
    ),
    smtp(
        0,
        "5.7.705",
        "",
        entry(
            "tenant-blocked",
            Kind::Unavailable,
            "the tenant has exceeded Exchange Online's sending threshold: contact Microsoft support",
        ),
    ),
    smtp(
        0,
        "5.1.8",
        "",
        entry(
            "sender-blocked",
            Kind::NoPermission,
            "the mailbox is blocked from sending (Restricted entities in the Microsoft Defender portal): an administrator must release it and check it for compromise",
        ),
    ),
    smtp(
        550,
        "5.1.1",
        "",
        entry(
            "recipient-unknown",
            Kind::NoUser,
            "the recipient address does not exist: check the spelling",
        ),
    ),
    smtp(
        454,
        "4.7.0",
        "",
        entry(
            "auth-temporary",
            Kind::Temporary,
            "the server could not check the token just now (a temporary authentication failure): the message can be sent later",
        ),
    ),
    smtp(
        0,
        "4.2.0",
        "logon",
        entry(
            "mailbox-logon",
            Kind::Temporary,
            "Exchange could not open the mailbox for the application: check Add-MailboxPermission -Identity <user> -User <service principal> -AccessRights FullAccess (or the RBAC management scope); new permissions can take a while to apply",
        ),
    ),
    smtp(
        504,
        "5.7.4",
        "",
        entry(
            "auth-mechanism-refused",
            Kind::Config,
            "the server does not accept this login here: Exchange Online offers AUTH XOAUTH2 only after STARTTLS on smtp.office365.com port 587 (smtp.tls = \"starttls\")",
        ),
    ),
    smtp(
        0,
        "5.1.90",
        "",
        entry(
            "submission-quota",
            Kind::Temporary,
            "the mailbox passed Exchange Online's 10,000 recipients per 24 hours: wait, or spread the mail over more mailboxes",
        ),
    ),
    smtp(
        0,
        "4.7.0",
        "",
        entry(
            "server-temporary",
            Kind::Temporary,
            "a temporary server error: the message can be sent later",
        ),
    ),
];

/// The entry for an SMTP reply (code and one-line text).
pub fn smtp_reply(code: u16, text: &str) -> Option<&'static Entry> {
    smtp_index(code, text).map(|i| &SMTP[i].entry)
}

/// The position of the first pattern that recognises the reply.
fn smtp_index(code: u16, text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let enhanced = text.split_whitespace().next().unwrap_or("");
    SMTP.iter().position(|p| {
        (p.code == 0 || p.code == code)
            && (p.enhanced.is_empty() || enhanced == p.enhanced)
            && (p.fragment.is_empty() || lower.contains(p.fragment))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Every entry has a test in tests/catalogue.rs that drives the binary
    /// into it: Entra codes by test name, SMTP patterns by a reply there
    /// that this table resolves to exactly that pattern.
    #[test]
    fn every_entry_has_an_integration_test() {
        let tests = include_str!("../tests/catalogue.rs");
        for (code, _) in ENTRA {
            assert!(
                tests.contains(&format!("aadsts{code}_")),
                "AADSTS{code} has no test in tests/catalogue.rs"
            );
        }
        let replies: Vec<(u16, &str)> = tests
            .split('"')
            .skip(1)
            .step_by(2)
            .filter_map(|literal| {
                let (code, text) = literal.split_at_checked(3)?;
                Some((code.parse().ok()?, text.strip_prefix(' ')?))
            })
            .collect();
        for (i, pattern) in SMTP.iter().enumerate() {
            let covered = replies
                .iter()
                .any(|(code, text)| smtp_index(*code, text) == Some(i));
            assert!(
                covered,
                "no test in tests/catalogue.rs replays a reply for {} {} {:?} ({})",
                pattern.code, pattern.enhanced, pattern.fragment, pattern.entry.cause
            );
        }
    }

    /// docs/troubleshooting.md lists every code and cause administrators
    /// may meet.
    #[test]
    fn every_entry_is_documented() {
        let doc = include_str!("../docs/troubleshooting.md");
        for (code, entry) in ENTRA {
            assert!(doc.contains(&code.to_string()), "AADSTS{code} undocumented");
            assert!(
                doc.contains(&format!("`{}`", entry.cause)),
                "{} undocumented",
                entry.cause
            );
        }
        for pattern in SMTP {
            let cause = pattern.entry.cause;
            assert!(doc.contains(&format!("`{cause}`")), "{cause} undocumented");
        }
    }

    #[test]
    fn exchange_replies() {
        let table = [
            (
                535,
                "5.7.3 Authentication unsuccessful [SN4PR0201CA0047.namprd02.prod.outlook.com 2024-07-11T11:46:49.042Z 08DCA18218166FB4]",
                "token-rejected",
                77,
                "New-ServicePrincipal",
            ),
            (
                535,
                "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.",
                "smtp-auth-disabled",
                77,
                "Set-CASMailbox",
            ),
            (
                535,
                "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled",
                "smtp-auth-disabled",
                77,
                "Set-CASMailbox",
            ),
            (
                535,
                "5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy",
                "security-defaults",
                77,
                "Security Defaults",
            ),
            (
                535,
                "5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully.",
                "smtp-auth-blocked",
                77,
                "Conditional Access",
            ),
            (
                550,
                "5.7.30 Basic authentication is not supported for Client Submission.",
                "basic-auth-disabled",
                78,
                "XOAUTH2",
            ),
            (
                550,
                "5.7.60 SMTP; Client does not have permissions to send as this sender",
                "send-as-denied",
                77,
                "Add-RecipientPermission",
            ),
            (
                554,
                "5.2.252 SendAsDenied; a@x not allowed to send as b@x; STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied",
                "send-as-denied",
                77,
                "from_policy",
            ),
            (
                554,
                "5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied",
                "send-as-denied",
                77,
                "SendAs",
            ),
            (
                501,
                "5.5.124 Invalid XOAUTH2 auth data",
                "xoauth2-invalid",
                78,
                "user",
            ),
            (
                452,
                "4.5.3 Too many recipients",
                "too-many-recipients",
                75,
                "500",
            ),
            (
                552,
                "5.3.4 Message size exceeds fixed maximum message size",
                "message-too-large",
                65,
                "MaxSendSize",
            ),
            (
                432,
                "4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded",
                "throttled",
                75,
                "30 messages",
            ),
            (421, "4.3.2 Service not active", "throttled", 75, "later"),
            (421, "Too many connections", "server-busy", 75, "later"),
            (
                550,
                "5.7.708 Access denied, traffic not accepted from this IP",
                "tenant-blocked",
                69,
                "support",
            ),
            (
                550,
                "5.7.750 Service unavailable. Client blocked from sending from unregistered domains",
                "unregistered-domain",
                69,
                "Domains",
            ),
            (
                550,
                "5.1.1 RESOLVER.ADR.RecipNotFound; not found",
                "recipient-unknown",
                67,
                "spelling",
            ),
            (
                451,
                "4.7.0 Temporary server error. Please try again later. PRX4",
                "server-temporary",
                75,
                "later",
            ),
        ];
        for (code, text, cause, exit, fix) in table {
            let e = smtp_reply(code, text).unwrap_or_else(|| panic!("{code} {text}: no entry"));
            assert_eq!(
                (e.cause, e.kind.exit_code()),
                (cause, exit),
                "{code} {text}"
            );
            assert!(e.fix.contains(fix), "{code} {text}: fix lacks {fix}");
        }
        assert!(smtp_reply(250, "2.0.0 Ok").is_none());
        assert!(smtp_reply(550, "5.7.1 something new").is_none());
    }
}
