//! Files and directories in the token cache and the queue, opened so that
//! nobody who can write there can steer the program.
//!
//! Those directories are shared by every process with the `oauth2-sendmail`
//! group's rights, root's among them. So every open here refuses a symbolic
//! link (`O_NOFOLLOW`) and anything that is not a regular file (a FIFO
//! would block, `O_NONBLOCK` keeps the open itself from blocking); a file
//! that is written in place (a lock, the rate ledger) must also have one
//! link and the expected owner ([`check_owner`]). New files and
//! directories get their final mode when they are made: every mode asked
//! for here has no bits for others, and `privilege::start` sets the umask
//! to 007 in every mode, so the kernel applies the mode as given and a
//! process killed half-way leaves nothing with the wrong mode. (Only under
//! another umask, in unit tests, is the mode of what was just made here
//! set again, on the new file's own descriptor.)

use std::fs::{DirBuilder, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use rustix::fs::{Mode, OFlags};

/// `O_NOFOLLOW | O_NONBLOCK`: no symbolic link, and no FIFO that blocks the open.
fn flags() -> i32 {
    (OFlags::NOFOLLOW | OFlags::NONBLOCK).bits() as i32
}

/// The umask every mode of the program sets (see `privilege::start`).
pub const UMASK: u32 = 0o007;

/// Sets the program's umask.
pub fn set_umask() {
    rustix::process::umask(Mode::from_raw_mode(UMASK));
}

fn not_regular(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{} is not a regular file", path.display()),
    )
}

/// Opens the existing regular file `path` for reading, never through a
/// symbolic link.
///
/// # Errors
/// The I/O error (`ELOOP` for a link), or `InvalidData` for anything that
/// is not a regular file.
pub fn open_read(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags())
        .open(path)?;
    if !file.metadata()?.file_type().is_file() {
        return Err(not_regular(path));
    }
    Ok(file)
}

/// Creates `path`, which must not exist (not even as a dangling link),
/// for writing, with exactly `mode`.
///
/// # Errors
/// The I/O error; `AlreadyExists` when something is there.
pub fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(flags())
        .open(path)?;
    // Only under a foreign umask (unit tests); the file is the one just made.
    if file.metadata()?.mode() & 0o7777 != mode {
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    Ok(file)
}

/// Opens the file `path` in the directory `dir` for reading and writing
/// in place, creating it with exactly `mode` if it is missing. What is
/// there already must be a regular file with one link and an owner
/// [`check_owner`] accepts; its mode is left as it is.
///
/// # Errors
/// The I/O error, or `InvalidData` naming what is wrong with the file.
pub fn open_shared(dir: &Path, path: &Path, mode: u32) -> io::Result<File> {
    match create_new(path, mode) {
        Ok(file) => return Ok(file),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(flags())
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(not_regular(path));
    }
    check_owner(&meta, &std::fs::metadata(dir)?, path)?;
    Ok(file)
}

/// Whether a file in a shared directory is one the program may write:
/// one link only (not a second name of a file elsewhere), owned by this
/// process's effective user or the directory's owner, or, in a
/// set-group-ID directory, belonging to its group (the files any caller
/// made through the set-group-ID binary).
///
/// # Errors
/// `InvalidData` naming the problem.
pub fn check_owner(meta: &Metadata, dir: &Metadata, path: &Path) -> io::Result<()> {
    let euid = rustix::process::geteuid().as_raw();
    let setgid_dir = dir.mode() & 0o2000 != 0;
    let owner_ok =
        meta.uid() == euid || meta.uid() == dir.uid() || (setgid_dir && meta.gid() == dir.gid());
    if meta.nlink() != 1 || !owner_ok {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} has another owner or a second name: not a file this program made",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// Whether `path` is a directory itself, not a symbolic link to one.
pub fn is_real_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_dir())
}

/// Creates the directory `path` with exactly `mode` (set-group-ID comes
/// from a set-group-ID parent, as Linux's mkdir does). An existing
/// directory is fine; an existing link or file is not.
///
/// # Errors
/// The I/O error.
pub fn mkdir(path: &Path, mode: u32, recursive: bool) -> io::Result<()> {
    let made = DirBuilder::new()
        .recursive(recursive)
        .mode(mode)
        .create(path);
    match made {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        Ok(()) if std::fs::metadata(path)?.mode() & 0o777 != mode & 0o777 => {
            // Only under a foreign umask (unit tests): the directory just made.
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        }
        _ if is_real_dir(path) => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} is there but is not a directory", path.display()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_fifos_and_strangers_are_refused() {
        let temp = crate::testing::TempDir::new("safe-fs");
        let dir = temp.path();
        let target = dir.join("target");
        std::fs::write(&target, "precious").unwrap();
        let link = dir.join("link");
        symlink(&target, &link).unwrap();
        assert!(open_read(&link).is_err());
        assert!(open_shared(dir, &link, 0o600).is_err());
        assert!(create_new(&link, 0o600).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");

        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        assert!(
            open_read(&fifo).is_err(),
            "a FIFO neither blocks nor passes"
        );

        let second = dir.join("second");
        std::fs::hard_link(&target, &second).unwrap();
        assert!(open_shared(dir, &second, 0o600).is_err(), "two links");
        std::fs::remove_file(&second).unwrap();
        assert!(open_shared(dir, &target, 0o600).is_ok());
    }

    #[test]
    fn modes_are_exact_whatever_the_umask() {
        let temp = crate::testing::TempDir::new("safe-fs-mode");
        let dir = temp.path();
        let file = dir.join("f");
        drop(create_new(&file, 0o660).unwrap());
        let sub = dir.join("d");
        mkdir(&sub, 0o770, false).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&file), 0o660);
        assert_eq!(mode(&sub), 0o770);
        mkdir(&sub, 0o770, false).unwrap();
        assert!(mkdir(&file, 0o770, false).is_err());
    }
}
