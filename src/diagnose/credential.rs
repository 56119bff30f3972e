//! The `--check` credential step: a client secret that is present and is
//! not the portal's *Secret ID*; or a certificate, loaded as sending loads
//! it (`token::assertion::Credentials`), that is valid now and whose
//! thumbprint is shown the way the Entra portal shows it.

use std::path::Path;

use openssl::hash::MessageDigest;

use super::report::Step;
use super::step_id::StepId;
use super::x509::{days, expiry, unix_seconds, x509_name};
use crate::cause::Cause;
use crate::clock;
use crate::config::{Config, Credential, is_guid};
use crate::error::Error;
use crate::hex;
use crate::token::assertion::Credentials;

/// The credential: present, plausible, and for a certificate: valid now,
/// matching its key, with the thumbprint the portal shows; with
/// `credential_access = "service"`, readable by its owner only.
pub fn credential(config: &Config) -> Step {
    if let Some((key, name)) = config.credential.systemd_name() {
        // Not handed to this process: nothing to read, no token to fetch.
        return Step::skip(
            StepId::Credential,
            format!(
                "{key} = \"credential:{name}\" is handed by systemd to oauth2-sendmail-queue.service only; to check it there: systemd-run --pipe --wait -p User=oauth2-sendmail -p LoadCredential={name}:FILE oauth2-sendmail --check"
            ),
        );
    }
    super::identity::service_access(config, kind_step(config))
}

fn kind_step(config: &Config) -> Step {
    const ID: StepId = StepId::Credential;
    let origin = match &config.credential {
        Credential::Certificate {
            certificate_file,
            private_key_file,
        } => return certificate(certificate_file, private_key_file, clock::now()),
        Credential::FederatedAssertion(path) => {
            return super::identity::federated(path, clock::now());
        }
        Credential::Managed(kind) => return super::identity::managed(config, *kind),
        Credential::Secret(_) => "client_secret (inline)".to_string(),
        Credential::SecretFile(path) => format!("client_secret_file {}", path.display()),
    };
    let secret = match config.client_secret() {
        Ok(secret) => secret,
        Err(e) => return Step::fail(ID, &e),
    };
    let value = secret.expose().trim();
    // A GUID is what the portal's "Secret ID" column shows, pasted by
    // mistake instead of the secret's Value.
    if is_guid(value) {
        return Step::fail(
            ID,
            &Error::config(format!(
                "{origin} holds a GUID: that is the secret's ID, not its Value"
            ))
            .with_hint("in Entra admin center > App registrations > your app > Certificates & secrets, copy the Value column (shown only when the secret is created; if it is hidden, create a new secret)")
            .with_cause(Cause::SecretIsId),
        );
    }
    if value.len() != secret.expose().len() || value.contains(char::is_whitespace) {
        return Step::warn(
            ID,
            format!("{origin}: the secret contains white space"),
            "Entra secrets contain no spaces: check that only the Value was pasted, on one line",
        )
        .cause(Cause::SecretWhitespace);
    }
    Step::pass(ID, format!("client secret in {origin}"))
}

/// Days before expiry from which a certificate earns a warning.
const EXPIRY_WARNING_DAYS: i64 = 30;

