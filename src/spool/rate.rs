//! The per-minute send limit, shared by every queue run.
//!
//! Exchange Online accepts at most 30 messages a minute from one mailbox
//! and answers more with `4.3.2` throttling. Queue runs (and the flush
//! after a live send) therefore book each message in a small ledger file,
//! `rate` in the queue directory: the times of the sends of the last
//! minute, read and rewritten under an exclusive lock, so two runs at once
//! share one budget. The ledger is advisory: if it cannot be used, mail
//! still goes (Exchange's own throttling reply then stops the run).
//!
//! The limit is per mailbox, so each `[accounts.NAME]` has its own ledger,
//! `rate.NAME` ([`ledger_name`]); the default account keeps `rate`.

use std::fs::TryLockError;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

use super::schedule;
use super::store::Spool;

/// The ledger file of the account called `account` (`default`: `rate`).
pub fn ledger_name(account: &str) -> String {
    if account == "default" {
        "rate".to_string()
    } else {
        format!("rate.{account}")
    }
}

/// What booking a send gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Booking {
    /// Booked: the send may go.
    Go,
    /// The minute's budget is used up.
    Full,
    /// Another process held the ledger's lock for longer than the patience
    /// given (a caller can stop its own process with SIGSTOP while it
    /// holds it): nothing was booked.
    Busy,
}

/// Books one send at `now` if fewer than `limit` went in the last minute
/// (0 = no limit), waiting at most `patience` for the ledger's lock (zero:
/// not at all).
///
/// The ledger is opened without following a symbolic link and must be a
/// file the queue's users made (`safe_fs::open_shared`). The new times
/// are written over the old ones before the file is cut to their length,
/// so a write that fails (disk full, `RLIMIT_FSIZE`) leaves the ledger as
/// it was.
///
/// # Errors
/// The ledger cannot be opened, locked, read or written.
pub fn reserve(
    spool: &Spool,
    ledger: &str,
    limit: u32,
    now: u64,
    patience: Duration,
) -> io::Result<Booking> {
    if limit == 0 {
        return Ok(Booking::Go);
    }
    let mut file =
        crate::safe_fs::open_shared(spool.root(), &spool.root().join(ledger), spool.file_mode())?;
    let deadline = Instant::now() + patience;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::Error(e)) => return Err(e),
            Err(TryLockError::WouldBlock) if Instant::now() >= deadline => {
                return Ok(Booking::Busy);
            }
            Err(TryLockError::WouldBlock) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let mut text = String::new();
    // A damaged ledger is just an empty one.
    let _ = file.read_to_string(&mut text);
    let sent: Vec<u64> = text.lines().filter_map(|l| l.parse().ok()).collect();
    let (allowed, kept) = schedule::admit(&sent, now, limit);
    if !allowed {
        return Ok(Booking::Full);
    }
    let lines: String = kept.iter().map(|t| format!("{t}\n")).collect();
    file.seek(SeekFrom::Start(0))?;
    file.write_all(lines.as_bytes())?;
    file.set_len(lines.len() as u64)?;
    Ok(Booking::Go)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(spool: &Spool, limit: u32, now: u64) -> Booking {
        reserve(spool, "rate", limit, now, Duration::ZERO).unwrap()
    }

    #[test]
    fn each_account_has_its_own_ledger() {
        assert_eq!(ledger_name("default"), "rate");
        assert_eq!(ledger_name("site1"), "rate.site1");
    }

    #[test]
    fn the_budget_is_shared_through_the_file() {
        let dir = crate::testing::TempDir::new("rate");
        let spool = Spool::new(dir.path());
        spool.prepare().unwrap();
        assert_eq!(book(&spool, 2, 1000), Booking::Go);
        assert_eq!(book(&spool, 2, 1001), Booking::Go);
        assert_eq!(book(&spool, 2, 1002), Booking::Full);
        assert_eq!(book(&spool, 0, 1002), Booking::Go, "0 means no limit");
        assert_eq!(
            book(&spool, 2, 1060),
            Booking::Go,
            "the first send left the window"
        );
        std::fs::write(dir.join("rate"), "garbage\n").unwrap();
        assert_eq!(book(&spool, 1, 2000), Booking::Go);
    }

    #[test]
    fn a_held_ledger_is_waited_for_within_the_patience_only() {
        let dir = crate::testing::TempDir::new("rate-held");
        let spool = Spool::new(dir.path());
        spool.prepare().unwrap();
        assert_eq!(book(&spool, 5, 1000), Booking::Go);
        let holder = std::fs::File::open(dir.join("rate")).unwrap();
        holder.lock().unwrap();
        assert_eq!(
            reserve(&spool, "rate", 5, 1001, Duration::from_millis(50)).unwrap(),
            Booking::Busy
        );
        drop(holder);
        assert_eq!(book(&spool, 5, 1002), Booking::Go);
    }
}
