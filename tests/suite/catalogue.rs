//! One test per entry of the failure catalogue: the real binary is driven
//! into the failure and must exit with the entry's code, name the fix in
//! its stderr hint, keep the server's own words, and log the cause code.
//!
//! Entra errors come from the sandbox's token endpoint (control API, status
//! mode, the exact Entra JSON); Exchange replies from the scripted SMTP peer
//! replaying the exact text, at the step where Exchange sends it. A unit
//! test in `src/catalogue.rs` reads this file and fails if an entry has no
//! test here.

use crate::common;

use common::fake_smtp::{Behaviour, FakeSmtp, sandbox_identity};
use common::sandbox::{Sandbox, sandbox};
use common::{Run, Scratch, SyslogCapture, s, sendmail};

const MESSAGE: &[u8] = b"Subject: catalogue\n\nbody\n";

/// Runs the binary against the sandbox (or the fake peer on `port`) with a
/// syslog capture; returns the run and the capture to read once the
/// sandbox is released (reading waits for a timeout).
fn send(sb: &Sandbox, scratch: &Scratch, port: Option<u16>) -> (Run, SyslogCapture) {
    let syslog = SyslogCapture::new(scratch);
    let mut settings = match port {
        Some(port) => sb.peer_settings(scratch, port),
        None => sb.settings(scratch),
    };
    settings.syslog_socket = Some(syslog.path.clone());
    let conf = settings.write(scratch);
    let run = sendmail(&["-C", s(&conf), "a@example.com"], MESSAGE);
    (run, syslog)
}

#[track_caller]
fn assert_reported(run: &Run, lines: &[String], exit: i32, words: &str, cause: &str, fix: &str) {
    run.expect(exit);
    assert!(
        run.stderr.contains(words),
        "the server's own words {words:?} are shown: {}",
        run.stderr
    );
    let hint = run.stderr.split_once(" -- hint: ").map_or("", |(_, h)| h);
    assert!(hint.contains(fix), "the hint names {fix:?}: {}", run.stderr);
    assert_eq!(lines.len(), 1, "one syslog line: {lines:?}");
    assert!(
        lines[0].contains("outcome=failed") && lines[0].contains(&format!(" cause={cause} ")),
        "cause={cause} in {}",
        lines[0]
    );
}

// ---- Entra ----------------------------------------------------------------

/// The token endpoint answers every request with this Entra error.
fn entra_case(code: u64, status: u16, error: &str, text: &str, exit: i32, cause: &str, fix: &str) {
    let sb = sandbox();
    let sb = sb.exclusive();
    let trace = format!("{code:08x}-0000-4000-8000-00000000aaaa");
    let correlation = format!("{code:08x}-1111-4111-8111-11111111bbbb");
    let body = serde_json::json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {text}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: 2026-11-22 10:00:00Z"
        ),
        "error_codes": [code],
        "timestamp": "2026-11-22 10:00:00Z",
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    let mode = serde_json::json!({"mode": "status", "status": status, "body": body});
    sb.control("mode", &mode.to_string());
    let scratch = Scratch::new(&format!("aadsts{code}"));
    let (run, syslog) = send(&sb, &scratch, None);
    drop(sb);
    let lines = syslog.lines();
    assert_reported(&run, &lines, exit, &format!("AADSTS{code}: "), cause, fix);
    assert!(
        run.stderr.contains(&format!("trace ID {trace}"))
            && run
                .stderr
                .contains(&format!("correlation ID {correlation}")),
        "support's IDs are shown: {}",
        run.stderr
    );
}

macro_rules! entra {
    ($($name:ident: $code:literal $status:literal $error:literal $text:literal
        => $exit:literal $cause:literal $fix:literal;)*) => {
        $(
            #[test]
            fn $name() {
                entra_case($code, $status, $error, $text, $exit, $cause, $fix);
            }
        )*
    };
}

