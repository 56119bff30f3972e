//! The metrics as text: the counters' state file (read and written back)
//! and the Prometheus text format that node_exporter's textfile collector
//! reads (metric names as oauth2-sendmail(8) lists them, "Metrics and expiry warnings"). Pure.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The counters kept across processes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages by (outcome, cause).
    pub messages: BTreeMap<(String, String), u64>,
    /// When a message was last delivered (Unix seconds; 0 = never).
    pub last_success: u64,
}

impl Counters {
    /// Counts one message.
    pub fn count(&mut self, outcome: &str, cause: &str, now: u64) {
        *self
            .messages
            .entry((outcome.to_string(), cause.to_string()))
            .or_default() += 1;
        if outcome == "delivered" {
            self.last_success = now;
        }
    }
}

/// The state file's text: `messages OUTCOME CAUSE N` and `last_success T`.
pub fn format_counters(counters: &Counters) -> String {
    let mut text = format!("last_success {}\n", counters.last_success);
    for ((outcome, cause), n) in &counters.messages {
        let _ = writeln!(text, "messages {outcome} {cause} {n}");
    }
    text
}

/// Reads the state file's text; a line that does not parse is left out.
pub fn parse_counters(text: &str) -> Counters {
    let mut counters = Counters::default();
    for line in text.lines() {
        match line.split_ascii_whitespace().collect::<Vec<_>>().as_slice() {
            ["last_success", t] => counters.last_success = t.parse().unwrap_or(0),
            ["messages", outcome, cause, n] if label_safe(outcome) && label_safe(cause) => {
                if let Ok(n) = n.parse() {
                    counters
                        .messages
                        .insert((outcome.to_string(), cause.to_string()), n);
                }
            }
            _ => {}
        }
    }
    counters
}

