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
//! `report` keeps and renders the steps; `files` checks the configuration,
//! permissions and directories; `credential` the secret or certificate
//! (`x509` formats certificate facts); `token` fetches a token and judges
//! its claims; `smtp` checks the server, TLS and login (`tls` reads what
//! the handshake negotiated); `test_message` is what `--to` sends.

mod credential;
mod files;
mod fleet;
mod report;
mod smtp;
mod test_message;
mod tls;
mod token;
mod x509;

use std::io::IsTerminal;
use std::path::Path;

use crate::address;
use crate::cli::Invocation;
use crate::clock;
use crate::error::Kind;
use crate::system;
use crate::token::TokenSource;
use crate::transcript::Transcript;
use report::{Report, Step, Style, Verdict};

/// Every step after the configuration, for when there is none to check with.
const AFTER_CONFIG: &[(&str, &str)] = &[
    ("permissions", "file permissions"),
    ("credential", "credential"),
    ("token", "token"),
    ("token.aud", "token audience"),
    ("token.roles", "token roles"),
    ("token.tid", "token tenant"),
    ("token.appid", "token application"),
    ("smtp.connect", "SMTP server"),
    ("smtp.tls", "TLS"),
    ("smtp.auth", "SMTP login"),
    ("cache", "token cache"),
    ("queue", "queue"),
    ("limits", "daily recipients"),
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
    report.say(&format!(
        "oauth2-sendmail {} --check of {} at {}\n\n",
        env!("CARGO_PKG_VERSION"),
        config_path.display(),
        clock::utc_timestamp(clock::now())
    ));
    let transcript = if invocation.verbose {
        Transcript::stderr()
    } else {
        Transcript::off()
    };
    run(&mut report, invocation, config_path, transcript);
    if invocation.json {
        print!(
            "{}",
            report::render_json(
                env!("CARGO_PKG_VERSION"),
                &config_path.display().to_string(),
                report.steps()
            )
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

fn run(report: &mut Report, invocation: &Invocation, config_path: &Path, transcript: Transcript) {
    let mut transcript = transcript;
    let (step, config) = files::configuration(config_path);
    report.add(step);
    let Some(config) = config else {
        for (id, title) in AFTER_CONFIG {
            report.add(Step::skip(id, title, "no usable configuration"));
            if *id == "smtp.auth" && invocation.check_to.is_some() {
                report.add(Step::skip(
                    "smtp.send",
                    "test message",
                    "no usable configuration",
                ));
            }
        }
        return;
    };
    report.add(files::permissions(&config));
    let credential = credential::credential(&config);
    let usable = credential.verdict != Verdict::Fail;
    report.add(credential);
    if let Some(step) = fleet::secret_expiry(&config, crate::clock::now()) {
        report.add(step);
    }

    let mut tokens = TokenSource::new(&config);
    let token = if usable {
        let (step, token) = token::fetch(&config, &mut tokens, &mut transcript);
        report.add(step);
        token
    } else {
        report.add(Step::skip("token", "token", "no usable credential"));
        None
    };
    for step in token::claim_steps(&config, token.as_ref()) {
        report.add(step);
    }

    let helo = system::host_name(&config);
    let smtp = smtp::SmtpCheck {
        config: &config,
        helo: &helo,
        token: token.as_ref(),
        test_to: invocation.check_to.as_deref(),
    };
    smtp::smtp(&smtp, transcript, report);

    report.add(files::cache(&config, tokens.cached_until()));
    report.add(files::queue(&config));
    report.add(fleet::recipient_budget(
        &config,
        crate::limits::recipients_today(&config),
    ));
}
