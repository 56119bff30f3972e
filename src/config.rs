//! The configuration file: TOML schema, defaults, validation.
//!
//! The key names are the public interface documented in sendmail.conf(5) and
//! `sendmail.conf.example`; every key of DESIGN.md's schema is known here.
//! A malformed file, an unknown key, a wrong type or a bad value is a
//! `Kind::Config` error (exit 78) naming the file, the line and the key.
//! Error messages never quote the file's text (a value could be a secret).
//!
//! [`parse`] is pure (text in, [`Config`] out); [`load`] adds the file read.
//! Secrets named by `client_secret_file` are read only when a token must be
//! fetched ([`Config::client_secret`]), so a cached token needs no secret.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::address;
use crate::error::{Error, Result, io_reason};
use crate::secret::Secret;

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
    /// Directory (tenant) ID or domain.
    pub tenant: String,
    /// Application (client) ID.
    pub client_id: String,
    /// The application's credential.
    pub credential: Credential,
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
    /// `[smtp]`.
    pub smtp: SmtpConfig,
    /// `[token]`.
    pub token: TokenConfig,
    /// `[queue]`.
    pub queue: Option<QueueConfig>,
    /// `[addresses]`.
    pub addresses: AddressConfig,
}

impl Config {
    /// The client secret, read from `client_secret_file` if that is where it lives.
    ///
    /// # Errors
    /// `Kind::Config` when the file cannot be read or is empty, or when the
    /// credential is a certificate.
    pub fn client_secret(&self) -> Result<Secret> {
        match &self.credential {
            Credential::Secret(s) => Ok(s.clone()),
            Credential::SecretFile(path) => read_secret_file(path),
            Credential::Certificate { .. } => Err(Error::config(
                "the configured credential is a certificate, not a client secret",
            )),
        }
    }
}

/// Reads a secret file: the whole file, without the trailing newline.
fn read_secret_file(path: &Path) -> Result<Secret> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::config(format!(
            "cannot read client_secret_file {}: {}",
            path.display(),
            io_reason(&e)
        ))
        .with_hint("the file must be readable by root and the oauth2-sendmail group: chown root:oauth2-sendmail FILE; chmod 0640 FILE")
        .with_cause("secret-unreadable")
    })?;
    let secret = text.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return Err(Error::config(format!(
            "client_secret_file {} is empty",
            path.display()
        ))
        .with_hint("put the client secret's Value (App registrations > your app > Certificates & secrets) in the file")
        .with_cause("secret-unreadable"));
    }
    Ok(Secret::new(secret))
}

/// Reads and parses the configuration file at `path`.
///
/// # Errors
/// `Kind::Config` naming the file (and line and key where there is one).
pub fn load(path: &Path) -> Result<Config> {
    load_for(path, Audience::Root)
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
        .with_cause("config-unreadable")
    })?;
    let parsed = match audience {
        Audience::Root => parse(&text, path),
        Audience::Caller => parse_for(&text, path, audience),
    };
    let mut config = parsed.map_err(|e| match e.cause() {
        Some(_) => e,
        None => e.with_cause("config-invalid"),
    })?;
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
    resolve_credentials(&mut config, credentials.as_deref())?;
    Ok(config)
}

/// Prefix of a path that names a systemd credential (`LoadCredential=`).
pub const CREDENTIAL_PREFIX: &str = "credential:";

