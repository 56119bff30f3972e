//! `oauth2-sendmail --check`: walks every step a message depends on and
//! says, for each, whether it works, how long it took, and what to fix.
//!
//! Order: the configuration file and its permissions, the credential, a
//! fresh token and its claims, the SMTP server, TLS, the login, (with
//! `--to`) a test message, then the token cache and queue directories.
//! A step whose precondition failed is reported as skipped, so the list of
//! steps is the same on every run (monitoring can key on `id`). The exit
//! code is 0 when no step failed (warnings allowed), else the sysexits
//! code of the first failure. Nothing is read from stdin.
//!
//! `tenant` reads the tenant's OpenID configuration (GUID, cloud);
//! `identity` checks credentials without a secret;
//! `report` keeps and renders the steps; `files` checks the configuration,
//! permissions and directories; `credential` the secret or certificate
//! (`x509` formats certificate facts); `token` fetches a token and judges
//! its claims; `smtp` checks the server, TLS and login (`tls` reads what
//! the handshake negotiated); `test_message` is what `--to` sends.

mod accounts;
mod credential;
mod files;
mod fleet;
mod graph;
mod identity;
mod report;
mod smtp;
mod step_id;
mod tenant;
mod test_message;
mod tls;
mod token;
mod x509;

use std::io::IsTerminal;
use std::path::Path;

use crate::address;
use crate::cli::Invocation;
use crate::clock;
use crate::config::Transport;
use crate::error::Kind;
use crate::system;
use crate::token::TokenSource;
use crate::transcript::Transcript;
use report::{Report, Step, Style, Verdict};
use step_id::StepId;

/// Every step after the configuration, for when there is none to check with.
const AFTER_CONFIG: &[StepId] = &[
    StepId::Permissions,
    StepId::Credential,
    StepId::Tenant,
    StepId::Token,
    StepId::TokenAud,
    StepId::TokenRoles,
    StepId::TokenTid,
    StepId::TokenAppid,
    StepId::SmtpConnect,
    StepId::SmtpTls,
    StepId::SmtpAuth,
    StepId::Cache,
    StepId::Queue,
    StepId::Limits,
];

/// Runs the check with the configuration at `config_path`; returns the exit code.
pub fn check(invocation: &Invocation, config_path: &Path) -> u8 {
    if let Some(to) = &invocation.check_to
        && let Err(problem) = address::check_mailbox(to)
    {
        eprintln!("oauth2-sendmail: --to {to}: {problem} -- hint: --to takes one full address");
        return Kind::Usage.exit_code();
    }
    let mut report = if invocation.json {
        Report::quiet()
    } else {
        Report::live(Box::new(std::io::stdout()), style())
    };
    let verdicts_only = crate::privilege::Caller::current().is_privileged();
    let shown_path = if verdicts_only {
        "the installed configuration (verdicts only: root sees the details)".to_string()
    } else {
        config_path.display().to_string()
    };
    if verdicts_only {
        report.verdicts_only();
    }
    report.say(&format!(
        "oauth2-sendmail {} --check of {shown_path} at {}\n\n",
        env!("CARGO_PKG_VERSION"),
        clock::utc_timestamp(clock::now())
    ));
    let transcript = if invocation.verbose {
        Transcript::stderr()
    } else {
        Transcript::off()
    };
    run(
        &mut report,
        invocation,
        config_path,
        transcript,
        verdicts_only,
    );
    if invocation.json {
        let shown = if verdicts_only { "" } else { &shown_path };
        print!(
            "{}",
            report::render_json(env!("CARGO_PKG_VERSION"), shown, report.steps())
        );
    } else {
        let verdict = report::render_verdict(report.steps());
        report.say(&verdict);
    }
    report.exit_code()
}

/// Symbols and colour on a terminal; ASCII words anywhere else.
fn style() -> Style {
    let terminal =
        std::io::stdout().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb");
    if !terminal {
        return Style::PLAIN;
    }
    Style {
        colour: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        ..Style::TERMINAL
    }
}

