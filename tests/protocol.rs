//! The message and protocol findings of the outside review (issue 11),
//! each driven through the real binary: against the sandbox's Postfix where
//! Postfix shows the effect, against the scripted peer where only a
//! scripted server produces the fault.

mod common;

use common::fake_smtp::{Behaviour, FakeSmtp, sandbox_identity};
use common::queue::{Setup, Target};
use common::sandbox::{Sandbox, sandbox};
use common::{Scratch, Settings, s, sendmail};

/// Settings that point the binary at `fake`.
fn settings_for(sb: &Sandbox, fake: &FakeSmtp, scratch: &Scratch) -> Settings {
    let mut settings = sb.settings(scratch);
    settings.host = "localhost".into();
    settings.port = fake.port;
    settings.timeout = 10;
    settings
}

fn good() -> Behaviour {
    Behaviour::good(sandbox_identity(&sandbox().dir))
}

// ---- 1. bare CR in the header ----------------------------------------------

#[test]
fn a_bare_cr_cannot_hide_a_bcc_or_a_from_in_another_field() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("bare-cr");
    let conf = sb.settings(&scratch).write(&scratch);
    // Bare CRs, a CR CR LF and a lone LF, mixed.
    let message = b"To: crto@example.com\r\nX-Note: a\rBcc: crbcc@example.com\rFrom: Boss <boss@elsewhere.example>\r\nSubject: mixed\n\r\nbody\r\n";
    sendmail(&["-C", s(&conf), "-t"], message).expect(0);
    for rcpt in ["crto@example.com", "crbcc@example.com"] {
        let got = sb.wait_for_mail(rcpt, 1);
        let m = &got[0];
        let header = m.header();
        assert_eq!(m.field("Bcc"), None, "{rcpt}: Bcc left visible:\n{header}");
        assert_eq!(
            m.field("From").as_deref(),
            Some(format!("\"Boss via {}\" <{}>", short_host(), sb.str("user")).as_str()),
            "{rcpt}: the From that left is the one the policy checked:\n{header}"
        );
        assert_eq!(m.field("Subject").as_deref(), Some("mixed"), "{header}");
        assert_eq!(m.body(), b"body\n");
    }
}

#[test]
fn a_cr_cr_lf_ends_the_header_for_the_check_as_on_the_wire() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("cr-cr-lf");
    let conf = sb.settings(&scratch).write(&scratch);
    let message = b"Subject: early\r\r\nFrom: Boss <boss@elsewhere.example>\r\r\nBcc: crcrbcc@example.com\r\n\r\nbody\r\n";
    sendmail(&["-C", s(&conf), "crcrlf@example.com"], message).expect(0);
    let got = sb.wait_for_mail("crcrlf@example.com", 1);
    let m = &got[0];
    let header = m.header();
    // The header ended at the empty line after Subject: the program added
    // Date, Message-ID and its own From to that header, not to the body.
    assert!(m.field("Date").is_some(), "{header}");
    assert!(m.field("Message-ID").is_some(), "{header}");
    assert_eq!(m.field("From"), Some(sb.str("user")), "{header}");
    let body = String::from_utf8_lossy(m.body()).into_owned();
    assert!(body.starts_with("From: Boss"), "{body}");
    assert!(sb.mail_for("crcrbcc@example.com").is_empty());
}

/// The short host name the From policy names ("… via host").
fn short_host() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    name.trim().split('.').next().unwrap().to_string()
}

// ---- 2. SMTP smuggling in -bs ----------------------------------------------

