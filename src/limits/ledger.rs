//! The pacing ledger of one mailbox, shared by every process: the send
//! times of the last minute (`rate`) and today's recipient count
//! (`recipients_per_day`, UTC days), in a small file read and rewritten
//! under a lock with a bounded wait. [`decide`] is the pure rule; the
//! file is at the edge.
//!
//! The ledger is advisory: when it cannot be used (locked too long by a
//! stopped process, broken by a caller) mail still goes and the caller
//! logs a warning; Exchange's own 4.3.2 then protects the mailbox.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::files::{lock_within, mailbox_key, open_shared, rewrite};
use crate::config::LimitsConfig;

/// How long a process waits for another's turn with the ledger.
pub const LOCK_WAIT: Duration = Duration::from_secs(2);

/// What the ledger holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    /// Send times (Unix seconds) of the last minute.
    pub sent: Vec<u64>,
    /// The UTC day (days since 1970) `recipients` counts.
    pub day: u64,
    /// Recipients sent to on `day`.
    pub recipients: u32,
    /// The day the 80 % warning was given.
    pub warned: u64,
}

/// Whether a message may go now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Booked; with the 80 % warning when this send crossed it.
    Go(Option<String>),
    /// The per-minute limit is reached: a slot frees in this many seconds.
    Wait(u64),
    /// Today's recipient budget would be passed.
    OverDaily(String),
}

/// The rule: may a message to `recipients` recipients go at `now`? Returns
/// the verdict and the ledger to write back.
pub fn decide(
    ledger: &Ledger,
    limits: &LimitsConfig,
    recipients: u32,
    now: u64,
) -> (Verdict, Ledger) {
    let mut next = ledger.clone();
    next.sent.retain(|t| *t + 60 > now && *t <= now);
    let today = now / 86_400;
    if next.day != today {
        next.day = today;
        next.recipients = 0;
    }
    let budget = limits.recipients_per_day;
    let after = next.recipients.saturating_add(recipients);
    // A fresh day always lets one message go, however many recipients it has.
    if budget > 0 && after > budget && next.recipients > 0 {
        let why = format!(
            "{} of the {budget} recipients a day (limits.recipients_per_day) are used; this message's {recipients} would pass it",
            next.recipients
        );
        return (Verdict::OverDaily(why), next);
    }
    if limits.rate > 0 && next.sent.len() >= limits.rate as usize {
        let oldest = next.sent.iter().min().copied().unwrap_or(now);
        return (Verdict::Wait(oldest + 60 - now), next);
    }
    // Without a rate there is nothing to count the minute against.
    if limits.rate > 0 {
        next.sent.push(now);
    }
    next.recipients = after;
    let warning = (budget > 0 && u64::from(after) * 5 >= u64::from(budget) * 4 && next.warned != today)
        .then(|| {
            next.warned = today;
            format!(
                "{after} of the {budget} recipients a day (limits.recipients_per_day) are used; beyond it messages wait in the queue for the next day"
            )
        });
    (Verdict::Go(warning), next)
}

/// The ledger file's text.
pub fn format(ledger: &Ledger) -> String {
    let mut text = format!(
        "day {} {}\nwarned {}\n",
        ledger.day, ledger.recipients, ledger.warned
    );
    for t in &ledger.sent {
        text.push_str(&format!("{t}\n"));
    }
    text
}

/// Reads the text back; what does not parse is left out (a damaged
/// ledger is a fresh one).
pub fn parse(text: &str) -> Ledger {
    let mut ledger = Ledger::default();
    for line in text.lines() {
        let words: Vec<&str> = line.split_ascii_whitespace().collect();
        match words.as_slice() {
            ["day", day, n] => {
                if let (Ok(day), Ok(n)) = (day.parse(), n.parse()) {
                    (ledger.day, ledger.recipients) = (day, n);
                }
            }
            ["warned", day] => ledger.warned = day.parse().unwrap_or(0),
            [t] => ledger.sent.extend(t.parse::<u64>().ok()),
            _ => {}
        }
    }
    ledger
}

/// The ledger file of `mailbox` in `dir`.
pub fn path(dir: &Path, mailbox: &str) -> PathBuf {
    dir.join(format!("pace.{}", mailbox_key(mailbox)))
}

/// Asks the shared ledger whether a message may go, and books it if so,
/// waiting at most `wait` for its lock (zero: not at all).
///
/// # Errors
/// The ledger cannot be opened, locked within `wait`, read or written.
pub fn reserve(
    dir: &Path,
    mailbox: &str,
    limits: &LimitsConfig,
    recipients: u32,
    now: u64,
    wait: Duration,
) -> io::Result<Verdict> {
    if limits.rate == 0 && limits.recipients_per_day == 0 {
        return Ok(Verdict::Go(None));
    }
    let mut file = open_shared(&path(dir, mailbox))?;
    lock_within(&file, wait)?;
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let (verdict, next) = decide(&parse(&text), limits, recipients, now);
    rewrite(&mut file, format(&next).as_bytes())?;
    Ok(verdict)
}

