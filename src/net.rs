//! Network edges: TCP connections for SMTP and the TLS on top of them.
//!
//! Connections set TCP_NODELAY (each command is written whole, so Nagle's
//! algorithm would only add delayed-ACK stalls) and the configured timeout
//! on every read and write. TLS uses the system's OpenSSL: TLS 1.2 at
//! least, certificate and host name always verified against the system
//! roots plus `ca_file`.
//!
//! The system roots are looked up lazily in OpenSSL's hashed certificate
//! directory when the system has one (Debian, Ubuntu, SUSE, Fedora): only
//! the CA that signed the server is read. Loading the whole bundle instead
//! (as OpenSSL's `SslConnector` does, and native-tls did twice per
//! connector) parses some 140 certificates, 30–50 ms of CPU each time,
//! which was most of the time of a send (see bench/README.md).

use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use openssl::ssl::{
    HandshakeError, Ssl, SslContext, SslContextBuilder, SslFiletype, SslMethod, SslMode,
    SslOptions, SslStream, SslVerifyMode, SslVersion,
};
use openssl::x509::X509;
use openssl::x509::store::{X509Lookup, X509StoreBuilder};
use openssl::x509::verify::X509CheckFlags;

use crate::cause::Cause;
use crate::error::{Error, Result, io_reason};

/// A connection to the SMTP server, before or after TLS.
pub enum Stream {
    /// Plain TCP (before STARTTLS, or `tls = "none"` on loopback).
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<SslStream<TcpStream>>),
}

/// A connection that can be ended in good order.
pub trait Close {
    /// Ends it (TLS: with its close_notify alert).
    fn close(self);
}

impl Close for Stream {
    fn close(self) {
        Stream::close(self);
    }
}

/// Plain TCP before STARTTLS: nothing to say before it goes.
impl Close for TcpStream {
    fn close(self) {}
}

impl crate::smtp::session::Patience for TcpStream {
    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        TcpStream::read_timeout(self)
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
}

impl crate::smtp::session::Patience for Stream {
    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.tcp().read_timeout()
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(timeout)
    }
}

impl Stream {
    /// Closes the connection; a TLS one with its close_notify alert first,
    /// so that the server sees an orderly end, not a truncation.
    pub fn close(self) {
        if let Stream::Tls(mut tls) = self {
            let _ = tls.shutdown();
        }
    }

    /// The TCP connection underneath.
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref(),
        }
    }
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

    /// Flushes, then asks for quick ACKs: see [`ack_promptly`].
    fn flush(&mut self) -> io::Result<()> {
        let tcp = match self {
            Stream::Plain(s) => {
                s.flush()?;
                s
            }
            Stream::Tls(s) => {
                s.flush()?;
                s.get_ref()
            }
        };
        ack_promptly(tcp);
        Ok(())
    }
}

/// Leaves delayed-ACK mode until the next write. After a command the
/// client only waits, so an ACK held back for 40 ms only delays the server
/// when it writes in pieces (Nagle): Postfix sends its TLS 1.3 session ticket
/// and then holds the EHLO reply until the ticket is acknowledged, a 40 ms
/// stall on most sends otherwise. Best effort: a failure changes only timing.
fn ack_promptly(tcp: &TcpStream) {
    let _ = rustix::net::sockopt::set_tcp_quickack(tcp, true);
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
            .with_cause(Cause::SmtpDns)
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
    .with_cause(Cause::SmtpUnreachable))
}

/// An I/O error in words an administrator recognises.
pub fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => "timed out".into(),
        io::ErrorKind::UnexpectedEof => "connection closed by the server".into(),
        _ => io_reason(e),
    }
}

/// Hashed certificate directories (`c_rehash` links such as `5ad8a5d6.0`),
/// where OpenSSL finds a CA by its subject without reading the others.
const SYSTEM_CERT_DIRS: &[&str] = &[
    "/etc/ssl/certs",
    "/etc/pki/ca-trust/extracted/pem/directory-hash",
    "/etc/pki/tls/certs",
];

/// System CA bundles, read whole when no hashed directory exists.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
];

/// A TLS client context, shared by the handshakes of one configuration.
#[derive(Debug)]
pub struct TlsConnector {
    context: SslContext,
}

