//! HTTPS for the token request: ureq's connection chain (CONNECT proxy,
//! TCP) ending in the OpenSSL context of `net.rs`; ureq is built without
//! a TLS provider of its own.
//!
//! So the token endpoint gets the policy SMTP gets (TLS 1.2+, system roots
//! plus `ca_file`, host name checked) and the same lazy root lookup, which
//! reads the one CA it needs instead of parsing the whole system bundle
//! (some 50 ms of CPU per process that fetches a token, bench/README.md).
//! ureq's transport API is "unversioned" (it may change in a minor
//! release), so Cargo.toml holds ureq to 3.5.x.

use std::fmt;
use std::io::{Read, Write};

use openssl::ssl::SslStream;
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout,
    TcpConnector, Transport, TransportAdapter,
};

use crate::net::{self, TlsConnector};

/// The host (and port) an `https://` URL names, for messages.
pub fn host(url: &str) -> &str {
    url.trim_start_matches("https://")
        .split(['/', '?'])
        .next()
        .unwrap_or(url)
}

/// What a request that got no answer says, and whether it is a
/// certificate that is not trusted: the connector below reports TLS
/// failures in OpenSSL's words, as an Io error.
pub fn failure(e: &ureq::Error) -> (String, bool) {
    let detail = match e {
        ureq::Error::Io(io) => io.to_string(),
        _ => e.to_string(),
    };
    let lower = detail.to_ascii_lowercase();
    let untrusted = lower.contains("certificate") || lower.contains("verify failed");
    (detail, untrusted)
}

/// An agent whose HTTPS connections use `tls`.
pub fn agent(config: ureq::config::Config, tls: TlsConnector) -> ureq::Agent {
    let connector =
        ().chain(ConnectProxyConnector::default())
            .chain(TcpConnector::default())
            .chain(OpenSsl { tls });
    ureq::Agent::with_parts(config, connector, DefaultResolver::default())
}

/// Wraps the chained connection in TLS when the URL is https.
struct OpenSsl {
    tls: TlsConnector,
}

impl<In: Transport> Connector<In> for OpenSsl {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        // A CONNECT tunnel says it is not TLS (even through an https
        // proxy), so the endpoint gets its own TLS inside it.
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details.uri.host().unwrap_or_default();
        let mut adapter = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        adapter.set_timeout(details.timeout);
        let stream = net::tls_over(&self.tls, host, adapter)
            .map_err(|detail| ureq::Error::Io(std::io::Error::other(detail)))?;
        Ok(Some(Either::B(TlsTransport {
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            stream,
        })))
    }
}

/// A TLS connection as ureq's transport.
struct TlsTransport {
    buffers: LazyBuffers,
    stream: SslStream<TransportAdapter>,
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

impl fmt::Debug for OpenSsl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpenSsl")
    }
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsTransport")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_failures() {
        for (url, host_part) in [
            ("https://login.example/t/oauth2/v2.0/token", "login.example"),
            ("https://127.0.0.1:8443?x=1", "127.0.0.1:8443"),
            ("https://graph.example", "graph.example"),
        ] {
            assert_eq!(host(url), host_part, "{url}");
        }
        let io = |text: &str| ureq::Error::Io(std::io::Error::other(text.to_string()));
        let (detail, untrusted) = failure(&io(
            "error:0A000086:SSL routines::certificate verify failed",
        ));
        assert!(
            untrusted && detail.contains("certificate verify failed"),
            "{detail}"
        );
        assert!(!failure(&io("connection reset by peer")).1);
        assert!(!failure(&ureq::Error::HostNotFound).1);
    }
}
