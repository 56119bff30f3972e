//! When the credential stops working: `client_secret_expires` for a
//! secret (Entra shows it; the token does not), the certificate's own
//! notAfter for a certificate. [`stage`] is the rule `--check`, syslog and
//! the metrics share: a warning from [`WARNING_DAYS`] days before, a
//! failure after.

use std::path::Path;

use crate::config::{Config, Credential};

/// Days before expiry from which the credential earns a warning.
pub const WARNING_DAYS: u64 = 30;

/// The credential's end of validity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expiry {
    /// Unix seconds.
    pub at: u64,
    /// `secret` or `certificate` (the metric's `credential` label).
    pub kind: &'static str,
    /// What the administrator changes: the key, or the certificate file.
    pub source: String,
}

/// How close the end is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// More than [`WARNING_DAYS`] days left.
    Fine,
    /// This many whole days left (0 = less than a day).
    Soon(u64),
    /// Past.
    Expired,
}

/// The rule.
pub fn stage(at: u64, now: u64) -> Stage {
    if now > at {
        Stage::Expired
    } else if at - now <= WARNING_DAYS * 86_400 {
        Stage::Soon((at - now) / 86_400)
    } else {
        Stage::Fine
    }
}

/// The configured credential's expiry, if known.
pub fn of(config: &Config) -> Option<Expiry> {
    // Written without a match over every kind, so credential kinds added
    // later (federated, managed identity) simply have no known expiry.
    if let Credential::Certificate {
        certificate_file, ..
    } = &config.credential
    {
        return certificate_not_after(certificate_file).map(|at| Expiry {
            at,
            kind: "certificate",
            source: certificate_file.display().to_string(),
        });
    }
    let secret = matches!(
        config.credential,
        Credential::Secret(_) | Credential::SecretFile(_)
    );
    config
        .client_secret_expires
        .filter(|_| secret)
        .map(|at| Expiry {
            at,
            kind: "secret",
            source: "client_secret_expires".into(),
        })
}

/// A certificate file's notAfter (Unix seconds).
fn certificate_not_after(path: &Path) -> Option<u64> {
    let pem = std::fs::read(path).ok()?;
    let cert = openssl::x509::X509::from_pem(&pem).ok()?;
    let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
    let diff = epoch.diff(cert.not_after()).ok()?;
    u64::try_from(i64::from(diff.days) * 86_400 + i64::from(diff.secs)).ok()
}

/// The sentence for a warning or failure, `None` while it is fine.
pub fn describe(expiry: &Expiry, now: u64) -> Option<String> {
    let date = crate::clock::utc_timestamp(expiry.at);
    let what = match expiry.kind {
        "secret" => "the client secret".to_string(),
        _ => format!("the certificate {}", expiry.source),
    };
    let renew = match expiry.kind {
        "secret" => {
            "add a new secret to the app registration in Entra, put it in the configuration and set client_secret_expires to its new date"
        }
        _ => {
            "upload a new certificate to the app registration in Entra and point certificate_file and private_key_file at it"
        }
    };
    match stage(expiry.at, now) {
        Stage::Fine => None,
        Stage::Soon(days) => Some(format!(
            "{what} expires on {date} (in {days} days, {}): {renew}",
            if expiry.kind == "secret" {
                "client_secret_expires"
            } else {
                "notAfter"
            }
        )),
        Stage::Expired => Some(format!(
            "{what} expired on {date} ({}): {renew}",
            if expiry.kind == "secret" {
                "client_secret_expires"
            } else {
                "notAfter"
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages() {
        let day = 86_400;
        for (at, now, want) in [
            (100 * day, 60 * day, Stage::Fine),
            (100 * day, 70 * day, Stage::Soon(30)),
            (100 * day, 99 * day + 1, Stage::Soon(0)),
            (100 * day, 100 * day, Stage::Soon(0)),
            (100 * day, 100 * day + 1, Stage::Expired),
        ] {
            assert_eq!(stage(at, now), want, "{at} {now}");
        }
    }

    #[test]
    fn the_sentence_names_the_key() {
        let e = Expiry {
            at: 1_814_399_999,
            kind: "secret",
            source: "client_secret_expires".into(),
        };
        assert_eq!(describe(&e, 0), None);
        let soon = describe(&e, e.at - 3 * 86_400).unwrap();
        assert!(
            soon.contains("in 3 days") && soon.contains("client_secret_expires"),
            "{soon}"
        );
        let past = describe(&e, e.at + 1).unwrap();
        assert!(past.contains("expired on 2027-06-30"), "{past}");
    }
}
