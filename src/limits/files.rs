//! Opening and locking the small shared files of the cache directory the
//! way issue 11's hostile-caller rules ask: never through a symbolic link,
//! only regular files, a new file gets its final mode at once (only the
//! process that created it sets it), and every lock wait is bounded.

use std::fs::{File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

/// Mode of the shared files: the group's processes read and write them.
pub const MODE: u32 = 0o660;

/// Opens `path` for reading and writing, creating it if it is missing.
///
/// # Errors
/// A symbolic link, something that is not a regular file, or the I/O error.
pub fn open_shared(path: &Path) -> io::Result<File> {
    let nofollow = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
    match OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(MODE)
        .custom_flags(nofollow)
        .open(path)
    {
        Ok(file) => {
            // Ours and new: the umask must not take the group's write bit.
            file.set_permissions(Permissions::from_mode(MODE))?;
            Ok(file)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(nofollow)
                .open(path)?;
            if file.metadata()?.is_file() {
                Ok(file)
            } else {
                Err(io::Error::other("not a regular file"))
            }
        }
        Err(e) => Err(e),
    }
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
        assert_eq!(file.metadata().unwrap().permissions().mode() & 0o777, MODE);
        assert!(open_shared(&dir.join("new")).is_ok());
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
    fn mailbox_keys() {
        assert_eq!(mailbox_key("A@X"), mailbox_key("a@x"));
        assert_ne!(mailbox_key("a@x"), mailbox_key("b@x"));
        assert_eq!(mailbox_key("a@x").len(), 16);
    }
}
