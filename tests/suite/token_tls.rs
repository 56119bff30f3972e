//! TLS on the token endpoint's side: the token request uses the same
//! OpenSSL context as SMTP (src/token/https.rs over src/net.rs): an endpoint
//! whose certificate no trusted CA signed, or that is for another name, must
//! never receive the client secret, and `ca_file` adds a trust anchor. No
//! sandbox needed: TLS servers of the test's own on loopback.

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::fake_smtp::self_signed_localhost;
use common::queue::closed_port;
use common::{Scratch, Settings, leaks, s, sendmail};

const SECRET: &str = "0yK8Q~not-for-untrusted-ears";

/// What a test endpoint saw.
#[derive(Default)]
struct Seen {
    handshakes: usize,
    data: Vec<u8>,
}

/// A TLS server on `ip` with a self-signed localhost certificate (returned,
/// PEM): records completed handshakes and the first bytes of each request,
/// then hangs up.
fn endpoint(ip: &str) -> (u16, Arc<Mutex<Seen>>, Vec<u8>) {
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shared = Arc::clone(&seen);
    let (cert, key) = self_signed_localhost();
    let identity = native_tls::Identity::from_pkcs8(&cert, &key).unwrap();
    let pem = cert.clone();
    let acceptor = native_tls::TlsAcceptor::new(identity).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            if let Ok(mut tls) = acceptor.accept(stream) {
                let mut buf = vec![0u8; 65536];
                let n = tls.read(&mut buf).unwrap_or(0);
                let mut seen = shared.lock().unwrap();
                seen.handshakes += 1;
                seen.data.extend_from_slice(&buf[..n]);
            }
        }
    });
    (port, seen, pem)
}

/// A config whose token URL is `https://{ip}:{port}`, trusting `ca` (PEM)
/// if given; SMTP refused.
fn settings(scratch: &Scratch, ip: &str, port: u16, ca: Option<&[u8]>) -> Settings {
    let ca_file = ca.map(|pem| {
        let path = scratch.join("ca.pem");
        std::fs::write(&path, pem).unwrap();
        path
    });
    Settings {
        tenant: "contoso.onmicrosoft.com".into(),
        client_id: "0a4f3c2e-7b1d-4e8f-9a6c-5d2b1e0f3a47".into(),
        secret: SECRET.into(),
        user: "alerts@contoso.test".into(),
        ca_file,
        host: "127.0.0.1".into(),
        port: closed_port(),
        tls: "starttls",
        timeout: 5,
        token_url: format!("https://{ip}:{port}/{{tenant}}/oauth2/v2.0/token"),
        token_timeout: 5,
        cache_dir: scratch.join("cache"),
        syslog_socket: None,
        extra: String::new(),
    }
}

const MESSAGE: &[u8] = b"Subject: x\n\nbody\n";

#[test]
fn an_untrusted_token_endpoint_never_gets_the_secret() {
    let (port, seen, _) = endpoint("127.0.0.1");
    let scratch = Scratch::new("untrusted-endpoint");
    let conf = settings(&scratch, "127.0.0.1", port, None).write(&scratch);
    let run = sendmail(&["-C", s(&conf), "ops@contoso.test"], MESSAGE);
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
    assert_eq!(
        seen.handshakes, 0,
        "a handshake completed with an untrusted endpoint"
    );
    assert!(!leaks(&String::from_utf8_lossy(&seen.data), SECRET));
}

#[test]
fn ca_file_is_trusted_for_the_token_endpoint() {
    let (port, seen, cert) = endpoint("127.0.0.1");
    let scratch = Scratch::new("ca-file-endpoint");
    let conf = settings(&scratch, "127.0.0.1", port, Some(&cert)).write(&scratch);
    let run = sendmail(&["-C", s(&conf), "ops@contoso.test"], MESSAGE);
    // The endpoint hangs up without answering: a temporary failure, not TLS.
    run.expect(75);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.handshakes, 1, "{}", run.stderr);
    let request = String::from_utf8_lossy(&seen.data);
    assert!(
        request.starts_with("POST /contoso.onmicrosoft.com/oauth2/v2.0/token HTTP/1.1"),
        "{request}"
    );
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    // Trusted through ca_file, but for localhost / 127.0.0.1, not 127.0.0.2.
    let (port, seen, cert) = endpoint("127.0.0.2");
    let scratch = Scratch::new("other-name-endpoint");
    let conf = settings(&scratch, "127.0.0.2", port, Some(&cert)).write(&scratch);
    let run = sendmail(&["-C", s(&conf), "ops@contoso.test"], MESSAGE);
    run.expect(76);
    assert!(
        run.stderr.to_ascii_lowercase().contains("mismatch"),
        "{}",
        run.stderr
    );
    assert_eq!(seen.lock().unwrap().handshakes, 0);
}

/// A CONNECT proxy on loopback: records the request lines, then tunnels.
fn connect_proxy() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let shared = Arc::clone(&lines);
    std::thread::spawn(move || {
        for mut client in listener.incoming().flatten() {
            // The client sends nothing after the request until the 200.
            let mut reader = BufReader::new(client.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let mut header = String::new();
            while reader.read_line(&mut header).unwrap() > 2 {
                header.clear();
            }
            shared.lock().unwrap().push(request.trim_end().to_string());
            let target = request.split_whitespace().nth(1).unwrap().to_string();
            let upstream = TcpStream::connect(target).unwrap();
            client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .unwrap();
            for (mut from, mut to) in [
                (upstream.try_clone().unwrap(), client.try_clone().unwrap()),
                (client, upstream),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(Shutdown::Both);
                });
            }
        }
    });
    (port, lines)
}

#[test]
fn the_token_request_goes_through_a_connect_proxy() {
    let (port, seen, cert) = endpoint("127.0.0.1");
    let (proxy_port, proxied) = connect_proxy();
    let scratch = Scratch::new("proxied-endpoint");
    let text = settings(&scratch, "127.0.0.1", port, Some(&cert))
        .render()
        .replace(
            "[token]\n",
            &format!("[token]\nproxy = \"http://127.0.0.1:{proxy_port}\"\n"),
        );
    let conf = scratch.join("sendmail.conf");
    common::write_private(&conf, &text);
    let run = sendmail(&["-C", s(&conf), "ops@contoso.test"], MESSAGE);
    run.expect(75);
    assert_eq!(
        proxied.lock().unwrap().first().map(String::as_str),
        Some(format!("CONNECT 127.0.0.1:{port} HTTP/1.1").as_str()),
        "{}",
        run.stderr
    );
    // TLS end to end through the tunnel: the endpoint saw the handshake and the POST.
    let seen = seen.lock().unwrap();
    assert_eq!(seen.handshakes, 1, "{}", run.stderr);
    assert!(String::from_utf8_lossy(&seen.data).starts_with("POST "));
}
