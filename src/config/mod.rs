//! The configuration: its types, defaults and loading.
//!
//! The key names are the public interface documented in sendmail.conf(5) and
//! `sendmail.conf.example`; every key sendmail.conf(5) documents is known here.
//! A malformed file, an unknown key, a wrong type or a bad value is a
//! `Kind::Config` error (exit 78) naming the file, the line and the key.
//! Error messages never quote the file's text (a value could be a secret).
//!
//! [`parse`] is pure (text in, [`Config`] out); [`load_for`] adds the file read
//! and the `credential:` paths. Secrets named by `client_secret_file` are
//! read only when a token must be fetched ([`Config::client_secret`]), so a
//! cached token needs no secret.
//!
//! `document.rs` parses the file and `accounts.rs` splits it into accounts;
//! `parse.rs` turns each into a [`Config`], `locate.rs` finds the line
//! and key of a TOML error, `names.rs` checks tenant, GUID and host names,
//! `credentials.rs` resolves and reads the credential.

mod accounts;
#[cfg(test)]
mod accounts_tests;
pub mod cloud;
mod credentials;
mod document;
mod fleet;
mod locate;
mod names;
mod parse;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cause::Cause;
use crate::error::{Error, Result, io_reason};
use crate::secret::Secret;

pub use cloud::Cloud;
pub use credentials::{is_systemd_credential, resolve_credentials};
pub use document::{parse, parse_for};
pub use names::{is_domain_name, is_guid};

/// The name of the top level as an account (`[accounts.NAME]` are the others).
pub const DEFAULT_ACCOUNT: &str = "default";

/// Where the configuration lives unless `-C` names another file.
pub const DEFAULT_PATH: &str = "/etc/oauth2-sendmail/sendmail.conf";

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain connection upgraded with STARTTLS before any credential (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No TLS at all; allowed only towards loopback.
    None,
}

/// What to do with a From header the mailbox may not send as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FromPolicy {
    /// Envelope sender is `from`; a foreign From becomes "… via host" <from>.
    Rewrite,
    /// Leave the header alone.
    Keep,
}

/// How the application proves who it is to the token endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// `client_secret = "…"` in the file itself.
    Secret(Secret),
    /// `client_secret_file = PATH`: read when a token is fetched.
    SecretFile(PathBuf),
    /// `certificate_file` + `private_key_file` (PEM): a signed client assertion.
    Certificate {
        /// The certificate registered on the application.
        certificate_file: PathBuf,
        /// Its private key.
        private_key_file: PathBuf,
    },
    /// `client_assertion_file`: workload identity federation, a JWT from
    /// another identity provider, read again for every token request.
    FederatedAssertion(PathBuf),
    /// `managed_identity`: the token comes from Azure itself.
    Managed(ManagedIdentity),
}

/// Where a managed identity's token comes from (`managed_identity`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManagedIdentity {
    /// `azure`: the instance metadata service of an Azure VM (`[token] imds_url`).
    Azure,
    /// `arc`: the Azure Arc agent of an on-premises server (`[token] arc_url`).
    Arc,
}

/// Who may read the long-lived credential (`credential_access`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialAccess {
    /// Every caller (the 0.1 behaviour): whoever needs a token fetches one.
    Callers,
    /// Only the queue service: callers use cached tokens and queue without one.
    Service,
}

/// The signature algorithm of certificate client assertions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssertionAlg {
    /// RSA-PSS with SHA-256: what Microsoft documents today.
    Ps256,
    /// RSA PKCS#1 v1.5 with SHA-256: the older form, still accepted.
    Rs256,
}

impl AssertionAlg {
    /// The JWS name (`alg` header, `token.assertion_alg` value).
    pub fn name(self) -> &'static str {
        match self {
            AssertionAlg::Ps256 => "PS256",
            AssertionAlg::Rs256 => "RS256",
        }
    }
}

/// `[smtp]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpConfig {
    /// Server name; also the name its certificate must carry.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// TLS mode.
    pub tls: TlsMode,
    /// Limit for each network step.
    pub timeout: Duration,
}

