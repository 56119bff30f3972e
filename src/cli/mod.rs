//! The sendmail command line: argv (and argv[0]) into an [`Invocation`].
//!
//! Real callers pass sendmail options in every form getopt allows: glued and
//! separate values (`-fX` / `-f X`, `-B8BITMIME` / `-B 8BITMIME`), grouped
//! flags (`-ti`), `-o` options (`-oi`, `-oem`, `-odi`), options after the
//! recipients (GNU getopt permutes) and `--` before recipients that begin
//! with `-`. This module accepts all of them, honours what it can, ignores
//! what the option table (`options.rs`, oauth2-sendmail(8)) marks as
//! ignored, and never takes an option's value for a recipient. Pure: no I/O beyond the argument list it is given.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use lexopt::prelude::*;

use crate::config::DeliveryMode;
use crate::error::{Error, Result};
use crate::options::{OPTIONS, Status};

/// What the invocation asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Read a message on stdin and send it (`-bm`, the default).
    Send,
    /// SMTP dialogue on stdin/stdout (`-bs`).
    SmtpSession,
    /// List the queue (`-bp`, `mailq`).
    ListQueue,
    /// Check the aliases file (`-bi`, `-I`, `newaliases`).
    CheckAliases,
    /// Deliver every queued message now (`-q`).
    FlushQueue,
    /// Deliver the queued messages whose retry time has come (`--queue-run`).
    RunDueQueue,
    /// Diagnose configuration, token and SMTP login (`--check`).
    Check,
    /// Explain the failures in a text (`--explain [TEXT]`; the text is in
    /// `recipients`, or stdin when there is none).
    Explain,
    /// Deliver one queued message of this caller now (`--deliver-queued
    /// ID`, in `recipients`): the detached process of `-odb`.
    DeliverQueued,
    /// Print the tenant set-up script (`--setup-script`).
    SetupScript,
    /// Print the version (`--version`).
    Version,
    /// Print the usage summary (`--help`).
    Help,
}

/// DSN parameters (RFC 3461) and the body type, passed to the server only
/// when it offers the extension.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// `-N never|success,failure,delay`: RCPT NOTIFY=.
    pub notify: Option<String>,
    /// `-R full|hdrs`: MAIL RET=.
    pub ret: Option<String>,
    /// `-V envid`: MAIL ENVID=.
    pub envid: Option<String>,
    /// `-B 7BIT|8BITMIME`: MAIL BODY=.
    pub body: Option<String>,
}

/// Everything the command line says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// The mode.
    pub mode: Mode,
    /// `-f`/`-r`: the envelope sender asked for.
    pub sender: Option<String>,
    /// `-F`: full name for a From header the program adds.
    pub full_name: Option<String>,
    /// `-t`: take recipients from the header too.
    pub extract_recipients: bool,
    /// `-i`/`-oi`: a line with a single dot does not end the message.
    pub ignore_dots: bool,
    /// Recipients named on the command line, as written.
    pub recipients: Vec<String>,
    /// `-v`: transcript on stderr.
    pub verbose: bool,
    /// `-C FILE`: another configuration file.
    pub config_path: Option<PathBuf>,
    /// DSN and body parameters.
    pub delivery: Delivery,
    /// `--to ADDR` with `--check`: send a test message there.
    pub check_to: Option<String>,
    /// `--account NAME` with `--check` (check that account only) or
    /// `--setup-script` (the script for that account).
    pub account: Option<String>,
    /// `--json` with `--check` or `--explain`: machine-readable output.
    pub json: bool,
    /// `--transport smtp|graph` with `--setup-script`.
    pub transport: Option<String>,
    /// `--undo` with `--setup-script`: the removal script.
    pub undo: bool,
    /// `-odi`, `-odb`, `-odq`: the delivery mode asked for.
    pub delivery_mode: Option<DeliveryMode>,
}

impl Invocation {
    fn new(mode: Mode) -> Self {
        Invocation {
            mode,
            sender: None,
            full_name: None,
            extract_recipients: false,
            ignore_dots: false,
            recipients: Vec::new(),
            verbose: false,
            config_path: None,
            delivery: Delivery::default(),
            check_to: None,
            account: None,
            json: false,
            transport: None,
            undo: false,
            delivery_mode: None,
        }
    }
}

