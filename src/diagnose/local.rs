//! `--check` steps that need no network: the configuration file, file
//! permissions, the credential (a secret, or a certificate and its key,
//! read with OpenSSL), and whether the token cache and queue directories
//! can be written.
//!
//! Directory checks create and remove a probe file rather than reading
//! mode bits, so the answer is true for the user running the check (root
//! passes any mode check, which is why a root-only directory earns a
//! warning: the mail of www-data and cron runs with the group's rights).

use std::fs::{self, OpenOptions};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::x509::X509;

use super::report::Step;
use crate::clock;
use crate::config::{self, Config, Credential, QueueConfig, TlsMode};
use crate::error::{Error, Kind, io_reason};

/// Reads and validates the configuration file.
pub fn configuration(path: &Path) -> (Step, Option<Config>) {
    match config::load(path) {
        Ok(config) => {
            let tls = match config.smtp.tls {
                TlsMode::StartTls => "STARTTLS",
                TlsMode::Implicit => "implicit TLS",
                TlsMode::None => "no TLS",
            };
            let step = Step::pass(
                "config",
                "configuration",
                format!("{}: read, every key valid", path.display()),
            )
            .detail(format!(
                "tenant {}, client_id {}",
                config.tenant, config.client_id
            ))
            .detail(format!("user {}, from {}", config.user, config.from))
            .detail(format!(
                "SMTP {}:{} ({tls}); token endpoint {}",
                config.smtp.host, config.smtp.port, config.token.url
            ));
            (step, Some(config))
        }
        Err(e) if e.cause() == Some("config-invalid") => {
            let e = e.with_hint(
                "correct the key named above; sendmail.conf(5) and sendmail.conf.example document every key",
            );
            (Step::fail("config", "configuration", &e), None)
        }
        Err(e) => (Step::fail("config", "configuration", &e), None),
    }
}

/// A file's mode and owner, as `0640 root:oauth2-sendmail`.
fn describe_mode(meta: &fs::Metadata) -> String {
    format!(
        "{:04o} {}:{}",
        meta.permissions().mode() & 0o7777,
        name_of(Path::new("/etc/passwd"), meta.uid()),
        name_of(Path::new("/etc/group"), meta.gid())
    )
}

/// The name for a numeric id in a passwd or group file, or the number.
fn name_of(file: &Path, id: u32) -> String {
    let text = fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .find_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let number: u32 = fields.nth(1)?.parse().ok()?;
            (number == id).then(|| name.to_string())
        })
        .unwrap_or_else(|| id.to_string())
}

/// Files that hold secrets, or steer where they go, must not be open to
/// every local user: a readable secret is stolen, a writable
/// configuration redirects the token request to another server.
pub fn permissions(config: &Config) -> Step {
    let mut findings: Vec<String> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut note = |label: &str, path: &Path, holds_secret: bool| {
        let Ok(meta) = fs::metadata(path) else {
            return;
        };
        let mode = meta.permissions().mode();
        findings.push(format!(
            "{label} {}: {}",
            path.display(),
            describe_mode(&meta)
        ));
        if mode & 0o002 != 0 {
            problems.push(format!(
                "{} is writable by every local user",
                path.display()
            ));
        } else if holds_secret && mode & 0o004 != 0 {
            problems.push(format!(
                "{} holds a secret and is readable by every local user",
                path.display()
            ));
        }
    };
    let inline_secret = matches!(config.credential, Credential::Secret(_));
    note("configuration", &config.path, inline_secret);
    match &config.credential {
        Credential::Secret(_) => {}
        Credential::SecretFile(path) => note("secret", path, true),
        Credential::Certificate {
            certificate_file,
            private_key_file,
        } => {
            note("certificate", certificate_file, false);
            note("private key", private_key_file, true);
        }
    }
    let mut step = if problems.is_empty() {
        Step::pass(
            "permissions",
            "file permissions",
            "no secret is readable, and no file writable, by every local user",
        )
    } else {
        Step::fail(
            "permissions",
            "file permissions",
            &Error::config(problems.join("; "))
                .with_hint("chown root:oauth2-sendmail FILE; chmod 0640 FILE (a secret anyone could read must also be replaced: create a new one and delete the old)")
                .with_cause("secret-exposed"),
        )
    };
    for line in findings {
        step = step.detail(line);
    }
    step
}

