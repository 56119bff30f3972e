//! Graph's answers to `sendMail` as the program's errors.
//!
//! Graph answers errors as JSON `{"error": {"code", "message",
//! "innerError": {"request-id", "date"}}}` (reference in docs/graph.md).
//! [`interpret`] turns status, code and `Retry-After` into an [`Error`]
//! with the kind its SMTP counterpart has (so the same exit codes and the
//! same queue decisions follow), a cause code for the log and a fix. Pure:
//! tested by table.

use crate::cause::Cause;
use serde_json::Value;

use crate::error::{Error, Kind};

/// What Graph answered, as far as deciding needs it.
#[derive(Debug, Default)]
pub struct Answer<'a> {
    /// HTTP status.
    pub status: u16,
    /// The `request-id` header.
    pub request_id: Option<&'a str>,
    /// The `Retry-After` header, in seconds.
    pub retry_after: Option<u64>,
    /// The body (JSON, or anything).
    pub body: &'a [u8],
}

/// A refusal, classified.
#[derive(Debug)]
pub struct Refusal {
    /// The error to report.
    pub error: Error,
    /// Graph asked for a pause (429, 503 with `Retry-After`).
    pub throttled: bool,
    /// Worth one more try in this invocation after this many seconds.
    pub retry_after: Option<u64>,
}

