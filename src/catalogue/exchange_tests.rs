//! The Exchange Online table against real replies: each resolves to the
//! right cause, exit code and fix.

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
            "sender-thread-limit",
            75,
            "parallel",
        ),
        (
            432,
            "4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending for more information.",
            "connection-limit",
            75,
            "[limits] connections",
        ),
        (
            501,
            "5.5.127 Authentication unsuccessful. Token will expire soon.",
            "token-expiring",
            75,
            "10 minutes",
        ),
        (
            550,
            "5.5.105 External sending is not supported for High Volume Email accounts.",
            "hve-external-recipient",
            69,
            "internal recipients only",
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
            (e.cause.as_str(), e.kind.exit_code()),
            (cause, exit),
            "{code} {text}"
        );
        assert!(e.fix.contains(fix), "{code} {text}: fix lacks {fix}");
    }
    assert!(smtp_reply(250, "2.0.0 Ok").is_none());
    assert!(smtp_reply(550, "5.7.1 something new").is_none());
}
