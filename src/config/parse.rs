//! Configuration text to [`Config`]: the file as written (TOML structs that
//! refuse unknown keys) and the checks that turn each section into its
//! validated form with every default filled in.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use toml::de::DeTable;

mod endpoints;
mod queue;

use super::cloud::Cloud;
use super::locate::{account_key, line_of, toml_error};
use super::names::{check_tenant, is_domain_name, is_guid, is_host, is_loopback};
use super::{
    AddressConfig, AssertionAlg, Audience, Config, Credential, CredentialAccess, FromPolicy,
    GraphConfig, ManagedIdentity, QueueConfig, SmtpConfig, TlsMode, TokenConfig, Transport,
};
use crate::address;
use crate::error::{Error, Result};
use crate::secret::Secret;
use endpoints::{ARC_KEY_DIR, ARC_URL, IMDS_URL, local_url};
use queue::{queue_rate, queue_section};

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
    client_assertion_file: S<String>,
    managed_identity: S<String>,
    credential_access: S<String>,
    user: S<String>,
    from: S<String>,
    from_name: S<String>,
    ca_file: S<String>,
    hostname: S<String>,
    syslog_socket: S<String>,
    max_message_size: S<i64>,
    cloud: S<String>,
    transport: S<String>,
    delivery: S<String>,
    metrics_file: S<String>,
    client_secret_expires: S<String>,
    #[serde(default)]
    limits: super::fleet::RawLimits,
    #[serde(default)]
    smtp: RawSmtp,
    #[serde(default)]
    graph: RawGraph,
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
struct RawGraph {
    url: S<String>,
    save_to_sent_items: S<bool>,
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
    imds_url: S<String>,
    arc_url: S<String>,
    arc_key_dir: S<String>,
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
    /// The account being validated (`None`: the top level).
    account: Option<&'a str>,
}

