//! Certificate credentials end to end: the binary signs a client assertion,
//! the sandbox's token endpoint verifies it (thumbprint, PS256/RS256
//! signature, audience, lifetime) and Postfix delivers with the token.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::sandbox::{Sandbox, sandbox};
use common::{Scratch, leaks, s, sendmail};

/// A configuration for the sandbox's certificate client, with `cert` and `key`.
fn certificate_config(
    sb: &Sandbox,
    scratch: &Scratch,
    cert: &Path,
    key: &Path,
    extra: &str,
) -> PathBuf {
    let mut settings = sb.settings(scratch);
    let client = sb.client("certificate");
    settings.client_id = client["client_id"].as_str().unwrap().to_string();
    settings.user = client["user"].as_str().unwrap().to_string();
    settings.extra = extra.to_string();
    let text = settings.render().replace(
        &format!("client_secret = \"{}\"\n", settings.secret),
        &format!(
            "certificate_file = \"{}\"\nprivate_key_file = \"{}\"\n",
            cert.display(),
            key.display()
        ),
    );
    assert!(text.contains("certificate_file"), "{text}");
    let path = scratch.join("sendmail.conf");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn fixture(sb: &Sandbox) -> (PathBuf, PathBuf) {
    let client = sb.client("certificate");
    (
        PathBuf::from(client["certificate_file"].as_str().unwrap()),
        PathBuf::from(client["private_key_file"].as_str().unwrap()),
    )
}

/// A fresh self-signed certificate and key that no application knows.
fn unregistered(scratch: &Scratch) -> (PathBuf, PathBuf) {
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::{X509Builder, X509NameBuilder};
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "not registered").unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let (cert_path, key_path) = (scratch.join("other.crt"), scratch.join("other.key"));
    std::fs::write(&cert_path, b.build().to_pem().unwrap()).unwrap();
    std::fs::write(&key_path, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    (cert_path, key_path)
}

#[test]
fn a_certificate_credential_delivers_with_ps256_and_rs256() {
    let sb = sandbox();
    let _shared = sb.shared();
    let (cert, key) = fixture(sb);
    for (alg, rcpt) in [
        ("", "cert-ps256@example.com"),
        ("RS256", "cert-rs256@example.com"),
    ] {
        let scratch = Scratch::new("cert");
        let extra = if alg.is_empty() {
            String::new()
        } else {
            format!("assertion_alg = \"{alg}\"\n")
        };
        let conf = certificate_config(sb, &scratch, &cert, &key, &extra);
        let run = sendmail(
            &["-C", s(&conf), "-v", "-i", rcpt],
            b"Subject: certificate\n\nsigned, not shared\n",
        );
        run.expect(0);
        assert!(
            run.stderr.contains("client_assertion=<redacted>"),
            "{}",
            run.stderr
        );
        let want = if alg.is_empty() { "PS256" } else { "RS256" };
        assert!(run.stderr.contains(want), "{}", run.stderr);
        let got = sb.wait_for_mail(rcpt, 1);
        assert_eq!(got[0].sender, sb.str("user"));
        // The assertion itself is a bearer credential for minutes: never shown.
        assert!(!run.stderr.contains("eyJhbGciOi"), "{}", run.stderr);
        let key_text = std::fs::read_to_string(&key).unwrap();
        let key_line = key_text.lines().nth(1).unwrap();
        assert!(!leaks(&run.stderr, key_line));
    }
}

#[test]
fn an_unregistered_certificate_gets_the_aadsts700027_hint() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("cert-unknown");
    let (cert, key) = unregistered(&scratch);
    let conf = certificate_config(sb, &scratch, &cert, &key, "");
    let run = sendmail(&["-C", s(&conf), "a@example.com"], b"Subject: x\n\nx\n");
    run.expect(78);
    assert!(run.stderr.contains("AADSTS700027"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the certificate is not registered on the application"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("certificate_file's is "),
        "our thumbprint is shown: {}",
        run.stderr
    );
}

#[test]
fn a_key_that_does_not_match_the_certificate_stops_before_any_request() {
    let sb = sandbox();
    let sb = sb.exclusive();
    let scratch = Scratch::new("cert-mismatch");
    let (cert, _) = fixture(&sb);
    let (_, other_key) = unregistered(&scratch);
    let conf = certificate_config(&sb, &scratch, &cert, &other_key, "");
    let run = sendmail(&["-C", s(&conf), "a@example.com"], b"Subject: x\n\nx\n");
    run.expect(78);
    assert!(run.stderr.contains("does not belong"), "{}", run.stderr);
    assert_eq!(sb.token_requests(), 0);
}

#[test]
fn a_world_readable_private_key_is_refused_with_the_fix() {
    let sb = sandbox();
    let sb = sb.exclusive();
    let scratch = Scratch::new("cert-mode");
    let (cert, key) = unregistered(&scratch);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let conf = certificate_config(&sb, &scratch, &cert, &key, "");
    let run = sendmail(&["-C", s(&conf), "a@example.com"], b"Subject: x\n\nx\n");
    run.expect(78);
    assert!(
        run.stderr
            .contains("holds a secret and is readable by every user"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("chmod 0640 {}", key.display())),
        "{}",
        run.stderr
    );
    assert_eq!(sb.token_requests(), 0);
}

#[test]
fn an_encrypted_private_key_is_refused_by_sending_and_by_check_without_a_prompt() {
    use openssl::pkey::PKey;
    use openssl::symm::Cipher;
    use std::process::{Command, Stdio};
    let sb = sandbox();
    let sb = sb.exclusive();
    let scratch = Scratch::new("cert-encrypted");
    let (cert, key) = unregistered(&scratch);
    let plain = PKey::private_key_from_pem(&std::fs::read(&key).unwrap()).unwrap();
    let encrypted = plain
        .private_key_to_pem_pkcs8_passphrase(Cipher::aes_128_cbc(), b"passphrase")
        .unwrap();
    std::fs::write(&key, encrypted).unwrap();
    let conf = certificate_config(&sb, &scratch, &cert, &key, "");

    let run = sendmail(&["-C", s(&conf), "a@example.com"], b"Subject: x\n\nx\n");
    run.expect(78);
    assert!(run.stderr.contains("is encrypted"), "{}", run.stderr);

    // --check on a terminal, where OpenSSL's default would ask for the
    // passphrase and wait; `timeout` only ends a check that waits forever.
    let command = format!("{} --check -C {}", common::BIN, s(&conf));
    let out = Command::new("timeout")
        .args(["60", "script", "-qec", &command, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("timeout and script (util-linux) are installed");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(124), "--check waited: {text}");
    assert!(!text.to_lowercase().contains("pass phrase"), "{text}");
    assert!(text.contains("is encrypted"), "{text}");
    assert_eq!(sb.token_requests(), 0);
}
