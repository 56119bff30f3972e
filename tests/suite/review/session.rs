//! Issue 11, message items 3, 4, 6, 9 and 11 (the session, sizes,
//! partial delivery), with other payloads.

use super::*;

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

// ---- message 4: 552 and the server's SIZE, other variants -----------------------

#[test]
fn size_refusals_in_other_places_are_permanent_and_never_queued() {
    use crate::common::queue::{Setup, Target};
    let sb = sandbox();
    let _shared = sb.shared();
    // The server's SIZE at the message's size passes; one octet over it is
    // refused before DATA ends, and nothing is queued. CRLF line ends, so
    // the size as read is the size RFC 1870 counts.
    let mut b = good();
    b.size_limit = 70_000;
    let fake = FakeSmtp::start(b);
    let setup = Setup::new("review-size-server");
    let conf = setup.config("up.conf", Target::Fake(fake.port), "");
    sendmail(
        &["-C", s(&conf), "-i", "sz@example.com"],
        &sized_message_crlf(sb, 70_000),
    )
    .expect(0);
    let run = sendmail(
        &["-C", s(&conf), "-i", "sz@example.com"],
        &sized_message_crlf(sb, 70_001),
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
        let r = fake.record_once_closed();
        assert_eq!(
            r.commands.last().map(String::as_str),
            Some("QUIT"),
            "{what}: {:?}",
            r.commands
        );
        assert_eq!(r.clean_tls_closes, vec![true], "{what}: close_notify");
    }
}

// ---- message 3: a 421 at DATA of the next transaction -----------------------------

#[test]
fn a_421_at_the_next_data_of_a_long_bs_dialogue_opens_the_session_again() {
    let sb = sandbox();
    let _shared = sb.shared();
    let mut b = good();
    b.data_reply_after = Some((1, "421 4.4.2 fake.test Error: timeout exceeded".into()));
    let fake = FakeSmtp::start(b);
    let scratch = Scratch::new("review-421-data");
    let conf = settings_for(sb, &fake, &scratch).write(&scratch);
    let mut input = String::from("EHLO c\r\n");
    for n in 0..3 {
        input.push_str(&format!(
            "MAIL FROM:<app@example.com>\r\nRCPT TO:<d421-{n}@example.com>\r\nDATA\r\n\
             Subject: {n}\r\n\r\nbody\r\n.\r\n"
        ));
    }
    input.push_str("QUIT\r\n");
    let run = sendmail(&["-C", s(&conf), "-bs"], input.as_bytes());
    run.expect(0);
    // A 421 at DATA comes before any of the message went: the session is
    // opened again and each message goes, once.
    assert_eq!(
        run.stdout.matches("250 2.0.0 Ok:").count(),
        3,
        "{}",
        run.stdout
    );
    let r = fake.record();
    assert_eq!(r.messages.len(), 3);
    assert_eq!(r.connections, 3);
}
