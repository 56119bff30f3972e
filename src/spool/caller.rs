//! Who handed the message over: the real uid of this process.
//!
//! The binary may run setgid (or setuid) to the package's group, so the
//! effective ids say nothing about the caller; the real uid does. It is
//! recorded in each queued message so that `mailq` shows a non-root caller
//! only that caller's messages, and a queue run by a set-group-ID caller
//! takes only that caller's messages ([`run_owner`]).

/// Marks a uid that could not be found out: only root sees such messages.
pub const UNKNOWN_UID: u32 = u32::MAX;

/// The real uid of this process: who called, whatever the set-group-ID
/// bit made the effective ids.
pub fn real_uid() -> u32 {
    crate::privilege::Caller::current().uid
}

/// Whose queued messages this process may deliver in a queue run or a
/// flush: `None` for everyone's (a process with its own rights: root, the
/// queue service's user, the one user of an installation without
/// set-group-ID), `Some(uid)` for only its own when the process runs with
/// the set-group-ID rights of a caller who is not root.
pub fn run_owner() -> Option<u32> {
    let caller = crate::privilege::Caller::current();
    caller.is_privileged().then_some(caller.uid)
}

/// Whether a caller with real uid `caller` may see a message queued by `owner`.
pub fn may_see(caller: u32, owner: u32) -> bool {
    caller == 0 || (caller == owner && caller != UNKNOWN_UID)
}

#[cfg(test)]
mod tests {
    use super::*;

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
