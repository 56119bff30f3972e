//! What a queue run did ([`Summary`]), and the one line `-q` prints for
//! people.

use crate::cause::Cause;

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Messages delivered to every remaining recipient.
    pub delivered: usize,
    /// Messages tried (or passed over for a dead session) and kept for later.
    pub deferred: usize,
    /// Messages given up (moved to `failed/`).
    pub failed: usize,
    /// Messages another process held.
    pub busy: usize,
    /// Files moved to `corrupt/`.
    pub set_aside: usize,
    /// Why the run ended early, if it did.
    pub stopped: Option<String>,
    /// The cause code of each message given up (for the metrics).
    pub failed_causes: Vec<Cause>,
}

impl Summary {
    /// Adds another account's run to this one.
    pub fn add(&mut self, other: Summary) {
        self.delivered += other.delivered;
        self.deferred += other.deferred;
        self.failed += other.failed;
        self.busy += other.busy;
        self.set_aside += other.set_aside;
        self.stopped = self.stopped.take().or(other.stopped);
        self.failed_causes.extend(other.failed_causes);
    }
}

/// One line for people: what the run did, what is left, why it stopped.
pub fn describe(summary: &Summary, left: usize) -> String {
    let mut line = format!(
        "oauth2-sendmail: queue run: {} delivered, {} deferred, {} failed",
        summary.delivered, summary.deferred, summary.failed
    );
    if summary.busy > 0 {
        line.push_str(&format!(", {} held by another run", summary.busy));
    }
    if summary.set_aside > 0 {
        line.push_str(&format!(", {} moved to corrupt/", summary.set_aside));
    }
    line.push_str(&format!("; {left} left in the queue"));
    if let Some(why) = &summary.stopped {
        line.push_str(&format!(" (stopped: {why})"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_for_people() {
        let summary = Summary {
            delivered: 3,
            deferred: 1,
            failed: 0,
            busy: 2,
            set_aside: 1,
            stopped: Some("the server asked for a pause: 421".into()),
            failed_causes: Vec::new(),
        };
        assert_eq!(
            describe(&summary, 4),
            "oauth2-sendmail: queue run: 3 delivered, 1 deferred, 0 failed, 2 held by another run, \
             1 moved to corrupt/; 4 left in the queue (stopped: the server asked for a pause: 421)"
        );
        assert_eq!(
            describe(&Summary::default(), 0),
            "oauth2-sendmail: queue run: 0 delivered, 0 deferred, 0 failed; 0 left in the queue"
        );
    }
}
