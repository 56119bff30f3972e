//! The `[queue]` section, and `queue.rate_limit`, the old name of
//! `limits.rate`.

use std::path::PathBuf;

use super::super::QueueConfig;
use super::{RawQueue, Validator};
use crate::error::Result;

pub(super) fn queue_section(raw: &RawQueue, v: &Validator) -> Result<Option<QueueConfig>> {
    // The other keys are checked even without a dir, so a typo shows early.
    let max_age = v.seconds(&raw.max_age, "queue.max_age", (60, 90 * 86_400), 432_000)?;
    let flush_budget = v.seconds(&raw.flush_budget, "queue.flush_budget", (0, 60), 2)?;
    let rate_limit = queue_rate(raw, v)?;
    Ok(v.string(&raw.dir, "queue.dir")?.map(|dir| QueueConfig {
        dir: PathBuf::from(dir),
        max_age,
        rate_limit,
        flush_budget,
    }))
}

/// `queue.rate_limit`, the old name of `limits.rate`.
pub(super) fn queue_rate(raw: &RawQueue, v: &Validator) -> Result<u32> {
    Ok(match &raw.rate_limit {
        None => 30,
        Some(r) => u32::try_from(*r.get_ref())
            .ok()
            .filter(|n| *n <= 100_000)
            .ok_or_else(|| {
                v.at(
                    r,
                    "queue.rate_limit",
                    "must be between 0 (no limit) and 100000 messages a minute",
                )
            })?,
    })
}
