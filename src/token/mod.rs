//! Access tokens: from the cache while they are good, else from Entra.
//!
//! [`TokenSource::get`] returns a cached token that stays valid for more
//! than `token.grace`, or fetches one with the client-credentials flow.
//! Fetching happens under an exclusive lock on the cache entry, and the
//! cache is read again once the lock is held: of many processes that start
//! with a cold cache, one asks Entra and the others read its answer.
//! [`TokenSource::renew`] replaces a token the SMTP server rejected.
//! An unwritable cache never stops a message: it only costs a token request
//! per message, and is reported as a warning.

pub mod assertion;
pub mod cache;
pub mod claims;
pub mod federated;
pub mod https;
pub mod managed;
pub mod request;

use std::path::PathBuf;

use crate::cause::Cause;
use crate::clock;
use crate::config::{Config, Credential, CredentialAccess, ManagedIdentity};
use crate::error::{Result, io_reason};
use crate::secret::Secret;
use crate::transcript::Transcript;
use request::{ClientAuth, Endpoint};

/// An access token and where it came from.
#[derive(Debug)]
pub struct Token {
    /// The bearer token.
    pub access: Secret,
    /// Whether it was read from the cache (a rejected cached token is
    /// worth one fresh attempt; a rejected fresh one is a configuration problem).
    pub from_cache: bool,
}

/// Where tokens come from for one configuration.
pub struct TokenSource<'a> {
    config: &'a Config,
    scope: String,
    key: String,
    file: PathBuf,
    lock_file: PathBuf,
    /// Problems worth logging that did not stop the token (cache unwritable…).
    pub warnings: Vec<String>,
    /// How many token requests this process made.
    pub requests: u32,
    /// Whether this process may use the credential (`credential_access =
    /// "service"` leaves that to the queue service; see [`Self::callers_only`]).
    may_fetch: bool,
}

impl<'a> TokenSource<'a> {
    /// The token source for `config`.
    pub fn new(config: &'a Config) -> Self {
        Self::for_scope(config, &config.token.scope)
    }

    /// The token source for `config` and another `scope` (Microsoft
    /// Graph's): its own cache entry, since the key holds the scope.
    pub fn for_scope(config: &'a Config, scope: &str) -> Self {
        let t = &config.token;
        let key = cache::key(
            endpoint_url(config),
            &config.tenant,
            &config.client_id,
            scope,
        );
        let (file, lock_file) = cache::paths(&t.cache_dir, &key);
        TokenSource {
            config,
            scope: scope.to_string(),
            key,
            file,
            lock_file,
            warnings: Vec::new(),
            requests: 0,
            // A `credential:NAME` left unresolved is the queue service's
            // (systemd hands it only to that service): cached tokens only.
            may_fetch: config.credential.systemd_name().is_none(),
        }
    }

    fn usable(&self, entry: &cache::Entry, now: u64) -> bool {
        entry.expires_at > now + self.config.token.grace.as_secs()
    }

    /// A token valid for longer than `token.grace`.
    ///
    /// # Errors
    /// What the token request failed with (see [`request::interpret`]).
    pub fn get(&mut self, transcript: &mut Transcript) -> Result<Token> {
        match self.cached(transcript) {
            Some(token) => Ok(token),
            None => self.fetch_new(transcript),
        }
    }

    /// The cached token, if it stays valid for longer than `token.grace`.
    pub fn cached(&self, transcript: &mut Transcript) -> Option<Token> {
        let entry = cache::read(&self.file, &self.key).filter(|e| self.usable(e, clock::now()))?;
        transcript.note(&format!(
            "token: cached, valid for {} more seconds",
            entry.expires_at.saturating_sub(clock::now())
        ));
        Some(Token {
            access: entry.token,
            from_cache: true,
        })
    }