/// Recipients sent to today, as the ledger says (0 without one).
pub fn recipients_today(dir: &Path, mailbox: &str, now: u64) -> u32 {
    // Read only: `--check` neither creates nor changes a file here.
    let text = crate::safe_fs::open_read(&path(dir, mailbox))
        .and_then(|mut f| {
            lock_within(&f, LOCK_WAIT)?;
            let mut text = String::new();
            f.read_to_string(&mut text).map(|_| text)
        })
        .unwrap_or_default();
    let ledger = parse(&text);
    if ledger.day == now / 86_400 {
        ledger.recipients
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 20_000 * 86_400;

    fn limits(rate: u32, per_day: u32) -> LimitsConfig {
        LimitsConfig {
            connections: 3,
            rate,
            recipients_per_day: per_day,
        }
    }

    #[test]
    fn the_rule() {
        let empty = Ledger::default();
        // (ledger, limits, recipients, now) -> verdict
        let full_minute = Ledger {
            sent: vec![DAY, DAY + 10],
            day: DAY / 86_400,
            ..Ledger::default()
        };
        let cases: Vec<(&Ledger, LimitsConfig, u32, u64, Verdict)> = vec![
            (&empty, limits(2, 100), 1, DAY, Verdict::Go(None)),
            (&full_minute, limits(2, 100), 1, DAY + 20, Verdict::Wait(40)),
            (&full_minute, limits(2, 100), 1, DAY + 60, Verdict::Go(None)),
            (&full_minute, limits(0, 0), 1, DAY + 20, Verdict::Go(None)),
        ];
        for (ledger, limits, n, now, want) in cases {
            assert_eq!(
                decide(ledger, &limits, n, now).0,
                want,
                "{ledger:?} {n} {now}"
            );
        }
    }

    #[test]
    fn the_daily_budget_warns_once_from_80_percent_and_stops_at_the_top() {
        let l = limits(0, 10);
        let (v, ledger) = decide(&Ledger::default(), &l, 7, DAY);
        assert_eq!((v, ledger.recipients), (Verdict::Go(None), 7));
        let (v, ledger) = decide(&ledger, &l, 1, DAY + 1);
        assert!(
            matches!(v, Verdict::Go(Some(ref w)) if w.contains("8 of the 10")),
            "{v:?}"
        );
        let (v, ledger) = decide(&ledger, &l, 1, DAY + 2);
        assert_eq!(v, Verdict::Go(None), "warned once a day");
        let (v, ledger) = decide(&ledger, &l, 2, DAY + 3);
        assert!(matches!(v, Verdict::OverDaily(_)), "{v:?}");
        assert_eq!(ledger.recipients, 9, "nothing booked");
        let (v, ledger) = decide(&ledger, &l, 2, DAY + 86_400);
        assert_eq!((v, ledger.recipients), (Verdict::Go(None), 2), "a new day");
        // One message bigger than the whole budget still goes on a fresh day.
        assert!(matches!(
            decide(&Ledger::default(), &l, 50, DAY).0,
            Verdict::Go(_)
        ));
    }

    #[test]
    fn the_file_round_trips_and_garbage_is_a_fresh_ledger() {
        let ledger = Ledger {
            sent: vec![5, 6],
            day: 3,
            recipients: 9,
            warned: 2,
        };
        assert_eq!(parse(&format(&ledger)), ledger);
        assert_eq!(parse("garbage\nday x y\n\u{0}"), Ledger::default());
    }

    #[test]
    fn processes_share_the_file() {
        let dir = crate::testing::TempDir::new("ledger");
        let l = limits(2, 0);
        assert_eq!(
            reserve(dir.path(), "m@x", &l, 1, DAY, LOCK_WAIT).unwrap(),
            Verdict::Go(None)
        );
        assert_eq!(
            reserve(dir.path(), "m@x", &l, 1, DAY, LOCK_WAIT).unwrap(),
            Verdict::Go(None)
        );
        assert_eq!(
            reserve(dir.path(), "m@x", &l, 1, DAY + 1, LOCK_WAIT).unwrap(),
            Verdict::Wait(59)
        );
        assert_eq!(
            reserve(dir.path(), "n@x", &l, 1, DAY, LOCK_WAIT).unwrap(),
            Verdict::Go(None)
        );
        let l = limits(0, 100);
        reserve(dir.path(), "m@x", &l, 4, DAY + 2, LOCK_WAIT).unwrap();
        assert_eq!(recipients_today(dir.path(), "m@x", DAY + 3), 6);
        assert_eq!(recipients_today(dir.path(), "m@x", DAY + 86_400), 0);
        // A lock held elsewhere is waited for only as long as asked.
        let held = open_shared(&path(dir.path(), "m@x")).unwrap();
        lock_within(&held, Duration::ZERO).unwrap();
        let e = reserve(dir.path(), "m@x", &l, 1, DAY + 4, Duration::ZERO).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }
}
