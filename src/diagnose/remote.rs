//! `--check` steps over the network: a fresh token and its claims, then an
//! SMTP session up to AUTH, and with `--to` a test message.
//!
//! The session uses the same protocol code and error mapping as sending
//! (`Session`, `relay::smtp_failure`, the catalogue), so a failure shows
//! the hint a failed send would; only its TLS layer differs, to show the
//! negotiated version (see `tls`). The SMTP steps run even when the token
//! could not be had: the server and its TLS can be checked without one.

use std::time::Instant;

use super::local::days;
use super::report::{Report, Step};
use super::tls::{self, Conn, Negotiated};
use crate::clock;
use crate::config::{Config, TlsMode};
use crate::error::{Error, Kind};
use crate::log::{Level, Outcome, Record, Syslog};
use crate::message::format_mailbox;
use crate::net;
use crate::relay::{smtp_failure, token_rejected};
use crate::secret::Secret;
use crate::smtp::capabilities::Capabilities;
use crate::smtp::session::{Envelope, Session};
use crate::token::TokenSource;
use crate::token::claims::{self, Verdict as ClaimVerdict};
use crate::transcript::Transcript;

/// A token fresh from the endpoint (the cache is neither used nor changed:
/// the point is to prove that the credential works now).
pub fn token(
    config: &Config,
    tokens: &mut TokenSource,
    transcript: &mut Transcript,
) -> (Step, Option<Secret>) {
    let started = Instant::now();
    let endpoint = format!("endpoint {}", config.token.url);
    match tokens.request_new(transcript) {
        Ok(granted) => {
            let until = clock::now() + granted.expires_in;
            let step = Step::pass(
                "token",
                "token",
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
            Step::fail("token", "token", &e)
                .detail(endpoint)
                .took(started.elapsed()),
            None,
        ),
    }
}

/// The claim steps: identifier, title, claim.
const CLAIM_STEPS: [(&str, &str, &str); 4] = [
    ("token.aud", "token audience", "aud"),
    ("token.roles", "token roles", "roles"),
    ("token.tid", "token tenant", "tid"),
    ("token.appid", "token application", "appid"),
];

/// The token's claims, decoded without verification, against the configuration.
pub fn claim_steps(config: &Config, token: Option<&Secret>) -> Vec<Step> {
    let skip_all = |why: &str| {
        CLAIM_STEPS
            .iter()
            .map(|(id, title, _)| Step::skip(id, title, why))
            .collect()
    };
    let Some(token) = token else {
        return skip_all("no token");
    };
    let Some(decoded) = claims::peek(token.expose()) else {
        let mut steps: Vec<Step> = skip_all("the token is not a JWT");
        steps[0] = Step::warn(
            CLAIM_STEPS[0].0,
            CLAIM_STEPS[0].1,
            "the token is not a JWT, so its claims cannot be read",
            "Entra's tokens for Exchange Online are JWTs: check that token.url is Entra's token endpoint",
        )
        .cause("token-opaque");
        return steps;
    };
    let findings = claims::findings(&decoded, &config.tenant, &config.client_id);
    CLAIM_STEPS
        .iter()
        .map(|(id, title, claim)| {
            let Some(f) = findings.iter().find(|f| f.claim == *claim) else {
                return Step::skip(id, title, "not checked");
            };
            let fix = f.fix.clone().unwrap_or_default();
            let cause = f.cause.unwrap_or("token-claims");
            match f.verdict {
                ClaimVerdict::Good => Step::pass(id, title, f.detail.clone()),
                ClaimVerdict::Doubtful => Step::warn(id, title, f.detail.clone(), fix).cause(cause),
                ClaimVerdict::Bad => {
                    let kind = if cause == "token-no-role" {
                        Kind::NoPermission
                    } else {
                        Kind::Config
                    };
                    let error = Error::new(kind, f.detail.clone())
                        .with_hint(fix)
                        .with_cause(cause);
                    Step::fail(id, title, &error)
                }
            }
        })
        .collect()
}

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
        Step::warn(
            "smtp.tls",
            "TLS",
            format!(
                "{summary}; the server's certificate expires in {}",
                days(negotiated.days_left)
            ),
            "the server's administrator must renew its certificate (Microsoft renews Exchange Online's by itself)",
        )
        .cause("tls-certificate-expiring")
    } else {
        Step::pass("smtp.tls", "TLS", summary)
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

/// The SMTP steps still to report after `from` failed, as skipped.
fn skip_rest(report: &mut Report, check: &SmtpCheck, from: &str, why: &str) {
    let mut rest = vec![("smtp.tls", "TLS"), ("smtp.auth", "SMTP login")];
    if check.test_to.is_some() {
        rest.push(("smtp.send", "test message"));
    }
    let position = rest
        .iter()
        .position(|(id, _)| *id == from)
        .map_or(0, |p| p + 1);
    for (id, title) in &rest[position..] {
        report.add(Step::skip(id, title, why));
    }
}

/// Connects, secures and logs in, reporting each step; sends a test
/// message with `--to`.
pub fn smtp(check: &SmtpCheck, transcript: Transcript, report: &mut Report) {
    let config = check.config;
    let smtp = &config.smtp;
    let server = format!("{}:{}", smtp.host, smtp.port);
    let started = Instant::now();
    let mut transcript = transcript;
    transcript.note(&format!("connecting to {server}"));
    let tcp = match net::connect(&smtp.host, smtp.port, smtp.timeout) {
        Ok(tcp) => tcp,
        Err(e) => {
            report.add(Step::fail("smtp.connect", "SMTP server", &e).took(started.elapsed()));
            skip_rest(report, check, "", "the server was not reached");
            return;
        }
    };
    let address = tcp
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let reached = format!("{server} ({address})");
    let connector = match smtp.tls {
        TlsMode::None => None,
        _ => match tls::connector(config.ca_file.as_deref()) {
            Ok(c) => Some(c),
            Err(e) => {
                report.add(Step::pass(
                    "smtp.connect",
                    "SMTP server",
                    format!("{reached} reached"),
                ));
                report.add(Step::fail("smtp.tls", "TLS", &e));
                skip_rest(report, check, "smtp.tls", "TLS could not be set up");
                return;
            }
        },
    };

    // Greeting and EHLO, in clear text unless TLS is implicit.
    let (mut session, caps) = match (smtp.tls, connector) {
        (TlsMode::Implicit, Some(connector)) => {
            report.add(
                Step::pass("smtp.connect", "SMTP server", format!("{reached} reached"))
                    .took(started.elapsed()),
            );
            let started = Instant::now();
            let (stream, negotiated) = match tls::handshake(&connector, &smtp.host, tcp) {
                Ok(done) => done,
                Err(e) => {
                    report.add(Step::fail("smtp.tls", "TLS", &e).took(started.elapsed()));
                    skip_rest(report, check, "smtp.tls", "TLS failed");
                    return;
                }
            };
            transcript.note(&format!(
                "TLS established: {} {}",
                negotiated.version, negotiated.cipher
            ));
            let mut session = Session::new(Conn::Tls(Box::new(stream)), transcript);
            let greeted = session
                .greeting()
                .and_then(|_| session.ehlo(check.helo))
                .map_err(|e| smtp_failure(e, &server));
            match greeted {
                Ok(caps) => {
                    report
                        .add(tls_step(&negotiated, &caps, "implicit TLS").took(started.elapsed()));
                    (session, caps)
                }
                Err(e) => {
                    report.add(Step::fail("smtp.tls", "TLS", &e).took(started.elapsed()));
                    skip_rest(report, check, "smtp.tls", "the server did not greet");
                    return;
                }
            }
        }
        (mode, connector) => {
            let mut session = Session::new(Conn::Plain(tcp), transcript);
            let greeting = match session.greeting() {
                Ok(reply) => reply,
                Err(e) => {
                    let e = smtp_failure(e, &server);
                    report
                        .add(Step::fail("smtp.connect", "SMTP server", &e).took(started.elapsed()));
                    skip_rest(report, check, "", "the server did not greet");
                    return;
                }
            };
            let caps = match session.ehlo(check.helo) {
                Ok(caps) => caps,
                Err(e) => {
                    let e = smtp_failure(e, &server);
                    report
                        .add(Step::fail("smtp.connect", "SMTP server", &e).took(started.elapsed()));
                    skip_rest(report, check, "", "EHLO failed");
                    return;
                }
            };
            report.add(
                Step::pass(
                    "smtp.connect",
                    "SMTP server",
                    format!("{reached}: {greeting}"),
                )
                .detail(format!("EHLO {}: {}", check.helo, describe(&caps)))
                .took(started.elapsed()),
            );
            match (mode, connector) {
                (TlsMode::StartTls, Some(connector)) => {
                    let started = Instant::now();
                    match starttls(session, &caps, &connector, check, &server) {
                        Ok((session, caps, negotiated)) => {
                            report.add(
                                tls_step(&negotiated, &caps, "STARTTLS").took(started.elapsed()),
                            );
                            (session, caps)
                        }
                        Err(e) => {
                            report.add(Step::fail("smtp.tls", "TLS", &e).took(started.elapsed()));
                            skip_rest(
                                report,
                                check,
                                "smtp.tls",
                                "no TLS, so no credential was sent",
                            );
                            return;
                        }
                    }
                }
                _ => {
                    report.add(
                        Step::warn(
                            "smtp.tls",
                            "TLS",
                            "none: smtp.tls = \"none\" (allowed only towards loopback)",
                            "use smtp.tls = \"starttls\" for any real server",
                        )
                        .cause("tls-off"),
                    );
                    (session, caps)
                }
            }
        }
    };

    // AUTH.
    let Some(token) = check.token else {
        skip_rest(report, check, "smtp.tls", "no token to log in with");
        session.quit();
        return;
    };
    let started = Instant::now();
    match session.auth_xoauth2(&caps, &config.user, token) {
        Ok(reply) => report.add(
            Step::pass(
                "smtp.auth",
                "SMTP login",
                format!("XOAUTH2 as {} accepted: {reply}", config.user),
            )
            .took(started.elapsed()),
        ),
        Err(e) => {
            let rejected = token_rejected(&e);
            let mut error = smtp_failure(e, &server);
            // The claims may say why Exchange refused the token; that beats
            // the catalogue's list of usual suspects.
            if rejected
                && let Some((cause, fix)) =
                    claims::explain_refusal(token.expose(), &config.tenant, &config.client_id)
            {
                error = error.with_hint(fix).with_cause(cause);
            }
            report.add(Step::fail("smtp.auth", "SMTP login", &error).took(started.elapsed()));
            skip_rest(report, check, "smtp.auth", "the login failed");
            session.quit();
            return;
        }
    }

    if let Some(to) = check.test_to {
        let step = send_test(&mut session, &caps, check, to, &server);
        report.add(step);
    }
    session.quit();
}

/// STARTTLS, the handshake, and EHLO again on the secured connection.
fn starttls(
    mut session: Session<Conn>,
    caps: &Capabilities,
    connector: &openssl::ssl::SslConnector,
    check: &SmtpCheck,
    server: &str,
) -> Result<(Session<Conn>, Capabilities, Negotiated), Error> {
    session
        .starttls(caps)
        .map_err(|e| smtp_failure(e, server))?;
    let (stream, mut transcript) = session.into_parts();
    let Conn::Plain(tcp) = stream else {
        unreachable!("STARTTLS runs on a plain connection");
    };
    let (tls, negotiated) = tls::handshake(connector, &check.config.smtp.host, tcp)?;
    transcript.note(&format!(
        "TLS established: {} {}",
        negotiated.version, negotiated.cipher
    ));
    let mut session = Session::new(Conn::Tls(Box::new(tls)), transcript);
    let caps = session
        .ehlo(check.helo)
        .map_err(|e| smtp_failure(e, server))?;
    Ok((session, caps, negotiated))
}

/// The header of the test message (CRLF lines, blank line included) and its Message-ID.
fn test_header(config: &Config, helo: &str, to: &str, now: u64) -> (Vec<u8>, String) {
    let message_id = clock::message_id(now, clock::random_bytes(), helo);
    let from = format_mailbox(
        Some(config.from_name.as_deref().unwrap_or("oauth2-sendmail")),
        &config.from,
    );
    let fields = [
        ("From", from),
        ("To", to.to_string()),
        (
            "Subject",
            format!("oauth2-sendmail test message from {helo}"),
        ),
        ("Date", clock::rfc5322_date(now)),
        ("Message-ID", message_id.clone()),
        ("MIME-Version", "1.0".to_string()),
        ("Content-Type", "text/plain; charset=us-ascii".to_string()),
    ];
    let mut header = String::new();
    for (name, value) in fields {
        header.push_str(&format!("{name}: {value}\r\n"));
    }
    header.push_str("\r\n");
    (header.into_bytes(), message_id)
}

/// The body of the test message.
fn test_body(config: &Config, helo: &str, to: &str, server: &str) -> String {
    format!(
        "This is a test message from oauth2-sendmail {} on {helo}.\r\n\
         \r\n\
         It was sent by `oauth2-sendmail --check --to {to}` through {server}\r\n\
         as {}, with an OAuth2 token for the application {}.\r\n\
         If you can read it, this server can send mail.\r\n",
        env!("CARGO_PKG_VERSION"),
        config.user,
        config.client_id
    )
}

/// Sends the test message on the authenticated session, and logs it like
/// any other message.
fn send_test(
    session: &mut Session<Conn>,
    caps: &Capabilities,
    check: &SmtpCheck,
    to: &str,
    server: &str,
) -> Step {
    let config = check.config;
    let started = Instant::now();
    let (header, message_id) = test_header(config, check.helo, to, clock::now());
    let body = test_body(config, check.helo, to, server);
    let envelope = Envelope {
        sender: config.from.clone(),
        recipients: vec![to.to_string()],
        mail_params: Vec::new(),
        rcpt_params: Vec::new(),
    };
    let recipients = [to.to_string()];
    let result = session
        .send_mail(caps, &envelope, &header, &mut body.as_bytes())
        .map_err(|e| smtp_failure(e, server));
    let mut record = Record {
        queue_id: None,
        message_id: Some(&message_id),
        from: &config.from,
        recipients: &recipients,
        size: None,
        outcome: Outcome::Delivered,
        smtp: None,
        duration: started.elapsed(),
        exit: "EX_OK",
        cause: None,
        error: None,
    };
    let mut syslog = match &config.syslog_socket {
        Some(path) => Syslog::connect(path),
        None => Syslog::none(),
    };
    let step = match &result {
        // One recipient: accepted, or the whole transaction is an error.
        Ok(receipt) => {
            record.size = Some(receipt.size);
            record.smtp = Some(receipt.reply.to_string());
            syslog.log(Level::Info, &record.line());
            Step::pass(
                "smtp.send",
                "test message",
                format!("accepted for {to}: {}", receipt.reply),
            )
            .detail(format!("Message-ID {message_id}"))
        }
        Err(error) => {
            record.outcome = Outcome::Failed;
            record.exit = error.kind().exit_name();
            record.cause = Some(error.cause_code());
            record.error = Some(error.message());
            syslog.log(Level::Error, &record.line());
            Step::fail("smtp.send", "test message", error)
        }
    };
    step.took(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::report::Verdict;

    fn verdict_of(steps: &[Step], id: &str) -> Option<Verdict> {
        steps.iter().find(|s| s.id == id).map(|s| s.verdict)
    }
    use base64::Engine as _;
    use std::path::Path;

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

    #[test]
    fn test_message_header() {
        let c = config();
        let (header, id) = test_header(&c, "web1.contoso.com", "admin@contoso.com", 0);
        let text = String::from_utf8(header).unwrap();
        assert!(
            text.starts_with(
                "From: \"oauth2-sendmail\" <alerts@contoso.com>\r\nTo: admin@contoso.com\r\n"
            ),
            "{text}"
        );
        assert!(text.contains("Subject: oauth2-sendmail test message from web1.contoso.com\r\n"));
        assert!(text.contains("Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"));
        assert!(text.contains(&format!("Message-ID: {id}\r\n")));
        assert!(text.ends_with("\r\n\r\n"));
        let body = test_body(&c, "web1", "admin@contoso.com", "smtp:587");
        assert!(body.contains("through smtp:587") && body.contains("as alerts@contoso.com"));
    }

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
