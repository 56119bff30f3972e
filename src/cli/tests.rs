//! The command line: every option and mode, table by table.

use super::*;

fn parse_line(line: &str) -> Result<Invocation> {
    parse(std::iter::once("sendmail").chain(line.split_whitespace()))
}

#[track_caller]
fn ok(line: &str) -> Invocation {
    parse_line(line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

#[track_caller]
fn err(line: &str, needle: &str) {
    match parse_line(line) {
        Ok(inv) => panic!("{line:?} parsed: {inv:?}"),
        Err(e) => {
            assert_eq!(e.exit_code(), 64, "{line:?}");
            assert!(e.message().contains(needle), "{line:?}: {}", e.message());
        }
    }
}

#[test]
fn real_callers() {
    /// argv, -t, -i, sender, full name, recipients.
    type Case<'a> = (
        &'a str,
        bool,
        bool,
        Option<&'a str>,
        Option<&'a str>,
        &'a [&'a str],
    );
    let table: &[Case] = &[
        ("-t -i", true, true, None, None, &[]),
        (
            "-t -i -fbounce@example.com",
            true,
            true,
            Some("bounce@example.com"),
            None,
            &[],
        ),
        ("-oi -fsender@x -t", true, true, Some("sender@x"), None, &[]),
        (
            "-FCronDaemon -i -B8BITMIME -oem root",
            false,
            true,
            None,
            Some("CronDaemon"),
            &["root"],
        ),
        (
            "-FCronDaemon -i -odi -oem -oi -t -f root",
            true,
            true,
            Some("root"),
            Some("CronDaemon"),
            &[],
        ),
        (
            "-FAnacron -odi admin",
            false,
            false,
            None,
            Some("Anacron"),
            &["admin"],
        ),
        ("-i -B 8BITMIME a@x", false, true, None, None, &["a@x"]),
        ("-i alice", false, true, None, None, &["alice"]),
        ("-oi -t", true, true, None, None, &[]),
        (
            "-i -- -weird@x b@y",
            false,
            true,
            None,
            None,
            &["-weird@x", "b@y"],
        ),
        (
            "-i -f env@x a@x b@y",
            false,
            true,
            Some("env@x"),
            None,
            &["a@x", "b@y"],
        ),
        ("-ti", true, true, None, None, &[]),
        ("a@x -t", true, false, None, None, &["a@x"]),
        (
            "-r bounce@x a@x",
            false,
            false,
            Some("bounce@x"),
            None,
            &["a@x"],
        ),
        ("-f -dash a@x", false, false, Some("-dash"), None, &["a@x"]),
        ("-i -m -v a@x", false, true, None, None, &["a@x"]),
        ("-", false, false, None, None, &["-"]),
    ];
    for &(line, t, i, sender, name, rcpts) in table {
        let inv = ok(line);
        assert_eq!(inv.mode, Mode::Send, "{line}");
        assert_eq!(inv.extract_recipients, t, "{line}: -t");
        assert_eq!(inv.ignore_dots, i, "{line}: -i");
        assert_eq!(inv.sender.as_deref(), sender, "{line}: sender");
        assert_eq!(inv.full_name.as_deref(), name, "{line}: full name");
        assert_eq!(inv.recipients, rcpts, "{line}: recipients");
    }
}

#[test]
fn every_option_of_the_table() {
    // (argv, mode) — values never become recipients.
    let table: &[(&str, Mode)] = &[
        ("-bm a@x", Mode::Send),
        ("-bs", Mode::SmtpSession),
        ("-bs -i", Mode::SmtpSession),
        ("-bp", Mode::ListQueue),
        ("-bi", Mode::CheckAliases),
        ("-I", Mode::CheckAliases),
        ("-q", Mode::FlushQueue),
        ("-q30m", Mode::FlushQueue),
        ("--queue-run", Mode::RunDueQueue),
        ("--check", Mode::Check),
        ("--check --to a@x", Mode::Check),
        ("--check --json", Mode::Check),
        ("--explain", Mode::Explain),
        ("--explain --json", Mode::Explain),
        ("--setup-script", Mode::SetupScript),
        ("--setup-script --transport graph --undo", Mode::SetupScript),
        ("--version", Mode::Version),
        ("--help", Mode::Help),
        ("-o X a@x", Mode::Send),
        ("-oX a@x", Mode::Send),
        ("-O X a@x", Mode::Send),
        ("-L X a@x", Mode::Send),
        ("-X /tmp/log a@x", Mode::Send),
        ("-h 17 a@x", Mode::Send),
        ("-A X a@x", Mode::Send),
        ("-e X a@x", Mode::Send),
        ("-G -U -m -n -x -c a@x", Mode::Send),
        ("-N success,failure a@x", Mode::Send),
        ("-R hdrs a@x", Mode::Send),
        ("-V envid1 a@x", Mode::Send),
        ("-B 8BITMIME a@x", Mode::Send),
        ("-C /etc/other.conf a@x", Mode::Send),
    ];
    for &(line, mode) in table {
        let inv = ok(line);
        assert_eq!(inv.mode, mode, "{line}");
        let expect: &[&str] = if line.ends_with("a@x") && !line.contains("--to") {
            &["a@x"]
        } else {
            &[]
        };
        assert_eq!(inv.recipients, expect, "{line}: recipients");
    }
}

#[test]
fn values_land_where_they_belong() {
    let inv = ok("-N never -R full -V id-1 -B8BITMIME -C my.conf -v a@x");
    assert_eq!(inv.delivery.notify.as_deref(), Some("never"));
    assert_eq!(inv.delivery.ret.as_deref(), Some("full"));
    assert_eq!(inv.delivery.envid.as_deref(), Some("id-1"));
    assert_eq!(inv.delivery.body.as_deref(), Some("8BITMIME"));
    assert_eq!(inv.config_path, Some(PathBuf::from("my.conf")));
    assert!(inv.verbose);
    let inv = ok("--check --to admin@x --json");
    assert_eq!(inv.check_to.as_deref(), Some("admin@x"));
    assert!(inv.json);
}

