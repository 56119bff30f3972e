//! The per-minute send limit, shared by every queue run.
//!
//! Exchange Online accepts at most 30 messages a minute from one mailbox
//! and answers more with `4.3.2` throttling. Queue runs (and the flush
//! after a live send) therefore book each message in a small ledger file,
//! `rate` in the queue directory: the times of the sends of the last
//! minute, read and rewritten under an exclusive lock, so two runs at once
//! share one budget. The ledger is advisory: if it cannot be used, mail
//! still goes (Exchange's own throttling reply then stops the run).

use std::fs::{OpenOptions, Permissions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

use super::schedule;
use super::store::Spool;

/// Books one send at `now` if fewer than `limit` went in the last minute
/// (0 = no limit). Returns whether the send may go.
///
/// # Errors
/// The ledger cannot be opened, locked, read or written.
pub fn reserve(spool: &Spool, limit: u32, now: u64) -> io::Result<bool> {
    if limit == 0 {
        return Ok(true);
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(spool.file_mode())
        .open(spool.root().join("rate"))?;
    // The umask filtered the mode; the group's runs share this file. Only
    // its owner may change the bits, and then they are right already.
    let _ = file.set_permissions(Permissions::from_mode(spool.file_mode()));
    file.lock()?;
    let mut text = String::new();
    // A damaged ledger is just an empty one.
    let _ = file.read_to_string(&mut text);
    let sent: Vec<u64> = text.lines().filter_map(|l| l.parse().ok()).collect();
    let (allowed, kept) = schedule::admit(&sent, now, limit);
    if allowed {
        let lines: String = kept.iter().map(|t| format!("{t}\n")).collect();
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(lines.as_bytes())?;
    }
    Ok(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_shared_through_the_file() {
        let dir = crate::testing::TempDir::new("rate");
        let spool = Spool::new(dir.path());
        spool.prepare().unwrap();
        assert!(reserve(&spool, 2, 1000).unwrap());
        assert!(reserve(&spool, 2, 1001).unwrap());
        assert!(!reserve(&spool, 2, 1002).unwrap());
        assert!(reserve(&spool, 0, 1002).unwrap(), "0 means no limit");
        assert!(
            reserve(&spool, 2, 1060).unwrap(),
            "the first send left the window"
        );
        std::fs::write(dir.join("rate"), "garbage\n").unwrap();
        assert!(reserve(&spool, 1, 2000).unwrap());
    }
}