entra! {
    aadsts7000215_secret_invalid: 7000215 401 "invalid_client"
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '0a4f3c2e-7b1d-4e8f-9a6c-5d2b1e0f3a47'."
        => 78 "secret-invalid" "copy its Value (not the Secret ID)";
    aadsts7000222_secret_expired: 7000222 401 "invalid_client"
        "The provided client secret keys for app '0a4f3c2e-7b1d-4e8f-9a6c-5d2b1e0f3a47' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."
        => 78 "secret-expired" "Certificates & secrets";
    aadsts7000218_secret_missing: 7000218 401 "invalid_client"
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."
        => 78 "secret-missing" "client_secret_file";
    aadsts700016_client_unknown: 700016 400 "unauthorized_client"
        "Application with identifier '0a4f3c2e-7b1d-4e8f-9a6c-5d2b1e0f3a47' was not found in the directory 'Contoso'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
        => 78 "client-unknown" "Application (client) ID";
    aadsts90002_tenant_unknown: 90002 400 "invalid_request"
        "Tenant 'fabrikam.onmicrosoft.com' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
        => 78 "tenant-unknown" "Directory (tenant) ID";
    aadsts900023_tenant_invalid: 900023 400 "invalid_request"
        "Specified tenant identifier 'contoso' is neither a valid DNS name, nor a valid external domain."
        => 78 "tenant-invalid" "GUID";
    aadsts9001023_tenant_common: 9001023 400 "invalid_request"
        "The grant type is not supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint."
        => 78 "tenant-common" "not common";
    aadsts50194_tenant_common: 50194 400 "invalid_request"
        "Application '0a4f3c2e-7b1d-4e8f-9a6c-5d2b1e0f3a47' is not configured as a multi-tenant application. Usage of the /common endpoint is not supported for such applications created after '10/15/2018'. Use a tenant-specific endpoint or configure the application to be multi-tenant."
        => 78 "tenant-common" "tenant-specific";
    aadsts1002012_scope_invalid: 1002012 400 "invalid_scope"
        "The provided value for scope https://outlook.office365.com/SMTP.Send is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
        => 78 "scope-invalid" "token.scope";
    aadsts70011_scope_invalid: 70011 400 "invalid_scope"
        "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope https://graph.microsoft.com/.default is not valid."
        => 78 "scope-invalid" "https://outlook.office365.com/.default";
    aadsts700022_scope_invalid: 700022 400 "invalid_scope"
        "The provided value for the input parameter scope is not valid because it contains more than one resource."
        => 78 "scope-invalid" "only one resource";
    aadsts500011_resource_unknown: 500011 400 "invalid_resource"
        "The resource principal named https://outlook.office365.com was not found in the tenant named Contoso. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
        => 78 "resource-unknown" "licences";
    aadsts700027_certificate_unknown: 700027 401 "invalid_client"
        "Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '9E5B1C0A5F2D3B4A6C7D8E9F0A1B2C3D4E5F6A7B', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '3d7a6f5b-ae4a-4b12-8d9f-8a5e4b3c6d7a'.]"
        => 78 "certificate-unknown" "upload certificate_file";
    aadsts700024_assertion_time: 700024 401 "invalid_client"
        "Client assertion is not within its valid time range. Current time: 2026-11-22T10:00:00.0000000Z, assertion valid from 2026-11-22T11:00:00.0000000Z, expiry time of assertion 2026-11-22T11:05:00.0000000Z."
        => 78 "assertion-time" "NTP";
    aadsts50012_assertion_invalid: 50012 401 "invalid_client"
        "Client assertion failed signature validation."
        => 78 "assertion-invalid" "private_key_file";
    aadsts700023_assertion_invalid: 700023 401 "invalid_client"
        "Client assertion audience claim does not match Realm issuer."
        => 78 "assertion-invalid" "token.url";
    aadsts700021_assertion_invalid: 700021 401 "invalid_client"
        "Client assertion application identifier doesn't match 'client_id' parameter."
        => 78 "assertion-invalid" "client_id";
    aadsts50048_assertion_invalid: 50048 401 "invalid_client"
        "Subject mismatches Issuer claim in the client assertion."
        => 78 "assertion-invalid" "client_id";
    aadsts7000112_application_disabled: 7000112 400 "unauthorized_client"
        "Application '0a4f3c2e-7b1d-4e8f-9a6c-5d2b1e0f3a47'(oauth2-sendmail) is disabled."
        => 78 "application-disabled" "Enabled for users to sign-in";
    aadsts70001_application_disabled: 70001 400 "unauthorized_client"
        "Application with identifier '0a4f3c2e-7b1d-4e8f-9a6c-5d2b1e0f3a47' was disabled."
        => 78 "application-disabled" "Enterprise applications";
    aadsts7000229_service_principal_missing: 7000229 401 "invalid_client"
        "The client application 0a4f3c2e-7b1d-4e8f-9a6c-5d2b1e0f3a47 is missing service principal in the tenant 6f2d8c1a-3b4e-4f5a-9c7d-0e1f2a3b4c5d. See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119"
        => 78 "service-principal-missing" "admin consent";
    aadsts53003_conditional_access: 53003 400 "invalid_grant"
        "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance."
        => 77 "conditional-access" "Protection > Conditional Access";
    aadsts530035_security_defaults: 530035 400 "invalid_grant"
        "Access has been blocked by security defaults. This is due to the request using legacy auth or being deemed unsafe by security defaults policies."
        => 77 "security-defaults" "Manage security defaults";
    aadsts50034_user_flow: 50034 400 "invalid_grant"
        "The user account {EUII Hidden} does not exist in the 6f2d8c1a-3b4e-4f5a-9c7d-0e1f2a3b4c5d directory. To sign into this application, the account must be added to the directory."
        => 78 "user-flow" "client credentials";
    aadsts50196_token_throttled: 50196 400 "invalid_request"
        "The server terminated an operation because it encountered a client request loop. Please contact your app vendor."
        => 75 "token-throttled" "cached";
    aadsts90055_token_throttled: 90055 429 "temporarily_unavailable"
        "The request has been throttled."
        => 75 "token-throttled" "later";
    aadsts50033_token_endpoint_unavailable: 50033 503 "temporarily_unavailable"
        "There was an error when attempting to connect to the database."
        => 75 "token-endpoint-unavailable" "later";
    aadsts90006_token_endpoint_unavailable: 90006 503 "temporarily_unavailable"
        "The server encountered an internal error. Please retry the request."
        => 75 "token-endpoint-unavailable" "later";
    aadsts90024_token_endpoint_unavailable: 90024 503 "temporarily_unavailable"
        "A transient error has occurred. Please try again."
        => 75 "token-endpoint-unavailable" "later";
    aadsts90038_wrong_cloud: 90038 400 "invalid_request"
        "Tenant 'contoso.onmicrosoft.us' is not in the cloud this endpoint serves; use the national cloud endpoint."
        => 78 "wrong-cloud" "login.microsoftonline.us";
    aadsts900382_wrong_cloud: 900382 400 "invalid_request"
        "Confidential Client is not supported in Cross Cloud request."
        => 78 "wrong-cloud" "token.url";
    aadsts700082_refresh_token_expired: 700082 400 "invalid_grant"
        "The refresh token has expired due to inactivity. The token was issued on 2026-08-01T10:00:00.0000000Z and was inactive for 90.00:00:00."
        => 78 "refresh-token-expired" "client credentials";
    aadsts70000_grant_invalid: 70000 400 "invalid_grant"
        "The request was denied because one or more scopes requested are unauthorized or expired. The user must first sign in and grant the client application access to the requested scope."
        => 78 "grant-invalid" "authorization step";
    aadsts70021_federation_mismatch: 70021 400 "invalid_request"
        "No matching federated identity record found for presented assertion. Assertion Issuer: 'https://oidc.prod-aks.azure.com/6f2d8c1a-3b4e-4f5a-9c7d-0e1f2a3b4c5d/'. Assertion Subject: 'system:serviceaccount:mail:sender'. Assertion Audience: 'api://AzureADTokenExchange'."
        => 78 "federation-mismatch" "api://AzureADTokenExchange";
    aadsts900144_request_incomplete: 900144 400 "invalid_request"
        "The request body must contain the following parameter: 'scope'."
        => 78 "request-incomplete" "token.scope";
}