/// Replaces `credential:NAME` in `client_secret_file`, `certificate_file`
/// and `private_key_file` by `DIR/NAME`, where `DIR` is the service's
/// `$CREDENTIALS_DIRECTORY`. Pure: the directory comes in.
///
/// # Errors
/// `Kind::Config` when NAME is not a plain file name or there is no
/// credentials directory (not a systemd service, or run set-group-ID,
/// where the environment is not trusted).
pub fn resolve_credentials(config: &mut Config, credentials_dir: Option<&Path>) -> Result<()> {
    let origin = config.path.display().to_string();
    let resolve = |key: &str, path: &mut PathBuf| -> Result<()> {
        let Some(name) = path
            .to_str()
            .and_then(|p| p.strip_prefix(CREDENTIAL_PREFIX))
        else {
            return Ok(());
        };
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(Error::config(format!(
                "{origin}: {key}: {CREDENTIAL_PREFIX}{name} must name a credential, like {CREDENTIAL_PREFIX}client-secret"
            )));
        }
        let Some(dir) = credentials_dir else {
            return Err(Error::config(format!(
                "{origin}: {key} = \"{CREDENTIAL_PREFIX}{name}\" needs $CREDENTIALS_DIRECTORY, which systemd sets only for a service with LoadCredential={name}:FILE"
            ))
            .with_hint("run it from that service, or name the file itself"));
        };
        *path = dir.join(name);
        Ok(())
    };
    match &mut config.credential {
        Credential::Secret(_) => Ok(()),
        Credential::SecretFile(path) => resolve("client_secret_file", path),
        Credential::Certificate {
            certificate_file,
            private_key_file,
        } => {
            resolve("certificate_file", certificate_file)?;
            resolve("private_key_file", private_key_file)
        }
    }
}

// ---- the file as written -------------------------------------------------

type S<T> = Option<Spanned<T>>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    tenant: S<String>,
    client_id: S<String>,
    client_secret: S<String>,
    client_secret_file: S<String>,
    certificate_file: S<String>,
    private_key_file: S<String>,
    user: S<String>,
    from: S<String>,
    from_name: S<String>,
    ca_file: S<String>,
    hostname: S<String>,
    syslog_socket: S<String>,
    #[serde(default)]
    smtp: RawSmtp,
    #[serde(default)]
    token: RawToken,
    #[serde(default)]
    queue: RawQueue,
    #[serde(default)]
    addresses: RawAddresses,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: S<String>,
    port: S<i64>,
    tls: S<String>,
    timeout: S<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawToken {
    url: S<String>,
    scope: S<String>,
    grace: S<i64>,
    cache_dir: S<String>,
    proxy: S<String>,
    timeout: S<i64>,
    assertion_alg: S<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    dir: S<String>,
    max_age: S<i64>,
    rate_limit: S<i64>,
    flush_budget: S<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAddresses {
    aliases: S<String>,
    default_domain: S<String>,
    default_recipient: S<String>,
    from_policy: S<String>,
    allow_from_override: S<bool>,
}

/// Builds errors that name the file, the line and the key.
struct Validator<'a> {
    text: &'a str,
    origin: &'a Path,
}

impl Validator<'_> {
    fn at<T>(&self, value: &Spanned<T>, key: &str, problem: impl std::fmt::Display) -> Error {
        let line = line_of(self.text, value.span().start);
        Error::config(format!(
            "{}:{line}: {key}: {problem}",
            self.origin.display()
        ))
    }

    fn missing(&self, key: &str, what: &str) -> Error {
        Error::config(format!(
            "{}: missing required key {key} ({what})",
            self.origin.display()
        ))
    }

    fn string(&self, value: &S<String>, key: &str) -> Result<Option<String>> {
        match value {
            None => Ok(None),
            Some(v) if v.get_ref().trim().is_empty() => Err(self.at(v, key, "must not be empty")),
            Some(v) if v.get_ref().chars().any(char::is_control) => {
                Err(self.at(v, key, "must not contain control characters"))
            }
            Some(v) => Ok(Some(v.get_ref().trim().to_string())),
        }
    }

    fn required(&self, value: &S<String>, key: &str, what: &str) -> Result<String> {
        self.string(value, key)?
            .ok_or_else(|| self.missing(key, what))
    }

    fn seconds(
        &self,
        value: &S<i64>,
        key: &str,
        range: (i64, i64),
        default: i64,
    ) -> Result<Duration> {
        let Some(v) = value else {
            return Ok(Duration::from_secs(default as u64));
        };
        let n = *v.get_ref();
        if n < range.0 || n > range.1 {
            return Err(self.at(
                v,
                key,
                format!("must be between {} and {} seconds", range.0, range.1),
            ));
        }
        Ok(Duration::from_secs(n as u64))
    }

    fn address(&self, value: &S<String>, key: &str) -> Result<Option<String>> {
        let Some(addr) = self.string(value, key)? else {
            return Ok(None);
        };
        if let Err(problem) = address::check_mailbox(&addr) {
            return Err(self.at(value.as_ref().unwrap(), key, problem));
        }
        Ok(Some(addr))
    }
}