/// Whether `text` is a GUID: what the portal's "Secret ID" column shows,
/// pasted by mistake instead of the secret's Value.
fn looks_like_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The credential: present, plausible, and for a certificate: valid now,
/// matching its key, with the thumbprint the portal shows.
pub fn credential(config: &Config) -> Step {
    const ID: &str = "credential";
    const TITLE: &str = "credential";
    let origin = match &config.credential {
        Credential::Certificate {
            certificate_file,
            private_key_file,
        } => return certificate(certificate_file, private_key_file, clock::now()),
        Credential::Secret(_) => "client_secret (inline)".to_string(),
        Credential::SecretFile(path) => format!("client_secret_file {}", path.display()),
    };
    let secret = match config.client_secret() {
        Ok(secret) => secret,
        Err(e) => return Step::fail(ID, TITLE, &e),
    };
    let value = secret.expose().trim();
    if looks_like_guid(value) {
        return Step::fail(
            ID,
            TITLE,
            &Error::config(format!(
                "{origin} holds a GUID: that is the secret's ID, not its Value"
            ))
            .with_hint("in Entra admin center > App registrations > your app > Certificates & secrets, copy the Value column (shown only when the secret is created; if it is hidden, create a new secret)")
            .with_cause("secret-is-id"),
        );
    }
    if value.len() != secret.expose().len() || value.contains(char::is_whitespace) {
        return Step::warn(
            ID,
            TITLE,
            format!("{origin}: the secret contains white space"),
            "Entra secrets contain no spaces: check that only the Value was pasted, on one line",
        )
        .cause("secret-whitespace");
    }
    Step::pass(ID, TITLE, format!("client secret in {origin}"))
}

/// Hex, upper case, no colons: how the portal shows thumbprints.
fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Unix seconds of an ASN.1 time.
fn unix_seconds(time: &openssl::asn1::Asn1TimeRef) -> Option<i64> {
    let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
    let diff = epoch.diff(time).ok()?;
    Some(i64::from(diff.days) * 86_400 + i64::from(diff.secs))
}