#[test]
fn full_name_keeps_spaces_and_equals() {
    let inv = parse(["sendmail", "-F", "Cron Daemon", "-F=x", "a@x"]);
    assert_eq!(inv.unwrap().full_name.as_deref(), Some("=x"));
    let inv = parse(["sendmail", "-F", "Cron Daemon", "a@x"]).unwrap();
    assert_eq!(inv.full_name.as_deref(), Some("Cron Daemon"));
}

#[test]
fn usage_errors_name_the_option() {
    err("-k a@x", "-k");
    err("--frobnicate", "--frobnicate");
    err("-f", "-f");
    err("-bd", "not a daemon");
    err("-bz", "-bz");
    err("--to a@x", "--check");
    err("--account site1", "--check");
    err("--json", "--explain");
    err("--undo", "--setup-script");
    err("--transport smtp", "--setup-script");
    err("--setup-script --transport imap", "smtp or graph");
    err("--setup-script a@x", "no arguments");
}

#[test]
fn program_name_picks_the_mode() {
    let mode = |argv0: &str| parse([argv0]).unwrap().mode;
    assert_eq!(mode("/usr/bin/mailq"), Mode::ListQueue);
    assert_eq!(mode("newaliases"), Mode::CheckAliases);
    assert_eq!(mode("/usr/lib/sendmail"), Mode::Send);
    assert_eq!(mode("/usr/sbin/oauth2-sendmail"), Mode::Send);
    // An explicit option wins over the name.
    assert_eq!(parse(["mailq", "-bm"]).unwrap().mode, Mode::Send);
}

#[cfg(unix)]
#[test]
fn non_utf8_argument_is_a_usage_error() {
    use std::os::unix::ffi::OsStringExt;
    let bad = OsString::from_vec(vec![b'a', 0xff, b'@', b'x']);
    let e = parse([OsString::from("sendmail"), bad]).unwrap_err();
    assert_eq!(e.exit_code(), 64);
}

#[test]
fn option_table_matches_the_parser() {
    for option in OPTIONS {
        for name in option.names {
            let mut forms: Vec<Vec<String>> = Vec::new();
            match option.value {
                None => forms.push(vec![name.to_string()]),
                Some(_) if name.starts_with("--") => {
                    forms.push(vec![name.to_string(), "VALUE".into()]);
                }
                Some(_) => {
                    forms.push(vec![name.to_string(), "VALUE".into()]);
                    forms.push(vec![format!("{name}VALUE")]);
                }
            }
            for mut form in forms {
                if ["--to", "--json", "--account"].contains(name) {
                    form.insert(0, "--check".into());
                }
                if ["--transport", "--undo"].contains(name) {
                    form.insert(0, "--setup-script".into());
                }
                if *name == "--transport" {
                    form[2] = "smtp".into();
                }
                let argv = std::iter::once("sendmail".to_string()).chain(form.clone());
                let inv = parse(argv).unwrap_or_else(|e| panic!("{form:?}: {e}"));
                assert!(
                    !inv.recipients.iter().any(|r| r.contains("VALUE")),
                    "{form:?}: a value became a recipient"
                );
            }
        }
    }
    // And the ignored options are exactly those the parser skips.
    for option in OPTIONS.iter().filter(|o| o.status == Status::Ignored) {
        for name in option.names {
            let letter = name.chars().nth(1).unwrap();
            let listed = if option.value.is_some() {
                IGNORED_WITH_VALUE.contains(&letter) || letter == 'o'
            } else {
                IGNORED_FLAGS.contains(&letter)
            };
            assert!(listed, "{name}");
        }
    }
}

#[test]
fn delivery_modes() {
    assert_eq!(ok("-odb a@x").delivery_mode, Some(DeliveryMode::Background));
    assert_eq!(
        ok("-o db a@x").delivery_mode,
        Some(DeliveryMode::Background)
    );
    assert_eq!(ok("-odq a@x").delivery_mode, Some(DeliveryMode::Queue));
    assert_eq!(ok("-odd a@x").delivery_mode, Some(DeliveryMode::Queue));
    assert_eq!(
        ok("-odi -oi a@x").delivery_mode,
        Some(DeliveryMode::Foreground)
    );
    assert_eq!(ok("-oi a@x").delivery_mode, None);
    assert_eq!(ok("-oem a@x").delivery_mode, None);
    assert_eq!(ok("-odx a@x").delivery_mode, None);
    let inv = ok("--deliver-queued 0123");
    assert_eq!(
        (inv.mode, inv.recipients),
        (Mode::DeliverQueued, vec!["0123".to_string()])
    );
}

#[test]
fn help_lists_every_option() {
    let help = help_text();
    for opt in [
        "-t",
        "-i",
        "-oi",
        "-f",
        "-r",
        "-F",
        "-v",
        "-C",
        "-bm",
        "-bs",
        "-bp",
        "-bi",
        "-I",
        "-q",
        "--queue-run",
        "-N",
        "-R",
        "-V",
        "-B",
        "--check",
        "--to",
        "--account",
        "--json",
        "--explain",
        "--setup-script",
        "--transport",
        "--undo",
        "-o",
        "-O",
        "-L",
        "-X",
        "-h",
        "-A",
        "-e",
        "-G",
        "-U",
        "-m",
        "-n",
        "-x",
        "-c",
        "--",
        "--version",
        "--help",
    ] {
        assert!(help.contains(opt), "--help lacks {opt}");
    }
}
