//! The `--check` report: steps with their verdicts, as text or JSON.
//!
//! A [`Step`] is one thing checked (the configuration, the token's audience,
//! the SMTP login…) with its verdict, a one-line summary, detail lines, a
//! hint and the catalogue cause code when it failed, and how long it took.
//! [`Report`] collects them, prints each as soon as it is known (a step
//! that waits for a timeout shows where it waits), and decides the exit
//! code: 0 when nothing failed (warnings allowed), else the code of the
//! first failure. Rendering is pure and tested by table.
//!
//! Text output is meant to be pasted into a ticket: on a terminal the
//! verdicts are `✓ ! ✗ -` in colour; anywhere else they are the ASCII
//! words `ok`, `warn`, `FAIL`, `skip` (greppable, and safe in any mail or
//! ticket system), never with colour codes.

use std::io::Write;
use std::time::Duration;

use serde::Serialize;

use super::step_id::StepId;
use crate::cause::Cause;
use crate::error::{Error, Kind};

/// How a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// As it should be.
    Pass,
    /// Works, but worth a look.
    Warn,
    /// Mail will not flow until this is fixed.
    Fail,
    /// Not checked, because an earlier step failed (or it does not apply).
    Skip,
}

/// One thing checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Stable identifier for monitoring (`smtp.auth`).
    pub id: &'static str,
    /// What was checked, for people (`SMTP login`).
    pub title: &'static str,
    /// The verdict.
    pub verdict: Verdict,
    /// One line: what was found.
    pub summary: String,
    /// More lines: values worth showing (certificate subject, expiry…).
    pub details: Vec<String>,
    /// What to do, for a warning or failure.
    pub hint: Option<String>,
    /// Catalogue cause code of a warning or failure.
    pub cause: Option<Cause>,
    /// sysexits code a failure stands for.
    #[serde(skip)]
    pub kind: Option<Kind>,
    /// How long the step took, when it did something worth timing.
    #[serde(rename = "seconds", serialize_with = "seconds")]
    pub elapsed: Option<Duration>,
    /// Whether the summary holds no configured value, so that
    /// [`Step::verdict_only`] keeps it.
    #[serde(skip)]
    pub public: bool,
}

fn seconds<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        // Milliseconds are plenty; more digits only look precise.
        Some(d) => s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0),
        None => s.serialize_none(),
    }
}

impl Step {
    fn new(step: StepId, verdict: Verdict, summary: String) -> Self {
        Step {
            id: step.id(),
            title: step.title(),
            verdict,
            summary: crate::error::one_line(&summary),
            details: Vec::new(),
            hint: None,
            cause: None,
            kind: None,
            elapsed: None,
            public: false,
        }
    }

    /// A step that passed.
    pub fn pass(step: StepId, summary: impl Into<String>) -> Self {
        Self::new(step, Verdict::Pass, summary.into())
    }

    /// A step that works but deserves attention.
    pub fn warn(step: StepId, summary: impl Into<String>, hint: impl Into<String>) -> Self {
        let mut step = Self::new(step, Verdict::Warn, summary.into());
        step.hint = Some(crate::error::one_line(&hint.into()));
        step
    }

    /// A step that failed with `error` (its message, hint, cause and kind);
    /// a failure the catalogue knows also gets `--explain`'s text.
    pub fn fail(step: StepId, error: &Error) -> Self {
        let mut step = Self::new(step, Verdict::Fail, error.message().to_string());
        step.hint = Some(error.hint().to_string());
        step.cause = Some(error.cause_or_fallback());
        step.kind = Some(error.kind());
        step.details
            .extend(crate::explain::check_lines(error.message()));
        step
    }

    /// A step not checked, and why.
    pub fn skip(step: StepId, why: impl Into<String>) -> Self {
        Self::new(step, Verdict::Skip, why.into())
    }