#[test]
fn bs_ends_data_only_at_crlf_dot_crlf() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("smuggle");
    let conf = sb.settings(&scratch).write(&scratch);
    // Every end-of-data spelling but CRLF.CRLF, each followed by a second
    // transaction that must stay inside the first message.
    let ends: [&[u8]; 4] = [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n"];
    for (n, end) in ends.iter().enumerate() {
        let outer = format!("smug-outer{n}@example.com");
        let inner = format!("smug-inner{n}@example.com");
        let mut input = format!(
            "EHLO client.example\r\nMAIL FROM:<app@example.com>\r\nRCPT TO:<{outer}>\r\nDATA\r\n\
             Subject: outer {n}\r\n\r\nfirst part"
        )
        .into_bytes();
        input.extend_from_slice(end);
        input.extend_from_slice(
            format!(
                "MAIL FROM:<ceo@example.com>\r\nRCPT TO:<{inner}>\r\nDATA\r\n\
                 Subject: smuggled {n}\r\n\r\nevil\r\n.\r\nQUIT\r\n"
            )
            .as_bytes(),
        );
        let run = sendmail(&["-C", s(&conf), "-bs"], &input);
        run.expect(0);
        let delivered = run.stdout.matches("250 2.0.0 Ok:").count();
        assert_eq!(
            delivered, 1,
            "end {end:?}: one message only:\n{}",
            run.stdout
        );
        let got = sb.wait_for_mail(&outer, 1);
        let text = got[0].text();
        assert!(text.contains("Subject: outer"), "{text}");
        assert!(
            text.contains("RCPT TO:<smug-inner"),
            "end {end:?}: the smuggled commands are data of the first message:\n{text}"
        );
        assert!(sb.mail_for(&inner).is_empty(), "end {end:?}");
    }
}

// ---- 5. the reply after the final dot --------------------------------------

#[test]
fn the_reply_after_the_dot_is_waited_for_longer_than_a_step() {
    let sb = sandbox();
    let _shared = sb.shared();
    let mut b = good();
    // Slower than the one-second per-step timeout configured below.
    b.final_reply_delay = Some(std::time::Duration::from_secs(3));
    let fake = FakeSmtp::start(b);
    let scratch = Scratch::new("slow-final");
    let mut settings = settings_for(sb, &fake, &scratch);
    settings.timeout = 1;
    let conf = settings.write(&scratch);
    let run = sendmail(
        &["-C", s(&conf), "slow@example.com"],
        b"Subject: slow\n\nbody\n",
    );
    run.expect(0);
    assert_eq!(fake.record().messages.len(), 1, "sent once");
}

#[test]
fn a_failure_after_the_dot_never_says_nothing_was_sent() {
    let sb = sandbox();
    let _shared = sb.shared();
    let mut b = good();
    b.hang_up_after_dot = true;
    let fake = FakeSmtp::start(b);
    let scratch = Scratch::new("after-dot");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    let run = sendmail(
        &["-C", s(&conf), "gone@example.com"],
        b"Subject: gone\n\nbody\n",
    );
    run.expect(75);
    assert!(!run.stderr.contains("nothing was sent"), "{}", run.stderr);
    assert!(
        run.stderr.contains("may have the message"),
        "{}",
        run.stderr
    );
}

// ---- 4. SIZE, and the size limit ------------------------------------------

/// A configuration for `target` with a queue and `top` (top-level keys).
fn queued_config(setup: &Setup, name: &str, target: Target, top: &str) -> std::path::PathBuf {
    let path = setup.config(name, target, "");
    let text = std::fs::read_to_string(&path).unwrap();
    common::write_private(&path, &format!("{top}{text}"));
    path
}

/// A message of about `octets` octets, in lines of 76.
fn big_message(subject: &str, octets: usize) -> Vec<u8> {
    let mut m = format!("Subject: {subject}\n\n").into_bytes();
    let line = [b'y'; 75];
    while m.len() < octets {
        m.extend_from_slice(&line);
        m.push(b'\n');
    }
    m
}

/// Nothing of the message anywhere in the queue.
#[track_caller]
fn nothing_kept(setup: &Setup) {
    for area in ["msg", "state", "failed", "tmp"] {
        assert!(
            setup.area(area).is_empty(),
            "{area}: {:?}",
            setup.area(area)
        );
    }
}

