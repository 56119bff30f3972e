//! Certificate facts as `--check` shows them: names and expiry.

use crate::clock;

/// Unix seconds of an ASN.1 time.
pub fn unix_seconds(time: &openssl::asn1::Asn1TimeRef) -> Option<i64> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_reads_well() {
        assert_eq!(
            (days(1), days(-1), days(30)),
            ("1 day".into(), "-1 day".into(), "30 days".into())
        );
        let end = openssl::asn1::Asn1Time::from_unix(86_400 * 10).unwrap();
        assert_eq!(unix_seconds(&end), Some(864_000));
        assert_eq!(
            expiry(&end, 86_400 * 7),
            ("1970-01-11 00:00:00 UTC".to_string(), 3)
        );
    }
}