fn run(
    report: &mut Report,
    invocation: &Invocation,
    config_path: &Path,
    transcript: Transcript,
    verdicts_only: bool,
) {
    let (step, config) = files::configuration(config_path);
    report.add(step);
    let Some(config) = config else {
        for &step in AFTER_CONFIG {
            report.add(Step::skip(step, "no usable configuration"));
            if step == StepId::SmtpAuth && invocation.check_to.is_some() {
                report.add(Step::skip(StepId::SmtpSend, "no usable configuration"));
            }
        }
        return;
    };
    accounts::check(
        report,
        invocation,
        &config,
        transcript,
        verdicts_only,
        account_steps,
    );
}

/// Every step after the configuration, for one account.
fn account_steps(
    report: &mut Report,
    check_to: Option<&str>,
    config: &crate::config::Config,
    transcript: Transcript,
    verdicts_only: bool,
) {
    let mut transcript = transcript;
    let config = config.clone();
    report.add(files::permissions(&config));
    let credential = credential::credential(&config);
    let usable = !matches!(credential.verdict, Verdict::Fail | Verdict::Skip);
    report.add(credential);
    if let Some(step) = fleet::secret_expiry(&config, crate::clock::now()) {
        report.add(step);
    }
    if verdicts_only {
        let why = "not checked for a caller who is not root (no token request, no SMTP login)";
        report.add(Step::skip(StepId::Tenant, why).public());
        let graph_scope = config.graph.scope();
        let tokens = if config.transport == Transport::Graph {
            TokenSource::for_scope(&config, &graph_scope)
        } else {
            TokenSource::new(&config)
        };
        report.add(token::cached(&tokens));
        for &step in AFTER_CONFIG {
            if step.id().starts_with("token.") || step.id().starts_with("smtp.") {
                report.add(Step::skip(step, why).public());
            }
            if step == StepId::SmtpAuth && check_to.is_some() {
                report.add(Step::skip(StepId::SmtpSend, why).public());
            }
        }
        report.add(files::cache(&config, tokens.cached_until()));
        report.add(files::queue(&config));
        report.add(fleet::recipient_budget(
            &config,
            crate::limits::recipients_today(&config),
        ));
        return;
    }
    report.add(tenant::tenant(&config));

    let helo = system::host_name(&config);
    if config.transport == Transport::Graph {
        // No SMTP here: its steps are listed as skipped, Graph's follow.
        for &step in AFTER_CONFIG
            .iter()
            .filter(|s| s.id().starts_with("token") || s.id().starts_with("smtp."))
        {
            report.add(Step::skip(step, "transport = graph"));
        }
        if usable {
            graph::check(&config, check_to, &helo, transcript, report);
        } else {
            for step in graph::STEPS {
                if step != StepId::GraphSend || check_to.is_some() {
                    report.add(Step::skip(step, "no usable credential"));
                }
            }
        }
        let graph_tokens = TokenSource::for_scope(&config, &config.graph.scope());
        report.add(files::cache(&config, graph_tokens.cached_until()));
        report.add(files::queue(&config));
        report.add(fleet::recipient_budget(
            &config,
            crate::limits::recipients_today(&config),
        ));
        return;
    }
    let mut tokens = TokenSource::new(&config);
    let token = if usable {
        let (step, token) = token::fetch(&config, &mut tokens, &mut transcript);
        report.add(step);
        token
    } else {
        report.add(Step::skip(StepId::Token, "no usable credential"));
        None
    };
    for step in token::claim_steps(&config, token.as_ref()) {
        report.add(step);
    }

    let smtp = smtp::SmtpCheck {
        config: &config,
        helo: &helo,
        token: token.as_ref(),
        test_to: check_to,
    };
    if config.transport == Transport::Auto {
        // Graph is what auto turns to: it must work as well.
        let graph_transcript = if transcript.is_on() {
            Transcript::stderr()
        } else {
            Transcript::off()
        };
        smtp::smtp(&smtp, transcript, report);
        if usable {
            graph::check(&config, None, &helo, graph_transcript, report);
        }
    } else {
        smtp::smtp(&smtp, transcript, report);
    }

    report.add(files::cache(&config, tokens.cached_until()));
    report.add(files::queue(&config));
    report.add(fleet::recipient_budget(
        &config,
        crate::limits::recipients_today(&config),
    ));
}