    /// A token from the endpoint (or from another process that fetched one
    /// while this one waited for the lock), for when [`TokenSource::cached`]
    /// had none.
    ///
    /// # Errors
    /// As [`TokenSource::get`].
    pub fn fetch_new(&mut self, transcript: &mut Transcript) -> Result<Token> {
        self.fetch(None, transcript)
    }

    /// A fresh token to replace `rejected`, which the server refused.
    ///
    /// # Errors
    /// As [`TokenSource::get`].
    pub fn renew(&mut self, rejected: &Token, transcript: &mut Transcript) -> Result<Token> {
        transcript.note("token: the server refused the token (revoked, or too close to expiry); fetching a new one");
        self.fetch(Some(&rejected.access), transcript)
    }

    /// A token straight from the endpoint, bypassing and not touching the
    /// cache: `--check` uses it to prove that the credential works now.
    ///
    /// # Errors
    /// As [`TokenSource::get`].
    pub fn request_new(&mut self, transcript: &mut Transcript) -> Result<request::Granted> {
        self.request(transcript)
    }

    /// Until when the cached token is valid (Unix seconds), if there is one.
    pub fn cached_until(&self) -> Option<u64> {
        cache::read(&self.file, &self.key).map(|e| e.expires_at)
    }

    /// Drops the cached token (the server rejected it).
    pub fn forget(&self) {
        cache::remove(&self.file);
    }

    /// Makes this a caller's token source when `credential_access =
    /// "service"`: cached tokens only, never the credential.
    pub fn callers_only(&mut self) {
        if self.config.credential_access == CredentialAccess::Service {
            self.may_fetch = false;
        }
    }

    /// The queue service's timer work when `credential_access = "service"`:
    /// renews the cached token when it would turn unusable for callers
    /// before the next run (runs start every minute; [`WARM_AHEAD`] leaves
    /// room for several missed ones). Returns whether it fetched one.
    ///
    /// # Errors
    /// As [`TokenSource::get`].
    pub fn warm(&mut self, transcript: &mut Transcript) -> Result<bool> {
        if self.config.credential_access != CredentialAccess::Service || !self.may_fetch {
            return Ok(false);
        }
        let horizon = clock::now() + WARM_AHEAD;
        let fresh_enough =
            cache::read(&self.file, &self.key).is_some_and(|e| self.usable(&e, horizon));
        if fresh_enough {
            return Ok(false);
        }
        let stale = cache::read(&self.file, &self.key).map(|e| e.token);
        self.fetch(stale.as_ref(), transcript)?;
        Ok(true)
    }

    /// Fetches under the lock, unless another process did while we waited.
    fn fetch(&mut self, rejected: Option<&Secret>, transcript: &mut Transcript) -> Result<Token> {
        if !self.may_fetch {
            return Err(service_only(self.config));
        }
        let _lock = match self.prepare_cache_dir().and_then(|()| {
            let patience = self.config.token.timeout + std::time::Duration::from_secs(5);
            cache::Lock::acquire_within(&self.lock_file, patience)
        }) {
            Ok(lock) => Some(lock),
            Err(e) => {
                self.warnings.push(format!(
                    "token cache {} is not usable ({}); fetching without it",
                    self.config.token.cache_dir.display(),
                    io_reason(&e)
                ));
                None
            }
        };
        let now = clock::now();
        if let Some(entry) = cache::read(&self.file, &self.key)
            .filter(|e| self.usable(e, now) && Some(&e.token) != rejected)
        {
            transcript.note("token: another process has just fetched one; using it");
            return Ok(Token {
                access: entry.token,
                from_cache: true,
            });
        }
        let granted = self.request(transcript)?;
        let lifetime_end = now + granted.expires_in;
        // Never trust the cache past the token's own expiry claim.
        let expires_at = claims::peek(granted.access_token.expose())
            .and_then(|c| c.exp)
            .map_or(lifetime_end, |exp| exp.min(lifetime_end));
        let entry = cache::Entry {
            token: granted.access_token,
            obtained_at: now,
            expires_at,
        };
        if let Err(e) = cache::write(&self.file, &self.key, &entry) {
            self.warnings.push(format!(
                "cannot write token cache {}: {}",
                self.file.display(),
                io_reason(&e)
            ));
        }
        Ok(Token {
            access: entry.token,
            from_cache: false,
        })
    }

