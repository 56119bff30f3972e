//! The acceptance review of issue 11: each item driven again through the
//! real binary with other payloads than the tests written with the fixes
//! (`protocol/`, `setgid_attacks.rs`) use, so that the class is fixed and
//! not one example. Against the scripted peer where the point is what
//! crosses the wire; the set-group-ID installation for the local items.

use crate::common;
use crate::common::fake_smtp::{Behaviour, FakeSmtp, sandbox_identity};
use crate::common::sandbox::{Sandbox, sandbox};
use crate::common::{Scratch, Settings, s, sendmail};

fn good() -> Behaviour {
    Behaviour::good(sandbox_identity(&sandbox().dir))
}

fn settings_for(sb: &Sandbox, fake: &FakeSmtp, scratch: &Scratch) -> Settings {
    let mut settings = sb.settings(scratch);
    settings.host = "localhost".into();
    settings.port = fake.port;
    settings.timeout = 10;
    settings
}

/// The header of a message as the peer got it (up to the empty line).
fn header_of(message: &[u8]) -> String {
    let text = String::from_utf8_lossy(message);
    text.split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Field names of a CRLF header, in order.
fn names(header: &str) -> Vec<String> {
    header
        .split("\r\n")
        .filter(|l| !l.starts_with([' ', '\t']))
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_ascii_lowercase())
        .collect()
}

// ---- message 1: the header checked is the header sent --------------------------

#[test]
fn header_variants_with_bare_crs_and_nuls_send_what_was_checked() {
    let sb = sandbox();
    let _shared = sb.shared();
    let fake = FakeSmtp::start(good());
    let scratch = Scratch::new("review-cr");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    let cases: [&[u8]; 6] = [
        // A bare CR inside a folded continuation line.
        b"Subject: a\r\n folded\rBcc: hid0@example.com\r\n\r\nbody\r\n",
        // A header of CRs only, the separator too.
        b"Subject: a\rBcc: hid1@example.com\rFrom: Boss <boss@elsewhere.example>\r\rbody\r",
        // A CR before the separator's CRLF, then a Bcc in what is the body.
        b"Subject: a\r\r\nBcc: hid2@example.com\r\n\r\nbody\r\n",
        // A NUL in a field, then a Bcc after a bare CR.
        b"Subject: a\0b\rBcc: hid3@example.com\r\n\r\nbody\r\n",
        // A NUL in a field name: not a field; the body begins there.
        b"Subject: a\r\nBc\0c: hid4@example.com\r\nBcc: hid4b@example.com\r\n\r\nbody\r\n",
        // Obsolete white space before the colon, after a bare CR.
        b"Subject: a\rBcc \t: hid5@example.com\r\n\r\nbody\r\n",
    ];
    for (n, message) in cases.iter().enumerate() {
        let run = sendmail(&["-C", s(&conf), "-i", "cr-to@example.com"], message);
        run.expect(0);
        let r = fake.record();
        let sent = r.messages.last().unwrap();
        let header = header_of(sent);
        let names = names(&header);
        assert!(
            !names.iter().any(|n| n == "bcc"),
            "case {n}: a Bcc went out:\n{header:?}"
        );
        for needed in ["date", "message-id", "from"] {
            assert_eq!(
                names.iter().filter(|n| *n == needed).count(),
                1,
                "case {n}: {needed} in the header sent once:\n{header:?}"
            );
        }
        assert!(
            !sent.windows(2).any(|w| w[0] == b'\r' && w[1] != b'\n'),
            "case {n}: a bare CR went out"
        );
    }
}

// ---- message 2: only CRLF.CRLF ends DATA in -bs -------------------------------

