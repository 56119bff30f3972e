//! `mailq` / `-bp`: the queue as Postfix shows it.
//!
//! One entry per message: queue id, size, arrival time (UTC), sender; the
//! last error with the attempt count and the next try on its own line in
//! parentheses; then the recipients still waiting. A caller other than
//! root sees only the messages it queued (by real uid). Accounts with a
//! queue directory of their own are listed in the same table. [`render`]
//! is pure; [`show`] reads the queues and prints.

use std::fmt::Write as _;

use crate::clock;
use crate::config::Config;
use crate::error::Result;

use crate::spool::caller;
use crate::spool::format::{Meta, State};
use crate::spool::schedule;
use crate::spool::store::{Area, Spool};
use crate::spool::{cant_use, no_queue};

/// One message as `mailq` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its envelope.
    pub meta: Meta,
    /// Its retry state.
    pub state: State,
}

/// What the listing shows besides the entries, for one queue directory
/// (root only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extras {
    /// Files in `msg/` that are not valid queue files.
    pub unreadable: Vec<String>,
    /// Messages in `failed/`.
    pub failed: usize,
    /// Files in `corrupt/`.
    pub corrupt: usize,
    /// The queue directory, to name those areas.
    pub dir: String,
}

const HEADER: &str =
    "-Queue ID-            --Size-- --Arrival Time (UTC)  -Sender/Recipient-------";
/// Column where the sender (and the recipients below it) start.
const ADDRESS_COLUMN: usize = 53;

/// `Tue Jun 11 10:00:00`, as Postfix writes arrival times (here in UTC).
fn arrival(secs: u64) -> String {
    let date = clock::rfc5322_date(secs);
    let parts: Vec<&str> = date.split_whitespace().collect();
    match parts.as_slice() {
        [weekday, day, month, _year, time, _zone] => {
            format!("{} {month} {day} {time}", weekday.trim_end_matches(','))
        }
        _ => date,
    }
}

/// The listing text for `entries` at time `now`.
pub fn render(entries: &[Entry], extras: &[Extras], now: u64) -> String {
    let mut out = String::new();
    if entries.is_empty() {
        out.push_str("Mail queue is empty\n");
    } else {
        out.push_str(HEADER);
        out.push('\n');
        let mut total = 0u64;
        for Entry { meta, state } in entries {
            total += meta.size;
            let sender = if meta.sender.is_empty() {
                "MAILER-DAEMON"
            } else {
                &meta.sender
            };
            let _ = writeln!(
                out,
                "{:<20}  {:>8} {:>20}  {sender}",
                meta.id,
                meta.size,
                arrival(meta.arrival)
            );
            // The default account's messages look as before accounts existed.
            if let Some(account) = &meta.account {
                let _ = writeln!(out, "(account {account})");
            }
            if state.attempts > 0 {
                let next = if state.next_attempt <= now {
                    "next try at the next queue run".to_string()
                } else {
                    format!(
                        "next try in {}",
                        schedule::human_duration(state.next_attempt - now)
                    )
                };
                let plural = if state.attempts == 1 { "" } else { "s" };
                let _ = writeln!(
                    out,
                    "({} attempt{plural}, {next}: {})",
                    state.attempts, state.last_error
                );
            }
            for recipient in state.pending(meta) {
                let _ = writeln!(out, "{:ADDRESS_COLUMN$}{recipient}", "");
            }
            out.push('\n');
        }
        let count = entries.len();
        let plural = if count == 1 { "Request" } else { "Requests" };
        let _ = writeln!(
            out,
            "-- {} Kbytes in {count} {plural}.",
            total.div_ceil(1024)
        );
    }
    for extras in extras {
        for name in &extras.unreadable {
            let _ = writeln!(
                out,
                "-- {}/msg/{name} is not a valid queue file; the next queue run moves it to corrupt/",
                extras.dir
            );
        }
        if extras.failed > 0 {
            let _ = writeln!(
                out,
                "-- {} message{} in {}/failed (refused for good or expired; the reason is in ID.reason)",
                extras.failed,
                if extras.failed == 1 { "" } else { "s" },
                extras.dir
            );
        }
        if extras.corrupt > 0 {
            let _ = writeln!(
                out,
                "-- {} file{} in {}/corrupt (moved aside: not valid queue files)",
                extras.corrupt,
                if extras.corrupt == 1 { "" } else { "s" },
                extras.dir
            );
        }
    }
    out
}

