//! TLS policy: every way the connection to the SMTP server can fail to be
//! trustworthy stops the program before a token leaves the machine, with
//! exit 76 and a message that says why. (No STARTTLS offered, an untrusted
//! CA and bytes injected before the handshake are in faults.rs.) Tokens
//! come from the sandbox's real token endpoint; the server is the scripted
//! peer, which records whether a token ever reached it.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use common::fake_smtp::{Behaviour, FakeSmtp, identity, issued_by_sandbox_ca, sandbox_identity};
use common::sandbox::{Sandbox, sandbox};
use common::{Scratch, Settings, s, sendmail};

const MESSAGE: &[u8] = b"Subject: tls\n\nbody\n";

fn settings_for(sb: &Sandbox, fake: &FakeSmtp, scratch: &Scratch) -> Settings {
    sb.peer_settings(scratch, fake.port)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Sends through a peer that behaves as `b`; returns the run and the record.
fn send_via(b: Behaviour, name: &str) -> (common::Run, common::fake_smtp::Record) {
    let sb = sandbox();
    let _shared = sb.shared();
    let fake = FakeSmtp::start(b);
    let scratch = Scratch::new(name);
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    let run = sendmail(&["-C", s(&conf), "a@example.com"], MESSAGE);
    (run, fake.record())
}

#[track_caller]
fn assert_nothing_sent(record: &common::fake_smtp::Record) {
    assert!(
        record.tokens.is_empty() && !record.commands.iter().any(|c| c.starts_with("AUTH")),
        "a credential left the machine: {:?}",
        record.commands
    );
    assert!(record.messages.is_empty());
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    let day = 86_400;
    let (cert, key) = issued_by_sandbox_ca(
        &sandbox().dir,
        &["mail.other.test"],
        now() - day,
        now() + 30 * day,
    );
    let (run, record) = send_via(Behaviour::good(identity(&cert, &key)), "tls-name");
    run.expect(76);
    assert!(
        run.stderr.contains("certificate is for another name"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("no credential was sent"),
        "{}",
        run.stderr
    );
    assert_nothing_sent(&record);
}

#[test]
fn an_expired_certificate_is_refused() {
    let day = 86_400;
    let (cert, key) = issued_by_sandbox_ca(
        &sandbox().dir,
        &["localhost", "127.0.0.1"],
        now() - 30 * day,
        now() - day,
    );
    let (run, record) = send_via(Behaviour::good(identity(&cert, &key)), "tls-expired");
    run.expect(76);
    assert!(run.stderr.contains("has expired"), "{}", run.stderr);
    assert_nothing_sent(&record);
}

#[test]
fn a_certificate_not_yet_valid_is_refused() {
    let day = 86_400;
    let (cert, key) = issued_by_sandbox_ca(
        &sandbox().dir,
        &["localhost", "127.0.0.1"],
        now() + day,
        now() + 30 * day,
    );
    let (run, record) = send_via(Behaviour::good(identity(&cert, &key)), "tls-future");
    run.expect(76);
    assert!(run.stderr.contains("not valid yet"), "{}", run.stderr);
    assert_nothing_sent(&record);
}

fn legacy_server() -> Behaviour {
    let dir = &sandbox().dir;
    let mut b = Behaviour::good(sandbox_identity(dir));
    b.legacy_tls_only = Some((
        std::fs::read(dir.join("server.pem")).unwrap(),
        std::fs::read(dir.join("server.key")).unwrap(),
    ));
    b
}

/// EHLO, STARTTLS and a handshake that allows TLS 1.0/1.1, as an old
/// client would: proves the peer really offers those versions.
fn old_client_handshake(port: u16) -> Result<String, String> {
    use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode, SslVersion};
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut reader = BufReader::new(tcp.try_clone().unwrap());
    let mut writer = tcp.try_clone().unwrap();
    let mut line = String::new();
    let mut read_reply = |reader: &mut BufReader<TcpStream>| loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line.as_bytes().get(3) != Some(&b'-') {
            break line.clone();
        }
    };
    read_reply(&mut reader);
    writer.write_all(b"EHLO old.client\r\n").unwrap();
    read_reply(&mut reader);
    writer.write_all(b"STARTTLS\r\n").unwrap();
    assert!(read_reply(&mut reader).starts_with("220"));
    let mut b = SslConnector::builder(SslMethod::tls()).unwrap();
    b.set_security_level(0);
    b.set_cipher_list("DEFAULT:@SECLEVEL=0").unwrap();
    b.set_min_proto_version(Some(SslVersion::TLS1)).unwrap();
    b.set_max_proto_version(Some(SslVersion::TLS1_1)).unwrap();
    b.set_verify(SslVerifyMode::NONE);
    let connector = b.build();
    connector
        .connect("localhost", tcp)
        .map(|s| s.ssl().version_str().to_string())
        .map_err(|e| e.to_string())
}

#[test]
fn a_server_offering_only_tls_1_0_and_1_1_is_refused() {
    let sb = sandbox();
    let _shared = sb.shared();
    let fake = FakeSmtp::start(legacy_server());
    // The peer is genuine: a client that still accepts TLS 1.1 gets it.
    let version = old_client_handshake(fake.port).expect("an old client can connect");
    assert!(version == "TLSv1.1" || version == "TLSv1", "{version}");

    let scratch = Scratch::new("tls-old");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    let run = sendmail(&["-C", s(&conf), "a@example.com"], MESSAGE);
    run.expect(76);
    assert!(
        run.stderr.contains("older than 1.2"),
        "the hint names the cause: {}",
        run.stderr
    );
    let record = fake.record();
    assert_eq!(record.tls_failures.len(), 1, "{:?}", record.tls_failures);
    assert_nothing_sent(&record);
}

#[test]
fn tls_none_works_towards_loopback_only() {
    let sb = sandbox();
    let _shared = sb.shared();
    let mut b = Behaviour::good(sandbox_identity(&sb.dir));
    b.offer_starttls = false;
    let fake = FakeSmtp::start(b);
    let scratch = Scratch::new("tls-none");
    let mut settings = settings_for(sb, &fake, &scratch);
    settings.host = "127.0.0.1".into();
    settings.tls = "none";
    let conf = settings.write(&scratch);
    sendmail(&["-C", s(&conf), "-i", "a@example.com"], MESSAGE).expect(0);
    let record = fake.record();
    assert_eq!(record.messages.len(), 1);
    assert!(!record.tls);

    // Any other host: refused by the configuration check, before any connection.
    for host in ["smtp.office365.com", "192.0.2.1", "10.0.0.1"] {
        let scratch = Scratch::new("tls-none-remote");
        settings.host = host.into();
        settings.cache_dir = scratch.join("cache");
        let conf = settings.write(&scratch);
        let run = sendmail(&["-C", s(&conf), "-i", "a@example.com"], MESSAGE);
        run.expect(78);
        assert!(
            run.stderr
                .contains("none is allowed only towards a loopback"),
            "{host}: {}",
            run.stderr
        );
    }
    assert_eq!(fake.record().connections, 1);
}