/// Options that take a value and are accepted but ignored.
pub const IGNORED_WITH_VALUE: &[char] = &['O', 'L', 'X', 'h', 'A', 'e'];
/// Flags that are accepted but ignored.
pub const IGNORED_FLAGS: &[char] = &['G', 'U', 'm', 'n', 'x', 'c'];

/// The mode implied by the name the program was called under.
fn mode_from_program_name(argv0: &Path) -> Mode {
    match argv0.file_name().and_then(|n| n.to_str()) {
        Some("mailq") => Mode::ListQueue,
        Some("newaliases") => Mode::CheckAliases,
        _ => Mode::Send,
    }
}

/// Parses the whole argument vector, argv[0] included.
///
/// # Errors
/// A usage error (exit 64) naming the offending option: an unknown option,
/// a missing value, a non-UTF-8 argument, an unsupported `-b` mode.
pub fn parse<I>(argv: I) -> Result<Invocation>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let mut argv = argv.into_iter().map(Into::into);
    let argv0 = argv.next().unwrap_or_default();
    let mut parser = lexopt::Parser::from_args(argv);
    // "-F=x" must give "=x": sendmail has no `=` syntax for short options.
    parser.set_short_equals(false);
    let mut inv = Invocation::new(mode_from_program_name(Path::new(&argv0)));
    while let Some(arg) = parser.next().map_err(usage)? {
        match arg {
            Short('t') => inv.extract_recipients = true,
            Short('i') => inv.ignore_dots = true,
            Short('v') => inv.verbose = true,
            Short('f') | Short('r') => inv.sender = Some(value(&mut parser)?),
            Short('F') => inv.full_name = Some(value(&mut parser)?),
            Short('C') => inv.config_path = Some(PathBuf::from(value(&mut parser)?)),
            Short('o') => {
                let option = value(&mut parser)?;
                if option == "i" {
                    inv.ignore_dots = true;
                } else if let Some(mode) = option.strip_prefix('d') {
                    inv.delivery_mode = delivery_mode(mode).or(inv.delivery_mode);
                }
            }
            Short('b') => inv.mode = mode_from_b(&value(&mut parser)?)?,
            Short('I') => inv.mode = Mode::CheckAliases,
            // `-q` takes only a glued value (`-q30m`), which selects nothing here.
            Short('q') => {
                parser.optional_value();
                inv.mode = Mode::FlushQueue;
            }
            Short('N') => inv.delivery.notify = Some(value(&mut parser)?),
            Short('R') => inv.delivery.ret = Some(value(&mut parser)?),
            Short('V') => inv.delivery.envid = Some(value(&mut parser)?),
            Short('B') => inv.delivery.body = Some(value(&mut parser)?),
            Short(c) if IGNORED_WITH_VALUE.contains(&c) => {
                value(&mut parser)?;
            }
            Short(c) if IGNORED_FLAGS.contains(&c) => {}
            Long("queue-run") => inv.mode = Mode::RunDueQueue,
            Long("check") => inv.mode = Mode::Check,
            Long("to") => inv.check_to = Some(value(&mut parser)?),
            Long("json") => inv.json = true,
            Long("account") => inv.account = Some(value(&mut parser)?),
            Long("explain") => {
                inv.mode = Mode::Explain;
                if let Some(text) = parser.optional_value() {
                    inv.recipients.push(utf8(text)?);
                }
            }
            Long("deliver-queued") => {
                inv.mode = Mode::DeliverQueued;
                inv.recipients.push(value(&mut parser)?);
            }
            Long("setup-script") => inv.mode = Mode::SetupScript,
            Long("transport") => inv.transport = Some(value(&mut parser)?),
            Long("undo") => inv.undo = true,
            Long("version") => inv.mode = Mode::Version,
            Long("help") => inv.mode = Mode::Help,
            Value(v) => inv.recipients.push(utf8(v)?),
            other => return Err(usage(other.unexpected())),
        }
    }
    if inv.check_to.is_some() && inv.mode != Mode::Check {
        return Err(Error::usage("--to goes with --check"));
    }
    if inv.account.is_some() && !matches!(inv.mode, Mode::Check | Mode::SetupScript) {
        return Err(Error::usage(
            "--account goes with --check or --setup-script",
        ));
    }
    if inv.json && !matches!(inv.mode, Mode::Check | Mode::Explain) {
        return Err(Error::usage("--json goes with --check or --explain"));
    }
    if (inv.transport.is_some() || inv.undo) && inv.mode != Mode::SetupScript {
        return Err(Error::usage(
            "--transport and --undo go with --setup-script",
        ));
    }
    if let Some(t) = &inv.transport
        && !["smtp", "graph"].contains(&t.as_str())
    {
        return Err(Error::usage(format!(
            "--transport {t}: the transport is smtp or graph"
        )));
    }
    if inv.mode == Mode::SetupScript && !inv.recipients.is_empty() {
        return Err(Error::usage(format!(
            "--setup-script takes no arguments (got {:?}); it reads the configuration",
            inv.recipients[0]
        )));
    }
    Ok(inv)
}

