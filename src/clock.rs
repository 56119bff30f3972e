//! Time as mail needs it: RFC 5322 dates and Message-IDs.
//!
//! The standard library has no calendar, so dates are computed here from
//! Unix seconds (H. Hinnant's days-to-civil algorithm) and written in UTC
//! with `+0000`, which RFC 5322 allows (`-0000` would mean "zone unknown").
//! The functions take the time as an argument; only [`now`] reads the clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// `Thu, 01 Jan 1970 00:00:00 +0000` for Unix seconds `secs`.
pub fn rfc5322_date(secs: u64) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = secs as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `1970-01-01 00:00:00 UTC` for Unix seconds `secs` (for people reading
/// `--check`; sorts and pastes better than the RFC 5322 form).
pub fn utc_timestamp(secs: u64) -> String {
    let secs = secs as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A Message-ID `<secs.hex@host>` from the time and 8 random bytes.
pub fn message_id(secs: u64, random: [u8; 8], host: &str) -> String {
    format!("<{secs}.{}@{host}>", crate::hex::lower(&random))
}

/// 8 random bytes from the kernel (getrandom), for identifiers: queue
/// ids and Message-IDs, made on paths (`-odb`, `-odq`) that would
/// otherwise start OpenSSL only for them.
pub fn random_bytes() -> [u8; 8] {
    let mut bytes = [0u8; 8];
    // getrandom fails only before the kernel's pool is seeded (early boot)
    // or under a seccomp filter; then the time and PID still make the
    // identifier unique enough.
    let filled = rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty());
    if !matches!(filled, Ok(8)) {
        let fallback = (u64::from(std::process::id()) << 32) ^ now();
        bytes = fallback.to_le_bytes();
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_match_date_dash_r() {
        let table = [
            (0, "Thu, 01 Jan 1970 00:00:00 +0000"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 +0000"),
            (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 +0000"),
            (1_795_388_671, "Sun, 22 Nov 2026 23:04:31 +0000"),
        ];
        for (secs, want) in table {
            assert_eq!(rfc5322_date(secs), want, "{secs}");
        }
        assert_eq!(utc_timestamp(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_timestamp(1_795_388_671), "2026-11-22 23:04:31 UTC");
    }

    #[test]
    fn message_ids() {
        let id = message_id(17, [0, 1, 2, 3, 0xaa, 0xbb, 0xcc, 0xff], "host.example");
        assert_eq!(id, "<17.00010203aabbccff@host.example>");
        assert_ne!(random_bytes(), random_bytes());
    }
}