/// How messages leave (`transport`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// SMTP submission with XOAUTH2 (the default).
    Smtp,
    /// Microsoft Graph `sendMail`.
    Graph,
    /// SMTP, and Graph once the tenant or mailbox refuses SMTP AUTH
    /// (535 5.7.139), remembered in the cache directory.
    Auto,
}

impl Transport {
    /// The value as written in the configuration.
    pub fn from_name(name: &str) -> Option<Transport> {
        match name {
            "smtp" => Some(Transport::Smtp),
            "graph" => Some(Transport::Graph),
            "auto" => Some(Transport::Auto),
            _ => None,
        }
    }
}

/// `[graph]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphConfig {
    /// API base without a trailing slash; the token scope is url + `/.default`.
    pub url: String,
    /// Whether Graph keeps a copy in the mailbox's Sent Items.
    pub save_to_sent_items: bool,
    /// Limit for each request.
    pub timeout: Duration,
}

impl GraphConfig {
    /// The token scope for Graph.
    pub fn scope(&self) -> String {
        format!("{}/.default", self.url)
    }
}

/// `[token]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenConfig {
    /// Token endpoint, `{tenant}` already replaced.
    pub url: String,
    /// Requested scope.
    pub scope: String,
    /// Renew this long before expiry.
    pub grace: Duration,
    /// Where cached tokens live.
    pub cache_dir: PathBuf,
    /// HTTP(S) proxy for the token endpoint.
    pub proxy: Option<String>,
    /// Limit for the whole token request.
    pub timeout: Duration,
    /// Signature algorithm for certificate credentials.
    pub assertion_alg: AssertionAlg,
    /// The Azure instance metadata service's token URL.
    pub imds_url: String,
    /// The Azure Arc agent's token URL.
    pub arc_url: String,
    /// Where the Arc agent puts the key files its challenges name.
    pub arc_key_dir: PathBuf,
}

/// `[queue]`, present only when `dir` is set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// Spool directory.
    pub dir: PathBuf,
    /// Give up on a message after this long.
    pub max_age: Duration,
    /// Messages a minute queue runs may send (0 = no limit).
    pub rate_limit: u32,
    /// How long a live send may go on delivering due queued messages.
    pub flush_budget: Duration,
}

/// `[addresses]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressConfig {
    /// sendmail-format aliases file for local recipients.
    pub aliases: Option<PathBuf>,
    /// Domain that qualifies bare local names.
    pub default_domain: String,
    /// Where local names without an alias go, if set.
    pub default_recipient: Option<String>,
    /// From header policy.
    pub from_policy: FromPolicy,
    /// Whether `-f` may change the envelope sender.
    pub allow_from_override: bool,
}

/// The validated configuration with every default resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// Directory (tenant) ID or domain; empty for a managed identity
    /// configured without one.
    pub tenant: String,
    /// Application (client) ID; for a managed identity the user-assigned
    /// identity's client ID, empty for the system-assigned one.
    pub client_id: String,
    /// The application's credential.
    pub credential: Credential,
    /// `credential_access`.
    pub credential_access: CredentialAccess,
    /// Mailbox that authenticates (XOAUTH2 `user=`).
    pub user: String,
    /// Sender address (defaults to `user`).
    pub from: String,
    /// Display name for a From header the program writes.
    pub from_name: Option<String>,
    /// Extra trusted CAs (PEM) for SMTP and the token endpoint.
    pub ca_file: Option<PathBuf>,
    /// Name used in EHLO, Message-ID and "via" (default: the system's).
    pub hostname: Option<String>,
    /// The syslog socket (`/dev/log`); `None` when logging is off.
    pub syslog_socket: Option<PathBuf>,
    /// The largest message accepted, in octets (header and body as read).
    pub max_message_size: u64,
    /// `cloud`: the national cloud whose hosts are the defaults.
    pub cloud: cloud::Cloud,
    /// `[smtp]`.
    pub smtp: SmtpConfig,
    /// `transport`.
    pub transport: Transport,
    /// `[graph]`.
    pub graph: GraphConfig,
    /// `[token]`.
    pub token: TokenConfig,
    /// `[queue]`.
    pub queue: Option<QueueConfig>,
    /// `[addresses]`.
    pub addresses: AddressConfig,
    /// This account's name: `default` for the top level, else the NAME of
    /// `[accounts.NAME]`.
    pub account: String,
    /// `senders`: glob patterns on the sender address (accounts only).
    pub senders: Vec<String>,
    /// `callers`: user names and `@group` names bound to this account.
    pub callers: Vec<String>,
    /// The `[accounts.NAME]` accounts, in name order (empty in an account).
    pub accounts: Vec<Config>,
    /// `delivery`: what a send does by default (`-od…` overrides it).
    pub delivery: DeliveryMode,
    /// `metrics_file`: the node_exporter textfile, if any.
    pub metrics_file: Option<PathBuf>,
    /// `client_secret_expires`: when the secret stops working (Unix time).
    pub client_secret_expires: Option<u64>,
    /// `[limits]`.
    pub limits: LimitsConfig,
}