    /// The step as a caller who is not root sees it: the verdict, the
    /// cause code and the time, never a value (tenant, client ID, mailbox,
    /// endpoint, path, claim) from the summary, details or hint.
    #[must_use]
    pub fn verdict_only(mut self) -> Self {
        let root = "run oauth2-sendmail --check as root for the details and the fix";
        if !self.public {
            self.summary = match self.verdict {
                Verdict::Pass => "ok".into(),
                Verdict::Warn => "works, but needs a look".into(),
                Verdict::Fail => "failed".into(),
                Verdict::Skip => "not checked".into(),
            };
        }
        self.details.clear();
        self.hint = matches!(self.verdict, Verdict::Warn | Verdict::Fail).then(|| root.into());
        self
    }

    /// Marks the summary as free of configured values (see [`Step::public`]).
    #[must_use]
    pub fn public(mut self) -> Self {
        self.public = true;
        self
    }

    /// Adds a detail line.
    pub fn detail(mut self, line: impl Into<String>) -> Self {
        self.details.push(crate::error::one_line(&line.into()));
        self
    }

    /// Sets the cause code (for warnings; failures take it from the error).
    pub fn cause(mut self, cause: Cause) -> Self {
        self.cause = Some(cause);
        self
    }

    /// Records how long the step took.
    pub fn took(mut self, elapsed: Duration) -> Self {
        self.elapsed = Some(elapsed);
        self
    }
}

/// How text output looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    /// `✓ ! ✗ -` instead of `ok warn FAIL skip`.
    pub symbols: bool,
    /// ANSI colours.
    pub colour: bool,
}

impl Style {
    /// Plain ASCII, for pipes, files and tickets.
    pub const PLAIN: Style = Style {
        symbols: false,
        colour: false,
    };

    /// Symbols and colour, for a terminal.
    pub const TERMINAL: Style = Style {
        symbols: true,
        colour: true,
    };
}

/// Width of the title column.
const TITLE_WIDTH: usize = 18;