/// Whether a label value needs no escaping (cause codes are `a-z0-9-`).
pub fn label_safe(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Everything the metrics file shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The `account` label.
    pub account: String,
    /// The counters.
    pub counters: Counters,
    /// Messages in the queue, and the age of the oldest (seconds).
    pub queue: Option<(u64, u64)>,
    /// When the cached token expires.
    pub token_expiry: Option<u64>,
    /// When the credential expires, and its kind (`secret`, `certificate`).
    pub credential_expiry: Option<(u64, &'static str)>,
    /// Recipients today.
    pub recipients_today: u32,
}

/// One metric family: name, type, help, and one account's samples.
type Family = (&'static str, &'static str, &'static str, Vec<(String, u64)>);

/// The Prometheus text format: every family once, with the samples of
/// each account (`[accounts.NAME]` writing to the same file) under it.
pub fn render(all: &[Snapshot]) -> String {
    let per_account: Vec<Vec<Family>> = all.iter().map(families).collect();
    let mut out = String::new();
    let Some(first) = per_account.first() else {
        return out;
    };
    for (i, (name, kind, help, _)) in first.iter().enumerate() {
        let _ = writeln!(out, "# HELP oauth2_sendmail_{name} {help}");
        let _ = writeln!(out, "# TYPE oauth2_sendmail_{name} {kind}");
        for families in &per_account {
            for (labels, value) in &families[i].3 {
                let _ = writeln!(out, "oauth2_sendmail_{name}{{{labels}}} {value}");
            }
        }
    }
    out
}

/// The families of one account's snapshot, in the file's order.
fn families(s: &Snapshot) -> Vec<Family> {
    let account = format!("account=\"{}\"", s.account);
    let mut out = Vec::new();
    let mut metric = |name, kind, help, samples| out.push((name, kind, help, samples));
    metric(
        "messages_total",
        "counter",
        "Messages handed over, by outcome (delivered, queued, failed) and cause.",
        s.counters
            .messages
            .iter()
            .map(|((o, c), n)| (format!("{account},outcome=\"{o}\",cause=\"{c}\""), *n))
            .collect(),
    );
    let gauge = |value: Option<u64>| value.map(|v| (account.clone(), v)).into_iter().collect();
    metric(
        "queue_messages",
        "gauge",
        "Messages waiting in the queue.",
        gauge(s.queue.map(|q| q.0)),
    );
    metric(
        "queue_oldest_seconds",
        "gauge",
        "Age of the oldest queued message.",
        gauge(s.queue.map(|q| q.1)),
    );
    metric(
        "last_success_timestamp_seconds",
        "gauge",
        "When a message was last delivered (Unix time).",
        gauge((s.counters.last_success > 0).then_some(s.counters.last_success)),
    );
    metric(
        "token_expiry_timestamp_seconds",
        "gauge",
        "When the cached access token expires (Unix time).",
        gauge(s.token_expiry),
    );
    metric(
        "credential_expiry_timestamp_seconds",
        "gauge",
        "When the client secret (client_secret_expires) or certificate (notAfter) expires (Unix time).",
        s.credential_expiry
            .map(|(t, kind)| (format!("{account},credential=\"{kind}\""), t))
            .into_iter()
            .collect(),
    );
    metric(
        "recipients_today",
        "gauge",
        "Recipients sent to today (UTC), against limits.recipients_per_day.",
        gauge(Some(u64::from(s.recipients_today))),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_round_trip_and_garbage_is_dropped() {
        let mut c = Counters::default();
        c.count("delivered", "none", 100);
        c.count("delivered", "none", 101);
        c.count("failed", "auth-535", 102);
        assert_eq!(c.last_success, 101);
        assert_eq!(parse_counters(&format_counters(&c)), c);
        let bad = "messages failed a\"b 3\nmessages x y z\nlast_success -1\n\0\n";
        assert_eq!(parse_counters(bad), Counters::default());
    }

    #[test]
    fn the_text_format() {
        let mut counters = Counters::default();
        counters.count("queued", "limits", 7);
        let text = render(&[Snapshot {
            account: "default".into(),
            counters,
            queue: Some((2, 30)),
            token_expiry: None,
            credential_expiry: Some((1_814_399_999, "secret")),
            recipients_today: 4,
        }]);
        for line in [
            "# TYPE oauth2_sendmail_messages_total counter",
            "oauth2_sendmail_messages_total{account=\"default\",outcome=\"queued\",cause=\"limits\"} 1",
            "oauth2_sendmail_queue_messages{account=\"default\"} 2",
            "oauth2_sendmail_queue_oldest_seconds{account=\"default\"} 30",
            "oauth2_sendmail_credential_expiry_timestamp_seconds{account=\"default\",credential=\"secret\"} 1814399999",
            "oauth2_sendmail_recipients_today{account=\"default\"} 4",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
        assert!(!text.contains("oauth2_sendmail_token_expiry_timestamp_seconds{"));
        assert!(!text.contains("last_success_timestamp_seconds{"));
    }

    #[test]
    fn several_accounts_share_one_file_with_each_family_once() {
        let one = |account: &str, queued: u64| Snapshot {
            account: account.into(),
            queue: Some((queued, 0)),
            ..Snapshot::default()
        };
        let text = render(&[one("default", 1), one("site1", 2)]);
        assert_eq!(
            text.matches("# TYPE oauth2_sendmail_queue_messages gauge")
                .count(),
            1,
            "{text}"
        );
        let at = |line: &str| {
            text.lines()
                .position(|l| l == line)
                .unwrap_or_else(|| panic!("{line}\n{text}"))
        };
        let header = at("# TYPE oauth2_sendmail_queue_messages gauge");
        let default = at("oauth2_sendmail_queue_messages{account=\"default\"} 1");
        let site1 = at("oauth2_sendmail_queue_messages{account=\"site1\"} 2");
        assert!(header < default && default < site1, "{text}");
        assert_eq!(render(&[]), "");
    }
}