/// A certificate's subject as `CN=…, O=…`.
pub fn x509_name(name: &openssl::x509::X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let value = e.data().to_string().unwrap_or_else(|_| "?".to_string());
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `1 day`, `5 days`.
pub fn days(n: i64) -> String {
    if n.abs() == 1 {
        format!("{n} day")
    } else {
        format!("{n} days")
    }
}

/// When a certificate stops being valid, for display: date and days left.
pub fn expiry(not_after: &openssl::asn1::Asn1TimeRef, now: u64) -> (String, i64) {
    match unix_seconds(not_after) {
        Some(end) => {
            let days = (end - now as i64).div_euclid(86_400);
            (clock::utc_timestamp(end.max(0) as u64), days)
        }
        None => (not_after.to_string(), 0),
    }
}

/// Days before expiry from which a certificate earns a warning.
const EXPIRY_WARNING_DAYS: i64 = 30;

/// The certificate credential, checked as of `now`.
fn certificate(certificate_file: &Path, private_key_file: &Path, now: u64) -> Step {
    const ID: &str = "credential";
    const TITLE: &str = "credential";
    let fail = |message: String, cause: &'static str, hint: &str| {
        Step::fail(
            ID,
            TITLE,
            &Error::config(message).with_hint(hint).with_cause(cause),
        )
    };
    let pem = match fs::read(certificate_file) {
        Ok(pem) => pem,
        Err(e) => {
            return fail(
                format!(
                    "cannot read certificate_file {}: {}",
                    certificate_file.display(),
                    io_reason(&e)
                ),
                "certificate-unreadable",
                "certificate_file must be readable by root and the oauth2-sendmail group (chmod 0640)",
            );
        }
    };
    let Ok(cert) = X509::from_pem(&pem) else {
        return fail(
            format!(
                "certificate_file {} holds no PEM certificate",
                certificate_file.display()
            ),
            "certificate-invalid",
            "certificate_file must be the PEM certificate (-----BEGIN CERTIFICATE-----) uploaded to the application",
        );
    };
    let key = fs::read(private_key_file)
        .map_err(|e| io_reason(&e))
        .and_then(|pem| {
            PKey::private_key_from_pem(&pem)
                .map_err(|_| "not an unencrypted PEM private key".to_string())
        });
    let key = match key {
        Ok(key) => key,
        Err(reason) => {
            return fail(
                format!("private_key_file {}: {reason}", private_key_file.display()),
                "private-key-unreadable",
                "private_key_file must be the certificate's private key, PEM, without a passphrase, readable by root and the oauth2-sendmail group (chmod 0640)",
            );
        }
    };
    if !cert.public_key().is_ok_and(|public| public.public_eq(&key)) {
        return fail(
            format!(
                "private_key_file {} does not belong to certificate_file {}",
                private_key_file.display(),
                certificate_file.display()
            ),
            "private-key-mismatch",
            "point private_key_file at the key the certificate was made from",
        );
    }
    let sha1 = cert
        .digest(MessageDigest::sha1())
        .map(|d| hex_upper(&d))
        .unwrap_or_default();
    let subject = x509_name(cert.subject_name());
    let (until, days) = expiry(cert.not_after(), now);
    let not_yet = unix_seconds(cert.not_before()).is_some_and(|start| start > now as i64);
    let details = [
        format!("subject {subject}"),
        format!("thumbprint (SHA-1, as the portal shows it) {sha1}"),
        format!("valid until {until} ({})", self::days(days)),
    ];
    let upload = "create a new certificate, upload it under Entra admin center > App registrations > your app > Certificates & secrets > Certificates, and point certificate_file and private_key_file at it";
    let mut step = if days < 0 {
        fail(
            format!(
                "certificate {} expired on {until}",
                certificate_file.display()
            ),
            "certificate-expired",
            upload,
        )
    } else if not_yet {
        fail(
            format!(
                "certificate {} is not valid yet",
                certificate_file.display()
            ),
            "certificate-not-yet-valid",
            "check this machine's clock (timedatectl), or use a certificate that is valid now",
        )
    } else if days < EXPIRY_WARNING_DAYS {
        Step::warn(
            ID,
            TITLE,
            format!(
                "certificate {} expires in {}",
                certificate_file.display(),
                self::days(days)
            ),
            upload,
        )
        .cause("certificate-expiring")
    } else {
        Step::pass(
            ID,
            TITLE,
            format!(
                "certificate {} with its private key",
                certificate_file.display()
            ),
        )
    };
    for line in details {
        step = step.detail(line);
    }
    step
}

/// The effective user ID of this process (0: root), from /proc.
fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Whether this process can create files in `dir`: by trying.
fn probe_writable(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".oauth2-sendmail-check.{}", std::process::id()));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    fs::remove_file(&probe)
}