#[test]
fn a_message_over_max_message_size_is_refused_and_never_queued() {
    let sb = sandbox();
    let _shared = sb.shared();
    let fake = FakeSmtp::start(good());
    let setup = Setup::new("max-size");
    let conf = queued_config(
        &setup,
        "up.conf",
        Target::Fake(fake.port),
        "max_message_size = 100000\n",
    );
    let run = sendmail(
        &["-C", s(&conf), "big@example.com"],
        &big_message("big", 400_000),
    );
    run.expect(65);
    assert!(run.stderr.contains("max_message_size"), "{}", run.stderr);
    assert!(
        run.stderr.contains("larger than 100000 octets"),
        "{}",
        run.stderr
    );
    assert!(fake.record().messages.is_empty());
    nothing_kept(&setup);
    // With the server down the message would be queued: the limit holds there too.
    let down = queued_config(
        &setup,
        "down.conf",
        Target::Closed,
        "max_message_size = 100000\n",
    );
    let run = sendmail(
        &["-C", s(&down), "big@example.com"],
        &big_message("big", 400_000),
    );
    run.expect(65);
    nothing_kept(&setup);
    // A message under the limit still goes.
    let run = sendmail(
        &["-C", s(&conf), "small@example.com"],
        &big_message("small", 90_000),
    );
    run.expect(0);
    assert_eq!(fake.record().messages.len(), 1);
}

#[test]
fn a_message_over_the_servers_size_is_refused_early() {
    let sb = sandbox();
    let _shared = sb.shared();
    let mut b = good();
    b.size_limit = 100_000;
    let fake = FakeSmtp::start(b);
    let setup = Setup::new("server-size");
    let conf = queued_config(&setup, "up.conf", Target::Fake(fake.port), "");
    let run = sendmail(
        &["-C", s(&conf), "big@example.com"],
        &big_message("big", 400_000),
    );
    run.expect(65);
    assert!(run.stderr.contains("SIZE"), "{}", run.stderr);
    let r = fake.record();
    assert!(r.messages.is_empty(), "DATA was never ended");
    nothing_kept(&setup);
}

#[test]
fn a_552_in_the_middle_of_data_is_read_and_is_permanent() {
    let sb = sandbox();
    let _shared = sb.shared();
    let mut b = good();
    b.refuse_in_data_after = Some((
        50_000,
        "552 5.3.4 Message size exceeds fixed maximum message size".into(),
    ));
    let fake = FakeSmtp::start(b);
    let setup = Setup::new("size-552");
    let conf = queued_config(&setup, "up.conf", Target::Fake(fake.port), "");
    let run = sendmail(
        &["-C", s(&conf), "big@example.com"],
        &big_message("big", 3_000_000),
    );
    run.expect(65);
    assert!(run.stderr.contains("552 5.3.4"), "{}", run.stderr);
    // Never queued to be uploaded again for days.
    assert!(setup.area("msg").is_empty(), "{:?}", setup.area("msg"));
}

#[test]
fn size_is_declared_when_it_is_known() {
    let sb = sandbox();
    let _shared = sb.shared();
    // A queued message's size is known: the queue run declares it.
    let setup = Setup::new("declare-size");
    let down = setup.config("down.conf", Target::Closed, "");
    let message = big_message("sized", 5_000);
    sendmail(&["-C", s(&down), "sized@example.com"], &message).expect(0);
    let fake = FakeSmtp::start(good());
    let up = setup.config("up.conf", Target::Fake(fake.port), "");
    sendmail(&["-C", s(&up), "-q"], b"").expect(0);
    let r = fake.record();
    let mail: Vec<&String> = r
        .commands
        .iter()
        .filter(|c| c.starts_with("MAIL FROM:"))
        .collect();
    assert_eq!(mail.len(), 1, "{:?}", r.commands);
    let declared: u64 = mail[0]
        .split_whitespace()
        .find_map(|p| p.strip_prefix("SIZE="))
        .unwrap_or_else(|| panic!("no SIZE= in {}", mail[0]))
        .parse()
        .unwrap();
    assert!(
        declared >= message.len() as u64,
        "{declared} for {}",
        message.len()
    );
    // The -bs client's SIZE= is passed on.
    let fake = FakeSmtp::start(good());
    let scratch = Scratch::new("bs-size");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    let input = "EHLO c\r\nMAIL FROM:<a@example.com> SIZE=4321 BODY=8BITMIME\r\nRCPT TO:<b@example.com>\r\nDATA\r\nSubject: s\r\n\r\nbody\r\n.\r\nQUIT\r\n";
    let run = sendmail(&["-C", s(&conf), "-bs"], input.as_bytes());
    run.expect(0);
    assert!(run.stdout.contains("250-SIZE 36700160"), "{}", run.stdout);
    let r = fake.record();
    let mail = r
        .commands
        .iter()
        .find(|c| c.starts_with("MAIL FROM:"))
        .unwrap();
    assert!(mail.contains("SIZE=4321"), "{mail}");
}