/// The Graph error code of an answer body.
pub fn code_of(body: &[u8]) -> (Option<String>, Option<String>) {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let error = json.as_ref().and_then(|j| j.get("error"));
    let text = |key: &str| {
        error
            .and_then(|e| e.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    (text("code"), text("message"))
}

/// The longest `Retry-After` honoured inside one invocation; a longer
/// pause is left to the queue.
pub const RETRY_NOW_LIMIT: u64 = 30;

/// Reads a refusal (any status but 202).
pub fn interpret(answer: &Answer) -> Refusal {
    let (code, text) = code_of(answer.body);
    let code_str = code.as_deref().unwrap_or("");
    let mut message = format!(
        "Microsoft Graph refused the message (HTTP {}",
        answer.status
    );
    if !code_str.is_empty() {
        message.push_str(&format!(" {code_str}"));
    }
    message.push(')');
    if let Some(text) = text.as_deref().filter(|t| !t.is_empty()) {
        let short: String = text.chars().take(200).collect();
        message.push_str(&format!(": {short}"));
    }
    if let Some(id) = answer.request_id {
        message.push_str(&format!(" [request-id {id}]"));
    }
    let (kind, cause, hint) = classify(answer.status, code_str);
    let throttled = matches!(answer.status, 429 | 503);
    let retry_after = answer
        .retry_after
        .filter(|s| throttled && *s <= RETRY_NOW_LIMIT);
    Refusal {
        error: Error::new(kind, message).with_cause(cause).with_hint(hint),
        throttled,
        retry_after,
    }
}

/// Kind, cause code and fix for a status and Graph error code.
fn classify(status: u16, code: &str) -> (Kind, Cause, &'static str) {
    match (status, code) {
        (401, _) => (
            Kind::NoPermission,
            Cause::GraphTokenRejected,
            "Graph rejected the token: the app needs the Microsoft Graph Mail.Send application permission (not delegated) with admin consent, and graph.url must be the Graph of the tenant's cloud (the token is asked for graph.url + /.default)",
        ),
        (403, "ErrorSendAsDenied") => (
            Kind::NoPermission,
            Cause::GraphSendAsDenied,
            "the From address is not the mailbox (user) or one it may send as: set from to the mailbox, or grant Send As on the From mailbox",
        ),
        (403, _) => (
            Kind::NoPermission,
            Cause::GraphAccessDenied,
            "the app may not send as this mailbox: grant Microsoft Graph Mail.Send (application) with admin consent, and put the mailbox in the app's RBAC for Applications scope (New-ManagementScope + New-ManagementRoleAssignment -Role \"Application Mail.Send\") or application access policy; changes can take an hour to apply",
        ),
        (404, "MailboxNotEnabledForRESTAPI") => (
            Kind::Config,
            Cause::GraphMailboxNotEnabled,
            "the mailbox has no Exchange Online licence, is inactive, or lives on-premises: user must be a licensed Exchange Online mailbox (or shared mailbox)",
        ),
        (404, _) => (
            Kind::Config,
            Cause::GraphMailboxNotFound,
            "Graph knows no mailbox by that name: check user (the mailbox's address or user principal name) and that graph.url is the tenant's cloud",
        ),
        (413, _) | (_, "ErrorMessageSizeExceeded" | "RequestEntityTooLarge") => (
            Kind::Data,
            Cause::GraphMessageTooLarge,
            "the message is larger than Graph or the mailbox accepts (35 MB by default after encoding): shrink it, or an administrator raises MaxSendSize with Set-Mailbox",
        ),
        (400, "ErrorInvalidRecipients") => (
            Kind::NoUser,
            Cause::GraphRecipientsRefused,
            "Exchange refused the recipients; check the addresses",
        ),
        (429, _) | (503, _) => (
            Kind::Temporary,
            Cause::GraphThrottled,
            "Graph asked for a pause (throttling: about 30 messages a minute per mailbox); the message can be sent later",
        ),
        (504, _) => (
            Kind::Temporary,
            Cause::GraphTimeout,
            "Graph timed out; the message may have been accepted all the same, so a later retry can deliver it twice",
        ),
        (500..=599, _) => (
            Kind::Temporary,
            Cause::GraphUnavailable,
            "Graph is having trouble; the message can be sent later",
        ),
        _ => (
            Kind::Unavailable,
            Cause::GraphRefused,
            "Graph refused the request for a reason oauth2-sendmail does not know: look the code up in Microsoft Graph's documentation, with the request-id for Microsoft support",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: &str) -> Vec<u8> {
        format!(
            r#"{{"error":{{"code":"{code}","message":"m.","innerError":{{"request-id":"r"}}}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn statuses_and_codes_map_like_their_smtp_counterparts() {
        // (status, code, Retry-After, exit code, cause, throttled, retry now)
        let table = [
            (
                401,
                "InvalidAuthenticationToken",
                None,
                77,
                "graph-token-rejected",
                false,
                None,
            ),
            (
                403,
                "ErrorAccessDenied",
                None,
                77,
                "graph-access-denied",
                false,
                None,
            ),
            (
                403,
                "ErrorSendAsDenied",
                None,
                77,
                "graph-send-as-denied",
                false,
                None,
            ),
            (
                404,
                "MailboxNotEnabledForRESTAPI",
                None,
                78,
                "graph-mailbox-not-enabled",
                false,
                None,
            ),
            (
                404,
                "ErrorInvalidUser",
                None,
                78,
                "graph-mailbox-not-found",
                false,
                None,
            ),
            (
                413,
                "ErrorMessageSizeExceeded",
                None,
                65,
                "graph-message-too-large",
                false,
                None,
            ),
            (
                400,
                "ErrorInvalidRecipients",
                None,
                67,
                "graph-recipients-refused",
                false,
                None,
            ),
            (
                429,
                "ApplicationThrottled",
                Some(2),
                75,
                "graph-throttled",
                true,
                Some(2),
            ),
            (
                429,
                "ApplicationThrottled",
                Some(3600),
                75,
                "graph-throttled",
                true,
                None,
            ),
            (
                503,
                "ServiceUnavailable",
                None,
                75,
                "graph-throttled",
                true,
                None,
            ),
            (
                504,
                "GatewayTimeout",
                Some(1),
                75,
                "graph-timeout",
                false,
                None,
            ),
            (500, "", None, 75, "graph-unavailable", false, None),
            (400, "Whatever", None, 69, "graph-refused", false, None),
        ];
        for (status, code, after, exit, cause, throttled, now) in table {
            let b = body(code);
            let r = interpret(&Answer {
                status,
                request_id: Some("rid-1"),
                retry_after: after,
                body: &b,
            });
            assert_eq!(r.error.exit_code(), exit, "{status} {code}");
            assert_eq!(
                r.error.cause().map(Cause::as_str),
                Some(cause),
                "{status} {code}"
            );
            assert_eq!(r.throttled, throttled, "{status} {code}");
            assert_eq!(r.retry_after, now, "{status} {code}");
            assert!(r.error.message().contains("[request-id rid-1]"));
            if !code.is_empty() {
                assert!(r.error.message().contains(code));
            }
        }
    }

    #[test]
    fn a_body_that_is_not_json_still_reads() {
        let r = interpret(&Answer {
            status: 502,
            body: b"<html>bad gateway</html>",
            ..Answer::default()
        });
        assert_eq!(r.error.exit_code(), 75);
        assert_eq!(
            r.error.message(),
            "Microsoft Graph refused the message (HTTP 502)"
        );
    }
}
