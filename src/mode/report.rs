//! What every sending mode does when its messages are settled: count
//! them in the metrics (and rewrite `metrics_file`), and give the daily
//! credential-expiry warning.

use crate::cause::Cause;
use crate::config::Config;
use crate::error::Error;
use crate::log::{Outcome, Syslog};
use crate::metrics::{self, Event};

/// Counts `events` of the account `config` (`top` or one of its
/// accounts), rewrites the metrics file, warns about the credential.
pub fn after_sends(top: &Config, config: &Config, events: &[Event], syslog: &mut Syslog) {
    metrics::record(top, config, events, syslog);
    metrics::notice_expiry(config, syslog);
}

/// The events of one message handed over live.
pub fn of_submit(result: &Result<Outcome, Error>) -> Vec<Event> {
    vec![match result {
        Ok(Outcome::Queued) => Event::new("queued", "temporary"),
        Ok(Outcome::Failed) => Event::new("failed", "unknown"),
        Ok(_) => Event::new("delivered", "none"),
        Err(e) => Event::new("failed", e.cause_code()),
    }]
}

/// The events of a queue run: deliveries and give-ups (a deferral was
/// counted when the message was queued).
pub fn of_run(delivered: usize, failed_causes: &[Cause]) -> Vec<Event> {
    let delivered = (0..delivered).map(|_| Event::new("delivered", "none"));
    let failed = failed_causes
        .iter()
        .map(|c| Event::new("failed", c.as_str()));
    delivered.chain(failed).collect()
}
