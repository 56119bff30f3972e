//! Certificate credentials: the signed client assertion (RFC 7523, Entra's
//! "certificate credentials"; docs/protocol-notes.md, "Certificate
//! credential").
//!
//! [`Credentials::load`] reads the certificate and its private key (PEM)
//! and checks that they belong together; [`Credentials::assertion`] builds
//! the JWT the token request carries instead of a secret: header `alg`
//! PS256 (or RS256), `typ` JWT, `x5t#S256` = base64url(SHA-256(certificate
//! DER)); claims `aud` = token URL, `iss` = `sub` = client ID, a unique
//! `jti`, `nbf` = `iat` = now, `exp` = now + 8 minutes. Signing uses the
//! system OpenSSL through the `openssl` crate, as TLS does (`net.rs`).
//! [`jwt`] is pure (time and randomness come in), so its output is tested
//! byte for byte.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Padding;
use openssl::sign::{RsaPssSaltlen, Signer};
use openssl::x509::X509;

use crate::cause::Cause;
use crate::config::AssertionAlg;
use crate::error::{Error, Result, io_reason};
use crate::hex;
use crate::secret::Secret;

/// `client_assertion_type` of a JWT client assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long an assertion is valid: Entra wants "5-10 minutes at most".
pub const LIFETIME: u64 = 480;

/// What a private key file must be.
const KEY_HINT: &str = "private_key_file must be the certificate's private key, PEM, without a passphrase, readable by root and the oauth2-sendmail group (chmod 0640)";

/// A certificate and its private key, ready to sign assertions.
///
/// Sending and `--check` both load them with [`Credentials::load`], so the
/// check refuses exactly what sending refuses, and neither ever prompts.
pub struct Credentials {
    key: PKey<Private>,
    /// The certificate, for what `--check` shows of it.
    pub certificate: X509,
    /// `x5t#S256`: base64url(SHA-256(DER)), no padding.
    pub x5t_s256: String,
    /// SHA-1 thumbprint in hex, as the Entra portal lists certificates.
    pub thumbprint: String,
}

impl Credentials {
    /// Reads `certificate_file` and `private_key_file`.
    ///
    /// # Errors
    /// `Kind::Config` naming the file that cannot be read, is not PEM, is
    /// encrypted, is not RSA, or does not match the other; the cause is
    /// `certificate-unreadable`, `certificate-invalid`,
    /// `private-key-unreadable` or `certificate-key-mismatch`.
    pub fn load(certificate_file: &Path, private_key_file: &Path) -> Result<Credentials> {
        let cert_pem = std::fs::read(certificate_file).map_err(|e| {
            Error::config(format!(
                "cannot read certificate_file {}: {}",
                certificate_file.display(),
                io_reason(&e)
            ))
            .with_hint("certificate_file must be readable by root and the oauth2-sendmail group (chmod 0640)")
            .with_cause(Cause::CertificateUnreadable)
        })?;
        let cert = X509::from_pem(&cert_pem).map_err(|_| {
            Error::config(format!(
                "certificate_file {} holds no PEM certificate",
                certificate_file.display()
            ))
            .with_hint("certificate_file must be the PEM certificate (-----BEGIN CERTIFICATE-----) uploaded to the application")
            .with_cause(Cause::CertificateInvalid)
        })?;
        let key_pem = std::fs::read_to_string(private_key_file)
            .map(Secret::new)
            .map_err(|e| {
                Error::config(format!(
                    "cannot read private_key_file {}: {}",
                    private_key_file.display(),
                    io_reason(&e)
                ))
                .with_hint(KEY_HINT)
                .with_cause(Cause::PrivateKeyUnreadable)
            })?;
        Self::from_pem(cert, key_pem.expose().as_bytes(), private_key_file)
    }

