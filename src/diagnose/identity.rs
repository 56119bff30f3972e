//! The `--check` credential step for credentials without a secret: a
//! federated assertion that is readable, a JWT, not expired and meant for
//! Entra; a managed identity whose endpoint answers on its port.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use std::os::unix::fs::MetadataExt;

use super::report::{Step, Verdict};
use super::step_id::StepId;
use crate::config::{Config, Credential, CredentialAccess, ManagedIdentity};
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
        .cause("assertion-audience");
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
            .with_cause("managed-identity-unreachable"),
    )
}

/// With `credential_access = "service"`: the long-lived credential must be
/// readable by its owner (the queue service's user) only, not by the group
/// that set-group-ID callers run with.
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
                "credential_access = service: the Arc agent's key files in {} are for root and the himds group; the queue service must run as one of them",
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
    let mode = meta.mode() & 0o777;
    if mode & 0o044 != 0 {
        return Step::fail(
            ID,
            &crate::error::Error::config(format!(
                "credential_access = service, but {key} {} (mode {mode:04o}) is readable by more than its owner: set-group-ID callers could read it",
                path.display()
            ))
            .with_hint(format!(
                "chown root:root {0}; chmod 0600 {0} (the queue service, not its callers, reads it)",
                path.display()
            ))
            .with_cause("credential-exposed"),
        );
    }
    step.detail(format!(
        "credential_access = service: {key} is readable by uid {} only (mode {mode:04o})",
        meta.uid()
    ))
}