#[test]
fn an_unknown_aadsts_code_keeps_entras_whole_line() {
    entra_case(
        999_999,
        400,
        "invalid_request",
        "Something Entra added later. With a second sentence.",
        78,
        "token-refused",
        "Sign-in logs",
    );
}

// ---- Exchange ---------------------------------------------------------------

/// Where the scripted peer sends the reply.
#[derive(Clone, Copy, Debug)]
enum At {
    Greeting,
    Auth,
    MailFrom,
    RcptTo,
    EndOfData,
}

/// The peer answers `reply` at `at`; the token is the sandbox's real one,
/// or an opaque one when the claims must not explain a refused login.
fn exchange_case(at: At, reply: &str, opaque_token: bool, exit: i32, cause: &str, fix: &str) {
    let sb = sandbox();
    let guard = opaque_token.then(|| sb.exclusive());
    let _shared = (!opaque_token).then(|| sb.shared());
    if let Some(sb) = &guard {
        let body = serde_json::json!({
            "token_type": "Bearer",
            "expires_in": 3599,
            "access_token": "opaque-token-that-is-not-a-jwt",
        });
        let mode = serde_json::json!({"mode": "status", "status": 200, "body": body});
        sb.control("mode", &mode.to_string());
    }
    let mut b = Behaviour::good(sandbox_identity(&sb.dir));
    match at {
        At::Greeting => b.greeting = reply.into(),
        At::Auth => b.auth_replies = vec![reply.into()],
        At::MailFrom => b.mail_reply = Some(reply.into()),
        At::RcptTo => {
            b.rcpt_replies.insert("a@example.com".into(), reply.into());
        }
        At::EndOfData => b.final_reply = reply.into(),
    }
    let fake = FakeSmtp::start(b);
    let scratch = Scratch::new("exchange");
    let (run, syslog) = send(sb, &scratch, Some(fake.port));
    drop(guard);
    let lines = syslog.lines();
    assert_reported(&run, &lines, exit, reply, cause, fix);
}