/// Parses configuration text; `origin` names the file in error messages.
///
/// # Errors
/// `Kind::Config` naming the file, line and key.
pub fn parse(text: &str, origin: &Path) -> Result<Config> {
    parse_for(text, origin, Audience::Root)
}

/// [`parse`], with error messages fit for `audience`.
///
/// # Errors
/// As [`parse`].
pub fn parse_for(text: &str, origin: &Path, audience: Audience) -> Result<Config> {
    let raw: RawConfig =
        toml::from_str(text).map_err(|e| toml_error(text, origin, &e, audience))?;
    let v = Validator { text, origin };

    let tenant_value = v.required(&raw.tenant, "tenant", "the Directory (tenant) ID")?;
    check_tenant(&tenant_value).map_err(|p| v.at(raw.tenant.as_ref().unwrap(), "tenant", p))?;
    let client_id = v.required(&raw.client_id, "client_id", "the Application (client) ID")?;
    if !is_guid(&client_id) {
        return Err(v.at(
            raw.client_id.as_ref().unwrap(),
            "client_id",
            "must be the Application (client) ID, a GUID like 11111111-2222-3333-4444-555555555555",
        ));
    }
    let credential = credential(&raw, &v)?;
    let user = v
        .address(&raw.user, "user")?
        .ok_or_else(|| v.missing("user", "the mailbox that authenticates"))?;
    let from = v
        .address(&raw.from, "from")?
        .unwrap_or_else(|| user.clone());
    let from_name = v.string(&raw.from_name, "from_name")?;
    let ca_file = v.string(&raw.ca_file, "ca_file")?.map(PathBuf::from);
    let hostname = v.string(&raw.hostname, "hostname")?;
    if let (Some(h), Some(raw_h)) = (&hostname, &raw.hostname)
        && !is_domain_name(h)
    {
        return Err(v.at(
            raw_h,
            "hostname",
            "must be a host name like mail.example.com",
        ));
    }

    // An empty value turns syslog off (containers without a syslog daemon).
    let syslog_socket = match &raw.syslog_socket {
        None => Some(PathBuf::from("/dev/log")),
        Some(p) if p.get_ref().trim().is_empty() => None,
        Some(_) => v
            .string(&raw.syslog_socket, "syslog_socket")?
            .map(PathBuf::from),
    };
    let smtp = smtp_section(&raw.smtp, &v)?;
    let token = token_section(&raw.token, &v, &tenant_value)?;
    let queue = queue_section(&raw.queue, &v)?;
    let addresses = addresses_section(&raw.addresses, &v, &from)?;

    Ok(Config {
        path: origin.to_path_buf(),
        tenant: tenant_value,
        client_id,
        credential,
        user,
        from,
        from_name,
        ca_file,
        hostname,
        syslog_socket,
        smtp,
        token,
        queue,
        addresses,
    })
}

fn credential(raw: &RawConfig, v: &Validator) -> Result<Credential> {
    let secret = v.string(&raw.client_secret, "client_secret")?;
    let secret_file = v.string(&raw.client_secret_file, "client_secret_file")?;
    let cert = v.string(&raw.certificate_file, "certificate_file")?;
    let key = v.string(&raw.private_key_file, "private_key_file")?;
    let given = [
        secret.is_some(),
        secret_file.is_some(),
        cert.is_some() || key.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(Error::config(format!(
            "{}: set only one of client_secret, client_secret_file, or certificate_file + private_key_file",
            v.origin.display()
        )));
    }
    match (secret, secret_file, cert, key) {
        (Some(s), ..) => Ok(Credential::Secret(Secret::new(s))),
        (None, Some(f), ..) => Ok(Credential::SecretFile(PathBuf::from(f))),
        (None, None, Some(c), Some(k)) => Ok(Credential::Certificate {
            certificate_file: PathBuf::from(c),
            private_key_file: PathBuf::from(k),
        }),
        (None, None, Some(_), None) => {
            Err(v.missing("private_key_file", "the certificate's private key"))
        }
        (None, None, None, Some(_)) => {
            Err(v.missing("certificate_file", "the certificate for private_key_file"))
        }
        (None, None, None, None) => Err(v.missing(
            "client_secret_file",
            "or client_secret, or certificate_file + private_key_file",
        )),
    }
}

