//! The queue directory on disk: its areas, claiming a message, and moving
//! it on (delivered, failed, corrupt).
//!
//! Layout under `[queue] dir`:
//!
//! | area | holds |
//! |---|---|
//! | `msg/ID` | queued messages (head + message, see `format`), never changed |
//! | `state/ID` | retry state of `msg/ID`, replaced atomically after each attempt |
//! | `tmp/` | files being written; renamed or linked into place when complete |
//! | `failed/ID`, `failed/ID.reason` | messages given up, with the reason |
//! | `corrupt/` | files that are not queue files, moved aside |
//! | `rate` | times of recent sends (the per-minute limit) |
//!
//! A message is claimed by an exclusive, non-blocking `flock` on its file
//! (released by the kernel when the process dies, however it dies), and
//! the claim is checked against the path afterwards, so a run never works
//! on a file another run has already removed. Files are 0660 at most (0600
//! unless the directory is shared with a group); areas inherit the queue
//! directory's group bits and setgid, never anything for others.

use std::fs::{self, File, TryLockError};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use super::format::{self, Corrupt, MAX_HEAD, Meta, State};

/// A leftover temporary file or state is removed once it is this old.
const STALE_AFTER: Duration = Duration::from_secs(600);
/// State files are a few hundred bytes; more is not ours.
const MAX_STATE: u64 = 1024 * 1024;

/// The parts of the queue directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    /// Queued messages.
    Messages,
    /// Their retry state.
    States,
    /// Files being written.
    Temporary,
    /// Messages given up.
    Failed,
    /// Files that are not queue files.
    Corrupt,
}

impl Area {
    const ALL: [Area; 5] = [
        Area::Messages,
        Area::States,
        Area::Temporary,
        Area::Failed,
        Area::Corrupt,
    ];

    fn name(self) -> &'static str {
        match self {
            Area::Messages => "msg",
            Area::States => "state",
            Area::Temporary => "tmp",
            Area::Failed => "failed",
            Area::Corrupt => "corrupt",
        }
    }
}

/// The queue directory.
#[derive(Clone, Debug)]
pub struct Spool {
    root: PathBuf,
}

/// What claiming a message gave.
#[derive(Debug)]
pub enum Claim {
    /// It is ours until dropped.
    Taken(Box<Claimed>),
    /// Another process holds it (a run, or the sender still writing it).
    Busy,
    /// It is no longer there (delivered or moved by another run).
    Gone,
    /// It is not a queue file; the reason.
    Corrupt(String),
}

/// A message this process holds the lock on.
#[derive(Debug)]
pub struct Claimed {
    /// Its envelope.
    pub meta: Meta,
    file: File,
    body_start: u64,
}

impl Claimed {
    /// The message, from its first header byte to its end.
    ///
    /// # Errors
    /// The I/O error of seeking to it.
    pub fn message(&mut self) -> io::Result<impl Read + '_> {
        self.file.seek(SeekFrom::Start(self.body_start))?;
        Ok((&self.file).take(self.meta.size))
    }
}

impl Spool {
    /// The queue at `root`.
    pub fn new(root: &Path) -> Spool {
        Spool {
            root: root.to_path_buf(),
        }
    }

    /// The queue directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `name` in `area`.
    pub fn path(&self, area: Area, name: &str) -> PathBuf {
        self.root.join(area.name()).join(name)
    }

    fn area(&self, area: Area) -> PathBuf {
        self.root.join(area.name())
    }

    /// The mode for new files: group read/write only where the queue
    /// directory gives its group access.
    pub fn file_mode(&self) -> u32 {
        let root = fs::metadata(&self.root).map_or(0o700, |m| m.mode());
        0o600 | (root & 0o060)
    }

