//! `metrics_file` and credential expiry through the real binary: the
//! counters add up across processes, the file is always whole (replaced
//! atomically), and `client_secret_expires` warns in `--check`, once a
//! day in syslog, and in the metrics.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use crate::common::fake_smtp::FakeSmtp;
use crate::common::queue::{Setup, Target, good};
use crate::common::sandbox::sandbox;
use crate::common::{s, sendmail};
use crate::fleet::with_top_level;

/// `date -u -d "DAYS days" +%F`.
fn date_in(days: i64) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("{days} days"), "+%F"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Unix time of the end of the UTC day `date`.
fn end_of(date: &str) -> u64 {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("{date} 23:59:59"), "+%s"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn metrics_path(setup: &Setup) -> PathBuf {
    let dir = setup.scratch.join("textfile");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("oauth2-sendmail.prom")
}

/// The value of the sample line that starts with `series`.
fn sample(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn send(conf: &Path, subject: &str) -> crate::common::Run {
    sendmail(
        &["-C", s(conf), "-i", "m@example.com"],
        format!("Subject: {subject}\n\nx\n").as_bytes(),
    )
}

#[test]
fn the_metrics_file_counts_every_outcome_with_the_design_names() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("metrics");
    let metrics = metrics_path(&setup);
    let fake = FakeSmtp::start(good());
    let top = format!("metrics_file = \"{}\"", metrics.display());
    let conf = setup.config("good.conf", Target::Fake(fake.port), "rate_limit = 0\n");
    with_top_level(&conf, &top);
    let down = setup.config("down.conf", Target::Closed, "rate_limit = 0\n");
    with_top_level(&down, &top);
    send(&conf, "one").expect(0);
    send(&conf, "two").expect(0);
    send(&down, "three").expect(0);
    let text = std::fs::read_to_string(&metrics).unwrap();
    let a = "{account=\"default\"";
    assert_eq!(
        sample(
            &text,
            &format!("oauth2_sendmail_messages_total{a},outcome=\"delivered\",cause=\"none\"}}")
        ),
        Some(2),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("oauth2_sendmail_messages_total{a},outcome=\"queued\",cause=\"temporary\"}}")
        ),
        Some(1),
        "{text}"
    );
    assert_eq!(
        sample(&text, &format!("oauth2_sendmail_queue_messages{a}}}")),
        Some(1)
    );
    assert!(sample(&text, &format!("oauth2_sendmail_queue_oldest_seconds{a}}}")).is_some());
    assert!(
        sample(
            &text,
            &format!("oauth2_sendmail_last_success_timestamp_seconds{a}}}")
        )
        .is_some()
    );
    assert!(
        sample(
            &text,
            &format!("oauth2_sendmail_token_expiry_timestamp_seconds{a}}}")
        )
        .is_some()
    );
    assert_eq!(
        sample(&text, &format!("oauth2_sendmail_recipients_today{a}}}")),
        Some(3)
    );
    assert!(text.contains("# TYPE oauth2_sendmail_messages_total counter"));
    // Readable by node_exporter, whoever wrote it.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&metrics).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644);
    // A queue run rewrites it: the message went, the queue is empty.
    crate::common::queue::flush(&conf);
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(
        sample(
            &text,
            &format!("oauth2_sendmail_messages_total{a},outcome=\"delivered\",cause=\"none\"}}")
        ),
        Some(3),
        "{text}"
    );
    assert_eq!(
        sample(&text, &format!("oauth2_sendmail_queue_messages{a}}}")),
        Some(0)
    );
}

#[test]
fn many_processes_add_up_and_a_reader_never_sees_half_a_file() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("metrics-many");
    let metrics = metrics_path(&setup);
    let fake = FakeSmtp::start(good());
    let conf = setup.config(
        "c.conf",
        Target::Fake(fake.port),
        "rate_limit = 0\n[limits]\nconnections = 0\n",
    );
    with_top_level(&conf, &format!("metrics_file = \"{}\"", metrics.display()));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (done, metrics) = (Arc::clone(&done), metrics.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !done.load(Ordering::SeqCst) {
                if let Ok(text) = std::fs::read_to_string(&metrics) {
                    reads += 1;
                    let last = text.lines().last().unwrap_or("");
                    assert!(
                        last.starts_with("oauth2_sendmail_recipients_today{")
                            && text.ends_with('\n'),
                        "a partial file: {text:?}"
                    );
                }
            }
            reads
        })
    };
    let senders: Vec<_> = (0..16)
        .map(|i| {
            let conf = conf.clone();
            std::thread::spawn(move || send(&conf, &format!("n{i}")).code)
        })
        .collect();
    for sender in senders {
        assert_eq!(sender.join().unwrap(), 0);
    }
    done.store(true, Ordering::SeqCst);
    let reads = reader.join().unwrap();
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(
        sample(
            &text,
            "oauth2_sendmail_messages_total{account=\"default\",outcome=\"delivered\",cause=\"none\"}"
        ),
        Some(16),
        "{text}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(metrics.parent().unwrap())
        .unwrap()
        .flatten()
        .filter(|e| e.path() != metrics)
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    eprintln!("the reader read the metrics file {reads} times while 16 processes wrote it");
}

