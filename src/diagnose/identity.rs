//! The `--check` credential step for credentials without a secret: a
//! federated assertion that is readable, a JWT, not expired and meant for
//! Entra; a managed identity whose endpoint answers on its port.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use std::os::unix::fs::MetadataExt;

use super::report::{Step, Verdict};
use super::step_id::StepId;
use crate::cause::Cause;
use crate::config::{Config, Credential, CredentialAccess, ManagedIdentity};
use crate::privilege::GROUP;
use crate::token::{endpoint_url, federated};

const ID: StepId = StepId::Credential;

/// `client_assertion_file`, as of `now`.
pub fn federated(path: &Path, now: u64) -> Step {
    let assertion = match federated::read(path, now) {
        Ok(a) => a,
        Err(e) => return Step::fail(ID, &e),
    };
    let left = assertion
        .expires
        .map(|exp| format!(", expires in {} min", exp.saturating_sub(now) / 60))
        .unwrap_or_default();
    let summary = format!(
        "federated assertion in {}: {}{left}",
        path.display(),
        assertion.describe()
    );
    if assertion.audience.as_deref() != Some(federated::AUDIENCE) {
        return Step::warn(
            ID,
            summary,
            format!(
                "Entra's federated credentials expect the audience {}: have the identity provider issue the token for it (Kubernetes: serviceAccountToken audience)",
                federated::AUDIENCE
            ),
        )
        .cause(Cause::AssertionAudience);
    }
    Step::pass(ID, summary)
}

/// `managed_identity`: the endpoint accepts connections.
pub fn managed(config: &Config, kind: ManagedIdentity) -> Step {
    let url = endpoint_url(config);
    let which = if config.client_id.is_empty() {
        "system-assigned".to_string()
    } else {
        format!("user-assigned, client_id {}", config.client_id)
    };
    let authority = url
        .trim_start_matches("http://")
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    let address = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !authority.ends_with(']')
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let reachable = address
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(3)).is_ok());
    let summary = format!("{} ({which}) at {url}", config.credential.kind_name());
    if reachable {
        return Step::pass(ID, summary);
    }
    let hint = match kind {
        ManagedIdentity::Azure => {
            "nothing answers there: the instance metadata service exists only on Azure VMs, scale sets and App Service; check token.imds_url"
        }
        ManagedIdentity::Arc => {
            "nothing answers there: is the Azure Arc agent running (systemctl status himds)? check token.arc_url"
        }
    };
    Step::fail(
        ID,
        &crate::error::Error::temporary(format!("{summary}: no answer"))
            .with_hint(hint)
            .with_cause(Cause::ManagedIdentityUnreachable),
    )
}