    /// The credentials from a parsed certificate and the key's PEM text.
    fn from_pem(cert: X509, key_pem: &[u8], key_file: &Path) -> Result<Credentials> {
        let shown = key_file.display();
        // A passphrase prompt would hang a cron job: refuse encrypted keys.
        let key = PKey::private_key_from_pem_callback(key_pem, |_| Ok(0)).map_err(|_| {
            let encrypted = key_pem
                .windows(9)
                .any(|w| w == b"ENCRYPTED");
            if encrypted {
                Error::config(format!("private_key_file {shown} is encrypted"))
                    .with_hint(format!("store it unencrypted, readable only by root and the oauth2-sendmail group: openssl pkey -in {shown} -out NEW.key; chown root:oauth2-sendmail NEW.key; chmod 0640 NEW.key"))
            } else {
                Error::config(format!("private_key_file {shown} holds no PEM private key"))
                    .with_hint(KEY_HINT)
            }
            .with_cause(Cause::PrivateKeyUnreadable)
        })?;
        if key.rsa().is_err() {
            return Err(Error::config(format!(
                "private_key_file {shown} is not an RSA key; Entra signs assertions with RSA (PS256 or RS256)"
            ))
            .with_cause(Cause::PrivateKeyUnreadable));
        }
        let public = cert.public_key().map_err(|_| {
            Error::config("certificate_file holds a certificate without a usable public key")
        })?;
        if !public.public_eq(&key) {
            return Err(Error::config(format!(
                "private_key_file {shown} does not belong to certificate_file"
            ))
            .with_hint("use the key the certificate was made from (openssl x509 -noout -pubkey and openssl pkey -pubout must print the same key)")
            .with_cause(Cause::CertificateKeyMismatch));
        }
        let der = cert
            .to_der()
            .map_err(|_| Error::config("certificate_file cannot be encoded"))?;
        Ok(Credentials {
            key,
            certificate: cert,
            x5t_s256: URL_SAFE_NO_PAD.encode(openssl::sha::sha256(&der)),
            thumbprint: hex::upper(&openssl::sha::sha1(&der)),
        })
    }

    /// A fresh assertion for `client_id` towards `token_url`.
    ///
    /// # Errors
    /// `Kind::Software` if OpenSSL cannot sign (it always can with an RSA key).
    pub fn assertion(
        &self,
        alg: AssertionAlg,
        client_id: &str,
        token_url: &str,
        now: u64,
        random: [u8; 16],
    ) -> Result<Secret> {
        let claims = Claims {
            audience: token_url,
            client_id,
            jti: guid(random),
            now,
        };
        jwt(alg, &self.x5t_s256, &claims, |input| {
            sign(&self.key, alg, input)
        })
        .map(Secret::new)
        .map_err(|e| {
            Error::new(
                crate::error::Kind::Software,
                format!("cannot sign the client assertion: {e}"),
            )
        })
    }
}

/// What goes into the assertion's claims.
pub struct Claims<'a> {
    /// The token URL (`aud`).
    pub audience: &'a str,
    /// The application (`iss` and `sub`).
    pub client_id: &'a str,
    /// The unique assertion ID.
    pub jti: String,
    /// Unix seconds (`nbf`, `iat`; `exp` is this plus [`LIFETIME`]).
    pub now: u64,
}