impl Validator<'_> {
    fn at<T>(&self, value: &Spanned<T>, key: &str, problem: impl std::fmt::Display) -> Error {
        let line = line_of(self.text, value.span().start);
        let key = account_key(self.text, value.span().start, self.account, key);
        Error::config(format!(
            "{}:{line}: {key}: {problem}",
            self.origin.display()
        ))
    }

    /// The error for a value `fleet` found bad.
    fn located(&self, (start, key, problem): super::fleet::Located) -> Error {
        let line = line_of(self.text, start);
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

/// One account's table (the top level, or an account laid over it) to its
/// validated [`Config`].
pub(super) fn from_table(
    table: Spanned<DeTable>,
    text: &str,
    origin: &Path,
    audience: Audience,
    account: Option<&str>,
) -> Result<Config> {
    let raw = RawConfig::deserialize(toml::de::Deserializer::from(table))
        .map_err(|e| toml_error(text, origin, &e, audience))?;
    let v = Validator {
        text,
        origin,
        account,
    };

    let credential = credential(&raw, &v)?;
    // A managed identity knows its tenant, and is the system-assigned one
    // unless client_id names a user-assigned identity.
    let managed = matches!(credential, Credential::Managed(_));
    let tenant_value = match v.string(&raw.tenant, "tenant")? {
        None if managed => String::new(),
        None => return Err(v.missing("tenant", "the Directory (tenant) ID")),
        Some(t) => {
            check_tenant(&t).map_err(|p| v.at(raw.tenant.as_ref().unwrap(), "tenant", p))?;
            t
        }
    };
    let client_id = match v.string(&raw.client_id, "client_id")? {
        None if managed => String::new(),
        None => return Err(v.missing("client_id", "the Application (client) ID")),
        Some(id) if is_guid(&id) => id,
        Some(_) => {
            return Err(v.at(
                raw.client_id.as_ref().unwrap(),
                "client_id",
                "must be the Application (client) ID, a GUID like 11111111-2222-3333-4444-555555555555",
            ));
        }
    };
    if credential == Credential::Managed(ManagedIdentity::Arc) && !client_id.is_empty() {
        return Err(v.at(
            raw.client_id.as_ref().unwrap(),
            "client_id",
            "an Azure Arc server has only its system-assigned identity: remove client_id",
        ));
    }
    let credential_access = match &raw.credential_access {
        None => CredentialAccess::Callers,
        Some(a) => match a.get_ref().as_str() {
            "callers" => CredentialAccess::Callers,
            "service" => CredentialAccess::Service,
            _ => return Err(v.at(a, "credential_access", "must be callers or service")),
        },
    };
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
    let max_message_size = message_size(&raw.max_message_size, &v)?;
    let cloud = match &raw.cloud {
        None => Cloud::Global,
        Some(c) => Cloud::from_name(c.get_ref())
            .ok_or_else(|| v.at(c, "cloud", "must be global, gcc-high, dod or china"))?,
    };
    let smtp = smtp_section(&raw.smtp, &v, cloud)?;
    let token = token_section(&raw.token, &v, &tenant_value, cloud)?;
    let transport = match &raw.transport {
        None => Transport::Smtp,
        Some(t) => Transport::from_name(t.get_ref())
            .ok_or_else(|| v.at(t, "transport", "must be smtp, graph or auto"))?,
    };
    let graph = graph_section(&raw.graph, &v, cloud)?;
    let queue = queue_section(&raw.queue, &v)?;
    let rate_limit = raw
        .queue
        .rate_limit
        .as_ref()
        .map(|_| queue_rate(&raw.queue, &v))
        .transpose()?;
    let limits = super::fleet::limits(&raw.limits, rate_limit).map_err(|e| v.located(e))?;
    let queue = queue.map(|q| QueueConfig {
        rate_limit: limits.rate,
        ..q
    });
    let addresses = addresses_section(&raw.addresses, &v, &from)?;

    if credential_access == CredentialAccess::Service && matches!(credential, Credential::Secret(_))
    {
        return Err(v.at(
            raw.credential_access.as_ref().unwrap(),
            "credential_access",
            "service keeps the credential from callers, who read this file: move the secret to client_secret_file (readable by the queue service's user only)",
        ));
    }
    Ok(Config {
        path: origin.to_path_buf(),
        tenant: tenant_value,
        client_id,
        credential,
        credential_access,
        user,
        from,
        from_name,
        ca_file,
        hostname,
        syslog_socket,
        max_message_size,
        cloud,
        smtp,
        transport,
        graph,
        token,
        queue,
        addresses,
        account: super::DEFAULT_ACCOUNT.to_string(),
        senders: Vec::new(),
        callers: Vec::new(),
        accounts: Vec::new(),
        delivery: super::fleet::delivery(&raw.delivery).map_err(|e| v.located(e))?,
        metrics_file: super::fleet::metrics_file(&raw.metrics_file).map_err(|e| v.located(e))?,
        client_secret_expires: super::fleet::secret_expires(&raw.client_secret_expires)
            .map_err(|e| v.located(e))?,
        limits,
    })
}

/// Smallest and largest `max_message_size`: 64 KiB (a message must fit a
/// header) to 1 GiB (far above any submission server's limit).
const MESSAGE_SIZE_RANGE: (i64, i64) = (64 * 1024, 1024 * 1024 * 1024);

fn message_size(value: &S<i64>, v: &Validator) -> Result<u64> {
    let Some(raw) = value else {
        return Ok(crate::size::DEFAULT_MAX);
    };
    let n = *raw.get_ref();
    let (low, high) = MESSAGE_SIZE_RANGE;
    if !(low..=high).contains(&n) {
        return Err(v.at(
            raw,
            "max_message_size",
            format!("must be between {low} and {high} octets (64 KiB to 1 GiB)"),
        ));
    }
    Ok(n as u64)
}

fn graph_section(raw: &RawGraph, v: &Validator, cloud: Cloud) -> Result<GraphConfig> {
    let url = v
        .string(&raw.url, "graph.url")?
        .unwrap_or_else(|| cloud.preset().graph_url.into());
    let url = url.trim_end_matches('/').to_string();
    let host = url.strip_prefix("https://").unwrap_or("");
    if host.is_empty() || host.contains(['/', '?', '#', '@']) || host.contains(char::is_whitespace)
    {
        return Err(v.at(
            raw.url.as_ref().unwrap(),
            "graph.url",
            "must be an https:// URL without a path, like https://graph.microsoft.com",
        ));
    }
    Ok(GraphConfig {
        url,
        save_to_sent_items: raw.save_to_sent_items.as_ref().is_none_or(|b| *b.get_ref()),
        timeout: v.seconds(&raw.timeout, "graph.timeout", (1, 3600), 60)?,
    })
}

fn credential(raw: &RawConfig, v: &Validator) -> Result<Credential> {
    let secret = v.string(&raw.client_secret, "client_secret")?;
    let secret_file = v.string(&raw.client_secret_file, "client_secret_file")?;
    let cert = v.string(&raw.certificate_file, "certificate_file")?;
    let key = v.string(&raw.private_key_file, "private_key_file")?;
    let assertion = v.string(&raw.client_assertion_file, "client_assertion_file")?;
    let managed = match &raw.managed_identity {
        None => None,
        Some(m) => Some(match m.get_ref().as_str() {
            "azure" => ManagedIdentity::Azure,
            "arc" => ManagedIdentity::Arc,
            _ => return Err(v.at(m, "managed_identity", "must be azure or arc")),
        }),
    };
    let given = [
        secret.is_some(),
        secret_file.is_some(),
        cert.is_some() || key.is_some(),
        assertion.is_some(),
        managed.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(Error::config(format!(
            "{}: set only one of client_secret, client_secret_file, certificate_file + private_key_file, client_assertion_file, or managed_identity",
            v.origin.display()
        )));
    }
    if let Some(m) = managed {
        return Ok(Credential::Managed(m));
    }
    if let Some(file) = assertion {
        return Ok(Credential::FederatedAssertion(PathBuf::from(file)));
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
            "or client_secret, certificate_file + private_key_file, client_assertion_file or managed_identity",
        )),
    }
}