fn smtp_section(raw: &RawSmtp, v: &Validator) -> Result<SmtpConfig> {
    let host = v
        .string(&raw.host, "smtp.host")?
        .unwrap_or_else(|| "smtp.office365.com".to_string());
    if !is_host(&host) {
        return Err(v.at(
            raw.host.as_ref().unwrap(),
            "smtp.host",
            "must be a host name or IP address",
        ));
    }
    let tls = match &raw.tls {
        None => TlsMode::StartTls,
        Some(t) => match t.get_ref().as_str() {
            "starttls" => TlsMode::StartTls,
            "tls" => TlsMode::Implicit,
            "none" => TlsMode::None,
            _ => return Err(v.at(t, "smtp.tls", "must be starttls, tls or none")),
        },
    };
    if tls == TlsMode::None && !is_loopback(&host) {
        return Err(v.at(
            raw.tls.as_ref().unwrap(),
            "smtp.tls",
            "none is allowed only towards a loopback host (localhost, 127.0.0.1, ::1): credentials must never cross a network in clear text",
        ));
    }
    let port = match &raw.port {
        None => match tls {
            TlsMode::Implicit => 465,
            TlsMode::StartTls => 587,
            TlsMode::None => 25,
        },
        Some(p) => u16::try_from(*p.get_ref())
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| v.at(p, "smtp.port", "must be between 1 and 65535"))?,
    };
    let timeout = v.seconds(&raw.timeout, "smtp.timeout", (1, 3600), 60)?;
    Ok(SmtpConfig {
        host,
        port,
        tls,
        timeout,
    })
}

fn token_section(raw: &RawToken, v: &Validator, tenant: &str) -> Result<TokenConfig> {
    let url = v
        .string(&raw.url, "token.url")?
        .unwrap_or_else(|| "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token".into());
    if !url.starts_with("https://") || url.contains(char::is_whitespace) {
        return Err(v.at(
            raw.url.as_ref().unwrap(),
            "token.url",
            "must be an https:// URL",
        ));
    }
    let url = url.replace("{tenant}", tenant);
    let scope = v
        .string(&raw.scope, "token.scope")?
        .unwrap_or_else(|| "https://outlook.office365.com/.default".into());
    let grace = v.seconds(&raw.grace, "token.grace", (0, 3000), 300)?;
    let cache_dir = v
        .string(&raw.cache_dir, "token.cache_dir")?
        .unwrap_or_else(|| "/var/cache/oauth2-sendmail".into());
    // An empty proxy means "none", as in the example file.
    let proxy = match &raw.proxy {
        Some(p) if p.get_ref().trim().is_empty() => None,
        _ => v.string(&raw.proxy, "token.proxy")?,
    };
    if let (Some(p), Some(raw_p)) = (&proxy, &raw.proxy)
        && !(p.starts_with("http://") || p.starts_with("https://"))
    {
        return Err(v.at(raw_p, "token.proxy", "must be an http:// or https:// URL"));
    }
    let timeout = v.seconds(&raw.timeout, "token.timeout", (1, 600), 30)?;
    let assertion_alg = match &raw.assertion_alg {
        None => AssertionAlg::Ps256,
        Some(a) => match a.get_ref().to_ascii_uppercase().as_str() {
            "PS256" => AssertionAlg::Ps256,
            "RS256" => AssertionAlg::Rs256,
            _ => return Err(v.at(a, "token.assertion_alg", "must be PS256 or RS256")),
        },
    };
    Ok(TokenConfig {
        url,
        scope,
        grace,
        cache_dir: PathBuf::from(cache_dir),
        proxy,
        timeout,
        assertion_alg,
    })
}

