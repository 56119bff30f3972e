//! `--check` steps for Microsoft Graph (`transport = "graph"` or `"auto"`):
//! a fresh token for `graph.url + /.default`, its audience and its
//! `Mail.Send` role, the mailbox reachable through Graph (a request Graph
//! refuses as malformed without sending anything, after checking token,
//! role and mailbox scope), and with `--to` a real test message.

use std::time::Instant;

use super::report::{Report, Step};
use super::step_id::StepId;
use super::test_message::{test_body, test_header};
use crate::cause::Cause;
use crate::clock;
use crate::config::Config;
use crate::error::{Error, Kind};
use crate::graph::{self, Failure};
use crate::log::{Level, Outcome, Record, Syslog};
use crate::token::claims;
use crate::token::{Token, TokenSource};
use crate::transcript::Transcript;

/// The steps, in order.
pub const STEPS: [StepId; 5] = [
    StepId::GraphToken,
    StepId::GraphAud,
    StepId::GraphRoles,
    StepId::GraphMailbox,
    StepId::GraphSend,
];

/// Audiences of Microsoft Graph tokens: the resource URIs of the clouds'
/// Graph hosts (docs/graph.md) and Graph's application id.
const GRAPH_AUDIENCES: [&str; 5] = [
    "https://graph.microsoft.com",
    "https://graph.microsoft.us",
    "https://dod-graph.microsoft.us",
    "https://microsoftgraph.chinacloudapi.cn",
    "00000003-0000-0000-c000-000000000000",
];

/// Judges the audience claim: Graph's, or the configured `graph.url`.
pub fn audience_ok(aud: &str, graph_url: &str) -> bool {
    let aud = aud.trim_end_matches('/');
    GRAPH_AUDIENCES.iter().any(|a| a.eq_ignore_ascii_case(aud))
        || aud.eq_ignore_ascii_case(graph_url)
}

/// Adds the Graph steps to `report`.
pub fn check(
    config: &Config,
    test_to: Option<&str>,
    helo: &str,
    transcript: Transcript,
    report: &mut Report,
) {
    let skip_rest = |report: &mut Report, from: usize, why: &str| {
        for &step in &STEPS[from..] {
            if step != StepId::GraphSend || test_to.is_some() {
                report.add(Step::skip(step, why));
            }
        }
    };
    let started = Instant::now();
    let mut tokens = TokenSource::for_scope(config, &config.graph.scope());
    let mut transcript = transcript;
    let granted = match tokens.request_new(&mut transcript) {
        Ok(g) => g,
        Err(e) => {
            report.add(Step::fail(StepId::GraphToken, &e).took(started.elapsed()));
            return skip_rest(report, 1, "no Graph token");
        }
    };
    report.add(
        Step::pass(
            StepId::GraphToken,
            format!("obtained, valid for {} s", granted.expires_in),
        )
        .detail(format!("scope {}", config.graph.scope()))
        .took(started.elapsed()),
    );
    let decoded = claims::peek(granted.access_token.expose());
    let aud = decoded
        .as_ref()
        .and_then(|c| c.aud.clone())
        .unwrap_or_default();
    if audience_ok(&aud, &config.graph.url) {
        report.add(Step::pass(StepId::GraphAud, aud));
    } else {
        let e = Error::new(Kind::Config, format!("the token's audience is {aud:?}, not Microsoft Graph"))
            .with_hint("the token must be asked for graph.url + /.default: set graph.url to the Graph host of the tenant's cloud (https://graph.microsoft.com)")
            .with_cause(Cause::GraphTokenAudience);
        report.add(Step::fail(StepId::GraphAud, &e));
    }
    let roles = decoded.and_then(|c| c.roles).unwrap_or_default();
    if roles.iter().any(|r| r == "Mail.Send") {
        report.add(Step::pass(StepId::GraphRoles, roles.join(", ")));
    } else {
        let e = Error::new(
            Kind::NoPermission,
            format!("the token holds no Mail.Send role (roles: {})", if roles.is_empty() { "none".to_string() } else { roles.join(", ") }),
        )
        .with_hint("add the Microsoft Graph > Application permissions > Mail.Send permission to the app registration and grant admin consent (Entra admin center > App registrations > API permissions)")
        .with_cause(Cause::GraphNoRole);
        report.add(Step::fail(StepId::GraphRoles, &e));
    }
    let token = Token {
        access: granted.access_token,
        from_cache: false,
    };
    let mut client = graph::Client::new(config, transcript);
    let started = Instant::now();
    match client.probe(&token) {
        Ok(id) => report.add(
            Step::pass(
                StepId::GraphMailbox,
                format!(
                    "{} is reachable through Microsoft Graph and the app may use it",
                    config.user
                ),
            )
            .detail(format!("{} (request-id {id})", config.graph.url))
            .took(started.elapsed()),
        ),
        Err(e) => {
            report.add(Step::fail(StepId::GraphMailbox, &e).took(started.elapsed()));
            return skip_rest(report, 4, "the mailbox is not reachable through Graph");
        }
    }
    if let Some(to) = test_to {
        report.add(send_test(config, &mut client, helo, to));
    }
}

/// The `--to` test message through Graph, logged like any other message.
fn send_test(config: &Config, client: &mut graph::Client, helo: &str, to: &str) -> Step {
    let started = Instant::now();
    let (header, message_id) = test_header(config, helo, to, clock::now());
    let body = test_body(
        config,
        helo,
        to,
        &format!("Microsoft Graph ({})", config.graph.url),
    );
    let recipients = [to.to_string()];
    let result = client.send(&recipients, &header, &mut body.as_bytes());
    let mut record = Record {
        message_id: Some(&message_id),
        transport: Some("graph"),
        ..Record::delivered(&config.from, &recipients, started.elapsed())
    };
    let mut syslog = Syslog::open(config.syslog_socket.as_deref());
    let step = match result {
        Ok(accepted) => {
            record.size = Some(accepted.size);
            record.smtp = Some(accepted.reply());
            syslog.log(Level::Info, &record.line());
            Step::pass(
                StepId::GraphSend,
                format!("accepted for {to} (202: accepted for delivery, not yet delivered)"),
            )
            .detail(format!(
                "Message-ID {message_id}, request-id {}",
                accepted.request_id
            ))
        }
        Err(failure) => {
            let error = match failure {
                Failure::NoSession(e) | Failure::Message(e) => e,
                Failure::Refused(r) => r.error,
            };
            record.outcome = Outcome::Failed;
            record.exit = error.kind().exit_name();
            record.cause = Some(error.cause_or_fallback());
            record.error = Some(error.message());
            syslog.log(Level::Error, &record.line());
            Step::fail(StepId::GraphSend, &error)
        }
    };
    step.took(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_audiences() {
        assert!(audience_ok(
            "https://graph.microsoft.com",
            "https://graph.microsoft.com"
        ));
        assert!(audience_ok("https://graph.microsoft.com/", "https://x"));
        assert!(audience_ok(
            "00000003-0000-0000-c000-000000000000",
            "https://x"
        ));
        assert!(audience_ok(
            "https://graph.microsoft.us",
            "https://graph.microsoft.us"
        ));
        assert!(!audience_ok(
            "https://outlook.office365.com",
            "https://graph.microsoft.com"
        ));
    }
}
