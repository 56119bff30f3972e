//! Network edges: TCP connections for SMTP and the TLS on top of them.
//!
//! Connections set TCP_NODELAY (each command is written whole, so Nagle's
//! algorithm would only add delayed-ACK stalls) and the configured timeout
//! on every read and write. TLS uses the system's OpenSSL through
//! native-tls: TLS 1.2 at least, certificate and host name always verified
//! against the system roots plus `ca_file`.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use native_tls::{Certificate, Protocol, TlsConnector, TlsStream};

use crate::error::{Error, Result, io_reason};

/// A connection to the SMTP server, before or after TLS.
pub enum Stream {
    /// Plain TCP (before STARTTLS, or `tls = "none"` on loopback).
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Opens a TCP connection to `host:port`, trying each address in turn.
///
/// # Errors
/// A temporary error naming the host: it may resolve or answer later.
pub fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream> {
    let addresses: Vec<_> = (host.trim_matches(['[', ']']), port)
        .to_socket_addrs()
        .map_err(|e| {
            Error::temporary(format!(
                "cannot resolve SMTP server {host}: {}",
                io_reason(&e)
            ))
            .with_hint("check smtp.host and this machine's DNS; the message can be sent later")
            .with_cause("smtp-dns")
        })?
        .collect();
    let mut last = None;
    for address in &addresses {
        match TcpStream::connect_timeout(address, timeout) {
            Ok(stream) => {
                let tuned = stream
                    .set_nodelay(true)
                    .and_then(|()| stream.set_read_timeout(Some(timeout)))
                    .and_then(|()| stream.set_write_timeout(Some(timeout)));
                if let Err(e) = tuned {
                    last = Some(e);
                    continue;
                }
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    let reason = last.map_or_else(|| "no address found".to_string(), |e| describe_io(&e));
    Err(Error::temporary(format!(
        "cannot connect to SMTP server {host} port {port}: {reason}"
    ))
    .with_hint("check smtp.host and smtp.port, and that a firewall lets this machine reach them (Exchange Online: smtp.office365.com port 587); the message can be sent later")
    .with_cause("smtp-unreachable"))
}

/// An I/O error in words an administrator recognises.
pub fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => "timed out".into(),
        io::ErrorKind::UnexpectedEof => "connection closed by the server".into(),
        _ => io_reason(e),
    }
}

/// The TLS client configuration: TLS 1.2 or later, system roots plus `ca_file`.
///
/// # Errors
/// A configuration error when `ca_file` cannot be read or holds no certificate.
pub fn tls_connector(ca_file: Option<&Path>) -> Result<TlsConnector> {
    let mut builder = TlsConnector::builder();
    builder.min_protocol_version(Some(Protocol::Tlsv12));
    for certificate in extra_roots(ca_file)? {
        builder.add_root_certificate(certificate);
    }
    builder
        .build()
        .map_err(|e| Error::config(format!("cannot set up TLS: {e}")).with_cause("tls-setup"))
}

/// The certificates of `ca_file` (PEM, any number).
pub fn extra_roots(ca_file: Option<&Path>) -> Result<Vec<Certificate>> {
    let Some(path) = ca_file else {
        return Ok(Vec::new());
    };
    let pem = std::fs::read(path).map_err(|e| {
        Error::config(format!(
            "cannot read ca_file {}: {}",
            path.display(),
            io_reason(&e)
        ))
        .with_cause("ca-file")
    })?;
    let certificates = Certificate::stack_from_pem(&pem).unwrap_or_default();
    if certificates.is_empty() {
        return Err(Error::config(format!(
            "ca_file {} holds no PEM certificate",
            path.display()
        ))
        .with_cause("ca-file"));
    }
    Ok(certificates)
}

/// TLS handshake on `tcp`, verifying that the certificate is valid for `host`.
///
/// # Errors
/// A protocol error (exit 76): no credential has been sent on this connection.
pub fn handshake(
    connector: &TlsConnector,
    host: &str,
    tcp: TcpStream,
) -> Result<TlsStream<TcpStream>> {
    connector
        .connect(host.trim_matches(['[', ']']), tcp)
        .map_err(|e| {
            let detail = match &e {
                native_tls::HandshakeError::Failure(e) => e.to_string(),
                native_tls::HandshakeError::WouldBlock(_) => "timed out".to_string(),
            };
            tls_failure(host, &detail)
        })
}

/// The error for a failed TLS handshake with `host`, OpenSSL's reason in
/// `detail` (also used by `--check`, which makes its own connection).
pub fn tls_failure(host: &str, detail: &str) -> Error {
    let (cause, hint) = tls_hint(detail);
    Error::protocol(format!("TLS with {host} failed: {detail}"))
        .with_hint(hint)
        .with_cause(cause)
}

/// The cause code and what to do about a failed handshake, from OpenSSL's words.
fn tls_hint(detail: &str) -> (&'static str, &'static str) {
    let d = detail.to_ascii_lowercase();
    if d.contains("unable to get local issuer")
        || d.contains("self-signed")
        || d.contains("self signed")
    {
        (
            "tls-untrusted",
            "the server's certificate is not signed by a trusted CA: install the CA in the system store or name it in ca_file; no credential was sent",
        )
    } else if d.contains("hostname mismatch") || d.contains("ip address mismatch") {
        (
            "tls-name-mismatch",
            "the server's certificate is for another name: smtp.host must be the name on the certificate (smtp.office365.com for Exchange Online); no credential was sent",
        )
    } else if d.contains("not yet valid") {
        (
            "tls-not-yet-valid",
            "the server's certificate is not valid yet (or this machine's clock is wrong); no credential was sent",
        )
    } else if d.contains("expired") {
        (
            "tls-expired",
            "the server's certificate has expired (or this machine's clock is wrong); no credential was sent",
        )
    } else if d.contains("protocol version") || d.contains("unsupported protocol") {
        (
            "tls-version",
            "the server offers only TLS versions older than 1.2, which are refused; no credential was sent",
        )
    } else {
        (
            "tls-failed",
            "TLS could not be set up, so no credential was sent; check smtp.host, smtp.port and smtp.tls",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_hints_name_the_cause() {
        let table = [
            (
                "certificate verify failed (unable to get local issuer certificate)",
                "not signed by a trusted CA",
            ),
            (
                "certificate verify failed (Hostname mismatch)",
                "another name",
            ),
            (
                "certificate verify failed (certificate has expired)",
                "expired",
            ),
            (
                "certificate verify failed (certificate is not yet valid)",
                "not valid yet",
            ),
            ("tlsv1 alert protocol version", "older than 1.2"),
            ("something else", "could not be set up"),
        ];
        for (detail, want) in table {
            assert!(tls_hint(detail).1.contains(want), "{detail}");
            let e = tls_failure("h", detail);
            assert_eq!(e.exit_code(), 76);
            assert!(e.cause().is_some_and(|c| c.starts_with("tls-")));
        }
    }

    #[test]
    fn bad_ca_file_is_a_config_error() {
        let e = tls_connector(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert_eq!(e.exit_code(), 78);
        let dir = std::env::temp_dir().join(format!("o2s-net-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("empty.pem");
        std::fs::write(&f, "not a certificate").unwrap();
        assert!(
            tls_connector(Some(&f))
                .unwrap_err()
                .message()
                .contains("no PEM certificate")
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(tls_connector(None).is_ok());
    }

    #[test]
    fn connect_refused_is_temporary() {
        // Bind then drop to find a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = connect("127.0.0.1", port, Duration::from_secs(2)).unwrap_err();
        assert_eq!(e.exit_code(), 75);
        assert!(e.message().contains("cannot connect"), "{}", e.message());
    }
}
