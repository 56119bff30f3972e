//! The Exchange Online table: SMTP replies recognised by code, enhanced
//! status code and a fragment of the text.

use super::{SmtpPattern, entry, smtp};
use crate::error::Kind;

/// Exchange Online replies, most specific first.
pub(super) const SMTP: &[SmtpPattern] = &[
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
    // Postfix's reject_sender_login_mismatch, the same policy as Exchange's.
    smtp(
        553,
        "5.7.1",
        "not owned by user",
        entry(
            "send-as-denied",
            Kind::NoPermission,
            "the server accepts only the authenticated mailbox as sender: keep addresses.allow_from_override = false so that the envelope sender is from, and set from to the mailbox in user",
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

#[cfg(test)]
mod tests {
    use crate::catalogue::smtp_reply;

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