/// The delivery mode named by `-odX` (sendmail's letters; `d`, deferred,
/// is queue-only like `q`); other letters are ignored, as sendmail's
/// other `-o` options are.
fn delivery_mode(letters: &str) -> Option<DeliveryMode> {
    match letters.chars().next() {
        Some('i') => Some(DeliveryMode::Foreground),
        Some('b') => Some(DeliveryMode::Background),
        Some('q' | 'd') => Some(DeliveryMode::Queue),
        _ => None,
    }
}

/// The mode named by `-bX`.
fn mode_from_b(letter: &str) -> Result<Mode> {
    match letter {
        "m" => Ok(Mode::Send),
        "s" => Ok(Mode::SmtpSession),
        "p" => Ok(Mode::ListQueue),
        "i" => Ok(Mode::CheckAliases),
        "d" | "D" => Err(Error::usage(format!(
            "-b{letter}: oauth2-sendmail is not a daemon; it sends each message when it is handed over"
        ))),
        other => Err(Error::usage(format!("unsupported mode -b{other}"))),
    }
}

fn value(parser: &mut lexopt::Parser) -> Result<String> {
    utf8(parser.value().map_err(usage)?)
}

fn utf8(value: OsString) -> Result<String> {
    value
        .into_string()
        .map_err(|v| Error::usage(format!("argument {v:?} is not valid UTF-8")))
}

fn usage(e: lexopt::Error) -> Error {
    Error::usage(e.to_string())
}

/// The `--help` text, from the table in `options`.
pub fn help_text() -> String {
    let mut text = format!(
        "oauth2-sendmail {version} - sendmail for Microsoft 365 / Exchange Online (OAuth2)

usage: sendmail [options] [--] [recipient ...] < message
       sendmail -bs            (SMTP on stdin/stdout)
       mailq | newaliases
       oauth2-sendmail --check [--to ADDR] [--account NAME] [--json]
       oauth2-sendmail --explain [TEXT] [--json]   (TEXT or stdin)
       oauth2-sendmail --setup-script [--account NAME] [--transport smtp|graph] [--undo]
",
        version = env!("CARGO_PKG_VERSION")
    );
    for (status, title) in [
        (Status::Honoured, "Honoured"),
        (Status::Ignored, "Accepted and ignored (values too)"),
    ] {
        text.push_str(&format!("\n{title}:\n"));
        for option in OPTIONS.iter().filter(|o| o.status == status) {
            let spelled: Vec<String> = option
                .names
                .iter()
                .map(|name| match option.value {
                    Some(value) => format!("{name} {value}"),
                    None => (*name).to_string(),
                })
                .collect();
            let spelled = spelled.join(", ");
            if spelled.len() <= 16 {
                text.push_str(&format!("  {spelled:<16} {}\n", option.summary));
            } else {
                text.push_str(&format!("  {spelled}\n  {:<16} {}\n", "", option.summary));
            }
        }
    }
    text.push_str(
        "\nValues may be glued or separate (-fADDR, -f ADDR); an unknown option exits 64.
Configuration: /etc/oauth2-sendmail/sendmail.conf
See oauth2-sendmail(8) and sendmail.conf(5).
",
    );
    text
}

#[cfg(test)]
mod tests;