    /// Checks the queue directory and its areas, creating what is missing
    /// when this process runs with its own rights (root, the queue
    /// service's user, the one user of an installation without
    /// set-group-ID). A set-group-ID process never creates any of them:
    /// they would belong to whichever user happened to queue first, and a
    /// caller killed half-way would leave them broken for everyone; the
    /// packages (and `packaging/install`) create them all. Every area must
    /// be a directory, not a symbolic link to one.
    ///
    /// # Errors
    /// The I/O error, naming nothing; callers say which directory.
    pub fn prepare(&self) -> io::Result<()> {
        let privileged = crate::privilege::Caller::current().is_privileged();
        let root_missing = !self.root.is_dir();
        let missing: Vec<Area> = Area::ALL
            .into_iter()
            .filter(|area| {
                !self.area(*area).exists() && fs::symlink_metadata(self.area(*area)).is_err()
            })
            .collect();
        if privileged && (root_missing || !missing.is_empty()) {
            let what = if root_missing {
                "it does not exist".to_string()
            } else {
                let names: Vec<&str> = missing.iter().map(|a| a.name()).collect();
                format!("its areas {} do not exist", names.join(", "))
            };
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{what}; root must create it (the packages do: the directory and msg, state, tmp, failed, corrupt in it, each chown root:oauth2-sendmail, chmod 2770)"
                ),
            ));
        }
        if root_missing {
            crate::safe_fs::mkdir(&self.root, 0o770, true)?;
        }
        let root = fs::metadata(&self.root)?.mode();
        // The group's bits and set-group-ID come from the queue directory
        // (the latter by inheritance: mkdir does not set it).
        let mode = 0o700 | (root & 0o070);
        for area in Area::ALL {
            let path = self.area(area);
            if missing.contains(&area) {
                crate::safe_fs::mkdir(&path, mode, false)?;
            } else if !crate::safe_fs::is_real_dir(&path) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is not a directory (a symbolic link?)", path.display()),
                ));
            }
        }
        Ok(())
    }

    /// Queue ids in `msg/`, oldest first, and the names there that are not
    /// queue ids (to be moved aside).
    ///
    /// # Errors
    /// The directory cannot be read.
    pub fn ids(&self) -> io::Result<(Vec<String>, Vec<String>)> {
        let mut ids = Vec::new();
        let mut foreign = Vec::new();
        let entries = match fs::read_dir(self.area(Area::Messages)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((ids, foreign)),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if format::is_queue_id(&name) {
                ids.push(name);
            } else {
                foreign.push(name);
            }
        }
        ids.sort();
        foreign.sort();
        Ok((ids, foreign))
    }

    /// Files in `area` (for counts).
    pub fn count(&self, area: Area) -> usize {
        fs::read_dir(self.area(area)).map_or(0, |entries| {
            entries
                .flatten()
                .filter(|e| !e.file_name().to_string_lossy().ends_with(".reason"))
                .count()
        })
    }

    /// Tries to take message `id` for this process.
    ///
    /// # Errors
    /// An I/O error other than "not found" while opening or reading it.
    pub fn claim(&self, id: &str) -> io::Result<Claim> {
        let path = self.path(Area::Messages, id);
        let file = match crate::safe_fs::open_read(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Claim::Gone),
            Err(e) if is_not_a_file(&e) => {
                return Ok(Claim::Corrupt("not a regular file".into()));
            }
            Err(e) => return Err(e),
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(Claim::Busy),
            Err(TryLockError::Error(e)) => return Err(e),
        }
        // The lock is on what we opened; make sure that is still what the
        // path names (another run may have removed it in between).
        let at_path = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Claim::Gone),
            Err(e) => return Err(e),
        };
        if !at_path.file_type().is_file() {
            return Ok(Claim::Corrupt("not a regular file".into()));
        }
        let held = file.metadata()?;
        if (held.dev(), held.ino()) != (at_path.dev(), at_path.ino()) {
            return Ok(Claim::Gone);
        }
        let head = read_head(&file)?;
        match format::parse_head(&head, held.len()) {
            Ok((meta, _)) if meta.id != id => {
                Ok(Claim::Corrupt("its id is not its file name".into()))
            }
            Ok((meta, start)) => Ok(Claim::Taken(Box::new(Claimed {
                meta,
                file,
                body_start: start as u64,
            }))),
            Err(Corrupt(why)) => Ok(Claim::Corrupt(why)),
        }
    }

    /// Reads a message's envelope without claiming it (for `mailq`).
    ///
    /// # Errors
    /// I/O errors, or [`io::ErrorKind::InvalidData`] for a corrupt file.
    pub fn peek(&self, id: &str) -> io::Result<Meta> {
        let file = crate::safe_fs::open_read(&self.path(Area::Messages, id))?;
        let head = read_head(&file)?;
        format::parse_head(&head, file.metadata()?.len())
            .map(|(meta, _)| meta)
            .map_err(|Corrupt(why)| io::Error::new(io::ErrorKind::InvalidData, why))
    }

    /// The retry state of `id`: the default when there is none yet.
    ///
    /// # Errors
    /// [`Corrupt`] when the state file is damaged (the caller starts over).
    pub fn read_state(&self, id: &str) -> Result<State, Corrupt> {
        let read = crate::safe_fs::open_read(&self.path(Area::States, id)).and_then(|file| {
            let mut text = String::new();
            file.take(MAX_STATE).read_to_string(&mut text)?;
            Ok(text)
        });
        match read {
            Ok(text) => format::parse_state(&text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(Corrupt(crate::error::io_reason(&e))),
        }
    }

    /// Replaces the retry state of `id`.
    ///
    /// # Errors
    /// The I/O error; the old state stays.
    pub fn write_state(&self, id: &str, state: &State) -> io::Result<()> {
        let text = format::format_state(state);
        self.write_atomic(&self.path(Area::States, id), text.as_bytes())
    }

    /// The message was delivered to everyone: it leaves the queue.
    ///
    /// # Errors
    /// The message file could not be removed (it will be sent again).
    pub fn remove(&self, claimed: Claimed) -> io::Result<()> {
        let id = claimed.meta.id.clone();
        fs::remove_file(self.path(Area::Messages, &id))?;
        remove_if_there(&self.path(Area::States, &id));
        drop(claimed);
        Ok(())
    }

    /// The message is given up: it moves to `failed/` with its last state
    /// (the reason) beside it.
    ///
    /// # Errors
    /// The I/O error; the message then stays queued.
    pub fn fail(&self, claimed: Claimed, state: &State) -> io::Result<()> {
        let id = claimed.meta.id.clone();
        let reason = self.path(Area::Failed, &format!("{id}.reason"));
        self.write_atomic(&reason, format::format_state(state).as_bytes())?;
        fs::rename(self.path(Area::Messages, &id), self.path(Area::Failed, &id))?;
        sync_dir(&self.area(Area::Failed))?;
        remove_if_there(&self.path(Area::States, &id));
        drop(claimed);
        Ok(())
    }

    /// Moves `name` from `area` to `corrupt/` (under a new name if taken).
    ///
    /// # Errors
    /// The I/O error of the rename.
    pub fn set_aside(&self, area: Area, name: &str) -> io::Result<PathBuf> {
        let mut target = self.path(Area::Corrupt, name);
        let mut n = 1;
        while target.exists() {
            target = self.path(Area::Corrupt, &format!("{name}.{n}"));
            n += 1;
        }
        fs::rename(self.path(area, name), &target)?;
        Ok(target)
    }

    /// Removes what crashed processes left: temporary files nobody holds a
    /// lock on and state files without a message, once they are old.
    pub fn clean_up(&self, now: SystemTime) {
        let stale = |path: &Path| {
            fs::symlink_metadata(path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > STALE_AFTER))
        };
        for entry in fs::read_dir(self.area(Area::Temporary))
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = entry.path();
            if !stale(&path) {
                continue;
            }
            // A sender still writing holds its lock, however slow its input
            // (drafts are made readable by the group). What is not a regular
            // file (a link, a FIFO) is nobody's draft, nor is a file the
            // group cannot read: a 0600 leftover of a process 0.1 killed
            // between creating it and setting its mode.
            let unheld = match crate::safe_fs::open_read(&path) {
                Ok(file) => file.try_lock().is_ok(),
                Err(e) => is_not_a_file(&e) || e.kind() == io::ErrorKind::PermissionDenied,
            };
            if unheld {
                remove_if_there(&path);
            }
        }
        for entry in fs::read_dir(self.area(Area::States))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if !self.path(Area::Messages, &name).exists() && stale(&path) {
                remove_if_there(&path);
            }
        }
    }

    /// Writes `bytes` to `dest` atomically and durably: a file in `tmp/`,
    /// fsync, rename, fsync of the directory.
    ///
    /// # Errors
    /// The I/O error; `dest` is then unchanged.
    pub fn write_atomic(&self, dest: &Path, bytes: &[u8]) -> io::Result<()> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "w.{}.{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let temporary = self.path(Area::Temporary, &name);
        let result = (|| {
            let mut file = self.create(&temporary)?;
            io::Write::write_all(&mut file, bytes)?;
            file.sync_all()?;
            fs::rename(&temporary, dest)?;
            sync_dir(dest.parent().unwrap_or(&self.root))
        })();
        if result.is_err() {
            remove_if_there(&temporary);
        }
        result
    }

    /// A new file at `path` (which must not exist, not even as a link)
    /// with the queue's mode from the start.
    ///
    /// # Errors
    /// The I/O error.
    pub fn create(&self, path: &Path) -> io::Result<File> {
        crate::safe_fs::create_new(path, self.file_mode())
    }

    /// Puts the complete file `temporary` into `area` as `id`, durably,
    /// never replacing a file already there.
    ///
    /// # Errors
    /// The I/O error; nothing is in `area` then.
    pub fn publish(&self, temporary: &Path, area: Area, id: &str) -> io::Result<()> {
        let target = self.path(area, id);
        fs::hard_link(temporary, &target)?;
        sync_dir(&self.area(area))
    }
}

/// The head of a queue file: read in small steps up to the blank line, so a
/// 25 MB message costs a few kilobytes to look at.
fn read_head(file: &File) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    let mut reader = file;
    reader.seek(SeekFrom::Start(0))?;
    loop {
        let n = reader.read(&mut chunk)?;
        if n == 0 {
            return Ok(head);
        }
        let searched_from = head.len().saturating_sub(1);
        head.extend_from_slice(&chunk[..n]);
        if head[searched_from..].windows(2).any(|w| w == b"\n\n") || head.len() >= MAX_HEAD {
            return Ok(head);
        }
    }
}

/// Whether opening failed because the name is a symbolic link (`ELOOP`
/// under `O_NOFOLLOW`) or not a regular file.
fn is_not_a_file(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidData
        || e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
}

fn remove_if_there(path: &Path) {
    let _ = fs::remove_file(path);
}

/// Makes the directory's entries (renames, links) durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests;
