//! What `--check` shows of its TLS session: version, cipher and the
//! server's certificate.
//!
//! The check's connection is set up exactly as sending sets up its own
//! (`net.rs`: the same OpenSSL context, roots and host name check), so
//! what the check trusts, sending trusts; this module only reads what the
//! handshake negotiated.

use std::net::TcpStream;

use openssl::ssl::{SslRef, SslStream};

use super::x509::{expiry, x509_name};
use crate::clock;
use crate::error::Result;
use crate::net::{self, TlsConnector};

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

/// The sending path's handshake on `tcp` ([`net::handshake`]), and what
/// it negotiated.
///
/// # Errors
/// The sending path's TLS error (exit 76, cause and hint from OpenSSL's reason).
pub fn handshake(
    connector: &TlsConnector,
    host: &str,
    tcp: TcpStream,
) -> Result<(SslStream<TcpStream>, Negotiated)> {
    let stream = net::handshake(connector, host, tcp)?;
    let negotiated = negotiated(stream.ssl());
    Ok((stream, negotiated))
}

fn negotiated(ssl: &SslRef) -> Negotiated {
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