fn mark(verdict: Verdict, style: Style) -> String {
    let (symbol, word, colour) = match verdict {
        Verdict::Pass => ("✓", "ok  ", "32"),
        Verdict::Warn => ("!", "warn", "33"),
        Verdict::Fail => ("✗", "FAIL", "31"),
        Verdict::Skip => ("-", "skip", "2"),
    };
    let text = if style.symbols { symbol } else { word };
    if style.colour {
        format!("\x1b[{colour}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// How a duration reads: `143 ms`, `2.5 s`.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// One step as text lines.
pub fn render_step(step: &Step, style: Style) -> String {
    let mark_width = if style.symbols { 1 } else { 4 };
    let indent = " ".repeat(2 + mark_width + 1 + TITLE_WIDTH + 1);
    let mut out = format!(
        "  {} {:<TITLE_WIDTH$} {}",
        mark(step.verdict, style),
        step.title,
        step.summary
    );
    if let Some(elapsed) = step.elapsed {
        out.push_str(&format!(" ({})", duration(elapsed)));
    }
    out.push('\n');
    for line in &step.details {
        out.push_str(&format!("{indent}{line}\n"));
    }
    if let Some(hint) = &step.hint {
        out.push_str(&format!("{indent}hint: {hint}\n"));
    }
    out
}

/// The steps of a whole run, and where they are printed as they come.
pub struct Report {
    steps: Vec<Step>,
    live: Option<(Box<dyn Write>, Style)>,
    verdicts_only: bool,
}

impl Report {
    /// A report printed step by step to `out` in `style` (text mode).
    pub fn live(out: Box<dyn Write>, style: Style) -> Self {
        Report {
            steps: Vec::new(),
            live: Some((out, style)),
            verdicts_only: false,
        }
    }

    /// A report printed only at the end (JSON mode).
    pub fn quiet() -> Self {
        Report {
            steps: Vec::new(),
            live: None,
            verdicts_only: false,
        }
    }

    /// From now on every step is kept and shown with [`Step::verdict_only`].
    pub fn verdicts_only(&mut self) {
        self.verdicts_only = true;
    }

    /// Prints `text` in text mode only (the heading).
    pub fn say(&mut self, text: &str) {
        if let Some((out, _)) = &mut self.live {
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }

    /// Adds a step (printing it in text mode).
    pub fn add(&mut self, step: Step) {
        let step = if self.verdicts_only {
            step.verdict_only()
        } else {
            step
        };
        if let Some((out, style)) = &mut self.live {
            let _ = out.write_all(render_step(&step, *style).as_bytes());
            let _ = out.flush();
        }
        self.steps.push(step);
    }

    /// Adds a step without printing it (already shown another way).
    pub fn add_quietly(&mut self, step: Step) {
        self.steps.push(step);
    }

    /// The steps so far.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The first failed step.
    pub fn first_failure(&self) -> Option<&Step> {
        self.steps.iter().find(|s| s.verdict == Verdict::Fail)
    }

    /// 0 when nothing failed, else the sysexits code of the first failure.
    pub fn exit_code(&self) -> u8 {
        self.first_failure()
            .map_or(0, |s| s.kind.unwrap_or(Kind::Software).exit_code())
    }
}

/// The closing lines of the text report.
pub fn render_verdict(steps: &[Step]) -> String {
    let count = |v| steps.iter().filter(|s| s.verdict == v).count();
    let (failed, warned) = (count(Verdict::Fail), count(Verdict::Warn));
    let warnings = match warned {
        0 => String::new(),
        1 => ", 1 warning".to_string(),
        n => format!(", {n} warnings"),
    };
    match steps.iter().find(|s| s.verdict == Verdict::Fail) {
        None => format!("\nResult: all checks passed{warnings}.\n"),
        Some(first) => {
            let kind = first.kind.unwrap_or(Kind::Software);
            let cause = first
                .cause
                .map(|c| format!(", cause={c}"))
                .unwrap_or_default();
            format!(
                "\nResult: FAILED: {failed} of {} checks failed{warnings}; first failure: {} (exit {} {}{cause}).\n",
                steps.len(),
                first.title,
                kind.exit_code(),
                kind.exit_name(),
            )
        }
    }
}

/// The JSON document, fields in reading order.
#[derive(Serialize)]
struct JsonReport<'a> {
    program: &'static str,
    version: &'a str,
    config: &'a str,
    ok: bool,
    exit: u8,
    exit_name: &'static str,
    cause: Option<Cause>,
    failed: Vec<&'static str>,
    warnings: Vec<&'static str>,
    steps: &'a [Step],
}

/// The whole report as one JSON document.
pub fn render_json(version: &str, config: &str, steps: &[Step]) -> String {
    let first = steps.iter().find(|s| s.verdict == Verdict::Fail);
    let kind = first.map(|s| s.kind.unwrap_or(Kind::Software));
    let ids = |v| {
        steps
            .iter()
            .filter(|s| s.verdict == v)
            .map(|s| s.id)
            .collect::<Vec<_>>()
    };
    let document = JsonReport {
        program: "oauth2-sendmail",
        version,
        config,
        ok: first.is_none(),
        exit: kind.map_or(0, Kind::exit_code),
        exit_name: kind.map_or("EX_OK", Kind::exit_name),
        cause: first.and_then(|s| s.cause),
        failed: ids(Verdict::Fail),
        warnings: ids(Verdict::Warn),
        steps,
    };
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Step> {
        vec![
            Step::pass(StepId::Config, "/etc/x.conf: keys valid"),
            Step::warn(StepId::TokenRoles, "no roles claim", "add SMTP.SendAsApp")
                .cause(Cause::TokenNoRole),
            Step::fail(
                StepId::SmtpAuth,
                &Error::new(Kind::NoPermission, "535 5.7.3 Authentication unsuccessful")
                    .with_hint("run New-ServicePrincipal")
                    .with_cause(Cause::TokenRejected),
            )
            .took(Duration::from_millis(143)),
            Step::skip(StepId::SmtpSend, "the login failed"),
        ]
    }

    #[test]
    fn plain_text_is_ascii_without_colour() {
        let text: String = sample()
            .iter()
            .map(|s| render_step(s, Style::PLAIN))
            .collect();
        let want = "  ok   configuration      /etc/x.conf: keys valid\n\
                    \x20 warn token roles        no roles claim\n\
                    \x20                         hint: add SMTP.SendAsApp\n\
                    \x20 FAIL SMTP login         535 5.7.3 Authentication unsuccessful (143 ms)\n\
                    \x20                         means: Exchange refused the login; it never says why, so the cause is one of the tenant-side set-up steps.\n\
                    \x20                         likely causes: {causes}\n\
                    \x20                         more: oauth2-sendmail --explain '535 5.7.3'\n\
                    \x20                         hint: run New-ServicePrincipal\n\
                    \x20 skip test message       the login failed\n";
        let causes = crate::catalogue::smtp_reply(535, "5.7.3 x")
            .unwrap()
            .causes
            .join("; ");
        assert_eq!(text, want.replace("{causes}", &causes));
        assert!(text.is_ascii());
    }

    #[test]
    fn terminal_text_has_symbols_and_colour() {
        let steps = sample();
        let table = [
            (0, "\x1b[32m✓\x1b[0m configuration"),
            (1, "\x1b[33m!\x1b[0m token roles"),
            (2, "\x1b[31m✗\x1b[0m SMTP login"),
            (3, "\x1b[2m-\x1b[0m test message"),
        ];
        for (i, want) in table {
            let line = render_step(&steps[i], Style::TERMINAL);
            assert!(line.starts_with(&format!("  {want}")), "{line:?}");
        }
        let hint = render_step(&steps[1], Style::TERMINAL);
        let (first, second) = hint.split_once('\n').unwrap();
        assert_eq!(
            first
                .find("no roles claim")
                .map(|i| i - "\x1b[33m\x1b[0m".len()),
            second.find("hint:"),
            "details align under the summary: {hint:?}"
        );
    }

    #[test]
    fn verdict_lines() {
        let steps = sample();
        assert_eq!(
            render_verdict(&steps),
            "\nResult: FAILED: 1 of 4 checks failed, 1 warning; first failure: SMTP login (exit 77 EX_NOPERM, cause=token-rejected).\n"
        );
        assert_eq!(
            render_verdict(&steps[..2]),
            "\nResult: all checks passed, 1 warning.\n"
        );
        assert_eq!(
            render_verdict(&steps[..1]),
            "\nResult: all checks passed.\n"
        );
    }

    #[test]
    fn exit_code_is_the_first_failure() {
        let mut report = Report::quiet();
        for step in sample() {
            report.add(step);
        }
        assert_eq!(report.exit_code(), 77);
        assert_eq!(report.first_failure().map(|s| s.id), Some("smtp.auth"));
        let mut fine = Report::quiet();
        fine.add(sample().remove(1));
        assert_eq!(fine.exit_code(), 0);
    }

    #[test]
    fn json_has_the_same_verdicts() {
        let steps = sample();
        let json: serde_json::Value =
            serde_json::from_str(&render_json("1.0", "/etc/x.conf", &steps)).unwrap();
        assert_eq!(json["ok"], false);
        assert_eq!(json["exit"], 77);
        assert_eq!(json["exit_name"], "EX_NOPERM");
        assert_eq!(json["cause"], "token-rejected");
        assert_eq!(json["failed"], serde_json::json!(["smtp.auth"]));
        assert_eq!(json["warnings"], serde_json::json!(["token.roles"]));
        let verdicts: Vec<&str> = json["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["verdict"].as_str().unwrap())
            .collect();
        assert_eq!(verdicts, ["pass", "warn", "fail", "skip"]);
        assert_eq!(json["steps"][2]["seconds"], 0.143);
        assert_eq!(json["steps"][2]["hint"], "run New-ServicePrincipal");
        assert_eq!(json["steps"][0]["seconds"], serde_json::Value::Null);
    }

    #[test]
    fn durations() {
        assert_eq!(duration(Duration::from_millis(7)), "7 ms");
        assert_eq!(duration(Duration::from_millis(2500)), "2.5 s");
    }
}