/// Prints the queues for the calling user.
///
/// # Errors
/// A queue directory cannot be read (exit 73).
pub fn show(config: &Config) -> Result<()> {
    let dirs = crate::mode::accounts::queue_dirs(config);
    if dirs.is_empty() {
        println!("{}", no_queue(config));
        return Ok(());
    }
    let viewer = caller::real_uid();
    let mut entries = Vec::new();
    let mut all_extras = Vec::new();
    for dir in dirs {
        let spool = Spool::new(dir);
        let (ids, _) = spool.ids().map_err(|e| cant_use(&spool, &e))?;
        let mut extras = Extras {
            dir: spool.root().display().to_string(),
            ..Extras::default()
        };
        for id in ids {
            match spool.peek(&id) {
                Ok(meta) if caller::may_see(viewer, meta.uid) => {
                    let state = spool.read_state(&id).unwrap_or_default();
                    entries.push(Entry { meta, state });
                }
                Ok(_) => {}
                // Gone in between: delivered.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(_) if viewer == 0 => extras.unreadable.push(id),
                Err(_) => {}
            }
        }
        if viewer == 0 {
            extras.failed = spool.count(Area::Failed);
            extras.corrupt = spool.count(Area::Corrupt);
        }
        all_extras.push(extras);
    }
    // Oldest first across the queues, as in one queue.
    entries.sort_by(|a, b| (a.meta.arrival, &a.meta.id).cmp(&(b.meta.arrival, &b.meta.id)));
    print!("{}", render(&entries, &all_extras, clock::now()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, attempts: u32) -> Entry {
        Entry {
            meta: Meta {
                id: id.into(),
                arrival: 1_718_100_000,
                uid: 33,
                sender: "alerts@contoso.com".into(),
                recipients: vec!["a@example.com".into(), "b@example.com".into()],
                size: 1536,
                ..Meta::default()
            },
            state: State {
                attempts,
                next_attempt: 1_718_100_300,
                last_error: "SMTP server smtp.office365.com:587: connection refused".into(),
                delivered: vec!["b@example.com".into()],
                ..State::default()
            },
        }
    }

    #[test]
    fn an_empty_queue() {
        assert_eq!(render(&[], &[], 0), "Mail queue is empty\n");
    }

    #[test]
    fn entries_look_like_postfix() {
        let entries = [
            entry("66701A2BDEADBEEF0001", 2),
            entry("66701A2BDEADBEEF0002", 0),
        ];
        let text = render(&entries, &[], 1_718_100_060);
        let pad = " ".repeat(ADDRESS_COLUMN);
        let want = format!(
            "{HEADER}
66701A2BDEADBEEF0001      1536  Tue Jun 11 10:00:00  alerts@contoso.com
(2 attempts, next try in 4m: SMTP server smtp.office365.com:587: connection refused)
{pad}a@example.com

66701A2BDEADBEEF0002      1536  Tue Jun 11 10:00:00  alerts@contoso.com
{pad}a@example.com

-- 3 Kbytes in 2 Requests.
"
        );
        assert_eq!(text, want);
        for line in text.lines().filter(|l| l.starts_with("6670")) {
            assert_eq!(line.find("alerts@"), Some(ADDRESS_COLUMN), "{line}");
        }
    }

    #[test]
    fn extras_for_root() {
        let extras = Extras {
            unreadable: vec!["00000000000000000000".into()],
            failed: 2,
            corrupt: 1,
            dir: "/var/spool/oauth2-sendmail".into(),
        };
        let text = render(
            &[entry("66701A2BDEADBEEF0001", 1)],
            &[extras],
            1_718_200_000,
        );
        assert!(
            text.contains("(1 attempt, next try at the next queue run: SMTP"),
            "{text}"
        );
        assert!(text.contains("-- 2 Kbytes in 1 Request.\n"), "{text}");
        assert!(
            text.contains("/var/spool/oauth2-sendmail/msg/00000000000000000000 is not a valid")
        );
        assert!(text.contains("-- 2 messages in /var/spool/oauth2-sendmail/failed"));
        assert!(text.contains("-- 1 file in /var/spool/oauth2-sendmail/corrupt"));
    }
}

#[cfg(test)]
mod account_tests {
    use super::*;

    #[test]
    fn a_message_of_another_account_says_which() {
        let mut tagged = Entry {
            meta: Meta {
                id: "66701A2BDEADBEEF0001".into(),
                sender: "shop@site1.example".into(),
                recipients: vec!["a@example.com".into()],
                account: Some("site1".into()),
                ..Meta::default()
            },
            state: State::default(),
        };
        let text = render(std::slice::from_ref(&tagged), &[], 0);
        assert!(
            text.contains("shop@site1.example\n(account site1)\n"),
            "{text}"
        );
        tagged.meta.account = None;
        let text = render(&[tagged], &[], 0);
        assert!(!text.contains("(account"), "{text}");
    }
}
