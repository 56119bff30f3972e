//! The scanner against real output of other programs: each line must be
//! recognised with the right cause, in order; unrelated text with none.

use super::{Source, scan};
use crate::catalogue::{self, GRAPH};
use crate::explain::key;

/// (where it comes from, the text, the causes expected in order).
const LINES: &[(&str, &str, &[&str])] = &[
    (
        "Postfix, SMTP AUTH off for the tenant",
        "Nov 22 10:00:01 web1 postfix/smtp[1234]: 4BX1C2D3E4: to=<ops@example.com>, relay=smtp.office365.com[52.96.1.2]:587, delay=1.2, delays=0.01/0/0.9/0, dsn=4.7.0, status=deferred (SASL authentication failed; server smtp.office365.com[52.96.1.2] said: 535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F])",
        &["smtp-auth-disabled"],
    ),
    (
        "Postfix, 535 5.7.3 with no reason",
        "Nov 22 10:00:01 web1 postfix/smtp[1234]: 4BX1C2D3E4: SASL authentication failed; server smtp.office365.com[40.99.1.1] said: 535 5.7.3 Authentication unsuccessful [SN4PR0201CA0047.namprd02.prod.outlook.com 2024-07-11T11:46:49.042Z 08DCA18218166FB4]",
        &["token-rejected"],
    ),
    (
        "Postfix, 5.7.60 after DATA",
        "Nov 22 10:00:02 web1 postfix/smtp[1234]: 4BX1C2D3E4: to=<a@example.com>, relay=smtp.office365.com[52.96.1.2]:587, dsn=5.7.60, status=bounced (host smtp.office365.com[52.96.1.2] said: 550 5.7.60 SMTP; Client does not have permissions to send as this sender [BN9PR03CA0123.namprd03.prod.outlook.com] (in reply to end of DATA command))",
        &["send-as-denied"],
    ),
    (
        "Postfix, 5.2.252 SendAsDenied",
        "Nov 22 10:00:02 web1 postfix/smtp[1234]: 4BX1C2D3E4: status=bounced (host smtp.office365.com[52.96.1.2] said: 554 5.2.252 SendAsDenied; alerts@contoso.com not allowed to send as root@web1.contoso.com; STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception (in reply to end of DATA command))",
        &["send-as-denied"],
    ),
    (
        "Postfix, sender thread limit",
        "Nov 22 10:00:03 web1 postfix/smtp[1240]: 4BX1C2D3E5: to=<a@example.com>, relay=smtp.office365.com[52.96.1.2]:587, dsn=4.3.2, status=deferred (host smtp.office365.com[52.96.1.2] said: 432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded [Hostname=BN9PR03MB1234.namprd03.prod.outlook.com] (in reply to MAIL FROM command))",
        &["sender-thread-limit"],
    ),
    (
        "Postfix, 10,000 recipients a day",
        "Nov 22 10:00:04 web1 postfix/smtp[1241]: 4BX1C2D3E6: status=bounced (host smtp.office365.com[52.96.1.2] said: 554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due to a permanent exception with message [BeginDiagnosticData]Cannot submit message. (in reply to end of DATA command))",
        &["submission-quota"],
    ),
    (
        "Postfix, Sent Items full",
        "Nov 22 10:00:05 web1 postfix/smtp[1242]: 4BX1C2D3E7: status=bounced (host smtp.office365.com[52.96.1.2] said: 554 5.2.2 mailbox full; STOREDRV.Submission.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded; Failed to process message due to a permanent exception (in reply to end of DATA command))",
        &["mailbox-full"],
    ),
    (
        "Postfix, HVE token near expiry",
        "Nov 22 10:00:06 web1 postfix/smtp[1243]: 4BX1C2D3E8: SASL authentication failed; server smtp-hve.office365.com[52.96.9.9] said: 501 5.5.127 Authentication unsuccessful. Token will expire soon. [AM0PR01CA0001.eurprd01.prod.exchangelabs.com]",
        &["token-expiring"],
    ),
    (
        "Postfix, HVE external recipient",
        "Nov 22 10:00:07 web1 postfix/smtp[1244]: 4BX1C2D3E9: to=<someone@gmail.com>, relay=smtp-hve.office365.com[52.96.9.9]:587, status=bounced (host smtp-hve.office365.com[52.96.9.9] said: 550 5.5.105 External sending is not supported for High Volume Email accounts. (in reply to RCPT TO command))",
        &["hve-external-recipient"],
    ),
    (
        "Postfix, HVE XOAUTH2 data",
        "Nov 22 10:00:08 web1 postfix/smtp[1245]: 4BX1C2D3EA: SASL authentication failed; server smtp-hve.office365.com[52.96.9.9] said: 501 5.5.124 Invalid XOAUTH2 auth data",
        &["xoauth2-invalid"],
    ),
    (
        "Postfix, unregistered domain",
        "Nov 22 10:00:09 web1 postfix/smtp[1246]: 4BX1C2D3EB: status=bounced (host smtp.office365.com[52.96.1.2] said: 550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains. (in reply to MAIL FROM command))",
        &["unregistered-domain"],
    ),
    (
        "msmtp, SMTP AUTH off for the mailbox",
        "msmtp: server message: 535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information. [BN9PR03CA0123.namprd03.prod.outlook.com]",
        &["smtp-auth-disabled"],
    ),
    (
        "msmtp, basic authentication",
        "msmtp: server message: 550 5.7.30 Basic authentication is not supported for Client Submission. [BN9PR03CA0123.namprd03.prod.outlook.com]",
        &["basic-auth-disabled"],
    ),
    (
        "msmtp syslog",
        "Nov 22 10:00:10 web1 msmtp: host=smtp.office365.com tls=on auth=on user=alerts@contoso.com from=alerts@contoso.com recipients=ops@example.com smtpstatus=535 smtpmsg='535 5.7.3 Authentication unsuccessful [SN4PR0201CA0047.namprd02.prod.outlook.com]' errormsg='authentication failed (method XOAUTH2)' exitcode=EX_NOPERM",
        &["token-rejected"],
    ),
    (
        "PHPMailer debug output",
        "2026-11-22 10:00:11 SERVER -> CLIENT: 535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [BN9PR03CA0123.namprd03.prod.outlook.com]",
        &["basic-auth-disabled"],
    ),
    (
        "PHPMailer error",
        "SMTP ERROR: Password command failed: 535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator. [BN9PR03CA0123.namprd03.prod.outlook.com]",
        &["smtp-auth-blocked"],
    ),
    (
        "MailKit AuthenticationException",
        "MailKit.Security.AuthenticationException: 535: 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.",
        &["smtp-auth-disabled"],
    ),
    (
        "MailKit SmtpCommandException, send as",
        "MailKit.Net.Smtp.SmtpCommandException: 5.7.60 SMTP; Client does not have permissions to send as this sender",
        &["send-as-denied"],
    ),
    (
        "MailKit SmtpCommandException, concurrency",
        "MailKit.Net.Smtp.SmtpCommandException: 4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending for more information. [Hostname=BN9PR03MB1234.namprd03.prod.outlook.com]",
        &["connection-limit"],
    ),
    (
        ".NET System.Net.Mail",
        "System.Net.Mail.SmtpException: The SMTP server requires a secure connection or the client was not authenticated. The server response was: 5.7.57 Client not authenticated to send mail. [BN9PR03CA0123.namprd03.prod.outlook.com]",
        &["not-authenticated"],
    ),
    (
        "Python smtplib",
        "smtplib.SMTPAuthenticationError: (535, b'5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.')",
        &["smtp-auth-disabled"],
    ),
    (
        "Jakarta Mail",
        "jakarta.mail.AuthenticationFailedException: 535 5.7.3 Authentication unsuccessful [SN4PR0201CA0047.namprd02.prod.outlook.com 2024-07-11T11:46:49.042Z 08DCA18218166FB4]",
        &["token-rejected"],
    ),
    (
        "Nodemailer, Security Defaults",
        "Error: Invalid login: 535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator. [BN9PR03CA0123.namprd03.prod.outlook.com]",
        &["security-defaults"],
    ),
    (
        "Exchange NDR",
        "Remote Server returned '550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.'",
        &["tenant-blocked"],
    ),
    (
        "token endpoint: Secret ID pasted",
        r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '0a4f3c2e-7b1d-4e8f-9a6c-5d2b1e0f3a47'.\r\nTrace ID: 1f0e\r\nCorrelation ID: 2a1b\r\nTimestamp: 2026-11-22 10:00:00Z","error_codes":[7000215],"timestamp":"2026-11-22 10:00:00Z"}"#,
        &["secret-invalid"],
    ),
    (
        "token endpoint: expired secret",
        r#"{"error":"invalid_client","error_description":"AADSTS7000222: The provided client secret keys for app '0a4f3c2e-7b1d-4e8f-9a6c-5d2b1e0f3a47' are expired. Visit the Azure portal to create new keys for your app.","error_codes":[7000222]}"#,
        &["secret-expired"],
    ),
    (
        "token endpoint: cross-cloud",
        r#"{"error":"invalid_request","error_description":"AADSTS900382: Confidential Client is not supported in Cross Cloud request.","error_codes":[900382]}"#,
        &["wrong-cloud"],
    ),
    (
        "token endpoint: error_codes only",
        r#"{"error": "invalid_client", "error_codes": [700027], "trace_id": "1f0e"}"#,
        &["certificate-unknown"],
    ),
    (
        "sasl-xoauth2 refresh token",
        r#"Nov 22 10:00:12 web1 postfix/smtp[1250]: TokenStore::Refresh: http error: {"error":"invalid_grant","error_description":"AADSTS700082: The refresh token has expired due to inactivity. The token was issued on 2026-08-01T10:00:00.0000000Z and was inactive for 90.00:00:00.","error_codes":[700082]}"#,
        &["refresh-token-expired"],
    ),
    (
        "MSAL for Python",
        "{'error': 'invalid_grant', 'error_description': 'AADSTS70000: The request was denied because one or more scopes requested are unauthorized or expired. The user must first sign in and grant the client application access to the requested scope.', 'error_codes': [70000]}",
        &["grant-invalid"],
    ),
    (
        "Azure workload identity",
        "ClientAssertionCredential authentication failed: AADSTS70021: No matching federated identity record found for presented assertion. Assertion Issuer: 'https://oidc.prod-aks.azure.com/6f2d8c1a/'. Assertion Subject: 'system:serviceaccount:mail:sender'. Assertion Audience: 'api://AzureADTokenExchange'.",
        &["federation-mismatch"],
    ),
    (
        "workload identity token too old",
        "azure.core.exceptions.ClientAuthenticationError: AADSTS700024: Client assertion is not within its valid time range. Current time: 2026-11-22T10:00:00.0000000Z, assertion valid from 2026-11-22T08:00:00.0000000Z, expiry time of assertion 2026-11-22T09:00:00.0000000Z.",
        &["assertion-time"],
    ),
    (
        "Graph: RBAC scope",
        r#"{"error":{"code":"ErrorAccessDenied","message":"Access is denied. Check credentials and try again.","innerError":{"request-id":"5e1c","date":"2026-11-22T10:00:00"}}}"#,
        &["mailbox-not-permitted"],
    ),
    (
        "Graph: send as",
        r#"{"error":{"code":"ErrorSendAsDenied","message":"The user account which was used to submit this request does not have the right to send mail on behalf of the specified sending account."}}"#,
        &["send-as-denied"],
    ),
    (
        "Graph: no mailbox",
        r#"{"error":{"code":"MailboxNotEnabledForRESTAPI","message":"The mailbox is either inactive, soft-deleted, or is hosted on-premise."}}"#,
        &["mailbox-unknown"],
    ),
    (
        "Graph: token",
        r#"{"error":{"code":"InvalidAuthenticationToken","message":"Access token validation failure. Invalid audience."}}"#,
        &["token-rejected"],
    ),
    (
        "Graph: size",
        r#"{"error":{"code":"ErrorMessageSizeExceeded","message":"The message exceeds the maximum supported size."}}"#,
        &["message-too-large"],
    ),
    (
        "Graph PowerShell: throttled",
        "Send-MgUserMail : Application is over its MailboxConcurrency limit. Status: 429 (429) ErrorCode: ApplicationThrottled",
        &["throttled"],
    ),
    (
        "HTTP 429 status line",
        "HTTP/1.1 429 Too Many Requests Retry-After: 30",
        &["throttled"],
    ),
    (
        "oauth2-sendmail syslog, with the reply",
        r#"Nov 22 10:00:13 web1 oauth2-sendmail[4242]: outcome=failed exit=EX_NOPERM cause=send-as-denied error="SMTP server smtp.office365.com:587 refused the message (end of data): 554 5.2.252 SendAsDenied; alerts@contoso.com not allowed to send as root@web1.contoso.com""#,
        &["send-as-denied"],
    ),
    (
        "oauth2-sendmail syslog, cause only",
        "Nov 22 10:00:14 web1 oauth2-sendmail[4243]: outcome=queued queue_id=0a1b cause=connection-limit",
        &["connection-limit"],
    ),
    (
        "two failures on one line",
        "token: AADSTS530035: Access has been blocked by security defaults; then smtp said 535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.",
        &["security-defaults", "smtp-auth-disabled"],
    ),
];

