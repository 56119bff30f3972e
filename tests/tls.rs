//! TLS trust on the token endpoint's side: the token request uses the same
//! OpenSSL context as SMTP (src/token/https.rs over src/net.rs), so an
//! endpoint whose certificate no trusted CA signed must never receive the
//! client secret. No sandbox needed: a TLS server of the test's own.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::fake_smtp::untrusted_identity;
use common::{Scratch, Settings, leaks, s, sendmail};

const SECRET: &str = "0yK8Q~not-for-untrusted-ears";

/// What the untrusted endpoint saw.
#[derive(Default)]
struct Seen {
    handshake: bool,
    data: Vec<u8>,
}

/// Accepts connections with a certificate no one trusts; records whether
/// any handshake completed and what arrived over TLS.
fn untrusted_endpoint() -> (u16, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shared = Arc::clone(&seen);
    let acceptor = native_tls::TlsAcceptor::new(untrusted_identity()).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            if let Ok(mut tls) = acceptor.accept(stream) {
                let mut data = Vec::new();
                let _ = tls.read_to_end(&mut data);
                let mut seen = shared.lock().unwrap();
                seen.handshake = true;
                seen.data.extend_from_slice(&data);
            }
        }
    });
    (port, seen)
}

fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn an_untrusted_token_endpoint_never_gets_the_secret() {
    let (port, seen) = untrusted_endpoint();
    let scratch = Scratch::new("untrusted-endpoint");
    let settings = Settings {
        tenant: "contoso.onmicrosoft.com".into(),
        client_id: "0a4f3c2e-7b1d-4e8f-9a6c-5d2b1e0f3a47".into(),
        secret: SECRET.into(),
        user: "alerts@contoso.test".into(),
        ca_file: None,
        host: "127.0.0.1".into(),
        port: closed_port(),
        tls: "starttls",
        timeout: 5,
        token_url: format!("https://127.0.0.1:{port}/{{tenant}}/oauth2/v2.0/token"),
        token_timeout: 5,
        cache_dir: scratch.join("cache"),
        syslog_socket: None,
        extra: String::new(),
    };
    let conf = settings.write(&scratch);
    let run = sendmail(
        &["-C", s(&conf), "ops@contoso.test"],
        b"Subject: x\n\nbody\n",
    );
    // The token error comes first, although the SMTP side (refused) was
    // tried at the same time.
    run.expect(76);
    assert!(
        run.stderr.contains("not trusted") && run.stderr.contains("secret was not sent"),
        "{}",
        run.stderr
    );
    assert!(!leaks(&run.output(), SECRET));
    let seen = seen.lock().unwrap();
    assert!(
        !seen.handshake,
        "a TLS handshake completed with an untrusted endpoint"
    );
    assert!(!leaks(&String::from_utf8_lossy(&seen.data), SECRET));
}
