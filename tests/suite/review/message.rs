//! Issue 11, message items 1, 2, 7, 8 and 10, with other payloads.

use super::*;

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

#[test]
fn utf8_in_an_overriding_envelope_sender_never_goes_raw() {
    let sb = sandbox();
    let _shared = sb.shared();
    let fake = FakeSmtp::start(good()); // no SMTPUTF8
    let scratch = Scratch::new("review-f-utf8");
    let mut settings = settings_for(sb, &fake, &scratch);
    settings.extra = "\n[addresses]\nallow_from_override = true\n".into();
    let conf = settings.write(&scratch);
    let run = sendmail(
        &[
            "-C",
            s(&conf),
            "-f",
            "bounce@bücher.example",
            "a@example.com",
        ],
        b"Subject: f\n\nb\n",
    );
    run.expect(0);
    let run = sendmail(
        &["-C", s(&conf), "-f", "jörg@example.com", "a@example.com"],
        b"Subject: f\n\nb\n",
    );
    assert_ne!(run.code, 0, "{}", run.stderr);
    let r = fake.record();
    assert!(r.commands.iter().all(|c| c.is_ascii()), "{:?}", r.commands);
    assert!(
        r.commands
            .iter()
            .any(|c| c.starts_with("MAIL FROM:<bounce@xn--bcher-kva.example>")),
        "{:?}",
        r.commands
    );
}

#[test]
fn quoted_local_parts_from_a_bs_client_are_delivered() {
    let sb = sandbox();
    let _shared = sb.shared();
    let fake = FakeSmtp::start(good());
    let scratch = Scratch::new("review-bs-quoted");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    let input = "EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<\"first last\"@example.com>\r\n\
                 RCPT TO:<\"a\\\"b\"@example.com>\r\nDATA\r\nSubject: q\r\n\r\nb\r\n.\r\nQUIT\r\n";
    sendmail(&["-C", s(&conf), "-bs"], input.as_bytes()).expect(0);
    let r = fake.record();
    for want in [
        "RCPT TO:<\"first last\"@example.com>",
        "RCPT TO:<\"a\\\"b\"@example.com>",
    ] {
        assert!(
            r.commands.iter().any(|c| c == want),
            "{want}: {:?}",
            r.commands
        );
    }
}

#[test]
fn a_second_from_or_sender_is_checked_too() {
    let sb = sandbox();
    let _shared = sb.shared();
    let fake = FakeSmtp::start(good());
    let scratch = Scratch::new("review-two-from");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    let user = sb.str("user");
    for (n, message) in [
        format!("From: {user}\nFrom: CEO <ceo@elsewhere.example>\nSubject: 2\n\nb\n"),
        format!("From: {user}\rFrom: CEO <ceo@elsewhere.example>\nSubject: 2\n\nb\n"),
        format!("From: CEO <ceo@elsewhere.example>, {user}\nSubject: 2\n\nb\n"),
        format!("From: {user}\nSender: CEO <ceo@elsewhere.example>\nSubject: 2\n\nb\n"),
    ]
    .iter()
    .enumerate()
    {
        let run = sendmail(
            &["-C", s(&conf), "-i", "two@example.com"],
            message.as_bytes(),
        );
        if run.code != 0 {
            assert_eq!(run.code, 65, "case {n}: {}", run.stderr);
            continue;
        }
        let r = fake.record();
        let header = header_of(r.messages.last().unwrap());
        for line in header.split("\r\n") {
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("from:") || lower.starts_with("sender:") {
                assert!(
                    !line.contains("ceo@elsewhere"),
                    "case {n}: {line}\n{header}"
                );
            }
        }
    }
}