// ---- 6. AUTH fallback --------------------------------------------------------

#[test]
fn a_cut_auth_line_is_tried_again_in_two_steps_and_the_token_kept() {
    let sb = sandbox();
    let _shared = sb.shared();
    let mut b = good();
    // Shorter than any token's AUTH line (Postfix's default is 2048).
    b.line_length_limit = Some(200);
    let fake = FakeSmtp::start(b);
    let scratch = Scratch::new("auth-cut");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    for n in 0..2 {
        let run = sendmail(
            &["-C", s(&conf), "cut@example.com"],
            b"Subject: cut\n\nbody\n",
        );
        run.expect(0);
        assert_eq!(fake.record().messages.len(), n + 1);
    }
    let r = fake.record();
    let two_step = r.commands.iter().filter(|c| *c == "AUTH XOAUTH2").count();
    assert_eq!(two_step, 2, "{:?}", r.commands);
    // The token that was cut is the one that passed, and the second send
    // used it again from the cache: it was not thrown away.
    assert_eq!(r.tokens.len(), 2, "{:?}", r.tokens);
    assert_eq!(r.tokens[0], r.tokens[1]);
}

// ---- 3. a stale upstream session -------------------------------------------

#[test]
fn a_session_the_server_closed_while_idle_is_opened_again() {
    let sb = sandbox();
    let _shared = sb.shared();
    // Closed silently, or with Postfix's idle 421.
    for last in ["", "421 4.4.2 fake.test Error: timeout exceeded"] {
        let mut b = good();
        b.close_after_message = Some(last.into());
        let fake = FakeSmtp::start(b);
        let scratch = Scratch::new("stale");
        let conf = settings_for(sb, &fake, &scratch).write(&scratch);
        let mut input = String::from("EHLO c\r\n");
        for n in 0..3 {
            input.push_str(&format!(
                "MAIL FROM:<app@example.com>\r\nRCPT TO:<stale{n}@example.com>\r\nDATA\r\n\
                 Subject: stale {n}\r\n\r\nbody\r\n.\r\n"
            ));
        }
        input.push_str("QUIT\r\n");
        let run = sendmail(&["-C", s(&conf), "-bs"], input.as_bytes());
        run.expect(0);
        assert_eq!(
            run.stdout.matches("250 2.0.0 Ok:").count(),
            3,
            "{last:?}: every message went:\n{}",
            run.stdout
        );
        let r = fake.record();
        assert_eq!(r.messages.len(), 3, "{last:?}: once each");
        assert_eq!(r.connections, 3, "{last:?}");
    }
}

#[test]
fn a_stale_session_in_a_queue_run_is_opened_again() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("stale-queue");
    let down = setup.config("down.conf", Target::Closed, "");
    for n in 0..3 {
        let message = format!("Subject: q{n}\n\nbody {n}\n");
        sendmail(&["-C", s(&down), "staleq@example.com"], message.as_bytes()).expect(0);
    }
    let mut b = good();
    b.close_after_message = Some(String::new());
    let fake = FakeSmtp::start(b);
    let up = setup.config("up.conf", Target::Fake(fake.port), "");
    sendmail(&["-C", s(&up), "-q"], b"").expect(0);
    assert_eq!(fake.record().messages.len(), 3);
    assert!(setup.area("msg").is_empty(), "{:?}", setup.area("msg"));
}

