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
pub mod https;
pub mod request;

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use crate::clock;
use crate::config::{Config, Credential};
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
        let key = cache::key(&t.url, &config.tenant, &config.client_id, scope);
        let (file, lock_file) = cache::paths(&t.cache_dir, &key);
        TokenSource {
            config,
            scope: scope.to_string(),
            key,
            file,
            lock_file,
            warnings: Vec::new(),
            requests: 0,
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
        transcript.note("token: the server refused the cached token; fetching a new one");
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

    /// Fetches under the lock, unless another process did while we waited.
    fn fetch(&mut self, rejected: Option<&Secret>, transcript: &mut Transcript) -> Result<Token> {
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
        DirBuilder::new().recursive(true).mode(0o700).create(dir)
    }

    /// One request to the token endpoint.
    fn request(&mut self, transcript: &mut Transcript) -> Result<request::Granted> {
        let config = self.config;
        let mut thumbprint = None;
        let auth = match &config.credential {
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
            Some(t) if matches!(e.cause(), Some("certificate-unknown" | "assertion-invalid")) => {
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
