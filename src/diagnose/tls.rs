//! The TLS of `--check`'s own SMTP connection, through OpenSSL directly.
//!
//! Sending uses native-tls, which does not tell which TLS version was
//! negotiated. The check wants to show it, so its connection is set up with
//! the `openssl` crate, configured as native-tls configures OpenSSL on
//! Linux: `SslConnector`'s defaults (system roots, peer verification,
//! host name checked, SNI), TLS 1.2 at least, and `ca_file`'s certificates
//! added to the trust store. What this connection trusts, sending trusts.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;

use openssl::ssl::{HandshakeError, SslConnector, SslMethod, SslStream, SslVersion};
use openssl::x509::{X509, X509VerifyResult};

use super::x509::{expiry, x509_name};
use crate::clock;
use crate::error::{Error, Result};
use crate::net;

/// The check's connection, before or after TLS.
pub enum Conn {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<SslStream<TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// The connector: TLS 1.2 or later, system roots plus `ca_file`.
///
/// # Errors
/// A configuration error when `ca_file` cannot be read or holds no certificate.
pub fn connector(ca_file: Option<&Path>) -> Result<SslConnector> {
    let setup = |e: openssl::error::ErrorStack| {
        Error::config(format!("cannot set up TLS: {e}")).with_cause("tls-setup")
    };
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(setup)?;
    builder
        .set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(setup)?;
    // The same reading and the same errors as the sending path.
    for certificate in net::extra_roots(ca_file)? {
        let der = certificate.to_der().map_err(|e| {
            Error::config(format!("cannot set up TLS: {e}")).with_cause("tls-setup")
        })?;
        let x509 = X509::from_der(&der).map_err(setup)?;
        builder.cert_store_mut().add_cert(x509).map_err(setup)?;
    }
    Ok(builder.build())
}

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

/// The handshake on `tcp`, verifying the certificate for `host`.
///
/// # Errors
/// The sending path's TLS error (exit 76, cause and hint from OpenSSL's reason).
pub fn handshake(
    connector: &SslConnector,
    host: &str,
    tcp: TcpStream,
) -> Result<(SslStream<TcpStream>, Negotiated)> {
    let name = host.trim_matches(['[', ']']);
    let stream = connector.connect(name, tcp).map_err(|e| {
        let detail = match &e {
            HandshakeError::Failure(mid) => {
                let verify = mid.ssl().verify_result();
                if verify == X509VerifyResult::OK {
                    mid.error().to_string()
                } else {
                    // The words native-tls would show, so the same hints apply.
                    format!("{} ({})", mid.error(), verify.error_string())
                }
            }
            HandshakeError::SetupFailure(stack) => stack.to_string(),
            HandshakeError::WouldBlock(_) => "timed out".to_string(),
        };
        net::tls_failure(host, &detail)
    })?;
    let ssl = stream.ssl();
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
    Ok((stream, negotiated))
}