// ---- 9. 452 and partial delivery ---------------------------------------------

#[test]
fn recipients_refused_for_their_number_get_the_message_at_once() {
    let sb = sandbox();
    let _shared = sb.shared();
    let mut b = good();
    b.max_recipients = Some(2);
    let fake = FakeSmtp::start(b);
    let scratch = Scratch::new("452");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    let recipients: Vec<String> = (0..5).map(|n| format!("many{n}@example.com")).collect();
    let mut args = vec!["-C", s(&conf)];
    args.extend(recipients.iter().map(String::as_str));
    let run = sendmail(&args, b"Subject: many\n\nbody\n");
    run.expect(0);
    let r = fake.record();
    assert_eq!(r.messages.len(), 3, "{:?}", r.commands);
    let mut served: Vec<String> = r
        .commands
        .iter()
        .filter(|c| c.starts_with("RCPT TO:"))
        .map(|c| c.split(['<', '>']).nth(1).unwrap().to_string())
        .collect();
    served.sort();
    served.dedup();
    assert_eq!(served, recipients);
}

#[test]
fn a_partial_delivery_without_a_queue_exits_67_naming_the_rest() {
    let sb = sandbox();
    let _shared = sb.shared();
    let mut b = good();
    b.rcpt_replies.insert(
        "later@example.com".into(),
        "451 4.3.0 try again later".into(),
    );
    let fake = FakeSmtp::start(b);
    let scratch = Scratch::new("partial");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    let run = sendmail(
        &["-C", s(&conf), "got@example.com", "later@example.com"],
        b"Subject: partial\n\nbody\n",
    );
    // Not 75: the caller would send it again to both.
    run.expect(67);
    assert!(
        run.stderr.contains("<later@example.com>: 451"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("delivered to <got@example.com>"),
        "{}",
        run.stderr
    );
    assert_eq!(fake.record().messages.len(), 1);
}

// ---- 7. 8BITMIME and SMTPUTF8 ------------------------------------------------

#[test]
fn body_8bitmime_and_smtputf8_are_declared_when_offered() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("8bit");
    let conf = sb.settings(&scratch).write(&scratch);
    // An 8-bit body without -B, as PHP writes it; a UTF-8 Subject.
    let message =
        "Subject: Grüße aus Köln\nContent-Type: text/plain; charset=utf-8\n\nÄrger über Öl\n";
    let run = sendmail(
        &["-C", s(&conf), "-v", "eightbit@example.com"],
        message.as_bytes(),
    );
    run.expect(0);
    let mail = run
        .stderr
        .lines()
        .find(|l| l.contains("MAIL FROM:"))
        .unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(mail.contains("BODY=8BITMIME"), "{mail}");
    assert!(mail.contains("SMTPUTF8"), "{mail}");
    let got = sb.wait_for_mail("eightbit@example.com", 1);
    assert!(got[0].text().contains("Ärger über Öl"), "{}", got[0].text());
    // -B 7BIT is the caller's word and is kept; ASCII needs no SMTPUTF8.
    let run = sendmail(
        &["-C", s(&conf), "-v", "-B", "7BIT", "sevenbit@example.com"],
        b"Subject: plain\n\nplain\n",
    );
    run.expect(0);
    let mail = run
        .stderr
        .lines()
        .find(|l| l.contains("MAIL FROM:"))
        .unwrap();
    assert!(
        mail.contains("BODY=7BIT") && !mail.contains("SMTPUTF8"),
        "{mail}"
    );
}

