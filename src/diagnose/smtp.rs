//! `--check` steps over SMTP: the server reached and greeting, TLS
//! (STARTTLS or implicit) with what was negotiated, the XOAUTH2 login,
//! and with `--to` the test message.
//!
//! The session is set up by sending's own connect path
//! (`relay::connect_watched`), which tells this module each step it
//! reaches, so the check passes only what sending would, and a failure
//! shows the hint a failed send would; `tls` reads what the handshake
//! negotiated for the report. These steps run
//! even when no token could be had: the server and its TLS can be checked
//! without one.

use std::time::Instant;

use super::report::{Report, Step};
use super::step_id::StepId;
use super::test_message;
use super::tls::{self, Negotiated};
use super::x509::days;
use crate::cause::Cause;
use crate::config::{Config, TlsMode};
use crate::error::Error;
use crate::net::Stream;
use crate::relay::{self, Setup, SetupStage};
use crate::secret::Secret;
use crate::smtp::capabilities::Capabilities;
use crate::smtp::session::Session;
use crate::smtp_error::{smtp_failure, token_rejected};
use crate::token::claims;
use crate::transcript::Transcript;

/// What the server offers, for a detail line.
fn describe(caps: &Capabilities) -> String {
    let mut offers = Vec::new();
    if caps.starttls {
        offers.push("STARTTLS".to_string());
    }
    if caps.pipelining {
        offers.push("PIPELINING".to_string());
    }
    if let Some(size) = caps.size {
        offers.push(format!("SIZE {size}"));
    }
    for (on, name) in [
        (caps.eight_bit_mime, "8BITMIME"),
        (caps.dsn, "DSN"),
        (caps.smtputf8, "SMTPUTF8"),
        (caps.enhanced_status_codes, "ENHANCEDSTATUSCODES"),
    ] {
        if on {
            offers.push(name.to_string());
        }
    }
    if !caps.auth.is_empty() {
        offers.push(format!("AUTH {}", caps.auth.join(" ")));
    }
    if offers.is_empty() {
        "offers no extension".to_string()
    } else {
        format!("offers {}", offers.join(", "))
    }
}

/// Days before the server certificate's expiry that earn a warning.
const SERVER_CERT_WARNING_DAYS: i64 = 14;

/// The TLS step from what was negotiated.
fn tls_step(negotiated: &Negotiated, caps: &Capabilities, how: &str) -> Step {
    let summary = format!("{how}: {}, {}", negotiated.version, negotiated.cipher);
    let step = if negotiated.days_left < SERVER_CERT_WARNING_DAYS {
        Step::warn(StepId::SmtpTls, format!(
                "{summary}; the server's certificate expires in {}",
                days(negotiated.days_left)
            ),
            "the server's administrator must renew its certificate (Microsoft renews Exchange Online's by itself)",
        )
        .cause(Cause::TlsCertificateExpiring)
    } else {
        Step::pass(StepId::SmtpTls, summary)
    };
    step.detail(format!("certificate {}", negotiated.subject))
        .detail(format!("issued by {}", negotiated.issuer))
        .detail(format!(
            "valid until {} ({})",
            negotiated.not_after,
            days(negotiated.days_left)
        ))
        .detail(describe(caps))
}

/// What the SMTP steps need.
pub struct SmtpCheck<'a> {
    /// The configuration.
    pub config: &'a Config,
    /// Our name for EHLO.
    pub helo: &'a str,
    /// The token, if one was obtained.
    pub token: Option<&'a Secret>,
    /// `--to`: where a test message goes.
    pub test_to: Option<&'a str>,
}

/// The SMTP steps in order.
const STEPS: [StepId; 4] = [
    StepId::SmtpConnect,
    StepId::SmtpTls,
    StepId::SmtpAuth,
    StepId::SmtpSend,
];

/// Where the SMTP steps stopped: the failed step, and why the ones after
/// it are skipped.
struct Stop {
    id: StepId,
    step: Box<Step>,
    why: &'static str,
}