/// The certificate credential, checked as of `now`.
fn certificate(certificate_file: &Path, private_key_file: &Path, now: u64) -> Step {
    const ID: StepId = StepId::Credential;
    let fail = |message: String, cause: Cause, hint: &str| {
        Step::fail(
            ID,
            &Error::config(message).with_hint(hint).with_cause(cause),
        )
    };
    // The loader sending uses: what it refuses, the check refuses, and
    // neither asks for a passphrase.
    let cert = match Credentials::load(certificate_file, private_key_file) {
        Ok(credentials) => credentials.certificate,
        Err(e) => return Step::fail(ID, &e),
    };
    let sha1 = cert
        .digest(MessageDigest::sha1())
        .map(|d| hex::upper(&d))
        .unwrap_or_default();
    let subject = x509_name(cert.subject_name());
    let (until, days) = expiry(cert.not_after(), now);
    let not_yet = unix_seconds(cert.not_before()).is_some_and(|start| start > now as i64);
    let details = [
        format!("subject {subject}"),
        format!("thumbprint (SHA-1, as the portal shows it) {sha1}"),
        format!("valid until {until} ({})", self::days(days)),
    ];
    let upload = "create a new certificate, upload it under Entra admin center > App registrations > your app > Certificates & secrets > Certificates, and point certificate_file and private_key_file at it";
    let mut step = if days < 0 {
        fail(
            format!(
                "certificate {} expired on {until}",
                certificate_file.display()
            ),
            Cause::CertificateExpired,
            upload,
        )
    } else if not_yet {
        fail(
            format!(
                "certificate {} is not valid yet",
                certificate_file.display()
            ),
            Cause::CertificateNotYetValid,
            "check this machine's clock (timedatectl), or use a certificate that is valid now",
        )
    } else if days < EXPIRY_WARNING_DAYS {
        Step::warn(
            ID,
            format!(
                "certificate {} expires in {}",
                certificate_file.display(),
                self::days(days)
            ),
            upload,
        )
        .cause(Cause::CertificateExpiring)
    } else {
        Step::pass(
            ID,
            format!(
                "certificate {} with its private key",
                certificate_file.display()
            ),
        )
    };
    for line in details {
        step = step.detail(line);
    }
    step
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::report::Verdict;
    use openssl::asn1::Asn1Time;
    use openssl::bn::{BigNum, MsbOption};
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::X509;
    use openssl::x509::{X509Builder, X509NameBuilder};
    use std::fs;

    use crate::testing::TempDir as Dir;

    /// A self-signed certificate valid from `from` to `to` days from now, and its key.
    fn certificate_pair(from: i64, to: i64) -> (Vec<u8>, Vec<u8>) {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "oauth2-sendmail test")
            .unwrap();
        let name = name.build();
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        let mut serial = BigNum::new().unwrap();
        serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
        b.set_serial_number(&serial.to_asn1_integer().unwrap())
            .unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        let at = |days: i64| Asn1Time::from_unix(clock::now() as i64 + days * 86_400).unwrap();
        b.set_not_before(&at(from)).unwrap();
        b.set_not_after(&at(to)).unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        (
            b.build().to_pem().unwrap(),
            key.private_key_to_pem_pkcs8().unwrap(),
        )
    }

    #[test]
    fn certificates_by_validity() {
        let dir = Dir::new("certs");
        let (_, other_key) = certificate_pair(-1, 10);
        // (valid from, valid to (days from now), matching key, verdict, cause, summary fragment)
        let table = [
            (-10, 365, true, Verdict::Pass, None, "with its private key"),
            (
                -10,
                10,
                true,
                Verdict::Warn,
                Some("certificate-expiring"),
                "expires in",
            ),
            (
                -400,
                -5,
                true,
                Verdict::Fail,
                Some("certificate-expired"),
                "expired on",
            ),
            (
                3,
                365,
                true,
                Verdict::Fail,
                Some("certificate-not-yet-valid"),
                "not valid yet",
            ),
            (
                -10,
                365,
                false,
                Verdict::Fail,
                Some("certificate-key-mismatch"),
                "does not belong",
            ),
        ];
        for (i, (from, to, matching, verdict, cause, summary)) in table.into_iter().enumerate() {
            let (cert, key) = certificate_pair(from, to);
            let cert_file = dir.join(&format!("{i}.crt"));
            let key_file = dir.join(&format!("{i}.key"));
            fs::write(&cert_file, &cert).unwrap();
            fs::write(&key_file, if matching { &key } else { &other_key }).unwrap();
            let step = certificate(&cert_file, &key_file, clock::now());
            assert_eq!(step.verdict, verdict, "{i}: {step:?}");
            assert_eq!(step.cause.map(Cause::as_str), cause, "{i}");
            assert!(step.summary.contains(summary), "{i}: {}", step.summary);
            if verdict != Verdict::Fail || cause == Some("certificate-expired") {
                let sha1 = hex::upper(
                    &X509::from_pem(&cert)
                        .unwrap()
                        .digest(MessageDigest::sha1())
                        .unwrap(),
                );
                assert!(
                    step.details.iter().any(|d| d.ends_with(&sha1)),
                    "{i}: thumbprint shown: {:?}",
                    step.details
                );
            }
        }
        let missing = certificate(&dir.join("none.crt"), &dir.join("none.key"), 0);
        assert_eq!(missing.cause, Some(Cause::CertificateUnreadable));
        fs::write(dir.join("junk.crt"), "junk").unwrap();
        let junk = certificate(&dir.join("junk.crt"), &dir.join("none.key"), 0);
        assert_eq!(junk.cause, Some(Cause::CertificateInvalid));
        let (cert, _) = certificate_pair(-1, 100);
        fs::write(dir.join("ok.crt"), cert).unwrap();
        // A real encrypted key: OpenSSL would ask for its passphrase on the
        // terminal unless the loader refuses it first.
        let (cert, key) = certificate_pair(-1, 100);
        let key = PKey::private_key_from_pem(&key)
            .unwrap()
            .private_key_to_pem_pkcs8_passphrase(openssl::symm::Cipher::aes_128_cbc(), b"pw")
            .unwrap();
        fs::write(dir.join("enc.crt"), cert).unwrap();
        fs::write(dir.join("enc.key"), key).unwrap();
        let encrypted = certificate(&dir.join("enc.crt"), &dir.join("enc.key"), clock::now());
        assert_eq!(encrypted.cause, Some(Cause::PrivateKeyUnreadable));
        assert!(encrypted.summary.contains("is encrypted"), "{encrypted:?}");
        assert!(encrypted.hint.unwrap().contains("store it unencrypted"));
    }

    #[test]
    fn secret_ids_are_guids() {
        assert!(is_guid("0a4f3c2e-7b1d-4e8f-9a6c-5d2b1e0f3a47"));
        assert!(!is_guid("0yK8Q~X0blCyJs+9FpVMk4/YF2PLt=utHgF.1Bydn3"));
    }
}
