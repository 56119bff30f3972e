//! `transport = "auto"`: SMTP first; when Exchange refuses SMTP AUTH by
//! policy (535 5.7.139, which Graph does not share), Graph for this
//! message and the following ones (the Submitter keeps the transport it
//! opened: Graph's is never dropped), remembered for
//! [`REMEMBER_FOR`](memo::REMEMBER_FOR) so that later processes go
//! straight to Graph (`crate::graph::memo`).

use super::{Transport, graph, smtp, transcript};
use crate::account::Account;
use crate::error::{Error, Result, io_reason};
use crate::graph::memo;

/// Opens Graph when it was chosen before (on file), else SMTP, falling back to Graph on a policy refusal.
///
/// # Errors
/// As [`smtp::open`], except for a policy refusal.
pub fn open<'c>(
    account: &mut Account<'c>,
    helo: &str,
    verbose: bool,
) -> Result<Box<dyn Transport + 'c>> {
    if memo::prefers_graph(account.config) {
        return Ok(graph::open(account, transcript(verbose), Vec::new()));
    }
    match smtp::open(account, helo, transcript(verbose)) {
        Err(e) if memo::smtp_auth_refused_by_policy(e.cause()) => {
            let line = switch_line(&e, memo::remember_graph(account.config), account);
            let mut transcript = transcript(verbose);
            transcript.note(&line);
            Ok(graph::open(account, transcript, vec![line]))
        }
        other => other,
    }
}

/// The warning that says why messages now go through Graph, and whether
/// the choice was remembered.
fn switch_line(refusal: &Error, remembered: std::io::Result<()>, account: &Account) -> String {
    let mut line = format!(
        "transport=auto: SMTP AUTH is refused by policy ({}); sending through Microsoft Graph",
        refusal.message()
    );
    match remembered {
        Ok(()) => line.push_str(&format!(
            ", and so for the next {} days",
            memo::REMEMBER_FOR / 86_400
        )),
        Err(e) => line.push_str(&format!(
            " (the choice cannot be remembered in {}: {})",
            account.config.token.cache_dir.display(),
            io_reason(&e)
        )),
    }
    line
}