impl Stop {
    fn at(id: StepId, error: &Error, started: Instant, why: &'static str) -> Stop {
        Stop {
            id,
            step: Box::new(Step::fail(id, error).took(started.elapsed())),
            why,
        }
    }
}

/// Connects, secures and logs in, reporting each step; sends a test
/// message with `--to`.
pub fn smtp(check: &SmtpCheck, transcript: Transcript, report: &mut Report) {
    let Err(stop) = run(check, transcript, report) else {
        return;
    };
    report.add(*stop.step);
    let after = STEPS
        .iter()
        .position(|id| *id == stop.id)
        .map_or(STEPS.len(), |p| p + 1);
    for &id in &STEPS[after..] {
        if id != StepId::SmtpSend || check.test_to.is_some() {
            report.add(Step::skip(id, stop.why));
        }
    }
}

fn run(check: &SmtpCheck, transcript: Transcript, report: &mut Report) -> Result<(), Stop> {
    let (mut session, caps) = secure(check, transcript, report)?;
    let result = login_and_send(check, &mut session, &caps, report);
    session.quit();
    result
}

/// TCP, greeting, EHLO and TLS (STARTTLS or implicit): the steps
/// `smtp.connect` and `smtp.tls`, reported as sending's own connect path
/// ([`relay::connect_watched`]) reaches them.
fn secure(
    check: &SmtpCheck,
    transcript: Transcript,
    report: &mut Report,
) -> Result<(Session<Stream>, Capabilities), Stop> {
    let mut watch = Watch::new(check, report);
    match relay::connect_watched(check.config, check.helo, transcript, &mut watch) {
        Ok(connected) => {
            if check.config.smtp.tls == TlsMode::None {
                watch.report.add(
                    Step::warn(
                        StepId::SmtpTls,
                        "none: smtp.tls = \"none\" (allowed only towards loopback)",
                        "use smtp.tls = \"starttls\" for any real server",
                    )
                    .cause(Cause::TlsOff),
                );
            }
            Ok(connected)
        }
        Err((stage, error)) => Err(watch.failed(stage, &error)),
    }
}

/// Turns the connect path's steps into the report's `smtp.connect` and
/// `smtp.tls` steps.
struct Watch<'a> {
    report: &'a mut Report,
    tls: TlsMode,
    helo: &'a str,
    server: String,
    /// `host:port (address)`, once reached.
    reached: String,
    /// When the step under way began.
    started: Instant,
    /// Whether `smtp.connect` is in the report.
    connected: bool,
    greeting: Option<String>,
    negotiated: Option<Negotiated>,
}

impl<'a> Watch<'a> {
    fn new(check: &'a SmtpCheck, report: &'a mut Report) -> Watch<'a> {
        let smtp = &check.config.smtp;
        let server = format!("{}:{}", smtp.host, smtp.port);
        Watch {
            report,
            tls: smtp.tls,
            helo: check.helo,
            reached: server.clone(),
            server,
            started: Instant::now(),
            connected: false,
            greeting: None,
            negotiated: None,
        }
    }

    /// `smtp.connect` passed with `summary`; the TLS step begins.
    fn connected(&mut self, step: Step) {
        self.report.add(step.took(self.started.elapsed()));
        self.connected = true;
        self.started = Instant::now();
    }

    /// The failed step, after `smtp.connect` if the failure came later.
    fn failed(&mut self, stage: SetupStage, error: &Error) -> Stop {
        let implicit = self.tls == TlsMode::Implicit;
        let (id, why) = match stage {
            SetupStage::Reach => (StepId::SmtpConnect, "the server was not reached"),
            SetupStage::Greeting if !implicit => (StepId::SmtpConnect, "the server did not greet"),
            SetupStage::Ehlo if !self.connected && !implicit => {
                (StepId::SmtpConnect, "EHLO failed")
            }
            SetupStage::TlsContext => (StepId::SmtpTls, "TLS could not be set up"),
            SetupStage::Handshake if implicit => (StepId::SmtpTls, "TLS failed"),
            SetupStage::Greeting | SetupStage::Ehlo if implicit => {
                (StepId::SmtpTls, "the server did not greet")
            }
            _ => (StepId::SmtpTls, "no TLS, so no credential was sent"),
        };
        if id == StepId::SmtpTls && !self.connected {
            let reached = format!("{} reached", self.reached);
            self.connected(Step::pass(StepId::SmtpConnect, reached));
        }
        Stop::at(id, error, self.started, why)
    }
}