    fn prepare_cache_dir(&self) -> std::io::Result<()> {
        let dir = &self.config.token.cache_dir;
        if dir.is_dir() {
            return Ok(());
        }
        // Made by a set-group-ID process, the directory would belong to
        // whichever user happened to send first: root makes it (2770).
        if crate::privilege::Caller::current().is_privileged() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "it does not exist; root must create it (chown root:oauth2-sendmail, chmod 2770)",
            ));
        }
        crate::safe_fs::mkdir(dir, 0o700, true)
    }

    /// One request to the token endpoint.
    fn request(&mut self, transcript: &mut Transcript) -> Result<request::Granted> {
        let config = self.config;
        if let Credential::Managed(kind) = config.credential {
            return self.request_managed(kind, transcript);
        }
        let mut thumbprint = None;
        let mut federated = None;
        let auth = match &config.credential {
            Credential::FederatedAssertion(path) => {
                let assertion = federated::read(path, clock::now())?;
                let jwt = assertion.jwt.clone();
                federated = Some(assertion);
                ClientAuth::Assertion(jwt)
            }
            Credential::Certificate {
                certificate_file,
                private_key_file,
            } => {
                let credentials = assertion::Credentials::load(certificate_file, private_key_file)?;
                thumbprint = Some(credentials.thumbprint.clone());
                ClientAuth::Assertion(credentials.assertion(
                    config.token.assertion_alg,
                    &config.client_id,
                    &config.token.url,
                    clock::now(),
                    assertion::random16()?,
                )?)
            }
            _ => ClientAuth::Secret(config.client_secret()?),
        };
        let endpoint = Endpoint {
            url: &config.token.url,
            ca_file: config.ca_file.as_deref(),
            proxy: config.token.proxy.as_deref(),
            timeout: config.token.timeout,
        };
        let credential = match &thumbprint {
            None if federated.is_some() => {
                "client_assertion=<redacted> (federated, from client_assertion_file)".to_string()
            }
            None => "client_secret=<redacted>".to_string(),
            Some(t) => format!(
                "client_assertion=<redacted> ({}, certificate thumbprint {t})",
                config.token.assertion_alg.name()
            ),
        };
        transcript.note(&format!(
            "token: POST {} grant_type=client_credentials client_id={} scope={} {credential}",
            endpoint.url, config.client_id, self.scope
        ));
        self.requests += 1;
        let fields = request::form(&config.client_id, &self.scope, &auth);
        let started = std::time::Instant::now();
        let (status, body) = request::post(&endpoint, &fields).inspect_err(|e| {
            transcript.note(&format!("token: no answer: {}", e.message()));
        })?;
        let elapsed = started.elapsed().as_millis();
        // Entra names keys by SHA-1 thumbprint: show ours beside its refusal.
        let result = request::interpret(status, &body).map_err(|e| match &thumbprint {
            None if federated.is_some() => {
                let assertion = federated.as_ref().expect("checked");
                match request::aadsts_in(e.message())
                    .and_then(|code| federated::refusal_hint(code, assertion))
                {
                    Some(hint) => e.with_hint(hint).with_cause(Cause::AssertionRefused),
                    None => e,
                }
            }
            Some(t) if matches!(e.cause(), Some(Cause::CertificateUnknown | Cause::AssertionInvalid)) => {
                let hint = format!(
                    "{}; the portal lists certificates by thumbprint, and certificate_file's is {t}",
                    e.hint()
                );
                e.with_hint(hint)
            }
            _ => e,
        });
        match &result {
            Ok(g) => transcript.note(&format!(
                "token: HTTP {status}, expires_in {} s, access_token=<redacted> ({elapsed} ms)",
                g.expires_in
            )),
            Err(e) => transcript.note(&format!(
                "token: HTTP {status}: {} ({elapsed} ms)",
                e.message()
            )),
        }
        result
    }
}