fn expiring_config(setup: &Setup, name: &str, date: &str, fake: &FakeSmtp) -> PathBuf {
    let metrics = metrics_path(setup);
    let conf = setup.config(name, Target::Fake(fake.port), "");
    with_top_level(
        &conf,
        &format!(
            "client_secret_expires = \"{date}\"\nmetrics_file = \"{}\"",
            metrics.display()
        ),
    );
    conf
}

fn check_json(conf: &Path) -> (i32, Value) {
    let run = sendmail(&["--check", "--json", "-C", s(conf)], b"");
    (run.code, serde_json::from_str(&run.stdout).unwrap())
}

fn step<'a>(json: &'a Value, id: &str) -> &'a Value {
    json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id}: {json:#}"))
}

#[test]
fn a_secret_near_its_end_warns_in_check_once_a_day_in_syslog_and_in_the_metrics() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("expiry-soon");
    let fake = FakeSmtp::start(good());
    let date = date_in(10);
    let conf = expiring_config(&setup, "c.conf", &date, &fake);
    let (code, json) = check_json(&conf);
    assert_eq!(code, 0, "{json:#}");
    let expiry = step(&json, "credential.expiry");
    assert_eq!(expiry["verdict"], "warn", "{json:#}");
    assert!(
        expiry["summary"].as_str().unwrap().contains(&date),
        "{expiry:#}"
    );
    send(&conf, "a").expect(0);
    send(&conf, "b").expect(0);
    let warnings: Vec<String> = setup
        .syslog
        .lines()
        .into_iter()
        .filter(|l| l.contains("cause=credential-expiry"))
        .collect();
    assert_eq!(warnings.len(), 1, "one a day: {warnings:?}");
    assert!(warnings[0].contains("client_secret_expires") && warnings[0].contains(&date));
    let text = std::fs::read_to_string(metrics_path(&setup)).unwrap();
    assert_eq!(
        sample(
            &text,
            "oauth2_sendmail_credential_expiry_timestamp_seconds{account=\"default\",credential=\"secret\"}"
        ),
        Some(end_of(&date)),
        "{text}"
    );
}

#[test]
fn an_expired_secret_fails_the_check_and_a_distant_one_passes() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("expiry-past");
    let fake = FakeSmtp::start(good());
    let past = expiring_config(&setup, "past.conf", &date_in(-2), &fake);
    let (code, json) = check_json(&past);
    assert_eq!(code, 78, "{json:#}");
    let expiry = step(&json, "credential.expiry");
    assert_eq!(expiry["verdict"], "fail");
    assert_eq!(expiry["cause"], "secret-expired");
    let far = expiring_config(&setup, "far.conf", &date_in(200), &fake);
    let (code, json) = check_json(&far);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(step(&json, "credential.expiry")["verdict"], "pass");
    send(&far, "quiet").expect(0);
    let log = setup.syslog.lines().join("\n");
    assert!(!log.contains("credential-expiry"), "{log}");
}

#[test]
fn a_certificate_near_its_end_warns_in_syslog_and_the_metrics_carry_its_date() {
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::{X509Builder, X509NameBuilder};
    use std::os::unix::fs::PermissionsExt;
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("expiry-cert");
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "expiring").unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    let not_after = Asn1Time::days_from_now(10).unwrap();
    b.set_not_after(&not_after).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = b.build();
    let epoch = Asn1Time::from_unix(0).unwrap();
    let diff = epoch.diff(cert.not_after()).unwrap();
    let end = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
    let (cert_path, key_path) = (setup.scratch.join("c.crt"), setup.scratch.join("c.key"));
    std::fs::write(&cert_path, cert.to_pem().unwrap()).unwrap();
    std::fs::write(&key_path, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let fake = FakeSmtp::start(good());
    let conf = setup.config("c.conf", Target::Fake(fake.port), "");
    let text = std::fs::read_to_string(&conf).unwrap();
    let secret_line = text
        .lines()
        .find(|l| l.starts_with("client_secret = "))
        .unwrap();
    let text = text.replace(
        secret_line,
        &format!(
            "certificate_file = \"{}\"\nprivate_key_file = \"{}\"",
            cert_path.display(),
            key_path.display()
        ),
    );
    crate::common::write_private(&conf, &text);
    let metrics = metrics_path(&setup);
    with_top_level(&conf, &format!("metrics_file = \"{}\"", metrics.display()));
    // The sandbox does not know this certificate: the send fails or is
    // queued; the warning and the metric do not depend on it.
    let _ = send(&conf, "cert");
    let log = setup.syslog.lines().join("\n");
    assert!(
        log.contains("cause=credential-expiry") && log.contains("c.crt"),
        "{log}"
    );
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(
        sample(
            &text,
            "oauth2_sendmail_credential_expiry_timestamp_seconds{account=\"default\",credential=\"certificate\"}"
        ),
        Some(end as u64),
        "{text}"
    );
}