#[test]
fn lines_from_other_programs() {
    assert!(LINES.len() >= 30);
    for (what, line, causes) in LINES {
        let found: Vec<&str> = scan(line)
            .findings
            .iter()
            .map(|f| f.entry.cause.as_str())
            .collect();
        assert_eq!(&found, causes, "{what}: {line}");
    }
}

#[test]
fn unrelated_text_is_not_recognised() {
    for text in [
        "",
        "The quick brown fox jumps over the lazy dog.",
        "Nov 22 10:00:01 web1 postfix/smtp[1]: 4BX1: to=<a@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 12345)",
        "Linux version 5.15.0-91-generic (buildd@lcy02) #101-Ubuntu SMP",
        "installed openssl 4.7.0 and curl 5.1.1 from 10.5.1.2",
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"token_type\":\"Bearer\",\"expires_in\":3599}",
        "Nov 22 10:00:01 web1 oauth2-sendmail[4242]: outcome=delivered queue_id=0a1b",
        "status 429 of 1000 items processed",
    ] {
        let scan = scan(text);
        assert!(scan.findings.is_empty(), "{text:?}: {:?}", scan.findings);
    }
}

#[test]
fn counts_repeats_and_keeps_the_first_line() {
    let text = "x\nsaid: 535 5.7.3 Authentication unsuccessful\nsaid: 535 5.7.3 Authentication unsuccessful [other]\n";
    let scan = scan(text);
    assert_eq!(scan.findings.len(), 1);
    assert_eq!((scan.findings[0].line, scan.findings[0].count), (2, 2));
    assert!(scan.findings[0].seen.starts_with("535 5.7.3"));
}

