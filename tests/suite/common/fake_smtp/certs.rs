//! The scripted peer's certificates: the sandbox's, an untrusted
//! self-signed one, one issued by the sandbox CA on demand, and the
//! legacy acceptor for old protocol versions.

use native_tls::Identity;

/// The sandbox's server certificate (for localhost, from the test CA).
pub fn sandbox_identity(sandbox_dir: &std::path::Path) -> Identity {
    let cert = std::fs::read(sandbox_dir.join("server.pem")).unwrap();
    let key = std::fs::read(sandbox_dir.join("server.key")).unwrap();
    Identity::from_pkcs8(&cert, &key).unwrap()
}

/// A self-signed certificate for localhost that no one trusts.
pub fn untrusted_identity() -> Identity {
    let (cert, key) = self_signed_localhost();
    Identity::from_pkcs8(&cert, &key).unwrap()
}

/// A self-signed certificate for DNS:localhost and IP:127.0.0.1 and its
/// key (PEM, PKCS#8): untrusted, unless a test names it in `ca_file`.
pub fn self_signed_localhost() -> (Vec<u8>, Vec<u8>) {
    use openssl::asn1::Asn1Time;
    use openssl::bn::{BigNum, MsbOption};
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::extension::SubjectAlternativeName;
    use openssl::x509::{X509Builder, X509NameBuilder};

    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "localhost").unwrap();
    let name = name.build();
    let mut builder = X509Builder::new().unwrap();
    builder.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    builder
        .set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    builder.set_subject_name(&name).unwrap();
    builder.set_issuer_name(&name).unwrap();
    builder.set_pubkey(&key).unwrap();
    builder
        .set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .dns("localhost")
        .ip("127.0.0.1")
        .build(&builder.x509v3_context(None, None))
        .unwrap();
    builder.append_extension(san).unwrap();
    builder.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = builder.build().to_pem().unwrap();
    let key = key.private_key_to_pem_pkcs8().unwrap();
    (cert, key)
}

/// A server side that speaks only TLS 1.0 and 1.1, with ciphers old
/// clients accept (security level 0: OpenSSL 3 refuses them otherwise).
pub(super) fn legacy_acceptor(cert_pem: &[u8], key_pem: &[u8]) -> openssl::ssl::SslAcceptor {
    use openssl::pkey::PKey;
    use openssl::ssl::{SslAcceptor, SslMethod, SslVersion};
    use openssl::x509::X509;
    let mut b = SslAcceptor::mozilla_intermediate(SslMethod::tls()).unwrap();
    b.set_security_level(0);
    b.set_cipher_list("DEFAULT:@SECLEVEL=0").unwrap();
    b.set_min_proto_version(Some(SslVersion::TLS1)).unwrap();
    b.set_max_proto_version(Some(SslVersion::TLS1_1)).unwrap();
    b.set_certificate(&X509::from_pem(cert_pem).unwrap())
        .unwrap();
    b.set_private_key(&PKey::private_key_from_pem(key_pem).unwrap())
        .unwrap();
    b.build()
}

/// A certificate and key (PEM) for `names`, issued by the sandbox's CA,
/// valid between the two Unix times.
pub fn issued_by_sandbox_ca(
    sandbox_dir: &std::path::Path,
    names: &[&str],
    not_before: i64,
    not_after: i64,
) -> (Vec<u8>, Vec<u8>) {
    use openssl::asn1::Asn1Time;
    use openssl::bn::{BigNum, MsbOption};
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::extension::SubjectAlternativeName;
    use openssl::x509::{X509, X509Builder, X509NameBuilder};

    let ca = X509::from_pem(&std::fs::read(sandbox_dir.join("ca.pem")).unwrap()).unwrap();
    let ca_key =
        PKey::private_key_from_pem(&std::fs::read(sandbox_dir.join("ca.key")).unwrap()).unwrap();
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", names[0]).unwrap();
    let name = name.build();
    let mut builder = X509Builder::new().unwrap();
    builder.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    builder
        .set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    builder.set_subject_name(&name).unwrap();
    builder.set_issuer_name(ca.subject_name()).unwrap();
    builder.set_pubkey(&key).unwrap();
    builder
        .set_not_before(&Asn1Time::from_unix(not_before).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::from_unix(not_after).unwrap())
        .unwrap();
    let mut san = SubjectAlternativeName::new();
    for n in names {
        if n.parse::<std::net::IpAddr>().is_ok() {
            san.ip(n);
        } else {
            san.dns(n);
        }
    }
    let san = san.build(&builder.x509v3_context(Some(&ca), None)).unwrap();
    builder.append_extension(san).unwrap();
    builder.sign(&ca_key, MessageDigest::sha256()).unwrap();
    (
        builder.build().to_pem().unwrap(),
        key.private_key_to_pem_pkcs8().unwrap(),
    )
}

/// An identity from PEM certificate and key.
pub fn identity(cert_pem: &[u8], key_pem: &[u8]) -> Identity {
    Identity::from_pkcs8(cert_pem, key_pem).unwrap()
}