/// The TLS client configuration: TLS 1.2 or later, system roots plus `ca_file`.
///
/// # Errors
/// A configuration error when `ca_file` cannot be read or holds no certificate.
pub fn tls_connector(ca_file: Option<&Path>) -> Result<TlsConnector> {
    let extra = extra_roots(ca_file)?;
    let setup = |e: openssl::error::ErrorStack| {
        Error::config(format!("cannot set up TLS: {e}")).with_cause(Cause::TlsSetup)
    };
    let mut store = X509StoreBuilder::new().map_err(setup)?;
    add_system_roots(&mut store, SYSTEM_CERT_DIRS, SYSTEM_BUNDLES).map_err(setup)?;
    for certificate in extra {
        store.add_cert(certificate).map_err(setup)?;
    }
    let mut builder = SslContextBuilder::new(SslMethod::tls_client()).map_err(setup)?;
    // The settings of openssl's SslConnector, without its eager root loading.
    let options =
        (SslOptions::ALL | SslOptions::NO_COMPRESSION) & !SslOptions::DONT_INSERT_EMPTY_FRAGMENTS;
    builder.set_options(options);
    builder.set_mode(
        SslMode::AUTO_RETRY
            | SslMode::ACCEPT_MOVING_WRITE_BUFFER
            | SslMode::ENABLE_PARTIAL_WRITE
            | SslMode::RELEASE_BUFFERS,
    );
    builder
        .set_cipher_list("DEFAULT:!aNULL:!eNULL:!MD5:!3DES:!DES:!RC4:!IDEA:!SEED:!aDSS:!SRP:!PSK")
        .map_err(setup)?;
    builder
        .set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(setup)?;
    builder.set_verify(SslVerifyMode::PEER);
    builder.set_cert_store(store.build());
    Ok(TlsConnector {
        context: builder.build(),
    })
}

/// The system's trust anchors: a hashed directory (read lazily) if there is
/// one, else the first bundle found, else none (then only `ca_file` is
/// trusted, and a handshake fails with the "not signed by a trusted CA"
/// hint). Returns the directory or bundle used.
///
/// `SSL_CERT_FILE` and `SSL_CERT_DIR` are not consulted, for any caller:
/// trust is the system store plus `ca_file`, set where root set it. That is
/// why OpenSSL's own defaults (`set_default_paths`) are never asked: they
/// read those two variables, and in the portable build (feature
/// `vendored-openssl`) they name `/usr/local/ssl`, which no distribution
/// fills. (The variables would also cost: a bundle named there is parsed
/// whole, ~50 ms of CPU, where the hashed directory costs one file per
/// handshake.)
fn add_system_roots(
    store: &mut X509StoreBuilder,
    dirs: &[&'static str],
    bundles: &[&'static str],
) -> std::result::Result<Option<&'static str>, openssl::error::ErrorStack> {
    if let Some(dir) = dirs.iter().find(|d| is_hashed_dir(Path::new(d))) {
        store
            .add_lookup(X509Lookup::hash_dir())?
            .add_dir(dir, SslFiletype::PEM)?;
        return Ok(Some(dir));
    }
    if let Some(bundle) = bundles.iter().find(|b| Path::new(b).is_file()) {
        store
            .add_lookup(X509Lookup::file())?
            .load_cert_file(bundle, SslFiletype::PEM)?;
        return Ok(Some(bundle));
    }
    Ok(None)
}

/// Whether `dir` holds at least one `c_rehash` link (`hhhhhhhh.N`).
fn is_hashed_dir(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let name = entry.file_name();
        let name = name.as_encoded_bytes();
        name.len() >= 10
            && name[..8].iter().all(u8::is_ascii_hexdigit)
            && name[8] == b'.'
            && name[9..].iter().all(u8::is_ascii_digit)
    })
}

/// The certificates of `ca_file` (PEM, any number).
fn extra_roots(ca_file: Option<&Path>) -> Result<Vec<X509>> {
    let Some(path) = ca_file else {
        return Ok(Vec::new());
    };
    let pem = std::fs::read(path).map_err(|e| {
        Error::config(format!(
            "cannot read ca_file {}: {}",
            path.display(),
            io_reason(&e)
        ))
        .with_cause(Cause::CaFile)
    })?;
    let certificates = X509::stack_from_pem(&pem).unwrap_or_default();
    if certificates.is_empty() {
        return Err(Error::config(format!(
            "ca_file {} holds no PEM certificate",
            path.display()
        ))
        .with_cause(Cause::CaFile));
    }
    Ok(certificates)
}

/// TLS handshake on a TCP connection, verifying that the certificate is
/// valid for `host`.
///
/// # Errors
/// A protocol error (exit 76): no credential has been sent on this
/// connection; a temporary one (exit 75) when the handshake timed out.
pub fn handshake(
    connector: &TlsConnector,
    host: &str,
    tcp: TcpStream,
) -> Result<SslStream<TcpStream>> {
    tls_over(connector, host, tcp).map_err(|detail| {
        if detail == TIMED_OUT {
            // Nothing says the server is wrong: it may answer in time later.
            Error::temporary(format!("TLS with {host} failed: the handshake {TIMED_OUT}"))
                .with_hint("the server or the network is slow or overloaded; no credential was sent, and the message can be sent later")
                .with_cause(Cause::TlsTimeout)
        } else {
            tls_failure(host, &detail)
        }
    })
}

/// What [`tls_over`] says when the handshake ran out of time.
pub const TIMED_OUT: &str = "timed out";