#[test]
fn no_raw_non_ascii_address_reaches_a_server_without_smtputf8() {
    let sb = sandbox();
    let _shared = sb.shared();
    let fake = FakeSmtp::start(good()); // offers no SMTPUTF8
    let scratch = Scratch::new("idn");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    sendmail(
        &["-C", s(&conf), "leser@bücher.example"],
        b"Subject: idn\n\nbody\n",
    )
    .expect(0);
    let r = fake.record();
    assert!(
        r.commands
            .iter()
            .any(|c| c == "RCPT TO:<leser@xn--bcher-kva.example>"),
        "{:?}",
        r.commands
    );
    assert!(r.commands.iter().all(|c| c.is_ascii()), "{:?}", r.commands);
    // A local part outside ASCII has no ASCII form: refused, nothing sent.
    let run = sendmail(
        &["-C", s(&conf), "jörg@example.com"],
        b"Subject: idn\n\nbody\n",
    );
    run.expect(65);
    assert!(run.stderr.contains("SMTPUTF8"), "{}", run.stderr);
    assert_eq!(fake.record().messages.len(), 1);
    assert!(fake.record().commands.iter().all(|c| c.is_ascii()));
}

#[test]
fn the_bs_clients_body_type_is_passed_on() {
    let sb = sandbox();
    let _shared = sb.shared();
    let fake = FakeSmtp::start(good());
    let scratch = Scratch::new("bs-body");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    let input = "EHLO c\r\nMAIL FROM:<a@example.com> BODY=7BIT\r\nRCPT TO:<b@example.com>\r\nDATA\r\nSubject: s\r\n\r\nbody\r\n.\r\nQUIT\r\n";
    sendmail(&["-C", s(&conf), "-bs"], input.as_bytes()).expect(0);
    let r = fake.record();
    let mail = r
        .commands
        .iter()
        .find(|c| c.starts_with("MAIL FROM:"))
        .unwrap();
    assert!(mail.contains("BODY=7BIT"), "{mail}");
}

// ---- 8. quoted local parts ---------------------------------------------------

#[test]
fn quoted_local_parts_are_delivered() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("quoted");
    let conf = sb.settings(&scratch).write(&scratch);
    let message =
        b"To: \"first.last\"@example.com, \"first last\"@example.com\nSubject: quoted\n\nbody\n";
    let run = sendmail(&["-C", s(&conf), "-t", "-v"], message);
    run.expect(0);
    for rcpt in [
        "RCPT TO:<\"first.last\"@example.com>",
        "RCPT TO:<\"first last\"@example.com>",
    ] {
        assert!(run.stderr.contains(rcpt), "{rcpt}:\n{}", run.stderr);
    }
    // Postfix's pipe(8) names recipients in its internal, unquoted form.
    for rcpt in ["first.last@example.com", "first last@example.com"] {
        let got = sb.wait_for_mail(rcpt, 1);
        assert_eq!(got.len(), 1, "{rcpt}");
    }
    // On the command line too.
    sendmail(
        &["-C", s(&conf), "\"second one\"@example.com"],
        b"Subject: q\n\nb\n",
    )
    .expect(0);
    sb.wait_for_mail("second one@example.com", 1);
}

// ---- 10. groups, argv line breaks, folded encoded words -----------------------

#[test]
fn groups_survive_the_qualification_of_bare_names() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("groups");
    let conf = sb.settings(&scratch).write(&scratch);
    let message = b"To: undisclosed-recipients:;\nCc: Night Team: nightops, grp-member@example.com;\nSubject: groups\n\nbody\n";
    sendmail(&["-C", s(&conf), "-t"], message).expect(0);
    let got = sb.wait_for_mail("grp-member@example.com", 1);
    let m = &got[0];
    assert_eq!(
        m.field("To").as_deref(),
        Some("undisclosed-recipients:;"),
        "{}",
        m.header()
    );
    let cc = m.field("Cc").unwrap_or_default();
    assert!(cc.starts_with("Night Team: nightops@"), "{cc}");
    assert!(cc.ends_with(", grp-member@example.com;"), "{cc}");
}