#[test]
fn bs_end_of_data_variants_never_start_a_second_transaction() {
    let sb = sandbox();
    let _shared = sb.shared();
    let fake = FakeSmtp::start(good());
    let scratch = Scratch::new("review-smuggle");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    // What follows DATA's 354, each before a real CRLF.CRLF; none may end
    // the message early nor let the MAIL line after it be a command.
    let bodies: [&[u8]; 6] = [
        b"\n.\nMAIL FROM:<evil@example.com>\r\nRCPT TO:<inner@example.com>\r\nDATA\r\nx",
        b".\nMAIL FROM:<evil@example.com>\r\nRCPT TO:<inner@example.com>\r\nDATA\r\nx",
        b"Subject: s\r\n\r\nx\r\n.\rMAIL FROM:<evil@example.com>\r\nRCPT TO:<inner@example.com>\r\n",
        b"Subject: s\r\n\r\nx\r\n.\r.\r\nMAIL FROM:<evil@example.com>\r\nRCPT TO:<inner@example.com>\r\n",
        b"Subject: s\r\n\r\nx\r\n..\r\nMAIL FROM:<evil@example.com>\r\nRCPT TO:<inner@example.com>\r\n",
        b"Subject: s\r\n\r\nx\r\n. \r\nMAIL FROM:<evil@example.com>\r\nRCPT TO:<inner@example.com>\r\n",
    ];
    for (n, body) in bodies.iter().enumerate() {
        let mut input =
            b"EHLO c\r\nMAIL FROM:<app@example.com>\r\nRCPT TO:<outer@example.com>\r\nDATA\r\n"
                .to_vec();
        input.extend_from_slice(body);
        input.extend_from_slice(b"\r\n.\r\nQUIT\r\n");
        let before = fake.record().messages.len();
        let run = sendmail(&["-C", s(&conf), "-bs"], &input);
        run.expect(0);
        let r = fake.record();
        assert_eq!(r.messages.len(), before + 1, "case {n}: one message");
        assert!(
            !r.commands
                .iter()
                .any(|c| c.contains("evil@") || c.contains("inner@")),
            "case {n}: smuggled: {:?}",
            r.commands
        );
        let raw = r.raw_messages.last().unwrap();
        let wire = [b"\r\n".as_slice(), raw].concat();
        assert!(
            !wire.windows(5).any(|w| w == b"\r\n.\r\n"),
            "case {n}: an end-of-data line inside the message: {:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

// ---- message 10: argv recipients with control characters -----------------------

#[test]
fn argv_recipients_with_a_cr_or_control_characters_are_refused() {
    let sb = sandbox();
    let _shared = sb.shared();
    let fake = FakeSmtp::start(good());
    let scratch = Scratch::new("review-argv");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    for argument in [
        "Boss\rBcc: x <argv-c0@example.com>",
        "argv-c1@example.com\r",
        "<argv-c2@example.com>\rRCPT TO:<argv-evil@example.com>",
        "argv\x1bc3@example.com",
        "argv-c4@exa\x7fmple.com",
        "argv\tc5@example.com",
        "Name\x0b<argv-c6@example.com>",
    ] {
        let run = sendmail(&["-C", s(&conf), argument], b"Subject: x\n\nbody\n");
        assert!(
            run.code == 64 || run.code == 65,
            "{argument:?}: exit {}: {}",
            run.code,
            run.stderr
        );
        assert_eq!(
            run.stderr.lines().count(),
            1,
            "{argument:?}: {}",
            run.stderr
        );
    }
    let r = fake.record();
    assert!(r.messages.is_empty(), "{:?}", r.commands);
}

// ---- message 8 and 10: quoted local parts, groups with comments ---------------

#[test]
fn quoted_local_parts_with_escapes_and_groups_with_comments() {
    let sb = sandbox();
    let _shared = sb.shared();
    let fake = FakeSmtp::start(good());
    let scratch = Scratch::new("review-quoted");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    let message = b"To: \"a\\\"b\"@example.com, \"c\\\\d\"@example.com\n\
                    Cc: Team (the night one): nightops (Ops), \"x y\"@example.com (Ex);, \
                    (lead) Lead <lead@example.com>\n\
                    Subject: quoted\n\nbody\n";
    let run = sendmail(&["-C", s(&conf), "-t"], message);
    run.expect(0);
    let r = fake.record();
    let rcpts: Vec<&String> = r
        .commands
        .iter()
        .filter(|c| c.starts_with("RCPT TO:"))
        .collect();
    for want in [
        "RCPT TO:<\"a\\\"b\"@example.com>",
        "RCPT TO:<\"c\\\\d\"@example.com>",
        "RCPT TO:<\"x y\"@example.com>",
        "RCPT TO:<lead@example.com>",
    ] {
        assert!(rcpts.iter().any(|c| *c == want), "{want}: {rcpts:?}");
    }
    assert!(
        rcpts.iter().any(|c| c.starts_with("RCPT TO:<nightops@")),
        "{rcpts:?}"
    );
    let header = header_of(r.messages.last().unwrap());
    assert!(header.contains("Team (the night one)\": "), "{header}");
    assert!(header.contains("<\"x y\"@example.com>;"), "{header}");
}

// ---- message 7: UTF-8 addresses to a server without SMTPUTF8 -------------------

#[test]
fn utf8_in_the_local_part_or_the_domain_never_goes_raw() {
    let sb = sandbox();
    let _shared = sb.shared();
    let fake = FakeSmtp::start(good()); // no SMTPUTF8
    let scratch = Scratch::new("review-utf8");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    // An IDN domain in -f, and in a To written in the header.
    let run = sendmail(
        &["-C", s(&conf), "-t", "-f", "app@bücher.example"],
        "To: Jörg <leser@müller.example>\nSubject: idn\n\nbody\n".as_bytes(),
    );
    run.expect(0);
    let r = fake.record();
    assert!(r.commands.iter().all(|c| c.is_ascii()), "{:?}", r.commands);
    assert!(
        r.commands
            .iter()
            .any(|c| c == "RCPT TO:<leser@xn--mller-kva.example>"),
        "{:?}",
        r.commands
    );
    // A UTF-8 local part in the header (-t) or in -f: refused, nothing sent.
    for (args, message) in [
        (vec!["-t"], "To: jörg@example.com\nSubject: x\n\nb\n"),
        (
            vec!["-f", "jörg@example.com", "plain@example.com"],
            "Subject: x\n\nb\n",
        ),
    ] {
        let mut all = vec!["-C", s(&conf)];
        all.extend(args.iter().copied());
        let run = sendmail(&all, message.as_bytes());
        let r = fake.record();
        assert!(r.commands.iter().all(|c| c.is_ascii()), "{:?}", r.commands);
        // -t: refused (no ASCII form); -f: the envelope sender is the
        // configured mailbox, so the UTF-8 one never reaches the wire.
        let want = if args[0] == "-t" { 65 } else { 0 };
        run.expect(want);
    }
}

// ---- message 4: the size limit at its edge -------------------------------------

#[test]
fn max_message_size_at_the_limit_and_one_octet_over() {
    let sb = sandbox();
    let _shared = sb.shared();
    let fake = FakeSmtp::start(good());
    let scratch = Scratch::new("review-size");
    let limit = 65_536usize;
    let conf = scratch.join("sendmail.conf");
    let text = format!(
        "max_message_size = {limit}\n{}",
        settings_for(sb, &fake, &scratch).render()
    );
    common::write_private(&conf, &text);
    // A complete header, so nothing is added to it, ended by a CR LF
    // line (sendmail.conf(5): the header is counted as it leaves).
    // The From is the mailbox's own, so the From policy leaves it.
    let head = format!(
        "From: {}\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\
         Message-ID: <edge@example.com>\nSubject: edge\n\r\n",
        sb.str("user")
    );
    let exact = |octets: usize| {
        let mut m = head.as_bytes().to_vec();
        while m.len() < octets {
            let line = (octets - m.len()).min(70);
            m.extend(std::iter::repeat_n(b'z', line - 1));
            m.push(b'\n');
        }
        assert_eq!(m.len(), octets);
        m
    };
    sendmail(&["-C", s(&conf), "-i", "edge@example.com"], &exact(limit)).expect(0);
    let run = sendmail(
        &["-C", s(&conf), "-i", "edge@example.com"],
        &exact(limit + 1),
    );
    run.expect(65);
    assert!(run.stderr.contains("max_message_size"), "{}", run.stderr);
    assert_eq!(fake.record().messages.len(), 1);
}

// ---- message 3: a 421 at RCPT and at DATA ----------------------------------------

#[test]
fn a_421_at_rcpt_or_at_data_is_temporary_and_named() {
    let sb = sandbox();
    let _shared = sb.shared();
    let mut b = good();
    b.rcpt_replies.insert(
        "r421@example.com".into(),
        "421 4.4.2 fake.test Error: timeout exceeded".into(),
    );
    let fake = FakeSmtp::start(b);
    let scratch = Scratch::new("review-421");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    let run = sendmail(&["-C", s(&conf), "r421@example.com"], b"Subject: x\n\nb\n");
    run.expect(75);
    assert!(!run.stderr.contains("refused the sender"), "{}", run.stderr);
    assert!(run.stderr.contains("421"), "{}", run.stderr);
}

// ---- local 6: --check by a caller, with -v, --json, a broken configuration ----

#[test]
fn check_by_a_caller_with_v_json_or_a_broken_configuration_shows_nothing() {
    use crate::common::setgid::*;
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("review-check");
    install.configure(sb, &format!("client_secret_file = \"{ETC}/client-secret\""));
    // A cached token first (root's send), so --check has one to judge.
    install
        .run(
            None,
            &["-i", "review-check@example.com"],
            b"Subject: c\n\nx\n",
            &[],
        )
        .expect(0);
    let token = install.cached_token();
    let secret = sb.str("client_secret");
    // The installed configuration's path is no secret to a send's error
    // line; --check names no path at all.
    let hidden = |out: &str, path_too: bool| {
        let path = if path_too {
            ETC.to_string()
        } else {
            secret.clone()
        };
        for value in [
            sb.str("tenant"),
            sb.str("client_id"),
            sb.str("user"),
            secret.clone(),
            token.clone(),
            install.cache.display().to_string(),
            path,
        ] {
            assert!(!out.contains(&value), "{value} shown to a caller:\n{out}");
        }
    };
    for args in [
        &["--check", "-v"][..],
        &["--check", "--json", "-v"],
        &["-v", "--check", "--to", "x@example.com"],
    ] {
        let run = install.run(Some(USER), args, b"", &[]);
        assert_ne!(run.code, -1);
        hidden(&run.output(), true);
    }
    // A configuration that no longer parses, its secret on the bad line.
    let text = install.config_text(
        sb,
        &format!("client_secret = \"{secret}\nclient_secret_file = \"x\""),
        true,
    );
    install.put("sendmail.conf", text.as_bytes(), GROUP, 0o640);
    for args in [
        &["--check", "-v"][..],
        &["--check", "--json"],
        &["-i", "a@example.com"],
    ] {
        let run = install.run(Some(USER), args, b"Subject: c\n\nx\n", &[]);
        assert_ne!(run.code, 0, "{args:?}");
        hidden(&run.output(), args[0] == "--check");
    }
}

// ---- local: a hostile caller's resource limits -------------------------------

#[test]
fn a_caller_with_few_file_descriptors_loses_no_message() {
    use crate::common::setgid::*;
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("review-nofile");
    let queue = install.queue_areas();
    install.configure_queue(sb, &queue);
    for limit in [6, 7, 8, 9, 10, 12, 16] {
        let rcpt = format!("nofile-{limit}@example.com");
        let run = install.run_after(
            Some(USER),
            &format!("ulimit -n {limit}"),
            &["-i", &rcpt],
            b"Subject: n\n\nx\n",
            &[],
        );
        assert_ne!(run.code, -1, "limit {limit}: hung");
        let listing = install.run(None, &["-bp"], b"", &[]).stdout;
        if run.code == 0 {
            assert!(
                listing.contains(&rcpt),
                "limit {limit}: exit 0 but not queued:\n{}\n{listing}",
                run.output()
            );
        } else {
            // The caller is told (an EMFILE reading a configured file is
            // reported as that file's problem, exit 78: the caller's own
            // doing, not a lost message).
            assert!(run.code > 0, "limit {limit}: {}", run.output());
            assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        }
    }
}

// ---- local 1: a caller's run never locks another user's message --------------

/// The lines of an strace of `args` run by `who` through the installation
/// (as `Install::run` does), each system call's descriptors shown with
/// their paths (`-y`).
fn traced(
    install: &crate::common::setgid::Install,
    who: (u32, u32),
    args: &[&str],
) -> (crate::common::Run, String) {
    let out = install.scratch.join("strace.out");
    let script = r#"mount -t overlay overlay -o "lowerdir=$1:/etc" /etc || exit 90
uid=$2; gid=$3; shift 3
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@""#;
    let mut command = std::process::Command::new("strace");
    command
        .args(["-f", "-qq", "-y", "-e", "trace=flock", "-o"])
        .arg(&out)
        .args(["unshare", "--mount", "--propagation", "private", "--"])
        .args(["sh", "-c", script, "sh"])
        .arg(&install.layer)
        .args([who.0.to_string(), who.1.to_string()])
        .arg(&install.binary)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    let run =
        crate::common::setgid::run_with_deadline(command, b"", std::time::Duration::from_secs(60));
    (run, std::fs::read_to_string(&out).unwrap_or_default())
}

#[test]
fn a_callers_run_never_locks_another_users_message() {
    use crate::common::setgid::*;
    use crate::setgid_attacks::{make_due, queue_from};
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("review-claim");
    let queue = install.queue_areas();
    // Another user's message, due; the server still down.
    queue_from(&install, sb, &queue, &[(OTHER, "claim-theirs@example.com")]);
    let id = std::fs::read_dir(queue.join("msg"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .file_name()
        .to_string_lossy()
        .into_owned();
    // And one of the caller's own, which its run does lock.
    queue_from(&install, sb, &queue, &[(USER, "claim-mine@example.com")]);
    make_due(&queue);
    // A caller who stops its own run while it holds that lock would keep
    // the message from everyone's runs for as long as it likes.
    for args in [&["-q"][..], &["--queue-run"]] {
        make_due(&queue);
        let (run, trace) = traced(&install, USER, args);
        run.expect(0);
        assert!(
            trace.contains("/msg/"),
            "the caller's own message: {}\n{trace}",
            run.output()
        );
        let locked: Vec<&str> = trace
            .lines()
            .filter(|l| l.contains("flock(") && l.contains(&format!("/msg/{id}>")))
            .collect();
        assert!(locked.is_empty(), "{args:?}: {locked:?}");
    }
    // Root's run still takes it.
    let (run, trace) = traced(&install, (0, 0), &["-q"]);
    run.expect(0);
    assert!(
        trace
            .lines()
            .any(|l| l.contains("flock(") && l.contains(&format!("/msg/{id}>"))),
        "{trace}"
    );
}

// ---- message 4: 552 and the server's SIZE, other variants -----------------------

/// A message of exactly `octets` octets whose header the program leaves
/// as it is (the mailbox's own From, Date, Message-ID, a CR LF empty line).
fn sized_message(sb: &Sandbox, octets: usize) -> Vec<u8> {
    let mut m = format!(
        "From: {}\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <sz@example.com>\n\
         Subject: sz\n\r\n",
        sb.str("user")
    )
    .into_bytes();
    while m.len() < octets {
        let line = (octets - m.len()).min(70);
        m.extend(std::iter::repeat_n(b'q', line - 1));
        m.push(b'\n');
    }
    m
}

#[test]
fn size_refusals_in_other_places_are_permanent_and_never_queued() {
    use crate::common::queue::{Setup, Target};
    let sb = sandbox();
    let _shared = sb.shared();
    // The server's SIZE at the message's size passes; one octet over it is
    // refused before DATA ends, and nothing is queued.
    let mut b = good();
    b.size_limit = 70_000;
    let fake = FakeSmtp::start(b);
    let setup = Setup::new("review-size-server");
    let conf = setup.config("up.conf", Target::Fake(fake.port), "");
    sendmail(
        &["-C", s(&conf), "-i", "sz@example.com"],
        &sized_message(sb, 70_000),
    )
    .expect(0);
    let run = sendmail(
        &["-C", s(&conf), "-i", "sz@example.com"],
        &sized_message(sb, 70_001),
    );
    run.expect(65);
    assert!(run.stderr.contains("SIZE"), "{}", run.stderr);
    assert_eq!(fake.record().messages.len(), 1);
    for area in ["msg", "failed", "tmp"] {
        assert!(
            setup.area(area).is_empty(),
            "{area}: {:?}",
            setup.area(area)
        );
    }

    // A 552 or 554 5.3.4 after the final dot, or mid-DATA as a 554: never
    // queued to be uploaded again.
    for (n, (after_dot, reply)) in [
        (true, "552 5.3.4 Message size exceeds fixed limit"),
        (true, "554 5.3.4 Message too big for system"),
        (false, "554 5.3.4 Message too big for system"),
    ]
    .iter()
    .enumerate()
    {
        let mut b = good();
        if *after_dot {
            b.final_reply = reply.to_string();
        } else {
            b.refuse_in_data_after = Some((20_000, reply.to_string()));
        }
        let fake = FakeSmtp::start(b);
        let setup = Setup::new(&format!("review-552-{n}"));
        let conf = setup.config("up.conf", Target::Fake(fake.port), "");
        let run = sendmail(
            &["-C", s(&conf), "-i", "sz@example.com"],
            &sized_message(sb, 200_000),
        );
        assert!(
            run.code != 0 && run.code != 75,
            "{reply}: exit {}: {}",
            run.code,
            run.stderr
        );
        assert!(run.stderr.contains("5.3.4"), "{}", run.stderr);
        assert!(
            setup.area("msg").is_empty(),
            "{reply}: {:?}",
            setup.area("msg")
        );
    }
}

// ---- message 6: the AUTH line cut at other lengths ----------------------------

#[test]
fn an_auth_line_cut_anywhere_is_tried_again_in_two_steps() {
    let sb = sandbox();
    let _shared = sb.shared();
    for limit in [16, 512, 1000, 2047] {
        let mut b = good();
        b.line_length_limit = Some(limit);
        let fake = FakeSmtp::start(b);
        let scratch = Scratch::new("review-auth-cut");
        let conf = settings_for(sb, &fake, &scratch).write(&scratch);
        let run = sendmail(&["-C", s(&conf), "cut@example.com"], b"Subject: c\n\nb\n");
        run.expect(0);
        let r = fake.record();
        assert_eq!(r.messages.len(), 1, "limit {limit}");
        assert_eq!(r.connections, 1, "limit {limit}: on the same session");
    }
}

// ---- message 3: a 421 at MAIL of the next transaction --------------------------

#[test]
fn a_421_at_the_next_mail_of_a_long_bs_dialogue_opens_the_session_again() {
    let sb = sandbox();
    let _shared = sb.shared();
    let mut b = good();
    b.mail_reply_after = Some((1, "421 4.4.2 fake.test Error: timeout exceeded".into()));
    let fake = FakeSmtp::start(b);
    let scratch = Scratch::new("review-421-mail");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    let mut input = String::from("EHLO c\r\n");
    for n in 0..3 {
        input.push_str(&format!(
            "MAIL FROM:<app@example.com>\r\nRCPT TO:<m421-{n}@example.com>\r\nDATA\r\n\
             Subject: {n}\r\n\r\nbody\r\n.\r\n"
        ));
    }
    input.push_str("QUIT\r\n");
    let run = sendmail(&["-C", s(&conf), "-bs"], input.as_bytes());
    run.expect(0);
    assert_eq!(
        run.stdout.matches("250 2.0.0 Ok:").count(),
        3,
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("refused the sender"), "{}", run.stdout);
    assert_eq!(fake.record().messages.len(), 3);
}

// ---- message 7: UTF-8 addresses from a -bs client --------------------------------

#[test]
fn utf8_addresses_from_a_bs_client_never_go_raw() {
    let sb = sandbox();
    let _shared = sb.shared();
    let fake = FakeSmtp::start(good()); // no SMTPUTF8, no 8BITMIME
    let scratch = Scratch::new("review-bs-utf8");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    let input = "EHLO c\r\nMAIL FROM:<app@bücher.example> SMTPUTF8 BODY=8BITMIME\r\n\
                 RCPT TO:<leser@müller.example>\r\nRCPT TO:<jörg@example.com>\r\nDATA\r\n\
                 Subject: ü\r\n\r\nbödy\r\n.\r\nQUIT\r\n";
    let run = sendmail(&["-C", s(&conf), "-bs"], input.as_bytes());
    assert_ne!(run.code, -1);
    let r = fake.record();
    assert!(r.commands.iter().all(|c| c.is_ascii()), "{:?}", r.commands);
    assert!(
        !r.commands
            .iter()
            .any(|c| c.contains("SMTPUTF8") || c.contains("BODY=")),
        "parameters the server did not offer: {:?}",
        r.commands
    );
}

// ---- local: a caller that closes its standard descriptors ---------------------

#[test]
fn closed_standard_descriptors_write_nothing_into_queue_or_cache_files() {
    use crate::common::setgid::*;
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("review-closed-fds");
    let queue = install.queue_areas();
    install.configure_queue(sb, &queue);
    for closing in ["exec 1>&- 2>&-", "exec 2>&-", "exec 0<&- 1>&- 2>&-"] {
        let _ = install.run_after(
            Some(USER),
            closing,
            &["-i", "-v", "fds@example.com"],
            b"Subject: fds\n\nthe body\n",
            &[],
        );
    }
    for area in ["msg", "state", "tmp", "failed"] {
        for entry in std::fs::read_dir(queue.join(area)).unwrap().flatten() {
            let text = String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap()).into_owned();
            assert!(
                !text.contains("oauth2-sendmail:") && !text.contains("queued"),
                "{area}/{:?}: {text}",
                entry.file_name()
            );
        }
    }
    for entry in std::fs::read_dir(&install.cache).unwrap().flatten() {
        let text = String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap()).into_owned();
        assert!(!text.contains("oauth2-sendmail:"), "{text}");
    }
    let listing = install.run(None, &["-bp"], b"", &[]).stdout;
    assert!(listing.contains("fds@example.com"), "{listing}");
}

#[test]
fn header_variants_in_a_bs_dialogue_send_what_was_checked() {
    let sb = sandbox();
    let _shared = sb.shared();
    let fake = FakeSmtp::start(good());
    let scratch = Scratch::new("review-bs-cr");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    let datas: [&[u8]; 3] = [
        b"Subject: a\rBcc: bshid0@example.com\rFrom: Boss <boss@elsewhere.example>\r\n\r\nbody\r\n",
        b"Subject: a\r\n folded\rBcc: bshid1@example.com\r\n\r\nbody\r\n",
        b"Subject: a\r\r\nBcc: bshid2@example.com\r\n\r\nbody\r\n",
    ];
    for (n, data) in datas.iter().enumerate() {
        let mut input =
            b"EHLO c\r\nMAIL FROM:<app@example.com>\r\nRCPT TO:<bs-cr@example.com>\r\nDATA\r\n"
                .to_vec();
        input.extend_from_slice(data);
        input.extend_from_slice(b".\r\nQUIT\r\n");
        sendmail(&["-C", s(&conf), "-bs"], &input).expect(0);
        let r = fake.record();
        let header = header_of(r.messages.last().unwrap());
        let names = names(&header);
        assert!(!names.iter().any(|n| n == "bcc"), "case {n}:\n{header}");
        assert_eq!(
            names.iter().filter(|n| *n == "from").count(),
            1,
            "case {n}:\n{header}"
        );
        let from = header
            .split("\r\n")
            .find(|l| l.to_ascii_lowercase().starts_with("from:"))
            .unwrap();
        assert!(
            !from.contains("boss@elsewhere"),
            "case {n}: unchecked From:\n{header}"
        );
    }
}

// ---- message 10: encoded words folded, other ways in -------------------------

#[test]
fn long_non_ascii_names_from_f_and_a_written_from_are_folded() {
    let sb = sandbox();
    let _shared = sb.shared();
    let fake = FakeSmtp::start(good());
    let scratch = Scratch::new("review-fold");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    let long = "Ünïcödé Ñåmé ".repeat(12);
    let cases = [
        (vec!["-F", long.trim()], "Subject: f\n\nb\n".to_string()),
        // (A From the caller wrote for the mailbox itself goes as written.)
        (vec!["-F", "Ünïcödé"], "Subject: w\n\nb\n".to_string()),
        (
            vec![],
            format!(
                "From: \"{}\" <someone@elsewhere.example>\nSubject: p\n\nb\n",
                long.trim()
            ),
        ),
    ];
    for (n, (extra, message)) in cases.iter().enumerate() {
        let mut args = vec!["-C", s(&conf), "-i"];
        args.extend(extra.iter().copied());
        args.push("fold@example.com");
        sendmail(&args, message.as_bytes()).expect(0);
        let r = fake.record();
        let header = header_of(r.messages.last().unwrap());
        let mut in_from = false;
        for line in header.split("\r\n") {
            if !line.starts_with([' ', '\t']) {
                in_from = line.to_ascii_lowercase().starts_with("from:");
            }
            if in_from {
                assert!(
                    line.len() <= 78,
                    "case {n}: {} octets: {line:?}\n{header}",
                    line.len()
                );
                assert!(line.is_ascii(), "case {n}: {line:?}");
            }
        }
    }
}

// ---- message 9: 452 for other reasons than the number of recipients ----------

#[test]
fn a_452_that_is_not_about_the_number_ends_and_exits_67() {
    let sb = sandbox();
    let _shared = sb.shared();
    let mut b = good();
    for (rcpt, reply) in [
        ("full@example.com", "452 4.2.2 Mailbox full"),
        ("many@example.com", "452 4.5.3 Error: too many recipients"),
    ] {
        b.rcpt_replies.insert(rcpt.into(), reply.into());
    }
    let fake = FakeSmtp::start(b);
    let scratch = Scratch::new("review-452");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    let mut command = std::process::Command::new(common::BIN);
    command.args([
        "-C",
        s(&conf),
        "-i",
        "ok@example.com",
        "full@example.com",
        "many@example.com",
    ]);
    let run = common::setgid::run_with_deadline(
        command,
        b"Subject: p\n\nb\n",
        std::time::Duration::from_secs(60),
    );
    assert_ne!(run.code, -1, "it never ended");
    run.expect(67);
    assert!(run.stderr.contains("full@example.com"), "{}", run.stderr);
    let r = fake.record();
    assert!(r.messages.len() <= 3, "{} transactions", r.messages.len());
}

// ---- local 3: the size limit after a failure in the middle of DATA -----------

#[test]
fn the_rest_of_stdin_after_a_dropped_connection_is_limited_too() {
    use crate::common::queue::{Setup, Target};
    let sb = sandbox();
    let _shared = sb.shared();
    let mut b = good();
    b.drop_in_data_after = Some(20_000);
    let fake = FakeSmtp::start(b);
    let setup = Setup::new("review-drop-size");
    let path = setup.config("up.conf", Target::Fake(fake.port), "");
    let text = std::fs::read_to_string(&path).unwrap();
    common::write_private(&path, &format!("max_message_size = 100000\n{text}"));
    let run = sendmail(
        &["-C", s(&path), "-i", "drop@example.com"],
        &sized_message(sb, 400_000),
    );
    run.expect(65);
    assert!(run.stderr.contains("max_message_size"), "{}", run.stderr);
    for area in ["msg", "failed", "tmp"] {
        assert!(
            setup.area(area).is_empty(),
            "{area}: {:?}",
            setup.area(area)
        );
    }
    // Under the limit, the same failure queues the whole message.
    let run = sendmail(
        &["-C", s(&path), "-i", "drop@example.com"],
        &sized_message(sb, 90_000),
    );
    run.expect(0);
    assert_eq!(setup.area("msg").len(), 1);
}

// ---- message 2 and 7: odd -bs commands ------------------------------------------

#[test]
fn odd_bs_commands_get_replies_not_a_crash() {
    let sb = sandbox();
    let _shared = sb.shared();
    let fake = FakeSmtp::start(good());
    let scratch = Scratch::new("review-bs-odd");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    let long = "x".repeat(100_000);
    let input = format!(
        "EHLO c\r\n\
         MAIL FROM:<a@example.com> SIZE=99999999999999999999999\r\n\
         MAIL FROM:<a@example.com> SIZE=-1\r\n\
         MAIL FROM:<a@example.com> BODY=8BITMIME BODY=7BIT\r\n\
         MAIL FROM:<a@example.com>\r\n\
         RCPT TO:<>\r\n\
         RCPT TO:<b@example.com>\rRCPT TO:<evil@example.com>\r\n\
         RCPT TO:<{long}@example.com>\r\n\
         RCPT TO:<ok@example.com>\r\n\
         DATA\r\n\
         Subject: odd\r\n\r\nbody\r\n.\r\n\
         QUIT\r\n"
    );
    let run = sendmail(&["-C", s(&conf), "-bs"], input.as_bytes());
    assert!(
        run.code == 0 || run.code > 0 && run.code < 100,
        "{}",
        run.output()
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let r = fake.record();
    assert!(
        !r.commands.iter().any(|c| c.contains("evil@")),
        "{:?}",
        r.commands
    );
    assert_eq!(r.messages.len(), 1, "{}", run.stdout);
}

#[test]
fn a_bs_size_at_the_limit_is_taken_and_one_over_is_552() {
    let sb = sandbox();
    let _shared = sb.shared();
    let fake = FakeSmtp::start(good());
    let scratch = Scratch::new("review-bs-size");
    let conf = scratch.join("sendmail.conf");
    let text = format!(
        "max_message_size = 65536\n{}",
        settings_for(sb, &fake, &scratch).render()
    );
    common::write_private(&conf, &text);
    let input = "EHLO c\r\nMAIL FROM:<a@example.com> SIZE=65537\r\nMAIL FROM:<a@example.com> SIZE=65536\r\nQUIT\r\n";
    let run = sendmail(&["-C", s(&conf), "-bs"], input.as_bytes());
    let replies: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| !l.starts_with("250-") && !l.starts_with("220") && !l.starts_with("221"))
        .collect();
    assert!(replies[1].starts_with("552"), "{replies:?}");
    assert!(replies[2].starts_with("250"), "{replies:?}");
}

// ---- local 2 and 3: a file size limit that cuts the queued copy -------------

#[test]
fn a_queued_copy_cut_by_rlimit_fsize_is_never_reported_as_queued() {
    use crate::common::setgid::*;
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("review-fsize-cut");
    let queue = install.queue_areas();
    install.configure_queue(sb, &queue);
    let mut message = b"Subject: cut\n\n".to_vec();
    for n in 0..200 {
        message.extend_from_slice(
            format!("line {n} of a message longer than 512 octets\n").as_bytes(),
        );
    }
    for blocks in [1, 4] {
        let run = install.run_after(
            Some(USER),
            &format!("trap '' XFSZ; ulimit -f {blocks}"),
            &["-i", "fsize-cut@example.com"],
            &message,
            &[],
        );
        assert_ne!(run.code, 0, "{blocks}: {}", run.output());
        assert_ne!(run.code, -1, "{blocks}: hung");
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    }
    for area in ["msg", "state"] {
        assert!(
            std::fs::read_dir(queue.join(area))
                .unwrap()
                .next()
                .is_none(),
            "{area}: a cut copy was kept"
        );
    }
}

// ---- local 8: every directory on the way to a named file ----------------------

#[test]
fn a_user_owned_directory_anywhere_above_a_named_file_is_refused() {
    use crate::common::setgid::*;
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("review-ancestors");
    // etc/oauth2-sendmail/a (a user's) / b (root's) / client-secret: the
    // user may rename b and put its own b, with its own files, in place.
    let a = install.etc.join("a");
    let b = a.join("b");
    std::fs::create_dir_all(&b).unwrap();
    chown(&a, USER.0, USER.1, 0o755);
    chown(&b, 0, 0, 0o755);
    install.put(
        "a/b/client-secret",
        sb.str("client_secret").as_bytes(),
        GROUP,
        0o640,
    );
    install.configure(
        sb,
        &format!("client_secret_file = \"{ETC}/a/b/client-secret\""),
    );
    let run = install.run(
        Some(USER),
        &["-i", "anc@example.com"],
        b"Subject: a\n\nx\n",
        &[],
    );
    run.expect(78);
    assert!(
        run.stderr.contains(&format!(
            "the directory {ETC}/a of a file the configuration names"
        )),
        "{}",
        run.stderr
    );
    // The same through a link in a root directory to the user's tree.
    chown(&a, 0, 0, 0o755);
    let user_dir = install.scratch.join("users-tree");
    std::fs::create_dir_all(user_dir.join("b")).unwrap();
    chown(&user_dir, USER.0, USER.1, 0o755);
    std::fs::copy(b.join("client-secret"), user_dir.join("b/client-secret")).unwrap();
    chown(&user_dir.join("b/client-secret"), 0, GROUP, 0o640);
    std::fs::remove_dir_all(&b).unwrap();
    std::os::unix::fs::symlink(user_dir.join("b"), &b).unwrap();
    let run = install.run(
        Some(USER),
        &["-i", "anc@example.com"],
        b"Subject: a\n\nx\n",
        &[],
    );
    run.expect(78);
    assert!(run.stderr.contains("users-tree"), "{}", run.stderr);
    // Root's own directories all the way: it sends.
    std::fs::remove_file(&b).unwrap();
    std::fs::create_dir(&b).unwrap();
    chown(&b, 0, 0, 0o755);
    install.put(
        "a/b/client-secret",
        sb.str("client_secret").as_bytes(),
        GROUP,
        0o640,
    );
    install
        .run(
            Some(USER),
            &["-i", "anc@example.com"],
            b"Subject: a\n\nx\n",
            &[],
        )
        .expect(0);
    // Root's directory in a sticky one (the scratch directory in /tmp):
    // nobody else may rename it, so it passes.
    let sticky_secret = install.scratch.join("sticky-secret");
    std::fs::write(&sticky_secret, sb.str("client_secret")).unwrap();
    chown(&sticky_secret, 0, GROUP, 0o640);
    chown(&install.scratch.path, 0, 0, 0o755);
    install.configure(
        sb,
        &format!("client_secret_file = \"{}\"", sticky_secret.display()),
    );
    install
        .run(
            Some(USER),
            &["-i", "anc@example.com"],
            b"Subject: a\n\nx\n",
            &[],
        )
        .expect(0);
}

// ---- message 9: a refused recipient in a -bs dialogue --------------------------

#[test]
fn a_recipient_refused_upstream_is_never_acknowledged_silently_in_bs() {
    let sb = sandbox();
    let _shared = sb.shared();
    let mut b = good();
    b.rcpt_replies
        .insert("gone@example.com".into(), "550 5.1.1 User unknown".into());
    let fake = FakeSmtp::start(b);
    let scratch = Scratch::new("review-bs-partial");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    let input = "EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<ok@example.com>\r\n\
                 RCPT TO:<gone@example.com>\r\nDATA\r\nSubject: p\r\n\r\nb\r\n.\r\nQUIT\r\n";
    let run = sendmail(&["-C", s(&conf), "-bs"], input.as_bytes());
    let said_550 = run
        .stdout
        .lines()
        .any(|l| l.starts_with("550") || l.starts_with("554"));
    let all_250 = run.stdout.lines().filter(|l| l.starts_with("250 ")).count() >= 4;
    assert!(
        said_550 || !all_250,
        "gone@ was acknowledged and nobody learns it was refused:\n{}",
        run.stdout
    );
}

// ---- message 11: QUIT after other error paths ------------------------------------

#[test]
fn quit_follows_other_refusals_too() {
    let sb = sandbox();
    let _shared = sb.shared();
    let cases: Vec<(&str, Behaviour)> = vec![
        ("every recipient refused", {
            let mut b = good();
            b.rcpt_replies
                .insert("q@example.com".into(), "550 5.1.1 User unknown".into());
            b
        }),
        ("a 554 after the dot", {
            let mut b = good();
            b.final_reply = "554 5.6.0 Message rejected".into();
            b
        }),
        ("a 452 at MAIL", {
            let mut b = good();
            b.mail_reply = Some("452 4.3.1 Insufficient system storage".into());
            b
        }),
    ];
    for (what, b) in cases {
        let fake = FakeSmtp::start(b);
        let scratch = Scratch::new("review-quit");
        let conf = settings_for(sb, &fake, &scratch).write(&scratch);
        let run = sendmail(&["-C", s(&conf), "q@example.com"], b"Subject: q\n\nb\n");
        assert_ne!(run.code, 0, "{what}");
        let r = fake.record();
        assert_eq!(
            r.commands.last().map(String::as_str),
            Some("QUIT"),
            "{what}: {:?}",
            r.commands
        );
        assert_eq!(r.clean_tls_closes, vec![true], "{what}: close_notify");
    }
}
