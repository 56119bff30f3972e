//! The `--check` steps as one closed set: an identifier (stable, for
//! monitoring) and a title (for people) each, so neither can be mistyped,
//! and the order the report gives them in.

/// One step of `--check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepId {
    /// The configuration file.
    Config,
    /// Permissions of the files that hold secrets.
    Permissions,
    /// The client secret or certificate.
    Credential,
    /// The tenant and its cloud.
    Tenant,
    /// The token request.
    Token,
    /// The token's `aud` claim.
    TokenAud,
    /// The token's `roles` claim.
    TokenRoles,
    /// The token's `tid` claim.
    TokenTid,
    /// The token's `appid` claim.
    TokenAppid,
    /// TCP, greeting and EHLO.
    SmtpConnect,
    /// STARTTLS or implicit TLS.
    SmtpTls,
    /// AUTH XOAUTH2.
    SmtpAuth,
    /// The test message (`--to`).
    SmtpSend,
    /// The token for Microsoft Graph's scope.
    GraphToken,
    /// The Graph token's `aud` claim.
    GraphAud,
    /// The Graph token's `roles` claim.
    GraphRoles,
    /// The mailbox, as Graph sees it.
    GraphMailbox,
    /// The test message through Graph (`--to`).
    GraphSend,
    /// The token cache directory.
    Cache,
    /// The queue directory.
    Queue,
    /// One `[accounts.NAME]`'s result, or the choice of `--account`.
    Account,
    /// The credential's expiry date (`client_secret_expires`, a certificate's notAfter).
    CredentialExpiry,
    /// Today's recipients against `limits.recipients_per_day`.
    Limits,
}

impl StepId {
    /// The stable identifier (`smtp.auth`).
    pub fn id(self) -> &'static str {
        match self {
            StepId::Config => "config",
            StepId::Permissions => "permissions",
            StepId::Credential => "credential",
            StepId::Tenant => "tenant",
            StepId::Token => "token",
            StepId::TokenAud => "token.aud",
            StepId::TokenRoles => "token.roles",
            StepId::TokenTid => "token.tid",
            StepId::TokenAppid => "token.appid",
            StepId::SmtpConnect => "smtp.connect",
            StepId::SmtpTls => "smtp.tls",
            StepId::SmtpAuth => "smtp.auth",
            StepId::SmtpSend => "smtp.send",
            StepId::GraphToken => "graph.token",
            StepId::GraphAud => "graph.aud",
            StepId::GraphRoles => "graph.roles",
            StepId::GraphMailbox => "graph.mailbox",
            StepId::GraphSend => "graph.send",
            StepId::Cache => "cache",
            StepId::Queue => "queue",
            StepId::Account => "account",
            StepId::CredentialExpiry => "credential.expiry",
            StepId::Limits => "limits",
        }
    }

    /// What the step checks, for people (`SMTP login`).
    pub fn title(self) -> &'static str {
        match self {
            StepId::Config => "configuration",
            StepId::Permissions => "file permissions",
            StepId::Credential => "credential",
            StepId::Tenant => "tenant and cloud",
            StepId::Token => "token",
            StepId::TokenAud => "token audience",
            StepId::TokenRoles => "token roles",
            StepId::TokenTid => "token tenant",
            StepId::TokenAppid => "token application",
            StepId::SmtpConnect => "SMTP server",
            StepId::SmtpTls => "TLS",
            StepId::SmtpAuth => "SMTP login",
            StepId::SmtpSend => "test message",
            StepId::GraphToken => "Graph token",
            StepId::GraphAud => "Graph token audience",
            StepId::GraphRoles => "Graph token roles",
            StepId::GraphMailbox => "Graph mailbox",
            StepId::GraphSend => "Graph test message",
            StepId::Cache => "token cache",
            StepId::Queue => "queue",
            StepId::Account => "account",
            StepId::CredentialExpiry => "credential expiry",
            StepId::Limits => "daily recipients",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_distinct_and_dotted_lowercase() {
        let all = [
            StepId::Config,
            StepId::Permissions,
            StepId::Credential,
            StepId::Tenant,
            StepId::Token,
            StepId::TokenAud,
            StepId::TokenRoles,
            StepId::TokenTid,
            StepId::TokenAppid,
            StepId::SmtpConnect,
            StepId::SmtpTls,
            StepId::SmtpAuth,
            StepId::SmtpSend,
            StepId::GraphToken,
            StepId::GraphAud,
            StepId::GraphRoles,
            StepId::GraphMailbox,
            StepId::GraphSend,
            StepId::Cache,
            StepId::Queue,
            StepId::Account,
            StepId::CredentialExpiry,
            StepId::Limits,
        ];
        let ids: std::collections::BTreeSet<_> = all.iter().map(|s| s.id()).collect();
        assert_eq!(ids.len(), all.len());
        for step in all {
            assert!(
                step.id()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.'),
                "{step:?}"
            );
            assert!(!step.title().is_empty());
        }
    }
}
