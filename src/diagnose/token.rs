//! `--check` steps about the token: a fresh one from the endpoint (the
//! cache is neither used nor changed: the point is to prove that the
//! credential works now), and its claims decoded without verification
//! and judged against the configuration.

use std::time::Instant;

use super::report::Step;
use super::step_id::StepId;
use crate::cause::Cause;
use crate::clock;
use crate::config::Config;
use crate::error::{Error, Kind};
use crate::secret::Secret;
use crate::token::TokenSource;
use crate::token::claims::{self, Verdict as ClaimVerdict};
use crate::transcript::Transcript;

/// A token fresh from the endpoint (the cache is neither used nor changed:
/// the point is to prove that the credential works now).
pub fn fetch(
    config: &Config,
    tokens: &mut TokenSource,
    transcript: &mut Transcript,
) -> (Step, Option<Secret>) {
    let started = Instant::now();
    let endpoint = format!(
        "endpoint {} ({})",
        crate::token::endpoint_url(config),
        config.credential.kind_name()
    );
    match tokens.request_new(transcript) {
        Ok(granted) => {
            let until = clock::now() + granted.expires_in;
            let step = Step::pass(
                StepId::Token,
                format!(
                    "obtained, valid for {} s (until {})",
                    granted.expires_in,
                    clock::utc_timestamp(until)
                ),
            )
            .detail(endpoint)
            .detail(format!("scope {}", config.token.scope))
            .took(started.elapsed());
            (step, Some(granted.access_token))
        }
        Err(e) => (
            Step::fail(StepId::Token, &e)
                .detail(endpoint)
                .took(started.elapsed()),
            None,
        ),
    }
}

/// The cached token's validity, without a request (`--check` by a caller
/// who is not root).
pub fn cached(tokens: &TokenSource) -> Step {
    let now = clock::now();
    match tokens.cached_until() {
        Some(until) if until > now => Step::pass(
            StepId::Token,
            format!("a cached token is valid for {} s", until - now),
        )
        .public(),
        _ => Step::warn(
            StepId::Token,
            "no valid cached token; the next message fetches one",
            "run oauth2-sendmail --check as root to test the credential with a fresh token",
        )
        .cause(Cause::TokenNotCached)
        .public(),
    }
}

/// The claim steps: identifier, title, claim.
const CLAIM_STEPS: [(StepId, &str); 4] = [
    (StepId::TokenAud, "aud"),
    (StepId::TokenRoles, "roles"),
    (StepId::TokenTid, "tid"),
    (StepId::TokenAppid, "appid"),
];

/// The token's claims, decoded without verification, against the configuration.
pub fn claim_steps(config: &Config, token: Option<&Secret>) -> Vec<Step> {
    let skip_all = |why: &str| {
        CLAIM_STEPS
            .iter()
            .map(|&(step, _)| Step::skip(step, why))
            .collect()
    };
    let Some(token) = token else {
        return skip_all("no token");
    };
    let Some(decoded) = claims::peek(token.expose()) else {
        let mut steps: Vec<Step> = skip_all("the token is not a JWT");
        steps[0] = Step::warn(
            CLAIM_STEPS[0].0,
            "the token is not a JWT, so its claims cannot be read",
            "Entra's tokens for Exchange Online are JWTs: check that token.url is Entra's token endpoint",
        )
        .cause(Cause::TokenOpaque);
        return steps;
    };
    let findings = claims::findings(&decoded, &config.tenant, &config.client_id);
    CLAIM_STEPS
        .iter()
        .map(|&(step, claim)| {
            let Some(f) = findings.iter().find(|f| f.claim == claim) else {
                return Step::skip(step, "not checked");
            };
            let fix = f.fix.clone().unwrap_or_default();
            let cause = f.cause.unwrap_or(Cause::TokenClaims);
            match f.verdict {
                ClaimVerdict::Good => Step::pass(step, f.detail.clone()),
                ClaimVerdict::Doubtful => Step::warn(step, f.detail.clone(), fix).cause(cause),
                ClaimVerdict::Bad => {
                    let kind = if cause == Cause::TokenNoRole {
                        Kind::NoPermission
                    } else {
                        Kind::Config
                    };
                    let error = Error::new(kind, f.detail.clone())
                        .with_hint(fix)
                        .with_cause(cause);
                    Step::fail(step, &error)
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::report::Verdict;
    use base64::Engine as _;
    use std::path::Path;

    fn verdict_of(steps: &[Step], id: &str) -> Option<Verdict> {
        steps.iter().find(|s| s.id == id).map(|s| s.verdict)
    }

    fn config() -> Config {
        crate::config::parse(
            "tenant = \"6f2d8c1a-3b4e-4f5a-9c7d-0e1f2a3b4c5d\"\n\
             client_id = \"0a4f3c2e-7b1d-4e8f-9a6c-5d2b1e0f3a47\"\n\
             client_secret = \"x\"\nuser = \"alerts@contoso.com\"\n",
            Path::new("t.conf"),
        )
        .unwrap()
    }

    fn jwt(payload: &str) -> Secret {
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        Secret::new(format!("{}.{}.sig", enc("{}"), enc(payload)))
    }

    #[test]
    fn claim_steps_by_token() {
        let c = config();
        let good = r#"{"aud":"https://outlook.office365.com","roles":["SMTP.SendAsApp"],"tid":"6f2d8c1a-3b4e-4f5a-9c7d-0e1f2a3b4c5d","appid":"0a4f3c2e-7b1d-4e8f-9a6c-5d2b1e0f3a47"}"#;
        // (payload, step, verdict)
        let table: &[(Option<&str>, &str, Verdict)] = &[
            (Some(good), "token.aud", Verdict::Pass),
            (Some(good), "token.roles", Verdict::Pass),
            (Some(good), "token.tid", Verdict::Pass),
            (Some(good), "token.appid", Verdict::Pass),
            (
                Some(r#"{"aud":"https://graph.microsoft.com","tid":"x","appid":"y"}"#),
                "token.aud",
                Verdict::Fail,
            ),
            (
                Some(r#"{"aud":"https://outlook.office365.com"}"#),
                "token.roles",
                Verdict::Warn,
            ),
            (
                Some(r#"{"roles":["Mail.Send"]}"#),
                "token.roles",
                Verdict::Fail,
            ),
            (Some(r#"{"tid":"other"}"#), "token.tid", Verdict::Fail),
            (Some(r#"{"appid":"other"}"#), "token.appid", Verdict::Fail),
            (None, "token.aud", Verdict::Skip),
            (None, "token.appid", Verdict::Skip),
        ];
        for (payload, id, verdict) in table {
            let token = payload.map(jwt);
            let steps = claim_steps(&c, token.as_ref());
            assert_eq!(steps.len(), 4);
            assert_eq!(verdict_of(&steps, id), Some(*verdict), "{payload:?} {id}");
        }
        let no_role = claim_steps(&c, Some(&jwt(r#"{"roles":[]}"#)));
        let roles = no_role.iter().find(|s| s.id == "token.roles").unwrap();
        assert_eq!(roles.kind.map(Kind::exit_code), Some(77));
        assert!(roles.hint.as_ref().unwrap().contains("admin consent"));
        let opaque = claim_steps(&c, Some(&Secret::new("opaque")));
        assert_eq!(opaque[0].verdict, Verdict::Warn);
        assert_eq!(opaque[1].verdict, Verdict::Skip);
    }
}