/// How far ahead of callers' needs the queue service renews the token
/// (`credential_access = "service"`): 10 minutes beyond `token.grace`.
const WARM_AHEAD: u64 = 600;

/// A caller found no usable cached token and may not fetch one itself.
fn service_only(config: &Config) -> crate::error::Error {
    crate::error::Error::temporary(format!(
        "no valid token in the cache {}, and credential_access = \"service\" leaves fetching tokens to the queue service",
        config.token.cache_dir.display()
    ))
    .with_hint("the queue service renews the token on its next run (systemctl status oauth2-sendmail-queue.timer); a queued message goes out then")
    .with_cause(Cause::TokenServiceOnly)
}

/// The URL tokens come from: the token endpoint, or for a managed identity
/// the metadata service or the Arc agent.
pub fn endpoint_url(config: &Config) -> &str {
    match config.credential {
        Credential::Managed(ManagedIdentity::Azure) => &config.token.imds_url,
        Credential::Managed(ManagedIdentity::Arc) => &config.token.arc_url,
        _ => &config.token.url,
    }
}

impl TokenSource<'_> {
    /// One request to the instance metadata service or the Arc agent.
    fn request_managed(
        &mut self,
        kind: ManagedIdentity,
        transcript: &mut Transcript,
    ) -> Result<request::Granted> {
        let config = self.config;
        let r = managed::Request {
            kind,
            url: endpoint_url(config),
            resource: managed::resource(&self.scope),
            client_id: Some(config.client_id.as_str()).filter(|id| !id.is_empty()),
            key_dir: &config.token.arc_key_dir,
            timeout: config.token.timeout,
        };
        transcript.note(&format!(
            "token: GET {} ({}) resource={}{}",
            r.url,
            config.credential.kind_name(),
            r.resource,
            r.client_id
                .map(|id| format!(" client_id={id}"))
                .unwrap_or_default()
        ));
        self.requests += 1;
        let started = std::time::Instant::now();
        let result = managed::fetch(&r);
        let elapsed = started.elapsed().as_millis();
        match &result {
            Ok(g) => transcript.note(&format!(
                "token: expires_in {} s, access_token=<redacted> ({elapsed} ms)",
                g.expires_in
            )),
            Err(e) => transcript.note(&format!("token: {} ({elapsed} ms)", e.message())),
        }
        result
    }
}

#[cfg(test)]
mod account_tests {
    use super::TokenSource;

    #[test]
    fn each_account_has_its_own_cache_entry_per_transport() {
        let top = crate::config::parse(
            concat!(
                "tenant = \"contoso.onmicrosoft.com\"\n",
                "client_id = \"11111111-2222-3333-4444-555555555555\"\n",
                "client_secret = \"s\"\n",
                "user = \"main@example.com\"\n",
                "[accounts.g]\n",
                "user = \"shop@example.com\"\n",
                "transport = \"graph\"\n",
                "client_id = \"99999999-2222-3333-4444-555555555555\"\n",
                "client_secret = \"t\"\n",
                "[accounts.same]\n",
                "user = \"other@example.com\"\n",
            ),
            std::path::Path::new("/etc/x.conf"),
        )
        .unwrap();
        let (g, same) = (&top.accounts[0], &top.accounts[1]);
        let smtp = TokenSource::new(&top).file;
        let graph = TokenSource::for_scope(g, &g.graph.scope()).file;
        assert_ne!(graph, smtp);
        assert_ne!(graph, TokenSource::for_scope(&top, &top.graph.scope()).file);
        assert_ne!(graph, TokenSource::new(g).file);
        // Another mailbox of the same application shares its token.
        assert_eq!(TokenSource::new(same).file, smtp);
    }
}