impl relay::Watcher for Watch<'_> {
    fn step(&mut self, step: Setup<'_>) {
        match step {
            Setup::Reached(address) => {
                let address = address.map(|a| a.ip().to_string()).unwrap_or_default();
                self.reached = format!("{} ({address})", self.server);
                if self.tls == TlsMode::Implicit {
                    let reached = format!("{} reached", self.reached);
                    self.connected(Step::pass(StepId::SmtpConnect, reached));
                }
            }
            Setup::Secured(ssl) => self.negotiated = Some(tls::negotiated(ssl)),
            Setup::Greeted(greeting) => self.greeting = Some(greeting.to_string()),
            Setup::Ehlo(caps) => match &self.negotiated {
                Some(negotiated) => {
                    let how = match self.tls {
                        TlsMode::Implicit => "implicit TLS",
                        _ => "STARTTLS",
                    };
                    let step = tls_step(negotiated, caps, how).took(self.started.elapsed());
                    self.report.add(step);
                }
                None => {
                    let greeting = self.greeting.take().unwrap_or_default();
                    let step =
                        Step::pass(StepId::SmtpConnect, format!("{}: {greeting}", self.reached))
                            .detail(format!("EHLO {}: {}", self.helo, describe(caps)));
                    self.connected(step);
                }
            },
        }
    }
}

/// AUTH XOAUTH2 (`smtp.auth`), then the test message (`smtp.send`).
fn login_and_send(
    check: &SmtpCheck,
    session: &mut Session<Stream>,
    caps: &Capabilities,
    report: &mut Report,
) -> Result<(), Stop> {
    let config = check.config;
    let server = format!("{}:{}", config.smtp.host, config.smtp.port);
    let Some(token) = check.token else {
        return Err(Stop {
            id: StepId::SmtpAuth,
            step: Box::new(Step::skip(StepId::SmtpAuth, "no token to log in with")),
            why: "no token to log in with",
        });
    };
    let started = Instant::now();
    let reply = session
        .auth_xoauth2(caps, &config.user, token)
        .map_err(|e| {
            let rejected = token_rejected(&e);
            let mut error = smtp_failure(e, &server);
            // The claims may say why the server refused the token; that
            // beats the catalogue's list of usual suspects.
            if rejected
                && let Some((cause, fix)) =
                    claims::explain_refusal(token.expose(), &config.tenant, &config.client_id)
            {
                error = error.with_hint(fix).with_cause(cause);
            }
            Stop::at(StepId::SmtpAuth, &error, started, "the login failed")
        })?;
    report.add(
        Step::pass(
            StepId::SmtpAuth,
            format!("XOAUTH2 as {} accepted: {reply}", config.user),
        )
        .took(started.elapsed()),
    );
    if let Some(to) = check.test_to {
        report.add(test_message::send(
            session,
            caps,
            check.config,
            check.helo,
            to,
            &server,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_read_well() {
        let caps = Capabilities {
            starttls: true,
            pipelining: true,
            size: Some(157_286_400),
            auth: vec!["LOGIN".into(), "XOAUTH2".into()],
            ..Capabilities::default()
        };
        assert_eq!(
            describe(&caps),
            "offers STARTTLS, PIPELINING, SIZE 157286400, AUTH LOGIN XOAUTH2"
        );
        assert_eq!(describe(&Capabilities::default()), "offers no extension");
    }
}
