//! The closed set of cause codes: the short kebab-case words that name a
//! failure in syslog (`cause=`), `--json`, `--check`, `--explain` and
//! `docs/troubleshooting.md`. One variant per code, so a misspelt cause
//! fails to compile; [`Cause::as_str`] gives the code as written in logs,
//! and [`Cause::from_code`] reads one back (our own syslog lines, for
//! `--explain`).

/// Declares the enum, its codes and the list of all variants from one
/// table, so a code cannot be added to one and forgotten in another.
macro_rules! causes {
    ($($variant:ident => $code:literal,)*) => {
        /// A cause code; see the module documentation.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Cause {
            $(
                #[doc = concat!("`", $code, "`")]
                $variant,
            )*
        }

        impl Cause {
            /// Every cause.
            pub const ALL: &'static [Cause] = &[$(Cause::$variant),*];

            /// The code as logged (`smtp-auth-disabled`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Cause::$variant => $code,)*
                }
            }

            /// The cause whose code is `code`, if any.
            pub fn from_code(code: &str) -> Option<Cause> {
                match code {
                    $($code => Some(Cause::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

causes! {
    Account => "account",
    ApplicationDisabled => "application-disabled",
    ArcChallengeInvalid => "arc-challenge-invalid",
    ArcKeyUnreadable => "arc-key-unreadable",
    AssertionAudience => "assertion-audience",
    AssertionExpired => "assertion-expired",
    AssertionFileInvalid => "assertion-file-invalid",
    AssertionFileUnreadable => "assertion-file-unreadable",
    AssertionInvalid => "assertion-invalid",
    AssertionRefused => "assertion-refused",
    AssertionTime => "assertion-time",
    AuthMechanismRefused => "auth-mechanism-refused",
    AuthRefused => "auth-refused",
    AuthTemporary => "auth-temporary",
    Background => "background",
    BadMessage => "bad-message",
    BasicAuthDisabled => "basic-auth-disabled",
    CaFile => "ca-file",
    CacheUnwritable => "cache-unwritable",
    CannotWrite => "cannot-write",
    CertificateExpired => "certificate-expired",
    CertificateExpiring => "certificate-expiring",
    CertificateInvalid => "certificate-invalid",
    CertificateKeyMismatch => "certificate-key-mismatch",
    CertificateNotYetValid => "certificate-not-yet-valid",
    CertificateUnknown => "certificate-unknown",
    CertificateUnreadable => "certificate-unreadable",
    ClientUnknown => "client-unknown",
    CloudMismatch => "cloud-mismatch",
    ConditionalAccess => "conditional-access",
    Config => "config",
    ConfigInvalid => "config-invalid",
    ConfigUnreadable => "config-unreadable",
    ConnectionLimit => "connection-limit",
    CredentialExpiry => "credential-expiry",
    CredentialExposed => "credential-exposed",
    CredentialServiceOnly => "credential-service-only",
    CredentialUnreadableByService => "credential-unreadable-by-service",
    EhloRefused => "ehlo-refused",
    Expired => "expired",
    FederationMismatch => "federation-mismatch",
    GrantInvalid => "grant-invalid",
    GraphAccessDenied => "graph-access-denied",
    GraphMailboxNotEnabled => "graph-mailbox-not-enabled",
    GraphMailboxNotFound => "graph-mailbox-not-found",
    GraphMessageTooLarge => "graph-message-too-large",
    GraphNoReadwrite => "graph-no-readwrite",
    GraphNoRole => "graph-no-role",
    GraphRecipientsRefused => "graph-recipients-refused",
    GraphRefused => "graph-refused",
    GraphSendAsDenied => "graph-send-as-denied",
    GraphThrottled => "graph-throttled",
    GraphTimeout => "graph-timeout",
    GraphTokenAudience => "graph-token-audience",
    GraphTokenRejected => "graph-token-rejected",
    GraphUnavailable => "graph-unavailable",
    GraphUnreachable => "graph-unreachable",
    GraphUntrusted => "graph-untrusted",
    GreetingRefused => "greeting-refused",
    HveExternalRecipient => "hve-external-recipient",
    InputError => "input-error",
    InsecurePermissions => "insecure-permissions",
    InternalError => "internal-error",
    Limits => "limits",
    MailboxFull => "mailbox-full",
    MailboxLogon => "mailbox-logon",
    MailboxNotPermitted => "mailbox-not-permitted",
    MailboxUnknown => "mailbox-unknown",
    ManagedIdentityMissing => "managed-identity-missing",
    ManagedIdentityRefused => "managed-identity-refused",
    ManagedIdentityResource => "managed-identity-resource",
    ManagedIdentityUnavailable => "managed-identity-unavailable",
    ManagedIdentityUnexpected => "managed-identity-unexpected",
    ManagedIdentityUnreachable => "managed-identity-unreachable",
    MessageRefused => "message-refused",
    MessageTooLarge => "message-too-large",
    NotAuthenticated => "not-authenticated",
    NotPermitted => "not-permitted",
    PrivateKeyUnreadable => "private-key-unreadable",
    Protocol => "protocol",
    QueueUnwritable => "queue-unwritable",
    QueueWriteFailed => "queue-write-failed",
    QueueMode => "queue-mode",
    RecipientRefused => "recipient-refused",
    RecipientUnknown => "recipient-unknown",
    RecipientsBudget => "recipients-budget",
    RefreshTokenExpired => "refresh-token-expired",
    Refused => "refused",
    RequestIncomplete => "request-incomplete",
    ResourceUnknown => "resource-unknown",
    RsetRefused => "rset-refused",
    ScopeInvalid => "scope-invalid",
    SecretExpired => "secret-expired",
    SecretExpiring => "secret-expiring",
    SecretExposed => "secret-exposed",
    SecretInvalid => "secret-invalid",
    SecretIsId => "secret-is-id",
    SecretMissing => "secret-missing",
    SecretUnreadable => "secret-unreadable",
    SecretWhitespace => "secret-whitespace",
    SecurityDefaults => "security-defaults",
    SendAsDenied => "send-as-denied",
    SenderBlocked => "sender-blocked",
    SenderRefused => "sender-refused",
    SenderThreadLimit => "sender-thread-limit",
    ServerBusy => "server-busy",
    ServerTemporary => "server-temporary",
    ServicePrincipalMissing => "service-principal-missing",
    SmtpAuthBlocked => "smtp-auth-blocked",
    SmtpAuthDisabled => "smtp-auth-disabled",
    SmtpConnectionLost => "smtp-connection-lost",
    SmtpDns => "smtp-dns",
    SmtpProtocol => "smtp-protocol",
    SmtpUnreachable => "smtp-unreachable",
    Smtputf8Missing => "smtputf8-missing",
    StarttlsInjection => "starttls-injection",
    StarttlsMissing => "starttls-missing",
    StarttlsRefused => "starttls-refused",
    SubmissionQuota => "submission-quota",
    Temporary => "temporary",
    TenantBlocked => "tenant-blocked",
    TenantCommon => "tenant-common",
    TenantInvalid => "tenant-invalid",
    TenantUnknown => "tenant-unknown",
    Throttled => "throttled",
    TlsCertificateExpiring => "tls-certificate-expiring",
    TlsExpired => "tls-expired",
    TlsFailed => "tls-failed",
    TlsNameMismatch => "tls-name-mismatch",
    TlsNotYetValid => "tls-not-yet-valid",
    TlsOff => "tls-off",
    TlsSetup => "tls-setup",
    TlsTimeout => "tls-timeout",
    TlsUntrusted => "tls-untrusted",
    TlsVersion => "tls-version",
    TokenClaims => "token-claims",
    TokenDelegated => "token-delegated",
    TokenEndpointUnavailable => "token-endpoint-unavailable",
    TokenEndpointUnexpected => "token-endpoint-unexpected",
    TokenEndpointUnreachable => "token-endpoint-unreachable",
    TokenEndpointUntrusted => "token-endpoint-untrusted",
    TokenExpiring => "token-expiring",
    TokenNoRole => "token-no-role",
    TokenNotCached => "token-not-cached",
    TokenOpaque => "token-opaque",
    TokenRefused => "token-refused",
    TokenRejected => "token-rejected",
    TokenServiceOnly => "token-service-only",
    TokenThrottled => "token-throttled",
    TokenWrongApp => "token-wrong-app",
    TokenWrongAudience => "token-wrong-audience",
    TokenWrongTenant => "token-wrong-tenant",
    TooManyRecipients => "too-many-recipients",
    UnregisteredDomain => "unregistered-domain",
    Usage => "usage",
    UserFlow => "user-flow",
    WrongCloud => "wrong-cloud",
    Xoauth2Invalid => "xoauth2-invalid",
    Xoauth2Missing => "xoauth2-missing",
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// In `--json` and `--explain --json`, a cause is its code.
impl serde::Serialize for Cause {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::str::FromStr for Cause {
    type Err = ();

    fn from_str(code: &str) -> Result<Cause, ()> {
        Cause::from_code(code).ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_cause_round_trips_and_codes_are_distinct() {
        let mut seen = BTreeSet::new();
        for &cause in Cause::ALL {
            let code = cause.as_str();
            assert_eq!(code.parse::<Cause>(), Ok(cause), "{code}");
            assert_eq!(cause.to_string(), code);
            assert!(seen.insert(code), "{code} twice");
            assert!(
                !code.is_empty()
                    && code
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !code.starts_with('-')
                    && !code.ends_with('-'),
                "{code} is not kebab-case"
            );
        }
        assert_eq!(seen.len(), Cause::ALL.len());
        assert_eq!(Cause::from_code("no-such-cause"), None);
        assert_eq!(Cause::from_code("Smtp-Auth-Disabled"), None);
    }
}
