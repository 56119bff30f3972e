//! The application's credential: `credential:NAME` paths resolved against
//! systemd's `$CREDENTIALS_DIRECTORY`, and the client secret read when a
//! token is fetched.

use std::path::{Path, PathBuf};

use super::{Config, Credential, ManagedIdentity};
use crate::cause::Cause;
use crate::error::{Error, Result, io_reason};
use crate::secret::Secret;

impl Credential {
    /// What kind of credential it is, as `--check` and syslog name it.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Credential::Secret(_) | Credential::SecretFile(_) => "client secret",
            Credential::Certificate { .. } => "certificate",
            Credential::FederatedAssertion(_) => "federated assertion",
            Credential::Managed(ManagedIdentity::Azure) => "Azure managed identity",
            Credential::Managed(ManagedIdentity::Arc) => "Azure Arc managed identity",
        }
    }
}

impl Credential {
    /// The kind as one word, for the syslog line's `credential=` field.
    pub fn kind_slug(&self) -> &'static str {
        match self {
            Credential::Secret(_) | Credential::SecretFile(_) => "client-secret",
            Credential::Certificate { .. } => "certificate",
            Credential::FederatedAssertion(_) => "federated-assertion",
            Credential::Managed(ManagedIdentity::Azure) => "managed-identity-azure",
            Credential::Managed(ManagedIdentity::Arc) => "managed-identity-arc",
        }
    }
}

impl Credential {
    /// The first `credential:NAME` path left unresolved (key and NAME):
    /// with `credential_access = "service"` and no `$CREDENTIALS_DIRECTORY`,
    /// this process is a caller, which never opens the credential, and
    /// only the queue service that systemd hands it to may.
    pub fn systemd_name(&self) -> Option<(&'static str, &str)> {
        fn named<'p>(key: &'static str, path: &'p Path) -> Option<(&'static str, &'p str)> {
            path.to_str()
                .and_then(|p| p.strip_prefix(CREDENTIAL_PREFIX))
                .map(|n| (key, n))
        }
        match self {
            Credential::Secret(_) | Credential::Managed(_) => None,
            Credential::SecretFile(path) => named("client_secret_file", path),
            Credential::FederatedAssertion(path) => named("client_assertion_file", path),
            Credential::Certificate {
                certificate_file,
                private_key_file,
            } => named("certificate_file", certificate_file)
                .or_else(|| named("private_key_file", private_key_file)),
        }
    }
}

/// Whether `path` is a `credential:NAME` left unresolved: not a file name,
/// and never to be looked up in the working directory.
pub fn is_systemd_credential(path: &Path) -> bool {
    path.to_str()
        .is_some_and(|p| p.starts_with(CREDENTIAL_PREFIX))
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
            Credential::SecretFile(path) if is_systemd_credential(path) => Err(Error::config(
                format!(
                    "client_secret_file = \"{}\" is handed by systemd to the queue service only (LoadCredential=); this process has no $CREDENTIALS_DIRECTORY",
                    path.display()
                ),
            )
            .with_hint("callers use the tokens the queue service caches (credential_access = \"service\")")
            .with_cause(Cause::CredentialServiceOnly)),
            Credential::SecretFile(path) => read_secret_file(path),
            Credential::Certificate { .. }
            | Credential::FederatedAssertion(_)
            | Credential::Managed(_) => Err(Error::config(format!(
                "the configured credential is a {}, not a client secret",
                self.credential.kind_name()
            ))),
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
        .with_cause(Cause::SecretUnreadable)
    })?;
    let secret = text.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return Err(Error::config(format!(
            "client_secret_file {} is empty",
            path.display()
        ))
        .with_hint("put the client secret's Value (App registrations > your app > Certificates & secrets) in the file")
        .with_cause(Cause::SecretUnreadable));
    }
    Ok(Secret::new(secret))
}

/// Prefix of a path that names a systemd credential (`LoadCredential=`).
const CREDENTIAL_PREFIX: &str = "credential:";

/// Replaces `credential:NAME` in `client_secret_file`, `certificate_file`
/// and `private_key_file` by `DIR/NAME`, where `DIR` is the service's
/// `$CREDENTIALS_DIRECTORY`. Pure: the directory comes in.
///
/// # Errors
/// `Kind::Config` when NAME is not a plain file name or there is no
/// credentials directory (not a systemd service, or run set-group-ID,
/// where the environment is not trusted), unless `credential_access =
/// "service"`: then only the queue service, which systemd hands the
/// credential to, uses it, and everyone else (set-group-ID callers, root
/// at a shell) keeps the unresolved name and uses cached tokens only
/// ([`Credential::systemd_name`]).
pub fn resolve_credentials(config: &mut Config, credentials_dir: Option<&Path>) -> Result<()> {
    let origin = config.path.display().to_string();
    let service_only = config.credential_access == super::CredentialAccess::Service;
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
            if service_only {
                return Ok(());
            }
            return Err(Error::config(format!(
                "{origin}: {key} = \"{CREDENTIAL_PREFIX}{name}\" needs $CREDENTIALS_DIRECTORY, which systemd sets only for a service with LoadCredential={name}:FILE"
            ))
            .with_hint("run it from that service, or name the file itself"));
        };
        *path = dir.join(name);
        Ok(())
    };
    match &mut config.credential {
        Credential::Secret(_) | Credential::Managed(_) => Ok(()),
        Credential::SecretFile(path) => resolve("client_secret_file", path),
        Credential::FederatedAssertion(path) => resolve("client_assertion_file", path),
        Credential::Certificate {
            certificate_file,
            private_key_file,
        } => {
            resolve("certificate_file", certificate_file)?;
            resolve("private_key_file", private_key_file)
        }
    }
}