#[test]
fn unknown_aadsts_codes_are_listed_not_recognised() {
    let scan = scan("AADSTS12345678: something new");
    assert!(scan.findings.is_empty());
    assert_eq!(scan.unknown_aadsts, [12_345_678]);
}

/// Every catalogue entry is found by `--explain` from its own signature.
#[test]
fn every_entry_is_recognised() {
    for (code, entry) in catalogue::entra_entries() {
        let found = scan(&format!("AADSTS{code}: text"));
        assert_eq!(found.findings.len(), 1, "AADSTS{code}");
        assert_eq!(found.findings[0].source, Source::Entra(code));
        assert_eq!(found.findings[0].entry, entry);
    }
    for (i, pattern) in catalogue::smtp_patterns().iter().enumerate() {
        // A code-0 pattern stands for any reply code: use one of its class
        // that no more specific pattern claims.
        let line = match pattern.enhanced.chars().next() {
            Some('4') if pattern.code == 0 => format!("server said: 451 {}", pattern.signature()),
            Some('5') if pattern.code == 0 => format!("server said: 550 {}", pattern.signature()),
            _ => format!("server said: {}", pattern.signature()),
        };
        let found = scan(&line);
        let sources: Vec<Source> = found.findings.iter().map(|f| f.source).collect();
        // A pattern without an enhanced code needs one from its reply
        // class to be seen at all.
        if pattern.enhanced.is_empty() {
            continue;
        }
        assert_eq!(sources, [Source::Exchange(i)], "{line}");
    }
    for (i, pattern) in GRAPH.iter().enumerate() {
        for code in pattern.codes {
            let line = format!(r#"{{"error":{{"code":"{code}","message":"x"}}}}"#);
            let sources: Vec<Source> = scan(&line).findings.iter().map(|f| f.source).collect();
            assert_eq!(sources, [Source::Graph(i)], "{line}");
        }
    }
}

/// What `--check` prints after `--explain` finds the same entry again.
#[test]
fn keys_find_their_entry_again() {
    for (what, line, _) in LINES {
        for finding in scan(line).findings {
            let key = key(&finding);
            assert!(
                key.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '.'),
                "{what}: {key:?}"
            );
            let again: Vec<Source> = scan(&key).findings.iter().map(|f| f.source).collect();
            assert_eq!(again, [finding.source], "{what}: {key:?}");
        }
    }
}

proptest::proptest! {
    /// Any text, however odd (multi-byte characters next to digits and
    /// dots), is scanned without a panic.
    #[test]
    fn any_text_is_scanned(text in "(\\PC|[0-9. :'\\-]|é|AADSTS|\"error_codes\":\\[){0,80}") {
        let _ = scan(&text);
    }
}
