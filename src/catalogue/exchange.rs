//! The Exchange Online table: SMTP replies recognised by code, enhanced
//! status code and a fragment of the text.

use super::{SmtpPattern, entry, smtp};
use crate::cause::Cause;
use crate::error::Kind;

/// Exchange Online replies, most specific first.
pub(super) const SMTP: &[SmtpPattern] = &[
    smtp(
        535,
        "5.7.139",
        "disabled for the tenant",
        entry(
            Cause::SmtpAuthDisabled,
            Kind::NoPermission,
            "SMTP AUTH is disabled for the tenant: enable it for this mailbox with Set-CASMailbox -Identity <user> -SmtpClientAuthenticationDisabled $false (Exchange Online PowerShell); the mailbox setting overrides the tenant's, except under Security Defaults (Entra admin center > Overview > Properties > Manage security defaults), which keep SMTP AUTH off: then send through Microsoft Graph instead (transport = \"graph\")",
        )
        .means(
            "SMTP AUTH (client submission) is turned off for the whole organisation and this mailbox has no setting of its own that turns it on.",
            &["the tenant was created after January 2020, when SMTP AUTH became off by default", "Security Defaults are on: they turn SMTP AUTH off and override the mailbox setting, so Set-CASMailbox does not help", "an administrator ran Set-TransportConfig -SmtpClientAuthenticationDisabled $true"],
        ),
    ),
    smtp(
        535,
        "5.7.139",
        "disabled for the mailbox",
        entry(
            Cause::SmtpAuthDisabled,
            Kind::NoPermission,
            "SMTP AUTH is disabled for this mailbox: Set-CASMailbox -Identity <user> -SmtpClientAuthenticationDisabled $false (Exchange Online PowerShell), or Microsoft 365 admin center > Users > the user > Mail > Manage email apps > Authenticated SMTP; under Security Defaults this does not help: send through Microsoft Graph instead (transport = \"graph\")",
        )
        .means(
            "SMTP AUTH is turned off for this one mailbox.",
            &["the mailbox's Authenticated SMTP setting is off (Set-CASMailbox -SmtpClientAuthenticationDisabled $true)", "Security Defaults are on, which turn SMTP AUTH off whatever the mailbox says"],
        ),
    ),
    smtp(
        535,
        "5.7.139",
        "security defaults",
        entry(
            Cause::SecurityDefaults,
            Kind::NoPermission,
            "Entra Security Defaults block SMTP AUTH for this account; the OAuth app-only flow should not need this to change: check that the mailbox is licensed and that user is the right mailbox; where Security Defaults stay on, send through Microsoft Graph instead (transport = \"graph\")",
        )
        .means(
            "Entra Security Defaults refused this SMTP sign-in.",
            &["the tenant uses Security Defaults, which block SMTP AUTH", "the user name is not the mailbox the app may use"],
        ),
    ),
    smtp(
        535,
        "5.7.139",
        "basic authentication is disabled",
        entry(
            Cause::BasicAuthDisabled,
            Kind::Config,
            "the server expects OAuth; oauth2-sendmail uses XOAUTH2, so smtp.host probably points at the wrong server",
        )
        .means(
            "The server accepts only OAuth, and a password login was tried.",
            &["a client still sends a user name and password (AUTH LOGIN or PLAIN)", "the client points at the wrong server"],
        ),
    ),
    smtp(
        535,
        "5.7.139",
        "",
        entry(
            Cause::SmtpAuthBlocked,
            Kind::NoPermission,
            "the tenant's policy (Conditional Access or Security Defaults) refuses this sign-in: an administrator must allow SMTP AUTH for the application",
        )
        .means(
            "The sign-in was refused by the tenant's policy.",
            &["a Conditional Access policy blocks the sign-in", "Security Defaults block SMTP AUTH", "the account is disabled or locked"],
        ),
    ),
    smtp(
        535,
        "5.7.3",
        "",
        entry(
            Cause::TokenRejected,
            Kind::NoPermission,
            "Exchange rejected the token: check that the app has the Office 365 Exchange Online > SMTP.SendAsApp application permission with admin consent, that New-ServicePrincipal was run with the Enterprise application's Object ID (not the App registration's), and that Add-MailboxPermission -Identity <user> -User <service principal> -AccessRights FullAccess was granted; changes can take a while to apply",
        )
        .means(
            "Exchange refused the login; it never says why, so the cause is one of the tenant-side set-up steps.",
            &["the Exchange service principal is missing, or New-ServicePrincipal was run with the App registration's Object ID instead of the Enterprise application's", "the app lacks the SMTP.SendAsApp application permission or admin consent (or, with RBAC for Applications, the management role assignment)", "the app has no FullAccess on the mailbox (Add-MailboxPermission) or the mailbox is outside the RBAC scope", "the token is for another resource (the Graph scope instead of https://outlook.office365.com/.default)", "the user name is not a licensed mailbox (or is a shared mailbox's alias)", "new permissions have not reached Exchange yet (up to an hour)"],
        ),
    ),
    smtp(
        535,
        "5.7.8",
        "",
        entry(
            Cause::TokenRejected,
            Kind::NoPermission,
            "the server rejected the token: check user (the mailbox the application may use) and the application's permissions on it",
        )
        .means(
            "The server refused the credentials.",
            &["the token was refused: wrong mailbox in user, missing permission", "on a non-Microsoft server: wrong password or mechanism"],
        ),
    ),
    smtp(
        550,
        "5.7.30",
        "",
        entry(
            Cause::BasicAuthDisabled,
            Kind::Config,
            "the server refused basic authentication: a client must log in with OAuth (AUTH XOAUTH2 and an app-only token; oauth2-sendmail --setup-script prints the tenant side); oauth2-sendmail itself uses XOAUTH2, so if it got this reply, smtp.host points at the wrong server",
        )
        .means(
            "Exchange Online no longer accepts a user name and password for SMTP submission; only OAuth works.",
            &["the client logs in with AUTH LOGIN or PLAIN and a password (Basic authentication), which Microsoft turns off for client submission", "an app password or old configuration was left in place after moving to OAuth"],
        ),
    ),
    smtp(
        530,
        "5.7.57",
        "",
        entry(
            Cause::NotAuthenticated,
            Kind::Config,
            "the server wants authentication before MAIL FROM: check smtp.host and smtp.port (587 with STARTTLS for Exchange Online)",
        )
        .means(
            "The client sent MAIL FROM without logging in first.",
            &["the client did not authenticate (no AUTH, or AUTH after a failed STARTTLS)", "the client used port 25 instead of 587"],
        ),
    ),
    // Postfix's reject_sender_login_mismatch, the same policy as Exchange's.
    smtp(
        553,
        "5.7.1",
        "not owned by user",
        entry(
            Cause::SendAsDenied,
            Kind::NoPermission,
            "the server accepts only the authenticated mailbox as sender: keep addresses.allow_from_override = false so that the envelope sender is from, and set from to the mailbox in user",
        )
        .means(
            "The server accepts only the logged-in mailbox as sender.",
            &["the envelope sender is another address than the authenticated mailbox"],
        ),
    ),
    smtp(
        0,
        "5.7.60",
        "",
        entry(
            Cause::SendAsDenied,
            Kind::NoPermission,
            "the mailbox may not send as this sender: keep addresses.from_policy = \"rewrite\" (From becomes the from address), or grant Add-RecipientPermission <from> -Trustee <service principal> -AccessRights SendAs",
        )
        .means(
            "The mailbox may not send as the sender address used.",
            &["the From or envelope sender is another address than the authenticated mailbox", "the app lacks Send As on that address"],
        ),
    ),
    smtp(
        0,
        "5.2.252",
        "",
        entry(
            Cause::SendAsDenied,
            Kind::NoPermission,
            "the mailbox may not send as the From address: keep addresses.from_policy = \"rewrite\", or grant Add-RecipientPermission <from> -Trustee <service principal> -AccessRights SendAs",
        )
        .means(
            "Exchange refused to send as the From address.",
            &["the From header is another address than the mailbox (a cron job's root@host, a web app's noreply@)", "the mailbox has no Send As right on that address"],
        ),
    ),
    smtp(
        0,
        "",
        "sendasdenied",
        entry(
            Cause::SendAsDenied,
            Kind::NoPermission,
            "the mailbox may not send as the From address: keep addresses.from_policy = \"rewrite\", or grant Add-RecipientPermission <from> -Trustee <service principal> -AccessRights SendAs",
        )
        .means(
            "Exchange refused to send as the From address.",
            &["the From header is another address than the mailbox", "the mailbox has no Send As right on that address"],
        ),
    ),
    smtp(
        501,
        "5.5.127",
        "",
        entry(
            Cause::TokenExpiring,
            Kind::Temporary,
            "High Volume Email wants a token with more than 10 minutes left: oauth2-sendmail renews its token 15 minutes before expiry (token.grace, default 900: do not lower it below 660) and retries once with a fresh token on this reply (other clients: renew earlier than 10 minutes before expiry), and check the clock (timedatectl set-ntp true)",
        )
        .means(
            "High Volume Email refuses an access token with about 10 minutes or less of lifetime left.",
            &["the client reuses a cached token until just before it expires", "the client's clock is behind"],
        ),
    ),
    smtp(
        550,
        "5.5.105",
        "",
        entry(
            Cause::HveExternalRecipient,
            Kind::Unavailable,
            "send to external recipients through a normal licensed mailbox on smtp.office365.com; High Volume Email is for internal recipients only",
        )
        .means(
            "A High Volume Email account may only send to recipients inside the organisation.",
            &["a recipient is outside the tenant's accepted domains", "the application should use a normal mailbox (smtp.office365.com) for external mail"],
        ),
    ),
    smtp(
        501,
        "5.5.124",
        "",
        entry(
            Cause::Xoauth2Invalid,
            Kind::Config,
            "the server could not read the XOAUTH2 data: check that user is a plain mailbox address and that smtp.host is smtp.office365.com",
        )
        .means(
            "The server could not read the XOAUTH2 data, or (High Volume Email) refused the token in it.",
            &["user= in the XOAUTH2 string is not a plain mailbox address", "on smtp-hve.office365.com: the token has little lifetime left (renew it earlier) or the app is not allowed for the HVE account (Add-HVEAppAccess)", "the XOAUTH2 string was wrapped or mis-encoded"],
        ),
    ),
    smtp(
        0,
        "4.5.3",
        "",
        entry(
            Cause::TooManyRecipients,
            Kind::Temporary,
            "too many recipients for one message: Exchange Online allows 500 by default; recipients refused for their number get the message in further transactions at once, so this shows only when the server takes none of them: split the list or send later",
        )
        .means(
            "Too many recipients for one message.",
            &["more than the mailbox's recipient limit (500 by default) in one message"],
        ),
    ),
    smtp(
        552,
        "",
        "",
        entry(
            Cause::MessageTooLarge,
            Kind::Data,
            "the message is larger than the mailbox may send (35 MB by default, counted after encoding): shrink it, or an administrator raises MaxSendSize with Set-Mailbox",
        )
        .means(
            "The message is larger than the server accepts.",
            &["attachments over the mailbox's MaxSendSize (35 MB by default)", "base64 encoding adds about a third to attachments"],
        ),
    ),
    smtp(
        554,
        "5.2.2",
        "quota",
        entry(
            Cause::MailboxFull,
            Kind::Unavailable,
            "the sending mailbox is full (sent copies go to its Sent Items): clean it up or set a retention policy",
        )
        .means(
            "The sending mailbox is full, so Exchange cannot save the sent copy.",
            &["every message sent is saved to Sent Items, which was never cleaned", "a small mailbox quota on a shared or unlicensed mailbox"],
        ),
    ),
    smtp(
        0,
        "5.2.0",
        "submissionquotaexceeded",
        entry(
            Cause::SubmissionQuota,
            Kind::Temporary,
            "the mailbox passed Exchange Online's 10,000 recipients per 24 hours: wait, or spread the mail over more mailboxes",
        )
        .means(
            "The mailbox sent to more than 10,000 recipients in 24 hours.",
            &["a bulk or newsletter job through a normal mailbox", "a loop sending the same alert repeatedly"],
        ),
    ),
    smtp(
        432,
        "4.3.2",
        "concurrent connections",
        entry(
            Cause::ConnectionLimit,
            Kind::Temporary,
            "Exchange Online allows 3 SMTP sessions per mailbox at once: lower [limits] connections, or give each program or server its own mailbox; the message can be sent later",
        )
        .means(
            "More than 3 SMTP sessions for the same mailbox at once.",
            &["several programs or servers send through the same mailbox at the same time", "a program opens a session per message in parallel"],
        ),
    ),
    smtp(
        0,
        "4.3.2",
        "sender thread limit",
        entry(
            Cause::SenderThreadLimit,
            Kind::Temporary,
            "too many submissions for this mailbox at the same moment: send fewer messages in parallel ([limits] connections, [limits] rate), or spread them over more mailboxes; the message can be sent later",
        )
        .means(
            "Exchange is already submitting as many messages for this mailbox as it allows at once.",
            &["several processes submit through the same mailbox at the same moment", "a burst over 30 messages a minute"],
        ),
    ),
    smtp(
        0,
        "4.3.2",
        "",
        entry(
            Cause::Throttled,
            Kind::Temporary,
            "Exchange is throttling this mailbox (at most 30 messages a minute and 3 connections at once): the message can be sent later",
        )
        .means(
            "Exchange is throttling this mailbox or the service is busy.",
            &["over 30 messages a minute or 3 connections at once", "a temporary service condition"],
        ),
    ),
    smtp(
        421,
        "",
        "",
        entry(
            Cause::ServerBusy,
            Kind::Temporary,
            "the server is closing the connection for now: the message can be sent later",
        )
        .means(
            "The server closed the connection for now.",
            &["a temporary server condition or too many connections"],
        ),
    ),
    smtp(
        0,
        "5.7.708",
        "",
        entry(
            Cause::TenantBlocked,
            Kind::Unavailable,
            "Exchange Online does not accept mail from this IP for the tenant: contact Microsoft support",
        )
        .means(
            "Exchange Online refuses mail from this tenant or IP.",
            &["the tenant is new or was flagged for spam", "the sending IP has a poor reputation"],
        ),
    ),
    smtp(
        0,
        "5.7.750",
        "",
        entry(
            Cause::UnregisteredDomain,
            Kind::Unavailable,
            "the sender's domain is not an accepted domain of the tenant: add and verify it in Microsoft 365 admin center > Settings > Domains, or use a from address in a verified domain",
        )
        .means(
            "The sender's domain is not an accepted domain of the tenant.",
            &["the From or envelope sender uses a domain not added and verified in the tenant"],
        ),
    ),
    smtp(
        0,
        "5.7.705",
        "",
        entry(
            Cause::TenantBlocked,
            Kind::Unavailable,
            "the tenant has exceeded Exchange Online's sending threshold: contact Microsoft support",
        )
        .means(
            "The tenant passed Exchange Online's sending threshold and is blocked.",
            &["a compromised account sent spam", "a bulk job exceeded the limits"],
        ),
    ),
    smtp(
        0,
        "5.1.8",
        "",
        entry(
            Cause::SenderBlocked,
            Kind::NoPermission,
            "the mailbox is blocked from sending (Restricted entities in the Microsoft Defender portal): an administrator must release it and check it for compromise",
        )
        .means(
            "The mailbox is blocked from sending (restricted entity).",
            &["it sent spam or was compromised"],
        ),
    ),
    smtp(
        550,
        "5.1.1",
        "",
        entry(
            Cause::RecipientUnknown,
            Kind::NoUser,
            "the recipient address does not exist: check the spelling",
        )
        .means(
            "The recipient address does not exist.",
            &["a typo in the address", "the mailbox was removed"],
        ),
    ),
    smtp(
        454,
        "4.7.0",
        "",
        entry(
            Cause::AuthTemporary,
            Kind::Temporary,
            "the server could not check the token just now (a temporary authentication failure): the message can be sent later",
        )
        .means(
            "A temporary authentication failure on the server's side.",
            &["Exchange could not check the token just now"],
        ),
    ),
    smtp(
        0,
        "4.2.0",
        "logon",
        entry(
            Cause::MailboxLogon,
            Kind::Temporary,
            "Exchange could not open the mailbox for the application: check Add-MailboxPermission -Identity <user> -User <service principal> -AccessRights FullAccess (or the RBAC management scope); new permissions can take a while to apply",
        )
        .means(
            "Exchange could not open the mailbox for the application.",
            &["the app has no FullAccess on the mailbox or it is outside the RBAC scope", "permissions added minutes ago have not reached Exchange yet"],
        ),
    ),
    smtp(
        504,
        "5.7.4",
        "",
        entry(
            Cause::AuthMechanismRefused,
            Kind::Config,
            "the server does not accept this login here: Exchange Online offers AUTH XOAUTH2 only after STARTTLS on smtp.office365.com port 587 (smtp.tls = \"starttls\")",
        )
        .means(
            "The server does not accept this authentication mechanism here.",
            &["AUTH was tried before STARTTLS", "the mechanism name is not XOAUTH2 or the port is wrong"],
        ),
    ),
    smtp(
        0,
        "5.1.90",
        "",
        entry(
            Cause::SubmissionQuota,
            Kind::Temporary,
            "the mailbox passed Exchange Online's 10,000 recipients per 24 hours: wait, or spread the mail over more mailboxes",
        )
        .means(
            "The mailbox reached its daily recipient limit.",
            &["over 10,000 recipients in 24 hours"],
        ),
    ),
    smtp(
        0,
        "4.7.0",
        "",
        entry(
            Cause::ServerTemporary,
            Kind::Temporary,
            "a temporary server error: the message can be sent later",
        )
        .means(
            "A temporary server error.",
            &["a transient Exchange Online condition"],
        ),
    ),
];

#[cfg(test)]
#[path = "exchange_tests.rs"]
mod tests;