#[test]
fn an_argv_recipient_with_a_line_break_is_refused() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("argv-crlf");
    let conf = sb.settings(&scratch).write(&scratch);
    for (n, argument) in [
        "Boss\r\nBcc: x <argv-cr0@example.com>",
        "Name\n<argv-cr1@example.com>",
    ]
    .iter()
    .enumerate()
    {
        let run = sendmail(&["-C", s(&conf), argument], b"Subject: x\n\nbody\n");
        run.expect(65);
        assert!(run.stderr.contains("line break"), "{}", run.stderr);
        assert!(sb.mail_for(&format!("argv-cr{n}@example.com")).is_empty());
    }
}

#[test]
fn a_written_from_with_encoded_words_is_folded_to_76() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("fold-2047");
    let conf = sb.settings(&scratch).write(&scratch);
    let name = "Überwachung des Rechenzentrums Süd, Gebäude 7, Raum 12, Schrank 4";
    sendmail(
        &["-C", s(&conf), "-F", name, "fold2047@example.com"],
        b"Subject: f\n\nbody\n",
    )
    .expect(0);
    let got = sb.wait_for_mail("fold2047@example.com", 1);
    let header = got[0].header();
    let mut in_from = false;
    let mut lines = Vec::new();
    for line in header.lines() {
        if line.starts_with("From:") {
            in_from = true;
        } else if !line.starts_with([' ', '\t']) {
            in_from = false;
        }
        if in_from {
            lines.push(line);
        }
    }
    assert!(lines.len() > 1, "{header}");
    for line in &lines {
        assert!(line.len() <= 76, "{line:?} in\n{header}");
    }
    assert!(lines.concat().contains(&sb.str("user")), "{header}");
}

// ---- 11. tidy ends -------------------------------------------------------------

#[test]
fn quit_on_error_paths_and_tls_closed_with_close_notify() {
    let sb = sandbox();
    let _shared = sb.shared();
    // A refused login, a refused sender, a server without STARTTLS: each
    // session still ends with QUIT.
    let mut refused_login = good();
    refused_login.auth_replies = vec!["535 5.7.3 Authentication unsuccessful".into()];
    let mut refused_sender = good();
    refused_sender.mail_reply = Some("550 5.7.60 not allowed".into());
    let mut no_tls = good();
    no_tls.offer_starttls = false;
    for (name, b, code) in [
        ("login", refused_login, 77),
        ("sender", refused_sender, 77),
        ("no-tls", no_tls, 76),
    ] {
        let fake = FakeSmtp::start(b);
        let scratch = Scratch::new("quit");
        let conf = settings_for(sb, &fake, &scratch).write(&scratch);
        sendmail(
            &["-C", s(&conf), "quit@example.com"],
            b"Subject: q\n\nbody\n",
        )
        .expect(code);
        let r = fake.record();
        assert_eq!(
            r.commands.last().map(String::as_str),
            Some("QUIT"),
            "{name}: {:?}",
            r.commands
        );
        if r.tls {
            assert_eq!(
                r.clean_tls_closes,
                [true],
                "{name}: close_notify after QUIT"
            );
        }
    }
    // And after a delivery.
    let fake = FakeSmtp::start(good());
    let scratch = Scratch::new("quit-ok");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    sendmail(
        &["-C", s(&conf), "quit@example.com"],
        b"Subject: q\n\nbody\n",
    )
    .expect(0);
    assert_eq!(fake.record().clean_tls_closes, [true]);
}

#[test]
fn a_tls_handshake_that_times_out_is_temporary() {
    let sb = sandbox();
    let _shared = sb.shared();
    let mut b = good();
    b.stall_after_starttls = Some(std::time::Duration::from_secs(4));
    let fake = FakeSmtp::start(b);
    let scratch = Scratch::new("tls-timeout");
    let mut settings = settings_for(sb, &fake, &scratch);
    settings.timeout = 1;
    let conf = settings.write(&scratch);
    let run = sendmail(
        &["-C", s(&conf), "slowtls@example.com"],
        b"Subject: t\n\nbody\n",
    );
    run.expect(75);
    assert!(run.stderr.contains("timed out"), "{}", run.stderr);
}
