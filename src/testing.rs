//! Helpers shared by the unit tests: a scratch directory of the test's own,
//! a one-line SMTP reply.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh, empty directory under the system's temporary directory,
/// removed with everything in it when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new directory whose name contains `name`, this process and a counter.
    pub fn new(name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("o2s-unit-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A path inside it.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A one-line SMTP reply.
pub fn reply(code: u16, text: &str) -> crate::smtp::reply::Reply {
    crate::smtp::reply::Reply {
        code,
        lines: vec![text.to_string()],
    }
}
