//! The keys that make the program a good citizen of a fleet (sendmail.conf(5)): `delivery`, `metrics_file`, `client_secret_expires` and
//! `[limits]`. Pure: the raw values in, validated values (or the place
//! and problem of a bad one) out.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::{DeliveryMode, LimitsConfig};

type S<T> = Option<Spanned<T>>;

/// A bad value: where it starts in the file, its key, and what is wrong
/// (`parse` turns it into the error naming file, line and key).
pub(super) type Located = (usize, &'static str, String);

/// `[limits]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    connections: S<i64>,
    rate: S<i64>,
    recipients_per_day: S<i64>,
}

fn at<T>(value: &Spanned<T>, key: &'static str, problem: impl Into<String>) -> Located {
    (value.span().start, key, problem.into())
}

/// A string value, trimmed; empty or with control characters is refused.
fn text(raw: &S<String>, key: &'static str) -> Result<Option<String>, Located> {
    match raw {
        None => Ok(None),
        Some(v) if v.get_ref().trim().is_empty() => Err(at(v, key, "must not be empty")),
        Some(v) if v.get_ref().chars().any(char::is_control) => {
            Err(at(v, key, "must not contain control characters"))
        }
        Some(v) => Ok(Some(v.get_ref().trim().to_string())),
    }
}

/// `delivery = "foreground" | "background" | "queue"`.
pub(super) fn delivery(raw: &S<String>) -> Result<DeliveryMode, Located> {
    let Some(value) = raw else {
        return Ok(DeliveryMode::Foreground);
    };
    DeliveryMode::from_name(value.get_ref())
        .ok_or_else(|| at(value, "delivery", "must be foreground, background or queue"))
}

/// `metrics_file`: "" (or absent) is none.
pub(super) fn metrics_file(raw: &S<String>) -> Result<Option<PathBuf>, Located> {
    match raw {
        None => Ok(None),
        Some(p) if p.get_ref().trim().is_empty() => Ok(None),
        Some(p) => {
            let path = PathBuf::from(text(raw, "metrics_file")?.unwrap_or_default());
            if !path.is_absolute() || path.file_name().is_none() {
                return Err(at(p, "metrics_file", "must be an absolute file path"));
            }
            Ok(Some(path))
        }
    }
}

/// `client_secret_expires = "YYYY-MM-DD"`: the Unix time of the end of that
/// day (UTC), when Entra stops accepting the secret.
pub(super) fn secret_expires(raw: &S<String>) -> Result<Option<u64>, Located> {
    let Some(value) = text(raw, "client_secret_expires")? else {
        return Ok(None);
    };
    match parse_date(&value) {
        Some(day_start) => Ok(Some(day_start + 86_399)),
        None => Err(at(
            raw.as_ref().expect("a value was read"),
            "client_secret_expires",
            "must be a date like 2027-06-30 (the Expires column in Entra)",
        )),
    }
}

/// `[limits]`; `rate_limit` is `queue.rate_limit`, the old name of `rate`.
pub(super) fn limits(raw: &RawLimits, rate_limit: Option<u32>) -> Result<LimitsConfig, Located> {
    let number = |value: &S<i64>, key: &'static str, range: (i64, i64), default: i64| match value {
        None => Ok(default as u32),
        Some(n) if (range.0..=range.1).contains(n.get_ref()) => Ok(*n.get_ref() as u32),
        Some(n) => Err(at(
            n,
            key,
            format!("must be between {} and {}", range.0, range.1),
        )),
    };
    let rate = match (&raw.rate, rate_limit) {
        (None, Some(old)) => old,
        _ => number(&raw.rate, "limits.rate", (0, 100_000), 30)?,
    };
    Ok(LimitsConfig {
        connections: number(&raw.connections, "limits.connections", (0, 64), 3)?,
        rate,
        recipients_per_day: number(
            &raw.recipients_per_day,
            "limits.recipients_per_day",
            (0, 10_000_000),
            10_000,
        )?,
    })
}

/// `YYYY-MM-DD` to the Unix time of that day's start (UTC).
pub fn parse_date(text: &str) -> Option<u64> {
    let mut parts = text.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || d < 1
        || d > month_days[(m - 1) as usize]
    {
        return None;
    }
    // H. Hinnant's days-from-civil, the inverse of clock's civil-from-days.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        for (text, want) in [
            ("1970-01-01", Some(0)),
            ("2000-03-01", Some(951_868_800)),
            ("2027-06-30", Some(1_814_313_600)),
            ("2024-02-29", Some(1_709_164_800)),
            ("2023-02-29", None),
            ("2027-13-01", None),
            ("2027-6-30", None),
            ("30.06.2027", None),
            ("2027-06-30T00:00", None),
            ("", None),
        ] {
            assert_eq!(parse_date(text), want, "{text}");
        }
        assert_eq!(
            crate::clock::utc_timestamp(parse_date("2027-06-30").unwrap()),
            "2027-06-30 00:00:00 UTC"
        );
    }
}
