//! At most `connections` sessions at once per mailbox, across processes:
//! `connections` slot files in the cache directory, each held with a
//! non-blocking `flock` for as long as a process may talk to the server.
//! The kernel drops a lock when its process dies, so a killed sender frees
//! its slot at once. A slot file that cannot be opened (a caller broke it)
//! counts as free, with a warning: the limit is then weaker, but no caller
//! can stop everyone's mail by breaking a file.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use super::files::{mailbox_key, open_shared};

/// A session slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    _lock: Option<File>,
}

impl Slot {
    /// A slot that holds nothing (no limit, or no usable slot file).
    pub fn unlimited() -> Slot {
        Slot { _lock: None }
    }
}

/// The result of asking for a slot.
#[derive(Debug)]
pub enum Acquired {
    /// A free slot, with a warning when it could not be locked for real.
    Free(Slot, Option<String>),
    /// Every slot stayed taken for the whole wait.
    Busy,
}

/// One set of slots of a mailbox: its SMTP sessions, or its Microsoft
/// Graph requests (Exchange counts those apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool {
    /// The slot files' name prefix.
    pub name: &'static str,
    /// How many at once (0 = no limit).
    pub size: u32,
}

/// The slot files' path for slot `i` of `pool` of `mailbox` in `dir`.
pub fn slot_path(dir: &Path, pool: &Pool, mailbox: &str, i: u32) -> std::path::PathBuf {
    dir.join(format!("{}.{}.{i}", pool.name, mailbox_key(mailbox)))
}

/// Takes one of the slots of `pool` of `mailbox`, waiting at most `wait`
/// for one to come free.
pub fn acquire(dir: &Path, pool: &Pool, mailbox: &str, wait: Duration) -> Acquired {
    if pool.size == 0 {
        return Acquired::Free(Slot::unlimited(), None);
    }
    let deadline = Instant::now() + wait;
    loop {
        for i in 0..pool.size {
            let path = slot_path(dir, pool, mailbox, i);
            let file = match open_shared(&path) {
                Ok(file) => file,
                Err(e) => {
                    let warning = format!(
                        "the connection slot {} cannot be used ({}): sending without it",
                        path.display(),
                        crate::error::io_reason(&e)
                    );
                    return Acquired::Free(Slot::unlimited(), Some(warning));
                }
            };
            if file.try_lock().is_ok() {
                return Acquired::Free(Slot { _lock: Some(file) }, None);
            }
        }
        if Instant::now() >= deadline {
            return Acquired::Busy;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free(a: Acquired) -> Slot {
        match a {
            Acquired::Free(slot, None) => slot,
            other => panic!("{other:?}"),
        }
    }

    const SMTP: Pool = Pool {
        name: "slot",
        size: 3,
    };

    #[test]
    fn three_slots_then_busy_then_one_frees() {
        let dir = crate::testing::TempDir::new("slots");
        let d = dir.path();
        let a = free(acquire(d, &SMTP, "m@x", Duration::ZERO));
        let _b = free(acquire(d, &SMTP, "m@x", Duration::ZERO));
        let _c = free(acquire(d, &SMTP, "m@x", Duration::ZERO));
        assert!(matches!(
            acquire(d, &SMTP, "m@x", Duration::from_millis(50)),
            Acquired::Busy
        ));
        // Another mailbox has slots of its own, and so has Graph.
        let _other = free(acquire(d, &SMTP, "n@x", Duration::ZERO));
        let graph = Pool {
            name: "graph-slot",
            size: 1,
        };
        let _g = free(acquire(d, &graph, "m@x", Duration::ZERO));
        assert!(matches!(
            acquire(d, &graph, "m@x", Duration::ZERO),
            Acquired::Busy
        ));
        drop(a);
        let _d = free(acquire(d, &SMTP, "m@x", Duration::ZERO));
        let none = Pool {
            name: "slot",
            size: 0,
        };
        let _e = free(acquire(d, &none, "m@x", Duration::ZERO));
    }

    #[test]
    fn a_broken_slot_file_weakens_the_limit_but_stops_nothing() {
        let dir = crate::testing::TempDir::new("slots-broken");
        let one = Pool {
            name: "slot",
            size: 1,
        };
        std::fs::create_dir(slot_path(dir.path(), &one, "m@x", 0)).unwrap();
        match acquire(dir.path(), &one, "m@x", Duration::ZERO) {
            Acquired::Free(_, Some(warning)) => assert!(warning.contains("cannot be used")),
            other => panic!("{other:?}"),
        }
    }
}
