//! The command-line options as documentation: one table that `--help` is
//! printed from and that tests (and the man page check) read.
//!
//! Data only, no dependencies. `tests/suite/docs.rs` holds the man page
//! against `--help`, which is printed from it. The parser itself lives in
//! `cli`; a unit test there checks that every spelling here parses.

/// Whether an option changes what the program does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The option is honoured.
    Honoured,
    /// Accepted for compatibility, and ignored (its value too).
    Ignored,
}

/// One line of the option table.
#[derive(Clone, Copy, Debug)]
pub struct OptionDoc {
    /// Every spelling of the option (`-f`, `-r`), as a man page lists it.
    pub names: &'static [&'static str],
    /// The value's placeholder, if the option takes one (glued or separate).
    pub value: Option<&'static str>,
    /// Honoured or ignored.
    pub status: Status,
    /// One line saying what it does.
    pub summary: &'static str,
}

const fn honoured(
    names: &'static [&'static str],
    value: Option<&'static str>,
    summary: &'static str,
) -> OptionDoc {
    OptionDoc {
        names,
        value,
        status: Status::Honoured,
        summary,
    }
}

const fn ignored(
    names: &'static [&'static str],
    value: Option<&'static str>,
    summary: &'static str,
) -> OptionDoc {
    OptionDoc {
        names,
        value,
        status: Status::Ignored,
        summary,
    }
}

/// Every option, in the order `--help` shows them.
pub const OPTIONS: &[OptionDoc] = &[
    honoured(
        &["-t"],
        None,
        "also send to the To, Cc, Bcc (or Resent-*) recipients",
    ),
    honoured(
        &["-i", "-oi"],
        None,
        "a line with a single dot does not end the message",
    ),
    honoured(
        &["-f", "-r"],
        Some("ADDR"),
        "envelope sender (only with allow_from_override = true)",
    ),
    honoured(
        &["-F"],
        Some("NAME"),
        "full name for a From header the program adds",
    ),
    honoured(
        &["-v"],
        None,
        "SMTP and token transcript on stderr, credentials redacted",
    ),
    honoured(
        &["-C"],
        Some("FILE"),
        "another configuration file (root only when installed setgid)",
    ),
    honoured(
        &["-bm"],
        None,
        "read a message on stdin and send it (the default)",
    ),
    honoured(
        &["-bs"],
        None,
        "SMTP dialogue on stdin/stdout (Symfony Mailer, Laravel)",
    ),
    honoured(&["-bp"], None, "list the queue (as mailq)"),
    honoured(
        &["-bi", "-I"],
        None,
        "check the aliases file (as newaliases)",
    ),
    honoured(&["-q"], None, "deliver every queued message now"),
    honoured(
        &["--queue-run"],
        None,
        "deliver the queued messages whose retry time has come",
    ),
    honoured(
        &["-odi"],
        None,
        "deliver now, while the caller waits (delivery = foreground)",
    ),
    honoured(
        &["-odb"],
        None,
        "queue durably, return, deliver in a detached process",
    ),
    honoured(
        &["-odq"],
        None,
        "queue only, for the next queue run (delivery = queue)",
    ),
    honoured(
        &["-N"],
        Some("DSN"),
        "DSN NOTIFY=never|success,failure,delay, if offered",
    ),
    honoured(
        &["-R"],
        Some("RET"),
        "DSN RET=full|hdrs, if the server offers DSN",
    ),
    honoured(
        &["-V"],
        Some("ENVID"),
        "DSN ENVID, if the server offers DSN",
    ),
    honoured(
        &["-B"],
        Some("TYPE"),
        "BODY=7BIT|8BITMIME, if the server offers 8BITMIME",
    ),
    honoured(&["--"], None, "end of options: recipients follow"),
    honoured(
        &["--check"],
        None,
        "diagnose configuration, token and SMTP login",
    ),
    honoured(
        &["--to"],
        Some("ADDR"),
        "with --check: then send a test message to ADDR",
    ),
    honoured(
        &["--account"],
        Some("NAME"),
        "with --check: check only the account NAME ([accounts.NAME], or default)",
    ),
    honoured(&["--json"], None, "with --check or --explain: JSON output"),
    honoured(
        &["--explain"],
        None,
        "explain the Entra/Exchange/Graph errors in the text after it (or stdin)",
    ),
    honoured(
        &["--setup-script"],
        None,
        "print the PowerShell that sets up the tenant",
    ),
    honoured(
        &["--transport"],
        Some("T"),
        "with --setup-script: smtp (default) or graph",
    ),
    honoured(
        &["--undo"],
        None,
        "with --setup-script: print the removal script",
    ),
    honoured(&["--version"], None, "print the version"),
    honoured(&["--help"], None, "print this summary"),
    ignored(
        &["-o"],
        Some("X"),
        "sendmail option (-oem, -oee, ...); -oi and -od. are honoured",
    ),
    ignored(&["-O"], Some("X"), "sendmail option=value"),
    ignored(&["-L"], Some("X"), "syslog label"),
    ignored(&["-X"], Some("FILE"), "traffic log file (never written)"),
    ignored(&["-h"], Some("N"), "hop count"),
    ignored(&["-A"], Some("X"), "alternate configuration (c or m)"),
    ignored(&["-e"], Some("X"), "error reporting mode"),
    ignored(
        &["-G", "-U", "-m", "-n", "-x", "-c"],
        None,
        "other sendmail flags",
    ),
];