/// Header and claims encoded, signed by `sign`, joined: `h.c.s`.
///
/// # Errors
/// What `sign` fails with.
pub fn jwt<E>(
    alg: AssertionAlg,
    x5t_s256: &str,
    claims: &Claims,
    sign: impl FnOnce(&[u8]) -> std::result::Result<Vec<u8>, E>,
) -> std::result::Result<String, E> {
    let header = serde_json::json!({ "alg": alg.name(), "typ": "JWT", "x5t#S256": x5t_s256 });
    let body = serde_json::json!({
        "aud": claims.audience,
        "iss": claims.client_id,
        "sub": claims.client_id,
        "jti": claims.jti,
        "nbf": claims.now,
        "iat": claims.now,
        "exp": claims.now + LIFETIME,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(body.to_string())
    );
    let signature = sign(signing_input.as_bytes())?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

fn sign(
    key: &PKey<Private>,
    alg: AssertionAlg,
    input: &[u8],
) -> std::result::Result<Vec<u8>, openssl::error::ErrorStack> {
    let mut signer = Signer::new(MessageDigest::sha256(), key)?;
    match alg {
        AssertionAlg::Ps256 => {
            signer.set_rsa_padding(Padding::PKCS1_PSS)?;
            signer.set_rsa_mgf1_md(MessageDigest::sha256())?;
            // RFC 7518 §3.5: the salt is as long as the hash (32 bytes).
            signer.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)?;
        }
        AssertionAlg::Rs256 => signer.set_rsa_padding(Padding::PKCS1)?,
    }
    signer.update(input)?;
    signer.sign_to_vec()
}

/// A version 4 GUID from 16 random bytes (`jti`).
pub fn guid(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let digits = hex::lower(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &digits[..8],
        &digits[8..12],
        &digits[12..16],
        &digits[16..20],
        &digits[20..]
    )
}

/// 16 random bytes from OpenSSL's generator.
///
/// # Errors
/// `Kind::Software` when the kernel cannot seed it: an assertion ID must
/// not be guessable or repeated, so there is no fallback.
pub fn random16() -> Result<[u8; 16]> {
    let mut bytes = [0u8; 16];
    openssl::rand::rand_bytes(&mut bytes).map_err(|e| {
        Error::new(
            crate::error::Kind::Software,
            format!("no random bytes for the client assertion: {e}"),
        )
    })?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::rsa::Rsa;
    use openssl::sign::Verifier;

    fn self_signed(key: &PKey<Private>) -> X509 {
        use openssl::asn1::Asn1Time;
        use openssl::x509::{X509Builder, X509NameBuilder};
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "oauth2-sendmail test")
            .unwrap();
        let name = name.build();
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        b.sign(key, MessageDigest::sha256()).unwrap();
        b.build()
    }

    fn key() -> PKey<Private> {
        PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
    }

    fn decode(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn jwt_layout_is_exact() {
        let claims = Claims {
            audience: "https://login.example/t/oauth2/v2.0/token",
            client_id: "11111111-2222-3333-4444-555555555555",
            jti: "j".into(),
            now: 1_000,
        };
        let jwt = jwt(AssertionAlg::Ps256, "X5T", &claims, |_| {
            Ok::<_, ()>(b"sig".to_vec())
        })
        .unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert!(!jwt.contains('='), "no padding: {jwt}");
        assert_eq!(
            decode(parts[0]),
            serde_json::json!({"alg": "PS256", "typ": "JWT", "x5t#S256": "X5T"})
        );
        assert_eq!(
            decode(parts[1]),
            serde_json::json!({
                "aud": "https://login.example/t/oauth2/v2.0/token",
                "iss": "11111111-2222-3333-4444-555555555555",
                "sub": "11111111-2222-3333-4444-555555555555",
                "jti": "j", "nbf": 1000, "iat": 1000, "exp": 1480,
            })
        );
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[2]).unwrap(), b"sig");
    }

    #[test]
    fn signatures_verify_with_the_certificate() {
        let key = key();
        let cert = self_signed(&key);
        let pem = key.private_key_to_pem_pkcs8().unwrap();
        let creds = Credentials::from_pem(cert.clone(), &pem, Path::new("k.pem")).unwrap();
        let der = cert.to_der().unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.decode(&creds.x5t_s256).unwrap(),
            openssl::sha::sha256(&der)
        );
        assert_eq!(creds.thumbprint.len(), 40);
        for alg in [AssertionAlg::Ps256, AssertionAlg::Rs256] {
            let jwt = creds
                .assertion(alg, "c", "https://x/token", 5, [7; 16])
                .unwrap();
            let jwt = jwt.expose();
            let (input, sig) = jwt.rsplit_once('.').unwrap();
            let public = cert.public_key().unwrap();
            let mut v = Verifier::new(MessageDigest::sha256(), &public).unwrap();
            match alg {
                AssertionAlg::Ps256 => {
                    v.set_rsa_padding(Padding::PKCS1_PSS).unwrap();
                    v.set_rsa_mgf1_md(MessageDigest::sha256()).unwrap();
                    v.set_rsa_pss_saltlen(RsaPssSaltlen::custom(32)).unwrap();
                }
                AssertionAlg::Rs256 => v.set_rsa_padding(Padding::PKCS1).unwrap(),
            }
            v.update(input.as_bytes()).unwrap();
            assert!(
                v.verify(&URL_SAFE_NO_PAD.decode(sig).unwrap()).unwrap(),
                "{alg:?}"
            );
        }
    }

    #[test]
    fn bad_keys_are_named() {
        let cert = self_signed(&key());
        let other = key().private_key_to_pem_pkcs8().unwrap();
        let e = Credentials::from_pem(cert.clone(), &other, Path::new("k.pem"))
            .err()
            .unwrap();
        assert!(e.message().contains("does not belong"), "{}", e.message());
        assert_eq!(e.cause_code(), "certificate-key-mismatch");
        let e = Credentials::from_pem(cert, b"junk", Path::new("k.pem"))
            .err()
            .unwrap();
        assert!(e.message().contains("no PEM private key"));
        assert_eq!(e.cause_code(), "private-key-unreadable");
        let k = key();
        let encrypted = k
            .private_key_to_pem_pkcs8_passphrase(openssl::symm::Cipher::aes_128_cbc(), b"pw")
            .unwrap();
        let e = Credentials::from_pem(self_signed(&k), &encrypted, Path::new("k.pem"))
            .err()
            .unwrap();
        assert!(e.message().contains("encrypted"), "{}", e.message());
        assert_eq!(e.cause_code(), "private-key-unreadable");
    }

    #[test]
    fn guids_are_version_4() {
        let g = guid([0xff; 16]);
        assert_eq!(g, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert!(crate::config::is_guid(&guid([0; 16])));
        assert_ne!(guid(random16().unwrap()), guid(random16().unwrap()));
    }
}
