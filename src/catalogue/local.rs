//! The causes this program finds itself, not in a Microsoft reply: a
//! file it cannot read, a connection it cannot make, a message it queues,
//! a warning of `--check`. Every [`Cause`] that no entry of `entra.rs`,
//! `exchange.rs` or `graph.rs` carries is here, once, with what it means,
//! what it ends in and the fix, so that every `cause=` in syslog can be
//! looked up (docs/troubleshooting.md, `--explain 'cause=…'`).

use super::{Entry, entry};
use crate::cause::Cause;
use crate::error::Kind;

/// Where a cause belongs, for the documentation's headings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// `transport = "graph"` or `"auto"`.
    Graph,
    /// Tokens, credentials and identities.
    Credentials,
    /// What the token's claims say (with a refused login, and `--check`).
    Claims,
    /// The SMTP connection and TLS.
    Connection,
    /// SMTP replies the catalogue does not know, by step.
    Replies,
    /// The configuration, files and the input.
    Files,
    /// The queue, the delivery modes and `[limits]`.
    Queue,
    /// The kind of failure, when nothing more specific is known.
    Fallback,
}

#[cfg(test)]
impl Group {
    /// Every group, in the documentation's order.
    pub const ALL: [Group; 8] = [
        Group::Graph,
        Group::Credentials,
        Group::Claims,
        Group::Connection,
        Group::Replies,
        Group::Files,
        Group::Queue,
        Group::Fallback,
    ];

    /// The heading.
    pub fn title(self) -> &'static str {
        match self {
            Group::Graph => "Microsoft Graph (`transport = \"graph\"` or `\"auto\"`)",
            Group::Credentials => "Tokens, credentials and identities",
            Group::Claims => "Token claims (named with a refused SMTP login, and by `--check`)",
            Group::Connection => "Connection and TLS",
            Group::Replies => "SMTP replies the catalogue does not know",
            Group::Files => "Configuration, files and input",
            Group::Queue => "Queue, delivery modes and limits",
            Group::Fallback => "When nothing more specific is known",
        }
    }
}

/// What a cause ends in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The invocation exits with this kind's code.
    Exit(Kind),
    /// A refused step: 75 for a 4xx reply, else this kind's code.
    Reply(Kind),
    /// Only `--check` reports it, failing with this kind's code.
    Check(Kind),
    /// A warning (syslog, `--check`): nothing stops.
    Warning,
    /// The message waits in the queue; the caller's exit is 0.
    Queued,
    /// A queue run gives the message up and moves it to `failed/`.
    GivenUp,
}

impl Ending {
    /// The words for people: "exit 78 (EX_CONFIG)".
    pub fn describe(self) -> String {
        let exit = |k: Kind| format!("exit {} ({})", k.exit_code(), k.exit_name());
        match self {
            Ending::Exit(k) => exit(k),
            Ending::Reply(k) => format!("exit 75 (EX_TEMPFAIL) for a 4xx reply, else {}", exit(k)),
            Ending::Check(k) => format!("`--check` only: {}", exit(k)),
            Ending::Warning => "a warning: nothing stops".into(),
            Ending::Queued => "the message is queued: exit 0".into(),
            Ending::GivenUp => "a queue run moves the message to failed/".into(),
        }
    }

    /// The kind of error that carries the cause (a warning's or a queued
    /// message's cause is carried by a temporary one).
    const fn kind(self) -> Kind {
        match self {
            Ending::Exit(k) | Ending::Reply(k) | Ending::Check(k) => k,
            Ending::Warning | Ending::Queued | Ending::GivenUp => Kind::Temporary,
        }
    }
}

/// One cause of the program's own: its cause, meaning and fix as a
/// catalogue [`Entry`] (with no list of likely causes), and what it ends in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Local {
    /// Cause, meaning, fix.
    pub entry: Entry,
    /// Its heading.
    pub group: Group,
    /// What it ends in.
    pub ending: Ending,
}

const fn l(
    cause: Cause,
    group: Group,
    ending: Ending,
    meaning: &'static str,
    fix: &'static str,
) -> Local {
    Local {
        entry: entry(cause, ending.kind(), fix).means(meaning, &[]),
        group,
        ending,
    }
}

