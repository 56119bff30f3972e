//! The on-disk token cache: one small file per (token URL, tenant, client,
//! scope), written atomically, never world-readable.
//!
//! A cache file is untrusted input when read back: anything that is not
//! exactly the format written here, or whose key line belongs to another
//! configuration, is ignored (and later replaced), never fatal. Writes go to
//! a temporary file in the same directory, are flushed to disk and renamed
//! into place, so a reader sees the old file or the new one, never half of
//! one. An exclusive lock on a separate lock file serialises check-and-fetch
//! so that many processes with a cold cache make one token request.
//!
//! The directory is shared by every caller with the group's rights, root
//! among them, so nothing here follows a symbolic link or writes to a file
//! another user could have put there (`safe_fs`); files are made with
//! their final mode, and the temporary files of processes killed while
//! writing are removed once they are [`STALE_AFTER`] old.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::hex;
use crate::secret::Secret;

/// First line of every cache file; a change of format changes the version.
const MAGIC: &str = "oauth2-sendmail-token 1";
/// Cache files are small; anything larger is not ours.
const MAX_FILE: u64 = 64 * 1024;
/// A temporary file this old belongs to a process that died writing it.
const STALE_AFTER: Duration = Duration::from_secs(600);
/// The mode of cache files: shared with the group only where the directory
/// is set-group-ID (the packaged `root:oauth2-sendmail 2770` layout, whose
/// group is exactly the processes allowed to use the token); otherwise the
/// owner's alone, since a user's primary group may be shared with others.
fn file_mode(dir: &Path) -> u32 {
    let setgid = fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o2000 != 0);
    if setgid { 0o660 } else { 0o600 }
}

/// A cached token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The access token.
    pub token: Secret,
    /// When it was obtained (Unix seconds).
    pub obtained_at: u64,
    /// When it stops being valid (Unix seconds).
    pub expires_at: u64,
}

/// The identity of a cache entry: SHA-256 over what selects a token.
pub fn key(url: &str, tenant: &str, client_id: &str, scope: &str) -> String {
    let mut material = Vec::new();
    for part in [url, tenant, client_id, scope] {
        material.extend_from_slice(part.as_bytes());
        material.push(0);
    }
    hex::lower(&openssl::sha::sha256(&material))
}

/// The file holding the token for `key`, and its lock file.
pub fn paths(dir: &Path, key: &str) -> (PathBuf, PathBuf) {
    let stem = format!("token-{}", &key[..32.min(key.len())]);
    (dir.join(&stem), dir.join(format!("{stem}.lock")))
}

/// The file's text for `entry` under `key`.
pub fn format(key: &str, entry: &Entry) -> String {
    format!(
        "{MAGIC}\nkey {key}\nobtained {}\nexpires {}\ntoken {}\n",
        entry.obtained_at,
        entry.expires_at,
        entry.token.expose()
    )
}

/// Reads a cache file's text; `None` unless it is exactly our format for `key`.
pub fn parse(text: &str, key: &str) -> Option<Entry> {
    let mut lines = text.strip_suffix('\n')?.split('\n');
    if lines.next()? != MAGIC {
        return None;
    }
    let mut field = |name: &str| lines.next()?.strip_prefix(name)?.strip_prefix(' ');
    if field("key")? != key {
        return None;
    }
    let obtained_at = field("obtained")?.parse().ok()?;
    let expires_at: u64 = field("expires")?.parse().ok()?;
    let token = field("token")?;
    let token_ok = !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic());
    if !token_ok || expires_at <= obtained_at || lines.next().is_some() {
        return None;
    }
    Some(Entry {
        token: Secret::new(token),
        obtained_at,
        expires_at,
    })
}

/// Reads the cache file at `path`; any problem means "no usable entry".
pub fn read(path: &Path, key: &str) -> Option<Entry> {
    let file = crate::safe_fs::open_read(path).ok()?;
    let mut text = String::new();
    file.take(MAX_FILE).read_to_string(&mut text).ok()?;
    parse(&text, key)
}

/// Writes `entry` to `path` atomically (mode 0660 or 0600, see [`file_mode`]).
///
/// # Errors
/// The I/O error; the caller decides whether that matters.
pub fn write(path: &Path, key: &str, entry: &Entry) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("token");
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    remove_stale_temporaries(dir, SystemTime::now());
    let result = (|| {
        let mut file = crate::safe_fs::create_new(&temporary, file_mode(dir))?;
        file.write_all(format(key, entry).as_bytes())?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}

/// Removes the `.token-….tmp` files in `dir` older than [`STALE_AFTER`]:
/// what processes killed while writing left (removing a name never
/// follows a link).
fn remove_stale_temporaries(dir: &Path, now: SystemTime) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(".token-") && name.ends_with(".tmp")) {
            continue;
        }
        let stale = fs::symlink_metadata(entry.path())
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > STALE_AFTER));
        if stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Removes the entry at `path` (a token the server rejected).