macro_rules! exchange {
    ($($name:ident: $at:ident $reply:literal $(, $opaque:ident)?
        => $exit:literal $cause:literal $fix:literal;)*) => {
        $(
            #[test]
            fn $name() {
                let opaque = false $(|| stringify!($opaque) == "opaque")?;
                exchange_case(At::$at, $reply, opaque, $exit, $cause, $fix);
            }
        )*
    };
}

exchange! {
    smtp_535_5_7_139_tenant: Auth
        "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]"
        => 77 "smtp-auth-disabled" "Set-CASMailbox -Identity <user> -SmtpClientAuthenticationDisabled $false";
    smtp_535_5_7_139_mailbox: Auth
        "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information. [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]"
        => 77 "smtp-auth-disabled" "Set-CASMailbox";
    smtp_535_5_7_139_security_defaults: Auth
        "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator. [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]"
        => 77 "security-defaults" "Security Defaults";
    smtp_535_5_7_139_basic_auth: Auth
        "535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]"
        => 78 "basic-auth-disabled" "XOAUTH2";
    smtp_535_5_7_139_policy: Auth
        "535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator. [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]"
        => 77 "smtp-auth-blocked" "Conditional Access";
    smtp_535_5_7_3_opaque_token: Auth
        "535 5.7.3 Authentication unsuccessful [SN4PR0201CA0047.namprd02.prod.outlook.com 2026-11-22T10:00:00.000Z 08DCA18218166FB4]", opaque
        => 77 "token-rejected" "New-ServicePrincipal";
    smtp_535_5_7_3_with_good_claims: Auth
        "535 5.7.3 Authentication unsuccessful [SN4PR0201CA0047.namprd02.prod.outlook.com 2026-11-22T10:00:00.000Z 08DCA18218166FB4]"
        => 77 "mailbox-not-permitted" "Add-MailboxPermission";
    smtp_535_5_7_8: Auth
        "535 5.7.8 Error: authentication failed: (reason unavailable)", opaque
        => 77 "token-rejected" "user";
    smtp_550_5_7_30: Auth
        "550 5.7.30 Basic authentication is not supported for Client Submission. [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]"
        => 78 "basic-auth-disabled" "smtp.host";
    smtp_501_5_5_124: Auth
        "501 5.5.124 Invalid XOAUTH2 auth data [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]"
        => 78 "xoauth2-invalid" "smtp.office365.com";
    smtp_454_4_7_0: Auth
        "454 4.7.0 Temporary authentication failure [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]"
        => 75 "auth-temporary" "later";
    smtp_504_5_7_4: Auth
        "504 5.7.4 Unrecognized authentication type [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]"
        => 78 "auth-mechanism-refused" "starttls";
    smtp_530_5_7_57: MailFrom
        "530 5.7.57 Client not authenticated to send mail. [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]"
        => 78 "not-authenticated" "smtp.port";
    smtp_553_5_7_1_sender_not_owned: MailFrom
        "553 5.7.1 <boss@contoso.test>: Sender address rejected: not owned by user alerts@contoso.test"
        => 77 "send-as-denied" "allow_from_override";
    smtp_550_5_7_60: EndOfData
        "550 5.7.60 SMTP; Client does not have permissions to send as this sender [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]"
        => 77 "send-as-denied" "Add-RecipientPermission";
    smtp_554_5_2_252: EndOfData
        "554 5.2.252 SendAsDenied; alerts@contoso.test not allowed to send as root@web1.contoso.test; STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message [BeginDiagnosticData]Cannot submit message. 0.35250:0A001F85, 1.36674:0A000000 [Hostname=BN9PR03MB1234.namprd03.prod.outlook.com]"
        => 77 "send-as-denied" "from_policy";
    smtp_554_5_2_0_send_as_denied: EndOfData
        "554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message Cannot submit message. [Hostname=BN9PR03MB1234.namprd03.prod.outlook.com]"
        => 77 "send-as-denied" "SendAs";
    smtp_452_4_5_3: RcptTo
        "452 4.5.3 Too many recipients (AS780090) [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]"
        => 75 "too-many-recipients" "500";
    smtp_550_5_1_1: RcptTo
        "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]"
        => 67 "recipient-unknown" "spelling";
    smtp_552_5_3_4: EndOfData
        "552 5.3.4 Message size exceeds fixed maximum message size [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]"
        => 65 "message-too-large" "MaxSendSize";
    smtp_554_5_2_2_mailbox_full: EndOfData
        "554 5.2.2 mailbox full; STOREDRV.Submission.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded; Failed to process message due to a permanent exception [Hostname=BN9PR03MB1234.namprd03.prod.outlook.com]"
        => 69 "mailbox-full" "Sent Items";
    smtp_554_5_2_0_submission_quota: EndOfData
        "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due to a permanent exception [Hostname=BN9PR03MB1234.namprd03.prod.outlook.com]"
        => 75 "submission-quota" "10,000";
    smtp_550_5_1_90: EndOfData
        "550 5.1.90 Your message can't be sent because you've reached your daily limit for message recipients. [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]"
        => 75 "submission-quota" "10,000";
    smtp_432_4_3_2_sender_thread_limit: MailFrom
        "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded [Hostname=BN9PR03MB1234.namprd03.prod.outlook.com]"
        => 75 "sender-thread-limit" "[limits] rate";
    smtp_432_4_3_2_concurrent_connections: MailFrom
        "432 4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending for more information. [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]"
        => 75 "connection-limit" "3 SMTP sessions";
    smtp_432_4_3_2_throttled: MailFrom
        "432 4.3.2 Message submission rate for this client has exceeded the configured limit [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]"
        => 75 "throttled" "30 messages";
    smtp_501_5_5_127_hve_token_expiring: Auth
        "501 5.5.127 Authentication unsuccessful. Token will expire soon. [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]"
        => 75 "token-expiring" "10 minutes";
    smtp_550_5_5_105_hve_external: RcptTo
        "550 5.5.105 External sending is not supported for High Volume Email accounts. [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]"
        => 67 "hve-external-recipient" "internal recipients only";
    smtp_421: Greeting
        "421 Too many concurrent SMTP connections; please try again later."
        => 75 "server-busy" "later";
    smtp_550_5_7_708: MailFrom
        "550 5.7.708 Access denied, traffic not accepted from this IP. [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]"
        => 69 "tenant-blocked" "support";
    smtp_550_5_7_750: MailFrom
        "550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains. [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]"
        => 69 "unregistered-domain" "Settings > Domains";
    smtp_550_5_7_705: MailFrom
        "550 5.7.705 Access denied, tenant has exceeded threshold. [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]"
        => 69 "tenant-blocked" "threshold";
    smtp_550_5_1_8: MailFrom
        "550 5.1.8 Access denied, bad outbound sender. [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]"
        => 77 "sender-blocked" "Restricted entities";
    smtp_430_4_2_0: EndOfData
        "430 4.2.0 STOREDRV; mailbox logon failure; Failed to process message due to a transient exception with message [BeginDiagnosticData]Cannot open mailbox. MapiExceptionLogonFailed [Hostname=BN9PR03MB1234.namprd03.prod.outlook.com]"
        => 75 "mailbox-logon" "Add-MailboxPermission";
    smtp_451_4_7_0: EndOfData
        "451 4.7.0 Temporary server error. Please try again later. PRX4 [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]"
        => 75 "server-temporary" "later";
}

#[test]
fn an_unknown_reply_is_shown_verbatim_with_its_session_tail() {
    exchange_case(
        At::MailFrom,
        "550 5.7.1 Something Exchange added later [BN9PR03CA0123.namprd03.prod.outlook.com 2026-11-22T10:00:00.000Z 08DD0A1B2C3D4E5F]",
        false,
        69,
        "sender-refused",
        "retrying will not help",
    );
}
