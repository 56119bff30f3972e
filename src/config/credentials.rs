//! The application's credential: `credential:NAME` paths resolved against
//! systemd's `$CREDENTIALS_DIRECTORY`, and the client secret read when a
//! token is fetched.

use std::path::{Path, PathBuf};

use super::{Config, Credential, ManagedIdentity};
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

/// Prefix of a path that names a systemd credential (`LoadCredential=`).
const CREDENTIAL_PREFIX: &str = "credential:";

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