use Ending::{Check, Exit, GivenUp, Queued, Reply, Warning};
use Group::*;
use Kind::*;

/// Every cause of the program's own, a line each.
#[rustfmt::skip]
pub const LOCAL: &[Local] = &[
    // Microsoft Graph.
    l(Cause::GraphTokenRejected, Graph, Exit(NoPermission), "Graph refused the token (401): it is not for Graph, expired or revoked; a cached one was renewed once first.", "give the application the Microsoft Graph Mail.Send application permission with admin consent (or the Application Mail.Send role), and set graph.url to the tenant's cloud"),
    l(Cause::GraphAccessDenied, Graph, Exit(NoPermission), "Graph refused access (403 ErrorAccessDenied): the application has no Mail.Send role, or the mailbox is outside its RBAC for Applications scope or application access policy.", "New-ManagementRoleAssignment -App <client_id> -Role \"Application Mail.Send\" -CustomResourceScope <scope> (Exchange Online PowerShell), then wait for it to propagate (up to an hour)"),
    l(Cause::GraphSendAsDenied, Graph, Exit(NoPermission), "Graph refused the From address (403 ErrorSendAsDenied): it is not the mailbox.", "set from_policy = \"rewrite\", or give the mailbox Send As rights on the From address"),
    l(Cause::GraphMailboxNotEnabled, Graph, Exit(Config), "The mailbox cannot be used through Graph (404 MailboxNotEnabledForRESTAPI): no Exchange Online licence, inactive, or on-premises.", "license the mailbox in Exchange Online, or send through SMTP (transport = \"smtp\") to an on-premises server"),
    l(Cause::GraphMailboxNotFound, Graph, Exit(Config), "Graph knows no such mailbox (404 ErrorInvalidUser, ResourceNotFound).", "set user to the mailbox's address or object id"),
    l(Cause::GraphMessageTooLarge, Graph, Exit(Data), "The message is over Graph's request limit or the mailbox's MaxSendSize, or its bulk is not in base64 parts that can be uploaded separately.", "shrink the message, raise the limit with Set-Mailbox -MaxSendSize, or send it with transport = \"smtp\""),
    l(Cause::GraphNoReadwrite, Graph, Exit(NoPermission), "Graph refused the draft a message over 3 MiB needs (403): the application lacks Mail.ReadWrite.", "add the Microsoft Graph Mail.ReadWrite application permission (or the Application Mail.ReadWrite role on the same scope)"),
    l(Cause::GraphRecipientsRefused, Graph, Exit(NoUser), "Graph refused the recipients (400 ErrorInvalidRecipients).", "check the addresses; nothing was sent to anyone"),
    l(Cause::GraphThrottled, Graph, Exit(Temporary), "Graph is throttling the mailbox or application (429, 503); a short Retry-After was waited for once.", "nothing: the message is queued and sent later; lower [limits] rate if it happens often"),
    l(Cause::GraphTimeout, Graph, Exit(Temporary), "Graph did not answer in time (504, or no answer): the message may have been accepted anyway, so a retry may duplicate it.", "nothing: the message is queued and sent later; check Sent Items for a duplicate"),
    l(Cause::GraphUnavailable, Graph, Exit(Temporary), "Graph answered with a server error (5xx).", "nothing: the message is queued and sent later"),
    l(Cause::GraphRefused, Graph, Exit(Unavailable), "Graph refused the message with an error the program does not know; it is shown verbatim with its request-id.", "look the error code up in Microsoft Graph's error reference; give Microsoft support the request-id"),
    l(Cause::GraphUnreachable, Graph, Exit(Temporary), "Graph could not be reached: DNS, connection, proxy or timeout.", "check graph.url and that this host reaches it on port 443 (firewall, proxy)"),
    l(Cause::GraphUntrusted, Graph, Exit(Protocol), "Graph's TLS certificate was not trusted: nothing was sent.", "a TLS-inspecting proxy needs its CA in ca_file; else check graph.url"),
    l(Cause::GraphTokenAudience, Graph, Check(Config), "The Graph token's audience is not Microsoft Graph.", "set graph.url to the tenant's cloud's Graph (or leave it to cloud)"),
    l(Cause::GraphNoRole, Graph, Check(NoPermission), "The Graph token carries no Mail.Send role.", "add the Microsoft Graph Mail.Send application permission and grant admin consent, or assign the Application Mail.Send role with RBAC for Applications"),
    // Tokens, credentials, identities.
    l(Cause::TokenRefused, Credentials, Exit(Config), "Entra refused the token request with an AADSTS code the catalogue does not know; its first line is shown.", "look the code up in Microsoft's AADSTS reference and find the trace ID in Entra admin center > Sign-in logs > Service principal sign-ins"),
    l(Cause::TokenEndpointUnreachable, Credentials, Exit(Temporary), "The token endpoint could not be reached: DNS, connection or timeout.", "check token.url (or cloud) and that this host reaches it on port 443; the message is queued and sent later"),
    l(Cause::TokenEndpointUntrusted, Credentials, Exit(Protocol), "The token endpoint's TLS certificate was not trusted: no credential was sent.", "a TLS-inspecting proxy needs its CA in ca_file; else check token.url"),
    l(Cause::TokenEndpointUnexpected, Credentials, Exit(Temporary), "The token endpoint's answer was not Entra's: a 200 without a token (exit 75), or an error status without Entra's JSON (exit 78).", "check token.url: it must be the tenant's token endpoint (or leave it to cloud)"),
    l(Cause::TokenServiceOnly, Credentials, Exit(Temporary), "No valid token is cached, and credential_access = \"service\" leaves fetching tokens to the queue service.", "check that the queue service runs (systemctl status oauth2-sendmail-queue.timer): it renews the token, and a queued message goes out then"),
    l(Cause::TokenNotCached, Credentials, Warning, "`--check` run by a caller who is not root found no valid cached token.", "run sudo oauth2-sendmail --check, or wait for the queue service to renew the token"),
    l(Cause::CredentialServiceOnly, Credentials, Exit(Config), "client_secret_file = \"credential:NAME\" is handed by systemd to the queue service only, and this process has no $CREDENTIALS_DIRECTORY.", "nothing for a caller (it uses the cached tokens); to check the credential, run --check in the service's context (systemd-run -p LoadCredential=NAME:FILE oauth2-sendmail --check)"),
    l(Cause::CredentialUnreadableByService, Credentials, Check(Config), "With credential_access = \"service\", the queue service's user cannot read the credential file.", "hand it over with systemd: systemctl edit oauth2-sendmail-queue.service, add LoadCredential=NAME:FILE, and set client_secret_file = \"credential:NAME\""),
    l(Cause::CredentialExposed, Credentials, Check(Config), "With credential_access = \"service\", a credential file is readable by more than its owner.", "chown root:root FILE; chmod 0600 FILE; and hand it to the queue service with LoadCredential="),
    l(Cause::SecretUnreadable, Credentials, Exit(Config), "client_secret_file cannot be read, or is empty.", "check the path and that root and the oauth2-sendmail group may read it (root:oauth2-sendmail 0640)"),
    l(Cause::SecretExposed, Credentials, Check(Config), "The client secret's file (or the configuration holding it) is readable by others.", "chmod 0640 (or 0600) the file named, owned by root"),
    l(Cause::SecretIsId, Credentials, Check(Config), "The configured client secret is a GUID: most likely the secret's ID, not its value.", "copy the secret's Value (shown once when it was made) from Entra admin center > App registrations > your app > Certificates & secrets, or make a new one"),
    l(Cause::SecretWhitespace, Credentials, Warning, "The client secret has spaces or a line break around it, which Entra would refuse.", "remove them from client_secret or client_secret_file"),
    l(Cause::SecretExpiring, Credentials, Warning, "The client secret expires soon (client_secret_expires).", "make a new secret in Entra admin center > App registrations > your app > Certificates & secrets, then update the configuration and client_secret_expires"),
    l(Cause::CredentialExpiry, Credentials, Warning, "The daily syslog warning that the secret or certificate is close to its end of validity, or past it (then at error level).", "renew the credential before the date in the line (see secret-expiring and certificate-expiring)"),
    l(Cause::CertificateUnreadable, Credentials, Exit(Config), "certificate_file cannot be read.", "check the path and that root and the oauth2-sendmail group may read it (chmod 0640)"),
    l(Cause::CertificateInvalid, Credentials, Exit(Config), "certificate_file holds no PEM certificate.", "point certificate_file at the PEM certificate (-----BEGIN CERTIFICATE-----) uploaded to the application"),
    l(Cause::PrivateKeyUnreadable, Credentials, Exit(Config), "private_key_file cannot be read, is not PEM, is not RSA, or is encrypted (a passphrase would have to be typed, so it is refused rather than asked for).", "use an unencrypted RSA key in PEM (openssl pkey -in KEY -out KEY.plain), readable by root and the oauth2-sendmail group"),
    l(Cause::CertificateKeyMismatch, Credentials, Exit(Config), "private_key_file does not belong to certificate_file; found before any request.", "use the key the certificate was made from (openssl x509 -noout -pubkey and openssl pkey -pubout must print the same key)"),
    l(Cause::CertificateExpired, Credentials, Check(Config), "The certificate has expired: Entra refuses assertions signed with it.", "make a new certificate, upload it in Entra admin center > App registrations > your app > Certificates & secrets > Certificates, and point certificate_file and private_key_file at it"),
    l(Cause::CertificateNotYetValid, Credentials, Check(Config), "The certificate is not valid yet.", "check this machine's clock (timedatectl), or use a certificate that is valid now"),
    l(Cause::CertificateExpiring, Credentials, Warning, "The certificate expires soon.", "make and upload a new certificate before it expires (--setup-script prints the commands)"),
    l(Cause::AssertionFileUnreadable, Credentials, Exit(Config), "client_assertion_file cannot be read.", "check the path: the identity provider writes it (Kubernetes: the Azure workload identity webhook, for a pod whose service account is annotated with the client id)"),
    l(Cause::AssertionFileInvalid, Credentials, Exit(Config), "client_assertion_file holds no JWT.", "the file must hold the identity provider's token only (three base64url parts separated by dots)"),
    l(Cause::AssertionExpired, Credentials, Exit(Temporary), "The federated assertion in client_assertion_file has expired: its identity provider has not renewed it.", "check that whatever writes the file (kubelet, the CI job, a refresh timer) still runs; the message is sent later"),
    l(Cause::AssertionAudience, Credentials, Warning, "The federated assertion's audience is not the one Entra's federated credentials expect (api://AzureADTokenExchange).", "have the identity provider issue the token for that audience (Kubernetes: the serviceAccountToken audience)"),
    l(Cause::AssertionRefused, Credentials, Exit(Config), "Entra refused the federated assertion: the issuer, subject or audience does not match a federated credential of the application.", "compare the assertion's iss, sub and aud (--check shows them) with the federated credential in Entra admin center > App registrations > your app > Certificates & secrets > Federated credentials"),
    l(Cause::ManagedIdentityMissing, Credentials, Exit(Config), "The metadata endpoint says this machine has no such managed identity.", "Azure VM: enable the system-assigned identity (the VM > Identity) or attach the user-assigned one and set client_id to its Client ID; Arc: connect the server with azcmagent connect"),
    l(Cause::ManagedIdentityResource, Credentials, Exit(Config), "The managed identity endpoint does not know the resource the scope names.", "check token.scope and cloud"),
    l(Cause::ManagedIdentityRefused, Credentials, Exit(Config), "The managed identity endpoint refused the request.", "check token.imds_url or token.arc_url and the identity's set-up (sendmail.conf(5), managed_identity)"),
    l(Cause::ManagedIdentityUnavailable, Credentials, Exit(Temporary), "The managed identity endpoint is busy or starting (429, 5xx).", "nothing: the message is sent later"),
    l(Cause::ManagedIdentityUnexpected, Credentials, Exit(Temporary), "The managed identity endpoint answered 200 without a usable access_token and expires_in.", "check token.imds_url or token.arc_url"),
    l(Cause::ManagedIdentityUnreachable, Credentials, Exit(Temporary), "The managed identity endpoint did not answer: not an Azure VM, or the Arc agent (himds) is not running.", "Arc: systemctl status himds; Azure: check that the VM reaches the metadata endpoint (no proxy for it)"),
    l(Cause::ArcChallengeInvalid, Credentials, Exit(Protocol), "The Azure Arc agent's challenge names no key file, or one outside token.arc_key_dir or without the .key suffix: it was not read.", "token.arc_url must be the Arc agent's own endpoint (himds); token.arc_key_dir must be where it writes its key files"),
    l(Cause::ArcKeyUnreadable, Credentials, Exit(Config), "The Azure Arc agent's key file cannot be read: only root and the himds group may.", "set credential_access = \"service\" and give the queue service's user the himds group (usermod -a -G himds oauth2-sendmail)"),
    l(Cause::CloudMismatch, Credentials, Check(Config), "The tenant's OpenID configuration says it is in another cloud than cloud names.", "set cloud to the one --check names (a token asked for in the wrong cloud is refused with AADSTS900382)"),
    // Token claims.
    l(Cause::TokenWrongAudience, Claims, Exit(NoPermission), "The token is not for Exchange Online.", "check token.scope (or leave it to cloud)"),
    l(Cause::TokenNoRole, Claims, Exit(NoPermission), "The token carries no SMTP.SendAsApp role.", "add the Office 365 Exchange Online SMTP.SendAsApp application permission and grant admin consent, or with RBAC for Applications check the management role assignment"),
    l(Cause::TokenDelegated, Claims, Exit(NoPermission), "The token is a user's (scp), not an application's.", "use the client credentials flow: client_id with a secret, certificate, federated assertion or managed identity"),
    l(Cause::TokenWrongTenant, Claims, Exit(NoPermission), "The token's tenant (tid) is not tenant.", "set tenant to the tenant the mailbox is in"),
    l(Cause::TokenWrongApp, Claims, Exit(NoPermission), "The token's application (appid) is not client_id.", "set client_id to the application the credential belongs to"),
    l(Cause::TokenOpaque, Claims, Warning, "`--check` could not read the token's claims: it is not a JWT.", "token.url is probably not Entra's: check it, or leave it to cloud"),
    l(Cause::TokenClaims, Claims, Check(NoPermission), "A claim of the token is wrong in a way no more specific cause names.", "read the step's detail lines in --check"),
    // Connection and TLS.
    l(Cause::SmtpDns, Connection, Exit(Temporary), "smtp.host could not be resolved.", "check smtp.host and this host's DNS; the message is queued and sent later"),
    l(Cause::SmtpUnreachable, Connection, Exit(Temporary), "The SMTP server could not be reached: refused, unreachable or timed out.", "check smtp.host, smtp.port and that outbound port 587 is open (many hosting providers block it)"),
    l(Cause::SmtpConnectionLost, Connection, Exit(Temporary), "The SMTP server closed the connection in the middle of a step.", "nothing: the message is queued and sent later; if it persists, run -v and look at the last lines"),
    l(Cause::SmtpProtocol, Connection, Exit(Protocol), "The server's reply was not SMTP.", "check smtp.host and smtp.port (587 with STARTTLS, 465 with smtp.tls = \"implicit\")"),
    l(Cause::StarttlsMissing, Connection, Exit(Protocol), "The server does not offer STARTTLS: nothing was sent.", "check smtp.host and smtp.port; something between may strip STARTTLS"),
    l(Cause::StarttlsInjection, Connection, Exit(Protocol), "Data arrived before the TLS handshake (a command injection attempt, or a broken middlebox): nothing was sent.", "look for a proxy or middlebox on the path to smtp.host"),
    l(Cause::TlsUntrusted, Connection, Exit(Protocol), "The server's certificate is not trusted: no credential was sent.", "a TLS-inspecting proxy needs its CA in ca_file; else check smtp.host"),
    l(Cause::TlsNameMismatch, Connection, Exit(Protocol), "The server's certificate is for another name: no credential was sent.", "smtp.host must be the name on the certificate (smtp.office365.com for Exchange Online)"),
    l(Cause::TlsExpired, Connection, Exit(Protocol), "The server's certificate has expired: no credential was sent.", "check this machine's clock (timedatectl) and smtp.host"),
    l(Cause::TlsNotYetValid, Connection, Exit(Protocol), "The server's certificate is not valid yet: no credential was sent.", "check this machine's clock (timedatectl)"),
    l(Cause::TlsVersion, Connection, Exit(Protocol), "The server offers no TLS version or cipher this program accepts (TLS 1.2 at least).", "check smtp.host: Exchange Online offers TLS 1.2 and 1.3"),
    l(Cause::TlsFailed, Connection, Exit(Protocol), "The TLS handshake failed for another reason: nothing was sent.", "run -v: the transcript names OpenSSL's reason"),
    l(Cause::TlsTimeout, Connection, Exit(Temporary), "The TLS handshake did not finish in time: no credential was sent.", "nothing: the server or the network is slow; the message is sent later"),
    l(Cause::TlsSetup, Connection, Exit(Config), "TLS could not be set up: ca_file holds no usable certificate, or OpenSSL refused the settings.", "check ca_file"),
    l(Cause::CaFile, Connection, Exit(Config), "ca_file cannot be read, or holds no PEM certificate.", "point ca_file at a PEM file of CA certificates, or remove it to use the system's"),
    l(Cause::TlsOff, Connection, Warning, "smtp.tls = \"none\": only for a server on loopback (the sandbox).", "use smtp.tls = \"starttls\" (the default) for any real server"),
    l(Cause::TlsCertificateExpiring, Connection, Warning, "The SMTP server's certificate expires soon.", "nothing on this side unless it is your own relay: renew its certificate"),
    l(Cause::Xoauth2Missing, Connection, Exit(Config), "The server does not offer AUTH XOAUTH2.", "check smtp.host: Exchange Online offers it after STARTTLS"),
    l(Cause::Smtputf8Missing, Connection, Exit(Data), "An address needs SMTPUTF8 (a non-ASCII local part), and the server does not offer it: nothing was sent.", "use an ASCII address, or a server that offers SMTPUTF8 (Exchange Online does)"),
    // SMTP replies the catalogue does not know.
    l(Cause::GreetingRefused, Replies, Reply(Unavailable), "The server refused the connection in its greeting; its reply is shown verbatim.", "check smtp.host; a 4xx greeting usually means the server is busy"),
    l(Cause::EhloRefused, Replies, Reply(Protocol), "The server refused EHLO; its reply is shown verbatim.", "check the host name this machine announces (hostname --fqdn)"),
    l(Cause::StarttlsRefused, Replies, Reply(Protocol), "The server refused STARTTLS; its reply is shown verbatim.", "check smtp.host and smtp.port"),
    l(Cause::AuthRefused, Replies, Reply(NoPermission), "The server refused the login with a reply the catalogue does not know; it is shown verbatim.", "paste the reply into oauth2-sendmail --explain, and run --check"),
    l(Cause::SenderRefused, Replies, Reply(Unavailable), "The server refused the envelope sender (MAIL FROM); its reply is shown verbatim.", "the sender must be the mailbox (user) or an address it may send as: see from_policy"),
    l(Cause::RecipientRefused, Replies, Reply(NoUser), "The server refused a recipient (RCPT TO); its reply is shown verbatim. Also the cause of any failure of kind 67 that names nothing more specific.", "check the address"),
    l(Cause::MessageRefused, Replies, Reply(Unavailable), "The server refused the message after DATA or the final dot; its reply is shown verbatim.", "paste the reply into oauth2-sendmail --explain"),
    l(Cause::RsetRefused, Replies, Reply(Unavailable), "The server refused RSET between two messages of one session.", "nothing: the session is closed and the next message opens a new one"),
    // Configuration, files, input.
    l(Cause::ConfigUnreadable, Files, Exit(Config), "The configuration file cannot be read.", "the file must exist and be readable by root and the oauth2-sendmail group (root:oauth2-sendmail, mode 0640); -C names another file"),
    l(Cause::ConfigInvalid, Files, Exit(Config), "The configuration file is not valid: the message names the file, line and key.", "fix the key named (sendmail.conf(5) lists every key), then run oauth2-sendmail --check"),
    l(Cause::InsecurePermissions, Files, Exit(Config), "A file or directory that others could change, or read a secret from: the message names the path.", "run the chown and chmod the message names"),
    l(Cause::InputError, Files, Exit(Input), "Reading the message from standard input failed; nothing was queued.", "the calling program closed its pipe early or the input is unreadable: send the message again"),
    l(Cause::CacheUnwritable, Files, Check(CantCreate), "The token cache directory cannot be written: every process then asks Entra for its own token.", "create token.cache_dir owned by root:oauth2-sendmail with mode 2770 (the packages do)"),
    l(Cause::QueueUnwritable, Files, Check(CantCreate), "A queue area cannot be written.", "create the queue directory and its areas as the packages do (oauth2-sendmail --check names the one)"),
    // Queue, delivery modes, limits.
    l(Cause::QueueWriteFailed, Queue, Exit(Temporary), "A message that should have been queued could not be (disk full, directory missing or not writable): nothing was kept (exit 67 when some recipients have it).", "free space or fix the queue directory's permissions, then send the message again"),
    l(Cause::Expired, Queue, GivenUp, "A queued message still failed after queue.max_age.", "read ID.reason in failed/; send it again once the cause is fixed"),
    l(Cause::Account, Queue, GivenUp, "A queued message's account is gone from the configuration, or its caller is bound to another account.", "restore the account, or send the message again as the right caller"),
    l(Cause::QueueMode, Queue, Queued, "The message was queued by the delivery mode (-odq, delivery = queue), for the next queue run.", "nothing; the queue service sends it (systemctl status oauth2-sendmail-queue.timer)"),
    l(Cause::Background, Queue, Queued, "The message was queued for background delivery (-odb, delivery = background).", "nothing; a detached process sends it at once, else the next queue run"),
    l(Cause::Limits, Queue, Queued, "[limits] held the message back (connections, rate or recipients_per_day); without a queue that is exit 75.", "nothing: the next queue run sends it; raise the limit if it happens all the time"),
    l(Cause::RecipientsBudget, Queue, Warning, "Today's recipients are close to limits.recipients_per_day.", "beyond it messages wait for the next (UTC) day; Exchange Online refuses more than 10,000 recipients a day"),
    // The kind of failure.
    l(Cause::Usage, Fallback, Exit(Usage), "The command line is wrong; the message says how.", "see oauth2-sendmail(8)"),
    l(Cause::BadMessage, Fallback, Exit(Data), "The message or an address is malformed; the message says what.", "fix the message or the address named"),
    l(Cause::Refused, Fallback, Exit(Unavailable), "A server refused for good, for a reason nothing more specific names.", "read the server's reply in the error, or paste it into oauth2-sendmail --explain"),
    l(Cause::InternalError, Fallback, Exit(Software), "Something this program did not expect; the message says what.", "please report it with the message and the -v transcript (without the message's content)"),
    l(Cause::CannotWrite, Fallback, Exit(CantCreate), "A file or directory could not be written.", "check the path named, its permissions and the free space"),
    l(Cause::Temporary, Fallback, Exit(Temporary), "A temporary failure nothing more specific names; the message is queued when there is a queue.", "nothing if it passes; else run -v"),
    l(Cause::Protocol, Fallback, Exit(Protocol), "A server did not follow its protocol.", "run -v and look at the last lines of the transcript"),
    l(Cause::NotPermitted, Fallback, Exit(NoPermission), "Refused for lack of a right, for a reason nothing more specific names.", "read the error; run oauth2-sendmail --check"),
    l(Cause::Config, Fallback, Exit(Config), "A configuration problem nothing more specific names.", "read the error, then run oauth2-sendmail --check"),
];

/// The position in [`LOCAL`] of one of the program's own causes.
pub fn position(cause: Cause) -> Option<usize> {
    LOCAL.iter().position(|l| l.entry.cause == cause)
}
