//! The Microsoft Graph table: `sendMail` errors recognised by Graph's
//! error code (`{"error": {"code": "ErrorSendAsDenied", ...}}`) or, for
//! throttling, by the HTTP status line. There is no Graph transport yet,
//! so only `--explain` (and the documentation) reads this table.

use super::{Entry, entry};
use crate::cause::Cause;
use crate::error::Kind;

/// How a Graph failure is recognised.
pub struct GraphPattern {
    /// Graph error codes that name it, as Graph spells them.
    pub codes: &'static [&'static str],
    /// HTTP status Graph answers with.
    pub status: u16,
    /// What it means.
    pub entry: Entry,
}

/// Graph `sendMail` errors.
pub const GRAPH: &[GraphPattern] = &[
    GraphPattern {
        codes: &["ErrorSendAsDenied"],
        status: 403,
        entry: entry(
            Cause::SendAsDenied,
            Kind::NoPermission,
            "send with the mailbox's own address as From, or grant Add-RecipientPermission -Identity <from address> -Trustee <mailbox or application> -AccessRights SendAs (Exchange Online PowerShell)",
        )
        .means(
            "The mailbox in the URL may not send as the From address of the message.",
            &[
                "the message's From is another address than /users/{mailbox}/sendMail (a cron job's root@host, a web app's noreply@)",
                "Send As on that address was never granted",
            ],
        ),
    },
    GraphPattern {
        codes: &["ErrorAccessDenied"],
        status: 403,
        entry: entry(
            Cause::MailboxNotPermitted,
            Kind::NoPermission,
            "check the RBAC for Applications scope: Test-ServicePrincipalAuthorization -Identity <app id> -Resource <mailbox> must list Application Mail.Send as InScope; else New-ManagementRoleAssignment -App <app id> -Role \"Application Mail.Send\" -CustomResourceScope <scope> (oauth2-sendmail --setup-script --transport graph prints the steps); an old application access policy shows in Get-ApplicationAccessPolicy",
        )
        .means(
            "The application may not use this mailbox: Graph refused the request for lack of permission or scope.",
            &[
                "the mailbox is outside the management scope of the app's RBAC for Applications role assignment",
                "an application access policy (New-ApplicationAccessPolicy) restricts the app to other mailboxes",
                "the Mail.Send application permission is missing or lacks admin consent (Entra admin center > App registrations > your app > API permissions)",
                "permissions added recently have not reached Exchange yet (up to an hour)",
            ],
        ),
    },
    GraphPattern {
        codes: &["MailboxNotEnabledForRESTAPI", "ErrorInvalidUser", "ResourceNotFound"],
        status: 404,
        entry: entry(
            Cause::MailboxUnknown,
            Kind::Config,
            "user must be the primary SMTP address (or object id) of a licensed Exchange Online mailbox: check Microsoft 365 admin center > Users > the user > Licenses and apps, and Get-Mailbox <address> in Exchange Online PowerShell",
        )
        .means(
            "Graph found no Exchange Online mailbox for the user in the URL.",
            &[
                "the user has no Exchange Online licence, or the mailbox is still being provisioned",
                "the mailbox is on premises (hybrid), which Graph cannot send from",
                "a typo in the address, or an alias instead of the user principal name",
            ],
        ),
    },
    GraphPattern {
        codes: &["InvalidAuthenticationToken"],
        status: 401,
        entry: entry(
            Cause::TokenRejected,
            Kind::NoPermission,
            "ask for the token with scope https://graph.microsoft.com/.default (the national cloud's Graph host in GCC High, DoD or China) and renew it before it expires",
        )
        .means(
            "Graph refused the access token itself.",
            &[
                "the token is for another resource (the Exchange scope https://outlook.office365.com/.default instead of Graph's)",
                "the token has expired",
                "the token is from another cloud, or is not a token at all",
            ],
        ),
    },
    GraphPattern {
        codes: &["ErrorMessageSizeExceeded", "RequestEntityTooLarge"],
        status: 413,
        entry: entry(
            Cause::MessageTooLarge,
            Kind::Data,
            "a sendMail request body is limited to about 4 MB: larger messages go as a draft whose attachments are added separately (posted under 3 MB, from 3 MB through an upload session); above the mailbox's MaxSendSize (35 MB by default) an administrator raises it with Set-Mailbox -MaxSendSize",
        )
        .means(
            "The message is larger than Graph or the mailbox accepts.",
            &[
                "the request body passed Graph's limit of about 4 MB (a base64 MIME body grows by a third)",
                "the message passed the mailbox's MaxSendSize",
            ],
        ),
    },
    GraphPattern {
        codes: &["ApplicationThrottled", "TooManyRequests", "ErrorTooManyObjectsOpened"],
        status: 429,
        entry: entry(
            Cause::Throttled,
            Kind::Temporary,
            "wait for the Retry-After seconds and send again; keep under 4 concurrent requests and 30 messages a minute per mailbox ([limits] connections and rate)",
        )
        .means(
            "Graph is throttling the application for this mailbox (HTTP 429).",
            &[
                "more than 4 concurrent requests for one mailbox",
                "over 30 messages a minute, or about 10,000 requests in 10 minutes, for one mailbox",
                "another application shares the mailbox's budget",
            ],
        ),
    },
    GraphPattern {
        codes: &["ErrorQuotaExceeded"],
        status: 403,
        entry: entry(
            Cause::MailboxFull,
            Kind::Unavailable,
            "clean up the mailbox's Sent Items or give it a retention policy; or send with saveToSentItems = false ([graph] save_to_sent_items = false)",
        )
        .means(
            "The sending mailbox is full, so the sent copy cannot be saved.",
            &["every message sent is saved to Sent Items, which was never cleaned"],
        ),
    },
];
