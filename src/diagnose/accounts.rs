//! `--check` with several accounts: every account (a compact table, then
//! the steps of each account that failed), or the one `--account` names.
//!
//! A caller bound by `callers` is checked only for its own account: the
//! same rule as for sending, so `--check --account` is no way around it.

use super::report::{Report, Step, Verdict, render_step};
use super::step_id::StepId;
use crate::account;
use crate::cli::Invocation;
use crate::config::Config;
use crate::error::Error;
use crate::transcript::Transcript;

/// Checks one account's steps into a report.
pub type Steps = fn(&mut Report, Option<&str>, &Config, Transcript, bool);

/// Runs `steps` for the account or accounts this invocation asks for.
pub fn check(
    report: &mut Report,
    invocation: &Invocation,
    config: &Config,
    transcript: Transcript,
    verdicts_only: bool,
    steps: Steps,
) {
    let check_to = invocation.check_to.as_deref();
    let allowed = match permitted(config) {
        Ok(allowed) => allowed,
        Err(e) => return report.add(Step::fail(StepId::Account, &e)),
    };
    if let Some(name) = &invocation.account {
        match allowed.iter().find(|a| &a.account == name) {
            Some(one) => {
                report.say(&format!("account {name}\n"));
                steps(report, check_to, one, transcript, verdicts_only);
            }
            None => {
                let e = Error::usage(format!(
                    "--account {name}: no such account for this caller (accounts: {})",
                    names(&allowed)
                ));
                report.add(Step::fail(StepId::Account, &e).public());
            }
        }
        return;
    }
    if allowed.len() == 1 {
        return steps(report, check_to, allowed[0], transcript, verdicts_only);
    }
    let mut results = Vec::new();
    for (i, one) in allowed.iter().enumerate() {
        let mut sub = Report::quiet();
        if verdicts_only {
            sub.verdicts_only();
        }
        let transcript = if invocation.verbose {
            Transcript::stderr()
        } else {
            Transcript::off()
        };
        // A test message goes through the default account only; --account
        // names another.
        let to = if i == 0 { check_to } else { None };
        steps(&mut sub, to, one, transcript, verdicts_only);
        results.push((*one, sub));
    }
    report.say(&table(&results, verdicts_only));
    for (one, sub) in &results {
        let step = match sub.first_failure() {
            None => Step::pass(
                StepId::Account,
                format!("{}: every check passed", one.account),
            )
            .public(),
            Some(failed) => {
                let mut step = failed.clone();
                step.id = StepId::Account.id();
                step.title = StepId::Account.title();
                step.summary = format!("{}: {}: {}", one.account, failed.title, failed.summary);
                step
            }
        };
        if sub.first_failure().is_some() {
            report.say(&format!("\naccount {}:\n", one.account));
            for s in sub.steps() {
                report.say(&render_step(s, super::report::Style::PLAIN));
            }
        }
        report.add_quietly(step);
    }
}

/// The accounts this caller may check: a bound caller its own, others all.
fn permitted(config: &Config) -> crate::error::Result<Vec<&Config>> {
    let who = account::identity::of_uid(crate::privilege::Caller::current().uid);
    Ok(match account::select::binding(config, &who)? {
        Some((bound, _)) => vec![bound],
        None => std::iter::once(config).chain(&config.accounts).collect(),
    })
}

fn names(accounts: &[&Config]) -> String {
    accounts
        .iter()
        .map(|a| a.account.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The compact table: one line per account.
fn table(results: &[(&Config, Report)], verdicts_only: bool) -> String {
    let width = results
        .iter()
        .map(|(a, _)| a.account.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let mut out = format!(
        "\n{:width$}  {:7}  {}\n",
        "account", "result", "mailbox / first failure"
    );
    for (one, sub) in results {
        let worst = if sub.first_failure().is_some() {
            "FAIL"
        } else if sub.steps().iter().any(|s| s.verdict == Verdict::Warn) {
            "warn"
        } else {
            "ok"
        };
        let what = match sub.first_failure() {
            Some(failed) => format!("{}: {}", failed.title, failed.summary),
            None if verdicts_only => String::new(),
            None => one.user.clone(),
        };
        out.push_str(&format!("{:width$}  {worst:7}  {what}\n", one.account));
    }
    out.push('\n');
    out
}
