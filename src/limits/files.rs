//! Opening and locking the small shared files of the cache directory the
//! way issue 11's hostile-caller rules ask: never through a symbolic link,
//! only regular files, a new file gets its final mode at once (only the
//! process that created it sets it), and every lock wait is bounded. The
//! opening itself is `crate::safe_fs`'s, as for the token cache and queue.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// Mode of a new shared file in `dir`: the group's too when the directory
/// is set-group-ID (the packaged `root:oauth2-sendmail 2770` cache
/// directory, whose group is exactly the processes that send), otherwise
/// the owner's alone, as for the token cache beside them.
pub fn mode(dir: &Path) -> u32 {
    let setgid = std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o2000 != 0);
    if setgid { 0o660 } else { 0o600 }
}

/// Opens `path` for reading and writing, creating it with its final mode
/// if it is missing, by `safe_fs::open_shared`: never through a symbolic
/// link, never a FIFO, and an existing file must be a regular file with
/// one link and an owner the program accepts.
///
/// # Errors
/// A symbolic link, something that is not such a file, or the I/O error.
pub fn open_shared(path: &Path) -> io::Result<File> {
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::safe_fs::open_shared(dir, path, mode(dir))
}

/// Replaces the whole content of `file` (locked, written in place) with
/// `bytes`. The file is grown first, so where it may not grow
/// (`RLIMIT_FSIZE`, a full disk) nothing is changed; then the new text is
/// written over the old and the file cut to its length.
///
/// # Errors
/// The I/O error.
pub fn rewrite(file: &mut File, bytes: &[u8]) -> io::Result<()> {
    let len = bytes.len() as u64;
    if file.metadata()?.len() < len {
        file.set_len(len)?;
    }
    file.seek(SeekFrom::Start(0))?;
    file.write_all(bytes)?;
    file.set_len(len)
}

/// Takes the exclusive lock on `file`, waiting at most `wait`.
///
/// # Errors
/// `WouldBlock` when another process still holds it, or the I/O error.
pub fn lock_within(file: &File, wait: Duration) -> io::Result<()> {
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!("still locked after {} ms", wait.as_millis()),
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// A short name for a mailbox, for file names: FNV-1a of its lower case.
pub fn mailbox_key(mailbox: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in mailbox.to_ascii_lowercase().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_directories_are_refused_and_new_files_get_their_mode() {
        let dir = crate::testing::TempDir::new("limits-files");
        let target = dir.join("target");
        std::fs::write(&target, "x").unwrap();
        std::os::unix::fs::symlink(&target, dir.join("link")).unwrap();
        assert!(open_shared(&dir.join("link")).is_err());
        std::fs::create_dir(dir.join("d")).unwrap();
        assert!(open_shared(&dir.join("d")).is_err());
        let file = open_shared(&dir.join("new")).unwrap();
        assert_eq!(file.metadata().unwrap().permissions().mode() & 0o777, 0o600);
        assert!(open_shared(&dir.join("new")).is_ok());
        // A second name of a file is not one this program made.
        std::fs::hard_link(dir.join("new"), dir.join("second")).unwrap();
        assert!(open_shared(&dir.join("second")).is_err());
    }

    #[test]
    fn a_held_lock_is_waited_for_only_so_long() {
        let dir = crate::testing::TempDir::new("limits-lock");
        let a = open_shared(&dir.join("l")).unwrap();
        let b = open_shared(&dir.join("l")).unwrap();
        lock_within(&a, Duration::ZERO).unwrap();
        let e = lock_within(&b, Duration::from_millis(30)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        drop(a);
        lock_within(&b, Duration::ZERO).unwrap();
    }

    #[test]
    fn a_rewrite_replaces_the_whole_text() {
        let dir = crate::testing::TempDir::new("limits-rewrite");
        let mut file = open_shared(&dir.join("f")).unwrap();
        rewrite(&mut file, b"a longer first text\n").unwrap();
        rewrite(&mut file, b"short\n").unwrap();
        assert_eq!(std::fs::read(dir.join("f")).unwrap(), b"short\n");
        rewrite(&mut file, b"longer again\n").unwrap();
        assert_eq!(std::fs::read(dir.join("f")).unwrap(), b"longer again\n");
    }

    #[test]
    fn mailbox_keys() {
        assert_eq!(mailbox_key("A@X"), mailbox_key("a@x"));
        assert_ne!(mailbox_key("a@x"), mailbox_key("b@x"));
        assert_eq!(mailbox_key("a@x").len(), 16);
    }
}