pub fn remove(path: &Path) {
    let _ = fs::remove_file(path);
}

/// An exclusive lock on a cache entry, released when dropped.
pub struct Lock(File);

impl Lock {
    /// Waits for the exclusive lock on `path`, creating the lock file, for
    /// at most `patience`: a holder that never lets go (a caller can stop
    /// its own set-group-ID process with SIGSTOP while it holds the lock)
    /// must not stall everyone's mail. The lock file is never a link nor
    /// another user's file, and its mode is never changed.
    ///
    /// # Errors
    /// The I/O error, or `TimedOut` when the lock stayed busy.
    pub fn acquire_within(path: &Path, patience: std::time::Duration) -> std::io::Result<Lock> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let file = crate::safe_fs::open_shared(dir, path, file_mode(dir))?;
        let deadline = std::time::Instant::now() + patience;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Lock(file)),
                Err(std::fs::TryLockError::Error(e)) => return Err(e),
                Err(std::fs::TryLockError::WouldBlock) => {}
            }
            if std::time::Instant::now() >= deadline {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "another process has held its lock too long",
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn entry() -> Entry {
        Entry {
            token: Secret::new("eyJ0eXAi.eyJhdWQi.c2ln"),
            obtained_at: 1_000,
            expires_at: 4_599,
        }
    }

    use crate::testing::TempDir;

    #[test]
    fn round_trip() {
        let k = key("https://x/t/token", "t", "c", "s");
        assert_eq!(k.len(), 64);
        assert_eq!(parse(&format(&k, &entry()), &k), Some(entry()));
    }

    #[test]
    fn keys_differ_per_configuration() {
        let base = key("u", "t", "c", "s");
        assert_ne!(base, key("u", "t", "c", "s2"));
        assert_ne!(base, key("u", "t", "c2", "s"));
        assert_ne!(key("ab", "c", "d", "e"), key("a", "bc", "d", "e"));
    }

    #[test]
    fn anything_else_is_ignored() {
        let k = key("u", "t", "c", "s");
        let good = format(&k, &entry());
        let mut bad: Vec<String> = vec![
            String::new(),
            "garbage".into(),
            good.replace(MAGIC, "oauth2-sendmail-token 0"),
            good.replace(&k, &key("u", "t", "c", "other")),
            good.replace("expires 4599", "expires 999"),
            good.replace("expires 4599", "expires soon"),
            good.replace("token eyJ", "token  eyJ"),
            good.replace("token eyJ0eXAi.eyJhdWQi.c2ln", "token "),
            format!("{good}extra\n"),
            good.trim_end().to_string(),
        ];
        // Every truncation of a good file.
        bad.extend((0..good.len()).map(|n| good[..n].to_string()));
        for text in bad {
            assert_eq!(parse(&text, &k), None, "{text:?}");
        }
    }

    #[test]
    fn write_is_atomic_and_private() {
        let temp = TempDir::new("cache-write");
        let dir = temp.path();
        let k = key("u", "t", "c", "s");
        let (file, _) = paths(dir, &k);
        write(&file, &k, &entry()).unwrap();
        assert_eq!(read(&file, &k), Some(entry()));
        let mode = fs::metadata(&file).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600, "mode {mode:o}");
        // In a set-group-ID directory the group shares the file.
        fs::set_permissions(dir, fs::Permissions::from_mode(0o2770)).unwrap();
        write(&file, &k, &entry()).unwrap();
        let mode = fs::metadata(&file).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o660, "mode {mode:o}");
        // No temporary file is left behind, and a dead process's goes.
        assert_eq!(fs::read_dir(dir).unwrap().count(), 1);
        let dead = dir.join(".token-x.999999.tmp");
        fs::write(&dead, "half").unwrap();
        remove_stale_temporaries(dir, SystemTime::now());
        assert!(dead.exists(), "a young temporary file may still be written");
        remove_stale_temporaries(dir, SystemTime::now() + 2 * STALE_AFTER);
        assert!(!dead.exists());
        remove(&file);
        assert_eq!(read(&file, &k), None);
    }

    #[test]
    fn lock_excludes_a_second_holder() {
        let temp = TempDir::new("cache-lock");
        let dir = temp.path();
        let (_, lock_path) = paths(dir, &key("u", "t", "c", "s"));
        let held = Lock::acquire_within(&lock_path, std::time::Duration::from_secs(1)).unwrap();
        let other = File::open(&lock_path).unwrap();
        assert!(other.try_lock().is_err(), "second lock must wait");
        let e = Lock::acquire_within(&lock_path, std::time::Duration::from_millis(50));
        assert_eq!(
            e.err().map(|e| e.kind()),
            Some(std::io::ErrorKind::TimedOut)
        );
        drop(held);
        assert!(Lock::acquire_within(&lock_path, std::time::Duration::from_secs(1)).is_ok());
        assert!(other.try_lock().is_ok());
    }
}