/// With `credential_access = "service"`: the long-lived credential must be
/// readable by its owner only, not by the group that set-group-ID callers
/// run with, and that owner must be the one who reads it: the packaged
/// queue service runs as the `oauth2-sendmail` user, which cannot read a
/// `root:root 0600` file, so root's file goes to it through systemd's
/// `LoadCredential=` (a copy only that service sees, owned by its user).
pub fn service_access(config: &Config, step: Step) -> Step {
    if config.credential_access != CredentialAccess::Service || step.verdict == Verdict::Fail {
        return step;
    }
    let (key, path): (&str, &Path) = match &config.credential {
        Credential::SecretFile(path) => ("client_secret_file", path),
        Credential::Certificate {
            private_key_file, ..
        } => ("private_key_file", private_key_file),
        Credential::Managed(ManagedIdentity::Arc) => {
            return step.detail(format!(
                "credential_access = service: the Arc agent's key files in {} are for root and the himds group only; the packaged queue service runs as the {GROUP} user, which needs the himds group: usermod -a -G himds {GROUP}",
                config.token.arc_key_dir.display()
            ));
        }
        // Nothing long-lived on disk: an assertion lives an hour at most,
        // the metadata service needs no key.
        Credential::FederatedAssertion(_) | Credential::Managed(_) | Credential::Secret(_) => {
            return step.detail("credential_access = service: callers use cached tokens only");
        }
    };
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(_) => return step,
    };
    // systemd's copy for this service (LoadCredential=, resolved from
    // credential:NAME): private to the service, whatever its owner and ACL.
    if std::env::var_os("CREDENTIALS_DIRECTORY").is_some_and(|dir| path.starts_with(dir)) {
        return step.detail(format!(
            "credential_access = service: {key} is handed over by systemd to this service only"
        ));
    }
    let service_uid = super::files::id_of(Path::new("/etc/passwd"), GROUP);
    let mode = meta.mode() & 0o777;
    match service_reads(mode, meta.uid(), service_uid) {
        Access::Exposed => Step::fail(
            ID,
            &crate::error::Error::config(format!(
                "credential_access = service, but {key} {} (mode {mode:04o}) is readable by more than its owner: set-group-ID callers could read it",
                path.display()
            ))
            .with_hint(format!(
                "chown root:root {0}; chmod 0600 {0}; then {1}",
                path.display(),
                load_credential(key, path)
            ))
            .with_cause(Cause::CredentialExposed),
        ),
        Access::NotTheService(service) => Step::fail(
            ID,
            &crate::error::Error::config(format!(
                "credential_access = service, but {key} {} is readable by uid {} only, and the queue service runs as the {GROUP} user (uid {service}): it cannot read it",
                path.display(),
                meta.uid()
            ))
            .with_hint(load_credential(key, path))
            .with_cause(Cause::CredentialUnreadableByService),
        ),
        Access::OwnerOnly => step.detail(format!(
            "credential_access = service: {key} is readable by uid {} only (mode {mode:04o})",
            meta.uid()
        )),
    }
}

/// Who may read the long-lived credential, as far as `credential_access =
/// "service"` cares.
#[derive(Debug, PartialEq, Eq)]
enum Access {
    /// Its group or every user may read it.
    Exposed,
    /// Its owner only, but the service user (this uid) is someone else.
    NotTheService(u32),
    /// Its owner only: the service user, or root where there is no
    /// service user (a queue service of the administrator's own, as root).
    OwnerOnly,
}

/// Pure: the file's mode and owner, and the service user's uid if the
/// system has that user.
fn service_reads(mode: u32, owner: u32, service_uid: Option<u32>) -> Access {
    if mode & 0o044 != 0 {
        return Access::Exposed;
    }
    match service_uid {
        Some(service) if service != owner => Access::NotTheService(service),
        _ => Access::OwnerOnly,
    }
}

/// The steps that hand the file at `path` to the queue service alone.
fn load_credential(key: &str, path: &Path) -> String {
    let name = key.trim_end_matches("_file").replace('_', "-");
    format!(
        "keep it root:root 0600 and let systemd hand it to the queue service: systemctl edit oauth2-sendmail-queue.service, add [Service] LoadCredential={name}:{0}, and set {key} = \"credential:{name}\" (see sendmail.conf(5), CREDENTIALS WITHOUT A SECRET)",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_may_read_the_service_credential() {
        let table: &[(u32, u32, Option<u32>, Access)] = &[
            (0o600, 0, None, Access::OwnerOnly),
            (0o600, 0, Some(990), Access::NotTheService(990)),
            (0o400, 990, Some(990), Access::OwnerOnly),
            (0o640, 0, Some(990), Access::Exposed),
            (0o604, 990, Some(990), Access::Exposed),
            (0o440, 990, None, Access::Exposed),
        ];
        for (mode, owner, service, want) in table {
            assert_eq!(
                &service_reads(*mode, *owner, *service),
                want,
                "{mode:o} {owner} {service:?}"
            );
        }
    }

    #[test]
    fn the_hint_names_the_drop_in_and_the_key() {
        let h = load_credential("client_secret_file", Path::new("/etc/oauth2-sendmail/s"));
        assert!(
            h.contains("LoadCredential=client-secret:/etc/oauth2-sendmail/s"),
            "{h}"
        );
        assert!(
            h.contains("client_secret_file = \"credential:client-secret\""),
            "{h}"
        );
        let h = load_credential("private_key_file", Path::new("/k.pem"));
        assert!(h.contains("LoadCredential=private-key:/k.pem"), "{h}");
    }
}