fn smtp_section(raw: &RawSmtp, v: &Validator, cloud: Cloud) -> Result<SmtpConfig> {
    let host = v
        .string(&raw.host, "smtp.host")?
        .unwrap_or_else(|| cloud.preset().smtp_host.to_string());
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

fn token_section(raw: &RawToken, v: &Validator, tenant: &str, cloud: Cloud) -> Result<TokenConfig> {
    let url = v
        .string(&raw.url, "token.url")?
        .unwrap_or_else(|| cloud.token_url());
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
        .unwrap_or_else(|| cloud.smtp_scope());
    // 15 minutes: High Volume Email refuses tokens with 10 minutes or less
    // left (docs/protocol-notes.md), and Entra's tokens live 60 to 90 minutes.
    let grace = v.seconds(&raw.grace, "token.grace", (0, 3000), 900)?;
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
    let imds_url = local_url(v, &raw.imds_url, "token.imds_url", IMDS_URL, true)?;
    let arc_url = local_url(v, &raw.arc_url, "token.arc_url", ARC_URL, false)?;
    let arc_key_dir = v
        .string(&raw.arc_key_dir, "token.arc_key_dir")?
        .unwrap_or_else(|| ARC_KEY_DIR.into());
    Ok(TokenConfig {
        url,
        scope,
        grace,
        cache_dir: PathBuf::from(cache_dir),
        proxy,
        timeout,
        assertion_alg,
        imds_url,
        arc_url,
        arc_key_dir: PathBuf::from(arc_key_dir),
    })
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
