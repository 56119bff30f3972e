//! The queue runner's decisions, pure and tested by tables: what to do
//! with a claimed message before trying it ([`plan`]), and what an attempt
//! means for it ([`settlement`]). The runner (`super`) acts on them: file
//! moves, state writes, log lines.

use super::Selection;
use crate::attempt::Attempt;
use crate::spool::schedule;

/// What a run does with a claimed message before trying it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Its retry time has not come (`--queue-run`): leave it.
    NotDue,
    /// Everyone was served already: remove it.
    Served,
    /// No session can be had this run: record another failed attempt.
    Wait,
    /// Send it.
    Try,
}

/// The decision at the start of `Run::one`, for a message whose retry
/// time is `next_attempt` and that still goes to `pending`.
pub fn plan(
    selection: Selection,
    next_attempt: u64,
    now: u64,
    pending: &[String],
    session_down: bool,
) -> Plan {
    if selection == Selection::Due && !schedule::is_due(next_attempt, now) {
        Plan::NotDue
    } else if pending.is_empty() {
        Plan::Served
    } else if session_down {
        Plan::Wait
    } else {
        Plan::Try
    }
}

/// What an attempt means for a queued message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// Everyone is served: remove it.
    Done,
    /// The rest were refused for good: into `failed/` (`partial` when
    /// this attempt served some).
    GiveUp { partial: bool },
    /// Still pending, and older than `queue.max_age`: into `failed/`.
    Expired,
    /// Still pending: try again later.
    Retry,
}

/// The decision behind `Run::settle`: `pending` are the recipients not
/// yet served after the attempt, `expired` whether the message is past
/// `queue.max_age`.
pub fn settlement(pending: &[String], attempt: &Attempt, expired: bool) -> Settlement {
    match (pending.is_empty(), attempt.refused.is_empty()) {
        (true, true) => Settlement::Done,
        (true, false) => Settlement::GiveUp {
            partial: !attempt.delivered.is_empty(),
        },
        (false, _) if expired => Settlement::Expired,
        (false, _) => Settlement::Retry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize, name: &str) -> Vec<String> {
        (0..n).map(|i| format!("{name}{i}@x")).collect()
    }

    #[test]
    fn plans() {
        use Plan::*;
        use Selection::{All, Due};
        // (selection, next attempt, pending recipients, session down), plan; now = 100
        let table = [
            ((Due, 200, 1, false), NotDue),
            ((Due, 200, 0, true), NotDue),
            ((All, 200, 1, false), Try),
            ((Due, 100, 1, false), Try),
            ((Due, 50, 0, false), Served),
            ((All, 200, 0, true), Served),
            ((Due, 50, 2, true), Wait),
            ((All, 200, 1, true), Wait),
        ];
        for (i, ((selection, next, pending, down), want)) in table.into_iter().enumerate() {
            let got = plan(selection, next, 100, &names(pending, "p"), down);
            assert_eq!(got, want, "row {i}");
        }
    }

    #[test]
    fn settlements() {
        use Settlement::*;
        // (delivered, refused by this attempt, still pending, expired), settlement
        let table = [
            ((1, 0, 0, false), Done),
            ((1, 0, 0, true), Done),
            ((0, 0, 0, false), Done),
            ((0, 1, 0, false), GiveUp { partial: false }),
            ((2, 1, 0, true), GiveUp { partial: true }),
            ((0, 0, 1, false), Retry),
            ((1, 1, 1, false), Retry),
            ((0, 0, 1, true), Expired),
            ((1, 1, 1, true), Expired),
        ];
        for (i, ((delivered, refused, pending, expired), want)) in table.into_iter().enumerate() {
            let attempt = Attempt {
                delivered: names(delivered, "ok"),
                refused: names(refused, "no"),
                deferred: names(pending, "later"),
                error: None,
                reply: None,
                size: None,
                no_session: false,
                throttled: false,
                transport: None,
            };
            let got = settlement(&names(pending, "later"), &attempt, expired);
            assert_eq!(got, want, "row {i}");
        }
    }
}
