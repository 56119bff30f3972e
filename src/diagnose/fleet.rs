//! The `--check` steps of issue 16: the client secret's expiry
//! (`client_secret_expires`; a certificate's notAfter is checked with the
//! certificate) and the day's recipient budget (`limits.recipients_per_day`).

use super::report::Step;
use super::step_id::StepId;
use crate::cause::Cause;
use crate::config::{Config, Credential};
use crate::error::Error;
use crate::expiry::{self, Stage};

/// The secret's expiry, when `client_secret_expires` is set for a secret.
pub fn secret_expiry(config: &Config, now: u64) -> Option<Step> {
    const ID: StepId = StepId::CredentialExpiry;
    if matches!(config.credential, Credential::Certificate { .. }) {
        return None;
    }
    let expiry = expiry::of(config)?;
    let date = crate::clock::utc_timestamp(expiry.at);
    let sentence = expiry::describe(&expiry, now);
    Some(match (expiry::stage(expiry.at, now), sentence) {
        (Stage::Expired, Some(sentence)) => Step::fail(
            ID,
            &Error::config(sentence)
                .with_hint("Entra refuses an expired secret with AADSTS7000222; create a new one and update client_secret_expires")
                .with_cause(Cause::SecretExpired),
        ),
        (Stage::Soon(_), Some(sentence)) => Step::warn(
            ID,
            sentence,
            "Entra admin center > App registrations > your app > Certificates & secrets: New client secret",
        )
        .cause(Cause::SecretExpiring),
        _ => Step::pass(ID, format!("client secret valid until {date} (client_secret_expires)")),
    })
}

/// Recipients today against `limits.recipients_per_day`: a warning from 80 %.
pub fn recipient_budget(config: &Config, today: u32) -> Step {
    const ID: StepId = StepId::Limits;
    let budget = config.limits.recipients_per_day;
    if budget == 0 {
        return Step::pass(
            ID,
            format!("{today} recipients today; no daily limit (limits.recipients_per_day = 0)"),
        );
    }
    let summary =
        format!("{today} of {budget} recipients today (limits.recipients_per_day, UTC day)");
    if u64::from(today) * 5 >= u64::from(budget) * 4 {
        Step::warn(
            ID,
            summary,
            "beyond the budget messages wait in the queue for the next day; Exchange Online refuses more than 10,000 recipients a day with 5.2.0 SubmissionQuotaExceededException",
        )
        .cause(Cause::RecipientsBudget)
    } else {
        Step::pass(ID, summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::report::Verdict;

    fn config(extra: &str) -> Config {
        let text = format!(
            "tenant = \"contoso.onmicrosoft.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\nclient_secret = \"s\"\nuser = \"a@contoso.com\"\n{extra}"
        );
        crate::config::parse(&text, std::path::Path::new("t.conf")).unwrap()
    }

    #[test]
    fn secret_expiry_steps() {
        let c = config("client_secret_expires = \"2027-06-30\"\n");
        let end = c.client_secret_expires.unwrap();
        let verdict = |now| secret_expiry(&c, now).unwrap().verdict;
        assert_eq!(verdict(end - 40 * 86_400), Verdict::Pass);
        assert_eq!(verdict(end - 29 * 86_400), Verdict::Warn);
        assert_eq!(verdict(end + 1), Verdict::Fail);
        assert!(secret_expiry(&config(""), 0).is_none());
    }

    #[test]
    fn budget_steps() {
        let c = config("[limits]\nrecipients_per_day = 10\n");
        assert_eq!(recipient_budget(&c, 7).verdict, Verdict::Pass);
        assert_eq!(recipient_budget(&c, 8).verdict, Verdict::Warn);
        assert_eq!(
            recipient_budget(&config("[limits]\nrecipients_per_day = 0\n"), 99).verdict,
            Verdict::Pass
        );
    }
}