fn queue_section(raw: &RawQueue, v: &Validator) -> Result<Option<QueueConfig>> {
    // The other keys are checked even without a dir, so a typo shows early.
    let max_age = v.seconds(&raw.max_age, "queue.max_age", (60, 90 * 86_400), 432_000)?;
    let flush_budget = v.seconds(&raw.flush_budget, "queue.flush_budget", (0, 60), 2)?;
    let rate_limit = match &raw.rate_limit {
        None => 30,
        Some(r) => u32::try_from(*r.get_ref())
            .ok()
            .filter(|n| *n <= 100_000)
            .ok_or_else(|| {
                v.at(
                    r,
                    "queue.rate_limit",
                    "must be between 0 (no limit) and 100000 messages a minute",
                )
            })?,
    };
    Ok(v.string(&raw.dir, "queue.dir")?.map(|dir| QueueConfig {
        dir: PathBuf::from(dir),
        max_age,
        rate_limit,
        flush_budget,
    }))
}

fn addresses_section(raw: &RawAddresses, v: &Validator, from: &str) -> Result<AddressConfig> {
    let aliases = match &raw.aliases {
        Some(a) if a.get_ref().trim().is_empty() => None,
        None => Some(PathBuf::from("/etc/aliases")),
        Some(_) => v
            .string(&raw.aliases, "addresses.aliases")?
            .map(PathBuf::from),
    };
    let default_domain = match v.string(&raw.default_domain, "addresses.default_domain")? {
        Some(d) if is_domain_name(&d) => d,
        Some(_) => {
            return Err(v.at(
                raw.default_domain.as_ref().unwrap(),
                "addresses.default_domain",
                "must be a domain name like example.com",
            ));
        }
        None => address::domain_of(from).unwrap_or_default().to_string(),
    };
    let default_recipient = match &raw.default_recipient {
        Some(r) if r.get_ref().trim().is_empty() => None,
        _ => v.address(&raw.default_recipient, "addresses.default_recipient")?,
    };
    let from_policy = match &raw.from_policy {
        None => FromPolicy::Rewrite,
        Some(p) => match p.get_ref().as_str() {
            "rewrite" => FromPolicy::Rewrite,
            "keep" => FromPolicy::Keep,
            _ => return Err(v.at(p, "addresses.from_policy", "must be rewrite or keep")),
        },
    };
    Ok(AddressConfig {
        aliases,
        default_domain,
        default_recipient,
        from_policy,
        allow_from_override: raw
            .allow_from_override
            .as_ref()
            .is_some_and(|b| *b.get_ref()),
    })
}

/// Turns a TOML error into one line naming file, line and key, without
/// quoting the file (toml's own rendering shows the offending text).
fn toml_error(text: &str, origin: &Path, e: &toml::de::Error, audience: Audience) -> Error {
    let (line, key) = match e.span() {
        Some(span) => (line_of(text, span.start), key_at(text, span.start)),
        None => (0, None),
    };
    let message = e.message();
    // "invalid type: string \"…\", expected …" quotes the value: keep the expectation only.
    let problem = match message.split_once(", expected ") {
        Some((head, expected))
            if head.starts_with("invalid type") || head.starts_with("invalid value") =>
        {
            format!("wrong type, expected {expected}")
        }
        _ if message.starts_with("unknown field") => message
            .split(", expected")
            .next()
            .unwrap_or(message)
            .replace("field", "key"),
        _ if audience == Audience::Caller => "syntax error".to_string(),
        _ => message.lines().next().unwrap_or("syntax error").to_string(),
    };
    let location = match line {
        0 => origin.display().to_string(),
        n => format!("{}:{n}", origin.display()),
    };
    match key {
        Some(key) => Error::config(format!("{location}: {key}: {problem}")),
        None => Error::config(format!("{location}: {problem}")),
    }
}