/// A directory the program must write to (token cache, queue).
fn writable_dir(
    id: &'static str,
    title: &'static str,
    key: &str,
    dir: &Path,
    cause: &'static str,
) -> Step {
    let hint = format!(
        "{key} must be writable by root and the oauth2-sendmail group: install -d -m 2770 -o root -g oauth2-sendmail {}",
        dir.display()
    );
    let fail = |message: String| {
        Step::fail(
            id,
            title,
            &Error::new(Kind::CantCreate, message)
                .with_hint(hint.clone())
                .with_cause(cause),
        )
    };
    let meta = match fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Step::warn(
                id,
                title,
                format!("{} does not exist yet; the first send creates it, owned by whoever sends first", dir.display()),
                hint.clone(),
            )
            .cause(cause);
        }
        Err(e) => return fail(format!("{key} {}: {}", dir.display(), io_reason(&e))),
    };
    if !meta.is_dir() {
        return fail(format!("{key} {} is not a directory", dir.display()));
    }
    if let Err(e) = probe_writable(dir) {
        return fail(format!(
            "{key} {} is not writable: {}",
            dir.display(),
            io_reason(&e)
        ));
    }
    let mode = meta.permissions().mode();
    let shared = mode & 0o020 != 0;
    let step = if effective_uid() == Some(0) && !shared {
        Step::warn(
            id,
            title,
            format!(
                "{} is writable by root, but not by the oauth2-sendmail group that local users' mail runs with",
                dir.display()
            ),
            hint.clone(),
        )
        .cause(cause)
    } else {
        Step::pass(id, title, format!("{} writable", dir.display()))
    };
    step.detail(describe_mode(&meta))
}

/// The token cache directory, and what it holds.
pub fn cache(config: &Config, cached_until: Option<u64>) -> Step {
    let dir = &config.token.cache_dir;
    let step = writable_dir(
        "cache",
        "token cache",
        "token.cache_dir",
        dir,
        "cache-unwritable",
    );
    let now = clock::now();
    match cached_until {
        Some(until) if until > now => step.detail(format!(
            "cached token valid until {} ({} s)",
            clock::utc_timestamp(until),
            until - now
        )),
        _ => step.detail("no valid cached token"),
    }
}

/// The queue directory and its size.
pub fn queue(config: &Config) -> Step {
    let Some(queue) = &config.queue else {
        return Step::pass(
            "queue",
            "queue",
            "no queue configured: a temporary failure exits 75 and the caller must retry",
        );
    };
    let step = writable_dir(
        "queue",
        "queue",
        "queue.dir",
        &queue.dir,
        "queue-unwritable",
    );
    match queued_messages(queue) {
        Some(count) => step.detail(format!("{count} messages queued")),
        None => step,
    }
}

