//! The ending of a live message that was not delivered to everyone.

use super::*;

/// An attempt that served `delivered`, refused `refused` and deferred
/// `deferred` recipients (counts), and failed.
fn attempt(delivered: usize, refused: usize, deferred: usize) -> Attempt {
    let some = |n: usize, name: &str| (0..n).map(|i| format!("{name}{i}@x")).collect();
    Attempt {
        delivered: some(delivered, "ok"),
        refused: some(refused, "no"),
        deferred: some(deferred, "later"),
        error: Some(Error::temporary("451 4.3.0 try later")),
        reply: None,
        size: None,
        no_session: false,
        throttled: false,
        transport: None,
    }
}

#[test]
fn endings() {
    use Ending::*;
    let queued = Some(Area::Messages);
    let failed = Some(Area::Failed);
    // (delivered, refused, deferred), where it was kept, queue configured, ending
    let table = [
        ((0, 0, 2), queued, true, Queued { refused: false }),
        ((1, 0, 1), queued, true, Queued { refused: false }),
        ((0, 1, 1), queued, true, Queued { refused: true }),
        ((0, 0, 2), None, true, NotQueued),
        ((1, 1, 1), failed, true, NotQueued),
        ((0, 0, 2), None, false, Failed),
        ((0, 2, 0), failed, true, Failed),
        ((0, 2, 0), None, false, Failed),
        ((1, 1, 0), failed, true, Partial),
        ((1, 0, 1), None, false, Partial),
    ];
    for (i, ((delivered, refused, deferred), kept, configured, want)) in
        table.into_iter().enumerate()
    {
        let got = ending(&attempt(delivered, refused, deferred), kept, configured);
        assert_eq!(got, want, "row {i}");
    }
}