/// When a message handed over is delivered (`delivery`, `-odi/-odb/-odq`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeliveryMode {
    /// Now, while the caller waits (`-odi`).
    #[default]
    Foreground,
    /// Spooled durably, then delivered by a detached process (`-odb`).
    Background,
    /// Spooled only, for the next queue run (`-odq`).
    Queue,
}

impl Config {
    /// The account name a queued message of this account carries: none
    /// for the default account, so that its files look as before accounts
    /// existed.
    pub fn account_tag(&self) -> Option<String> {
        (self.account != DEFAULT_ACCOUNT).then(|| self.account.clone())
    }
}

impl DeliveryMode {
    /// The configuration value's name.
    pub fn name(self) -> &'static str {
        match self {
            DeliveryMode::Foreground => "foreground",
            DeliveryMode::Background => "background",
            DeliveryMode::Queue => "queue",
        }
    }

    /// The mode a configuration value names.
    pub fn from_name(name: &str) -> Option<DeliveryMode> {
        [
            DeliveryMode::Foreground,
            DeliveryMode::Background,
            DeliveryMode::Queue,
        ]
        .into_iter()
        .find(|m| m.name() == name)
    }
}

/// `[limits]`: per mailbox, across every process on this server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Sessions at once (0 = no limit).
    pub connections: u32,
    /// Messages a minute, live and queued alike (0 = no limit).
    pub rate: u32,
    /// Recipients a day (UTC; 0 = no limit).
    pub recipients_per_day: u32,
}

/// Who will see the configuration's error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Root or the file's owner: syntax errors may carry the parser's own words.
    Root,
    /// A user the file is hidden from (the program runs set-group-ID for
    /// them): only file, line, key and the kind of problem, never a word
    /// of the file's text.
    Caller,
}

/// Reads and parses the configuration file at `path` for `audience`, then
/// resolves `credential:NAME` paths against `$CREDENTIALS_DIRECTORY`.
///
/// # Errors
/// `Kind::Config` naming the file (and line and key where there is one).
pub fn load_for(path: &Path, audience: Audience) -> Result<Config> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::config(format!(
            "cannot read configuration file {}: {}",
            path.display(),
            io_reason(&e)
        ))
        .with_hint("the file must exist and be readable by root and the oauth2-sendmail group (root:oauth2-sendmail, mode 0640); -C names another file")
        .with_cause(Cause::ConfigUnreadable)
    })?;
    let parsed = match audience {
        Audience::Root => parse(&text, path),
        Audience::Caller => parse_for(&text, path, audience),
    };
    let mut config = parsed.map_err(|e| match e.cause() {
        Some(_) => e,
        None => e.with_cause(Cause::ConfigInvalid),
    })?;
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
    resolve_credentials(&mut config, credentials.as_deref())?;
    for account in &mut config.accounts {
        resolve_credentials(account, credentials.as_deref())?;
    }
    Ok(config)
}