/// How many messages wait in the queue.
///
/// Hook for the spool (`src/spool.rs`, built in parallel): return its count
/// of queued (not failed) messages here, e.g. `spool::list(&queue.dir)`.
/// Until then the queue's size is not shown.
fn queued_messages(_queue: &QueueConfig) -> Option<usize> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::report::Verdict;
    use openssl::asn1::Asn1Time;
    use openssl::bn::{BigNum, MsbOption};
    use openssl::rsa::Rsa;
    use openssl::x509::{X509Builder, X509NameBuilder};

    struct Dir(std::path::PathBuf);

    impl Dir {
        fn new(name: &str) -> Dir {
            let path = std::env::temp_dir().join(format!("o2s-diag-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            Dir(path)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// A self-signed certificate valid from `from` to `to` days from now, and its key.
    fn certificate_pair(from: i64, to: i64) -> (Vec<u8>, Vec<u8>) {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "oauth2-sendmail test")
            .unwrap();
        let name = name.build();
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        let mut serial = BigNum::new().unwrap();
        serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
        b.set_serial_number(&serial.to_asn1_integer().unwrap())
            .unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        let at = |days: i64| Asn1Time::from_unix(clock::now() as i64 + days * 86_400).unwrap();
        b.set_not_before(&at(from)).unwrap();
        b.set_not_after(&at(to)).unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        (
            b.build().to_pem().unwrap(),
            key.private_key_to_pem_pkcs8().unwrap(),
        )
    }

    #[test]
    fn certificates_by_validity() {
        let dir = Dir::new("certs");
        let (_, other_key) = certificate_pair(-1, 10);
        // (valid from, valid to (days from now), matching key, verdict, cause, summary fragment)
        let table = [
            (-10, 365, true, Verdict::Pass, None, "with its private key"),
            (
                -10,
                10,
                true,
                Verdict::Warn,
                Some("certificate-expiring"),
                "expires in",
            ),
            (
                -400,
                -5,
                true,
                Verdict::Fail,
                Some("certificate-expired"),
                "expired on",
            ),
            (
                3,
                365,
                true,
                Verdict::Fail,
                Some("certificate-not-yet-valid"),
                "not valid yet",
            ),
            (
                -10,
                365,
                false,
                Verdict::Fail,
                Some("private-key-mismatch"),
                "does not belong",
            ),
        ];
        for (i, (from, to, matching, verdict, cause, summary)) in table.into_iter().enumerate() {
            let (cert, key) = certificate_pair(from, to);
            let cert_file = dir.0.join(format!("{i}.crt"));
            let key_file = dir.0.join(format!("{i}.key"));
            fs::write(&cert_file, &cert).unwrap();
            fs::write(&key_file, if matching { &key } else { &other_key }).unwrap();
            let step = certificate(&cert_file, &key_file, clock::now());
            assert_eq!(step.verdict, verdict, "{i}: {step:?}");
            assert_eq!(step.cause, cause, "{i}");
            assert!(step.summary.contains(summary), "{i}: {}", step.summary);
            if verdict != Verdict::Fail || cause == Some("certificate-expired") {
                let sha1 = hex_upper(
                    &X509::from_pem(&cert)
                        .unwrap()
                        .digest(MessageDigest::sha1())
                        .unwrap(),
                );
                assert!(
                    step.details.iter().any(|d| d.ends_with(&sha1)),
                    "{i}: thumbprint shown: {:?}",
                    step.details
                );
            }
        }
        let missing = certificate(&dir.0.join("none.crt"), &dir.0.join("none.key"), 0);
        assert_eq!(missing.cause, Some("certificate-unreadable"));
        fs::write(dir.0.join("junk.crt"), "junk").unwrap();
        let junk = certificate(&dir.0.join("junk.crt"), &dir.0.join("none.key"), 0);
        assert_eq!(junk.cause, Some("certificate-invalid"));
        let (cert, _) = certificate_pair(-1, 100);
        fs::write(dir.0.join("ok.crt"), cert).unwrap();
        fs::write(
            dir.0.join("enc.key"),
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nxx\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap();
        let encrypted = certificate(&dir.0.join("ok.crt"), &dir.0.join("enc.key"), clock::now());
        assert_eq!(encrypted.cause, Some("private-key-unreadable"));
        assert!(encrypted.hint.unwrap().contains("without a passphrase"));
    }

    #[test]
    fn directories() {
        let dir = Dir::new("dirs");
        let file = dir.0.join("file");
        fs::write(&file, "x").unwrap();
        let step = writable_dir(
            "cache",
            "token cache",
            "token.cache_dir",
            &file,
            "cache-unwritable",
        );
        assert_eq!(step.verdict, Verdict::Fail);
        assert_eq!(step.kind.map(Kind::exit_code), Some(73));
        assert!(step.summary.contains("not a directory"), "{}", step.summary);
        let missing = writable_dir("cache", "t", "token.cache_dir", &dir.0.join("new"), "c");
        assert_eq!(missing.verdict, Verdict::Warn);
        let shared = dir.0.join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o2770)).unwrap();
        let ok = writable_dir("cache", "t", "token.cache_dir", &shared, "c");
        assert_eq!(ok.verdict, Verdict::Pass, "{ok:?}");
        assert!(ok.details[0].starts_with("2770 "), "{:?}", ok.details);
        assert_eq!(
            fs::read_dir(&shared).unwrap().count(),
            0,
            "the probe is removed"
        );
    }

    #[test]
    fn guids_and_names() {
        assert!(looks_like_guid("0a4f3c2e-7b1d-4e8f-9a6c-5d2b1e0f3a47"));
        assert!(!looks_like_guid(
            "0yK8Q~X0blCyJs+9FpVMk4/YF2PLt=utHgF.1Bydn3"
        ));
        assert_eq!(name_of(Path::new("/etc/passwd"), 0), "root");
        assert_eq!(name_of(Path::new("/nonexistent"), 4242), "4242");
        assert_eq!(hex_upper(&[0xab, 0x01]), "AB01");
    }
}
