//! When to try a queued message again, when to give up, and which server
//! replies mean "stop for now". Pure: times are Unix seconds passed in,
//! never read here.

/// The first retry comes this long after a failure.
pub const FIRST_RETRY: u64 = 60;
/// Retries are never further apart than this.
pub const LONGEST_RETRY: u64 = 3600;

/// Seconds to wait after the `attempts`-th failed attempt: 1, 2, 4, 8, 16,
/// 32 minutes, then every hour.
pub fn retry_delay(attempts: u32) -> u64 {
    let doublings = attempts.saturating_sub(1).min(16);
    (FIRST_RETRY << doublings).min(LONGEST_RETRY)
}

/// Whether a message whose next attempt is at `next` may be tried at `now`.
pub fn is_due(next: u64, now: u64) -> bool {
    next <= now
}

/// Whether a message that arrived at `arrival` has been queued longer than
/// `max_age` seconds at `now`.
pub fn is_expired(arrival: u64, max_age: u64, now: u64) -> bool {
    now.saturating_sub(arrival) > max_age
}

/// Whether a reply means the server wants no more mail for now: a 421
/// (closing), `4.3.2` (Exchange's throttling), `4.7.x` "too many …"
/// (connections, messages), or Exchange's daily submission quota.
pub fn throttles(code: u16, text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let enhanced = lower.split_whitespace().next().unwrap_or("");
    code == 421
        || enhanced == "4.3.2"
        || (enhanced.starts_with("4.7.") && lower.contains("too many"))
        || lower.contains("submissionquotaexceeded")
}

/// "3m", "1h05m", "2d04h": a duration for people.
pub fn human_duration(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h) {
        (0, 0) if m == 0 => format!("{secs}s"),
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h{m:02}m"),
        _ => format!("{d}d{h:02}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_a_minute_to_an_hour() {
        let table = [
            (0, 60),
            (1, 60),
            (2, 120),
            (3, 240),
            (4, 480),
            (5, 960),
            (6, 1920),
            (7, 3600),
            (8, 3600),
            (100, 3600),
            (u32::MAX, 3600),
        ];
        for (attempts, delay) in table {
            assert_eq!(retry_delay(attempts), delay, "after {attempts} attempts");
        }
    }

    #[test]
    fn due_and_expired() {
        assert!(is_due(0, 100));
        assert!(is_due(100, 100));
        assert!(!is_due(101, 100));
        assert!(!is_expired(1000, 432_000, 1000 + 432_000));
        assert!(is_expired(1000, 432_000, 1001 + 432_000));
        // A clock that went backwards expires nothing.
        assert!(!is_expired(5000, 60, 1000));
    }

    #[test]
    fn throttling_replies() {
        let table = [
            (
                421,
                "4.3.2 Service not available, closing transmission channel",
                true,
            ),
            (421, "4.7.0 Too many errors on this connection", true),
            (452, "4.3.2 Throttled, try again later", true),
            (451, "4.7.500 Server busy. Too many connections", true),
            (450, "4.7.0 Temporary failure", false),
            (451, "4.3.0 Error: queue file write error", false),
            (452, "4.5.3 Too many recipients", false),
            (
                554,
                "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException",
                true,
            ),
            (550, "5.1.1 unknown", false),
        ];
        for (code, text, want) in table {
            assert_eq!(throttles(code, text), want, "{code} {text}");
        }
    }

    #[test]
    fn durations() {
        let table = [
            (0, "0s"),
            (59, "59s"),
            (60, "1m"),
            (3599, "59m"),
            (3660, "1h01m"),
            (90_000, "1d01h"),
        ];
        for (secs, want) in table {
            assert_eq!(human_duration(secs), want);
        }
    }
}
