//! What `--check` shows of its TLS session: version, cipher and the
//! server's certificate.
//!
//! The check's connection is sending's own (`relay::connect_watched`: the
//! same OpenSSL context, roots and host name check), so what the check
//! trusts, sending trusts; this module only reads what the handshake
//! negotiated.

use openssl::ssl::SslRef;

use super::x509::{expiry, x509_name};
use crate::clock;

/// What the TLS session looks like, for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Negotiated {
    /// `TLSv1.3`.
    pub version: String,
    /// `TLS_AES_256_GCM_SHA384`.
    pub cipher: String,
    /// The server certificate's subject.
    pub subject: String,
    /// Its issuer.
    pub issuer: String,
    /// Its expiry as a UTC timestamp.
    pub not_after: String,
    /// Days until it expires.
    pub days_left: i64,
}

/// What the handshake on `ssl` negotiated.
pub fn negotiated(ssl: &SslRef) -> Negotiated {
    let mut negotiated = Negotiated {
        version: ssl.version_str().to_string(),
        cipher: ssl
            .current_cipher()
            .map(|c| c.name().to_string())
            .unwrap_or_default(),
        ..Negotiated::default()
    };
    if let Some(cert) = ssl.peer_certificate() {
        negotiated.subject = x509_name(cert.subject_name());
        negotiated.issuer = x509_name(cert.issuer_name());
        let (until, days) = expiry(cert.not_after(), clock::now());
        negotiated.not_after = until;
        negotiated.days_left = days;
    }
    negotiated
}