/// TLS handshake on any stream (ureq's transport for the token request);
/// the failure in OpenSSL's words.
///
/// # Errors
/// What OpenSSL said, with the verification result when that failed.
pub fn tls_over<S: Read + Write>(
    connector: &TlsConnector,
    host: &str,
    stream: S,
) -> std::result::Result<SslStream<S>, String> {
    let name = host.trim_matches(['[', ']']);
    let mut ssl = Ssl::new(&connector.context).map_err(|e| e.to_string())?;
    let param = ssl.param_mut();
    param.set_hostflags(X509CheckFlags::NO_PARTIAL_WILDCARDS);
    let named = match name.parse::<IpAddr>() {
        Ok(ip) => param.set_ip(ip),
        Err(_) => param.set_host(name).and_then(|()| ssl.set_hostname(name)),
    };
    named.map_err(|e| e.to_string())?;
    ssl.connect(stream).map_err(|e| match e {
        // A read timeout on the socket shows as an I/O error that would block.
        HandshakeError::Failure(mid)
            if mid.error().io_error().is_some_and(|io| {
                matches!(
                    io.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                )
            }) =>
        {
            TIMED_OUT.to_string()
        }
        HandshakeError::Failure(mid) => {
            let verify = mid.ssl().verify_result();
            match verify.as_raw() {
                0 => mid.error().to_string(),
                _ => format!("{} ({})", mid.error(), verify.error_string()),
            }
        }
        HandshakeError::SetupFailure(e) => e.to_string(),
        HandshakeError::WouldBlock(_) => TIMED_OUT.to_string(),
    })
}

/// The error for a failed TLS handshake with `host`, OpenSSL's reason in
/// `detail`.
fn tls_failure(host: &str, detail: &str) -> Error {
    let (cause, hint) = tls_hint(detail);
    Error::protocol(format!("TLS with {host} failed: {detail}"))
        .with_hint(hint)
        .with_cause(cause)
}

/// The cause code and what to do about a failed handshake, from OpenSSL's words.
fn tls_hint(detail: &str) -> (Cause, &'static str) {
    let d = detail.to_ascii_lowercase();
    if d.contains("unable to get local issuer")
        || d.contains("self-signed")
        || d.contains("self signed")
    {
        (
            Cause::TlsUntrusted,
            "the server's certificate is not signed by a trusted CA: install the CA in the system store or name it in ca_file; no credential was sent",
        )
    } else if d.contains("hostname mismatch") || d.contains("ip address mismatch") {
        (
            Cause::TlsNameMismatch,
            "the server's certificate is for another name: smtp.host must be the name on the certificate (smtp.office365.com for Exchange Online); no credential was sent",
        )
    } else if d.contains("not yet valid") {
        (
            Cause::TlsNotYetValid,
            "the server's certificate is not valid yet (or this machine's clock is wrong); no credential was sent",
        )
    } else if d.contains("expired") {
        (
            Cause::TlsExpired,
            "the server's certificate has expired (or this machine's clock is wrong); no credential was sent",
        )
    } else if d.contains("protocol version") || d.contains("unsupported protocol") {
        (
            Cause::TlsVersion,
            "the server offers only TLS versions older than 1.2, which are refused; no credential was sent",
        )
    } else {
        (
            Cause::TlsFailed,
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
            assert!(e.cause().is_some_and(|c| c.as_str().starts_with("tls-")));
        }
    }

    #[test]
    fn bad_ca_file_is_a_config_error() {
        let e = tls_connector(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert_eq!(e.exit_code(), 78);
        let dir = crate::testing::TempDir::new("net");
        let f = dir.join("empty.pem");
        std::fs::write(&f, "not a certificate").unwrap();
        assert!(
            tls_connector(Some(&f))
                .unwrap_err()
                .message()
                .contains("no PEM certificate")
        );
        assert!(tls_connector(None).is_ok());
    }

    #[test]
    fn hashed_directories_are_recognised_by_their_links() {
        let temp = crate::testing::TempDir::new("net-hash");
        let dir = temp.path().to_path_buf();
        assert!(!is_hashed_dir(&dir), "empty");
        for name in ["ca-certificates.crt", "README", "5ad8a5d6", "5ad8a5dx.0"] {
            std::fs::write(dir.join(name), "").unwrap();
        }
        assert!(!is_hashed_dir(&dir), "no c_rehash name");
        std::fs::write(dir.join("5ad8a5d6.0"), "").unwrap();
        assert!(is_hashed_dir(&dir));
        drop(temp);
        assert!(!is_hashed_dir(&dir), "missing");
    }

    #[test]
    fn without_a_system_store_nothing_else_is_trusted() {
        // OpenSSL's defaults (set_default_paths) would load its compiled-in
        // bundle (Debian: /usr/lib/ssl/cert.pem, the whole system store) or
        // whatever SSL_CERT_FILE names: neither may stand in for a missing
        // system store.
        let mut store = X509StoreBuilder::new().unwrap();
        let used = add_system_roots(
            &mut store,
            &["/nonexistent/certs"],
            &["/nonexistent/ca.pem"],
        );
        assert_eq!(used.unwrap(), None);
        assert!(store.build().all_certificates().is_empty());
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
