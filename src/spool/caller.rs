//! Who handed the message over: the real uid of this process.
//!
//! The binary may run setgid (or setuid) to the package's group, so the
//! effective ids say nothing about the caller; the real uid does. It is
//! recorded in each queued message so that `mailq` shows a non-root caller
//! only that caller's messages. Read from `/proc/self/status` (the program
//! forbids `unsafe`, so no `getuid()`).

/// Marks a uid that could not be found out: only root sees such messages.
pub const UNKNOWN_UID: u32 = u32::MAX;

/// The real uid in the text of `/proc/self/status` (`Uid:` real, effective,
/// saved, filesystem).
pub fn real_uid_from_status(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next())
        .and_then(|real| real.parse().ok())
}

/// The real uid of this process, or [`UNKNOWN_UID`].
pub fn real_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .as_deref()
        .and_then(real_uid_from_status)
        .unwrap_or(UNKNOWN_UID)
}

/// Whether a caller with real uid `caller` may see a message queued by `owner`.
pub fn may_see(caller: u32, owner: u32) -> bool {
    caller == 0 || (caller == owner && caller != UNKNOWN_UID)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let table = [
            ("Name:\tx\nUid:\t33\t0\t0\t0\nGid:\t1\t1\t1\t1\n", Some(33)),
            ("Uid:\t0\t0\t0\t0\n", Some(0)),
            ("Uid:\t\n", None),
            ("Uid:\tabc\t0\n", None),
            ("Gid:\t5\t5\t5\t5\n", None),
            ("", None),
        ];
        for (text, want) in table {
            assert_eq!(real_uid_from_status(text), want, "{text:?}");
        }
        assert_ne!(real_uid(), UNKNOWN_UID, "this test runs on Linux");
    }

    #[test]
    fn visibility() {
        assert!(may_see(0, 33));
        assert!(may_see(0, UNKNOWN_UID));
        assert!(may_see(33, 33));
        assert!(!may_see(33, 34));
        assert!(!may_see(33, UNKNOWN_UID));
        assert!(!may_see(UNKNOWN_UID, UNKNOWN_UID));
    }
}