/// The 1-based line number of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The dotted key whose line holds `offset` (`smtp.port`), if that line is a
/// `key = value` line; the table comes from the nearest `[header]` above.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = text[line_start..line_end].trim();
    let key = line.split_once('=')?.0.trim().trim_matches('"');
    if key.is_empty() || key.starts_with('[') || key.starts_with('#') {
        return None;
    }
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(['[', ']']).trim());
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_string(),
    })
}

/// A GUID in its usual 8-4-4-4-12 hexadecimal form.
pub fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A DNS name with at least one dot (`contoso.com`).
pub fn is_domain_name(s: &str) -> bool {
    s.len() <= 253
        && s.contains('.')
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn is_host(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
        || s == "localhost"
        || is_domain_name(s)
        || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// Whether `host` names this machine's loopback interface.
pub fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Entra accepts a tenant GUID or a verified domain; `common` and friends
/// fail for client credentials (AADSTS9001023), so catch them here.
fn check_tenant(tenant: &str) -> std::result::Result<(), String> {
    match tenant.to_ascii_lowercase().as_str() {
        "common" | "organizations" | "consumers" => Err(format!(
            "{tenant} cannot be used for client credentials: use the Directory (tenant) ID GUID or the tenant's domain (contoso.onmicrosoft.com)"
        )),
        t if is_guid(t) || is_domain_name(t) => Ok(()),
        _ => Err(
            "must be the Directory (tenant) ID (a GUID) or a domain like contoso.onmicrosoft.com"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
tenant = "contoso.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
client_secret = "abc~+/=.def"
user = "alerts@contoso.com"
"#;

    fn parse_str(text: &str) -> Result<Config> {
        parse(text, Path::new("test.conf"))
    }

    #[track_caller]
    fn err(text: &str, needle: &str) {
        match parse_str(text) {
            Ok(c) => panic!("accepted: {c:?}"),
            Err(e) => {
                assert_eq!(e.exit_code(), 78);
                assert!(
                    e.message().contains(needle),
                    "{:?} lacks {needle:?}",
                    e.message()
                );
            }
        }
    }

    #[test]
    fn minimal_file_gets_every_default() {
        let c = parse_str(MINIMAL).unwrap();
        assert_eq!(c.from, "alerts@contoso.com");
        assert_eq!(c.smtp.host, "smtp.office365.com");
        assert_eq!(c.smtp.port, 587);
        assert_eq!(c.smtp.tls, TlsMode::StartTls);
        assert_eq!(c.smtp.timeout, Duration::from_secs(60));
        assert_eq!(
            c.token.url,
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(c.token.scope, "https://outlook.office365.com/.default");
        assert_eq!(c.token.grace, Duration::from_secs(300));
        assert_eq!(
            c.token.cache_dir,
            PathBuf::from("/var/cache/oauth2-sendmail")
        );
        assert_eq!(c.token.proxy, None);
        assert_eq!(c.queue, None);
        assert_eq!(c.addresses.default_domain, "contoso.com");
        assert_eq!(c.addresses.from_policy, FromPolicy::Rewrite);
        assert!(!c.addresses.allow_from_override);
        assert_eq!(c.client_secret().unwrap().expose(), "abc~+/=.def");
    }

    #[test]
    fn the_full_example_file_parses() {
        let text = include_str!("../sendmail.conf.example");
        let c = parse_str(text).unwrap();
        assert_eq!(c.client_id, "11111111-2222-3333-4444-555555555555");
    }

    #[test]
    fn queue_keys_and_defaults() {
        let c = parse_str(&format!("{MINIMAL}[queue]\ndir = \"/q\"\n")).unwrap();
        let q = c.queue.unwrap();
        assert_eq!(q.dir, PathBuf::from("/q"));
        assert_eq!(q.max_age, Duration::from_secs(432_000));
        assert_eq!(q.rate_limit, 30);
        assert_eq!(q.flush_budget, Duration::from_secs(2));
        let c = parse_str(&format!(
            "{MINIMAL}[queue]\ndir = \"/q\"\nrate_limit = 0\nflush_budget = 0\nmax_age = 60\n"
        ))
        .unwrap();
        let q = c.queue.unwrap();
        assert_eq!(
            (q.rate_limit, q.flush_budget.as_secs(), q.max_age.as_secs()),
            (0, 0, 60)
        );
    }

    #[test]
    fn implicit_tls_defaults_to_465() {
        let c = parse_str(&format!("{MINIMAL}[smtp]\ntls = \"tls\"\n")).unwrap();
        assert_eq!((c.smtp.tls, c.smtp.port), (TlsMode::Implicit, 465));
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let table: &[(&str, &str)] = &[
            (
                "[smtp]\nport = 70000\n",
                "test.conf:7: smtp.port: must be between 1 and 65535",
            ),
            (
                "[smtp]\nport = \"x\"\n",
                "test.conf:7: smtp.port: wrong type",
            ),
            (
                "[smtp]\nrelay = \"x\"\n",
                "test.conf:7: smtp.relay: unknown key `relay`",
            ),
            (
                "[smtp]\ntls = \"ssl\"\n",
                "smtp.tls: must be starttls, tls or none",
            ),
            (
                "[smtp]\ntls = \"none\"\n",
                "smtp.tls: none is allowed only towards a loopback",
            ),
            (
                "[token]\nurl = \"http://x/\"\n",
                "token.url: must be an https:// URL",
            ),
            ("[token]\ngrace = -1\n", "token.grace: must be between"),
            (
                "[queue]\nrate_limit = -1\n",
                "queue.rate_limit: must be between",
            ),
            (
                "[queue]\nflush_budget = 61\n",
                "queue.flush_budget: must be between",
            ),
            ("[queue]\nmax_age = 10\n", "queue.max_age: must be between"),
            (
                "[token]\nassertion_alg = \"ES256\"\n",
                "token.assertion_alg: must be PS256 or RS256",
            ),
            ("[token]\nproxy = \"socks://x\"\n", "token.proxy"),
            (
                "[addresses]\nfrom_policy = \"x\"\n",
                "addresses.from_policy",
            ),
            (
                "[addresses]\ndefault_domain = \"x y\"\n",
                "addresses.default_domain",
            ),
            (
                "[addresses]\nallow_from_override = \"yes\"\n",
                "addresses.allow_from_override: wrong type",
            ),
            ("bogus = 1\n", "test.conf:6: bogus: unknown key"),
            ("[smtp\n", "test.conf:6"),
        ];
        for (tail, needle) in table {
            err(&format!("{MINIMAL}{tail}"), needle);
        }
    }

    #[test]
    fn required_keys_and_their_checks() {
        let client = "client_id = \"11111111-2222-3333-4444-555555555555\"\n";
        let base = "client_secret = \"s\"\nuser = \"a@b.c\"\n";
        err(&format!("{client}{base}"), "missing required key tenant");
        err(
            &format!("tenant = \"t.com\"\n{base}"),
            "missing required key client_id",
        );
        err(
            &format!("tenant = \"t.com\"\n{client}user = \"a@b.c\"\n"),
            "missing required key client_secret_file",
        );
        err(
            &format!("tenant = \"t.com\"\n{client}client_secret = \"s\"\n"),
            "missing required key user",
        );
        err(
            &format!("tenant = \"common\"\n{client}{base}"),
            "cannot be used for client credentials",
        );
        err(
            &format!("tenant = \"not a tenant\"\n{client}{base}"),
            "tenant: must be",
        );
        err(
            &format!("tenant = \"t.com\"\nclient_id = \"abc\"\n{base}"),
            "client_id: must be the Application",
        );
        err(
            &format!("tenant = \"t.com\"\n{client}{base}client_secret_file = \"/x\"\n"),
            "only one of",
        );
        err(
            &format!("tenant = \"t.com\"\n{client}client_secret = \"\"\nuser = \"a@b.c\"\n"),
            "client_secret: must not be empty",
        );
        err(
            &format!("tenant = \"t.com\"\n{client}{base}from = \"a b@c\"\n"),
            "from:",
        );
        err(
            &format!("tenant = \"t.com\"\n{client}user = \"x\"\ncertificate_file = \"c.pem\"\n"),
            "private_key_file",
        );
    }

    #[test]
    fn errors_never_quote_the_value() {
        let text = "tenant = \"t.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\nclient_secret = 12345678\nuser = \"a@b.c\"\n";
        let e = parse_str(text).unwrap_err();
        assert!(
            e.message().contains("client_secret: wrong type"),
            "{}",
            e.message()
        );
        assert!(!e.message().contains("12345678"), "{}", e.message());
    }

    #[test]
    fn a_hidden_file_gets_no_parser_words() {
        let text = format!("{MINIMAL}[smtp\n");
        let root = parse_for(&text, Path::new("t.conf"), Audience::Root).unwrap_err();
        let caller = parse_for(&text, Path::new("t.conf"), Audience::Caller).unwrap_err();
        assert_eq!(caller.message(), "t.conf:6: syntax error");
        assert_ne!(root.message(), caller.message());
    }

    #[test]
    fn credential_paths_resolve_against_the_credentials_directory() {
        let text = MINIMAL.replace(
            "client_secret = \"abc~+/=.def\"",
            "client_secret_file = \"credential:client-secret\"",
        );
        let mut c = parse_str(&text).unwrap();
        let e = resolve_credentials(&mut c.clone(), None).unwrap_err();
        assert!(
            e.message().contains("needs $CREDENTIALS_DIRECTORY"),
            "{}",
            e.message()
        );
        resolve_credentials(&mut c, Some(Path::new("/run/credentials/x.service"))).unwrap();
        assert_eq!(
            c.credential,
            Credential::SecretFile(PathBuf::from("/run/credentials/x.service/client-secret"))
        );
        for bad in [
            "credential:",
            "credential:../x",
            "credential:a/b",
            "credential:..",
        ] {
            let text = MINIMAL.replace(
                "client_secret = \"abc~+/=.def\"",
                &format!("client_secret_file = \"{bad}\""),
            );
            let mut c = parse_str(&text).unwrap();
            let e = resolve_credentials(&mut c, Some(Path::new("/run/c"))).unwrap_err();
            assert!(
                e.message().contains("must name a credential"),
                "{bad}: {}",
                e.message()
            );
        }
        // Other paths are left alone.
        let mut c = parse_str(MINIMAL).unwrap();
        resolve_credentials(&mut c, None).unwrap();
    }

    #[test]
    fn tls_none_is_fine_on_loopback() {
        for host in ["localhost", "127.0.0.1", "::1"] {
            let c = parse_str(&format!(
                "{MINIMAL}[smtp]\nhost = \"{host}\"\ntls = \"none\"\n"
            ))
            .unwrap();
            assert_eq!(c.smtp.port, 25);
        }
    }

    #[test]
    fn secret_file_is_read_on_demand() {
        let dir = std::env::temp_dir().join(format!("o2s-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("secret");
        std::fs::write(&file, "s3cr~t+/=\n").unwrap();
        let text = MINIMAL.replace(
            "client_secret = \"abc~+/=.def\"",
            &format!("client_secret_file = \"{}\"", file.display()),
        );
        let c = parse_str(&text).unwrap();
        assert_eq!(c.client_secret().unwrap().expose(), "s3cr~t+/=");
        std::fs::write(&file, "\n").unwrap();
        assert!(
            c.client_secret()
                .unwrap_err()
                .message()
                .contains("is empty")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn validators() {
        assert!(is_guid("11111111-2222-3333-4444-555555555555"));
        assert!(!is_guid("11111111-2222-3333-4444-55555555555"));
        assert!(is_domain_name("contoso.onmicrosoft.com"));
        assert!(!is_domain_name("contoso"));
        assert!(!is_domain_name("a..b"));
        assert!(is_loopback("127.0.0.2") && is_loopback("[::1]") && !is_loopback("10.0.0.1"));
        assert_eq!(key_at("a = 1\n[x]\nb = 2\n", 12), Some("x.b".into()));
        assert_eq!(line_of("a\nb\nc", 4), 3);
    }
}
