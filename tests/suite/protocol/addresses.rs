//! Items 7 to 10: 452 and partial delivery, 8BITMIME and SMTPUTF8,
//! quoted local parts, groups, argv line breaks, folded encoded words.

use super::{good, settings_for};
use crate::common::fake_smtp::FakeSmtp;
use crate::common::sandbox::sandbox;
use crate::common::{Scratch, s, sendmail};

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
    // Written from -F, and by the From policy ("… via host") from a From
    // the mailbox may not send as.
    let rewritten = format!(
        "From: =?UTF-8?B?{}?= <shop@elsewhere.example>\nSubject: f\n\nbody\n",
        base64_of(name)
    );
    let cases: [(&str, Vec<&str>, Vec<u8>); 2] = [
        (
            "fold2047a@example.com",
            vec!["-F", name],
            b"Subject: f\n\nbody\n".to_vec(),
        ),
        ("fold2047b@example.com", vec![], rewritten.into_bytes()),
    ];
    for (rcpt, extra, message) in cases {
        let mut args = vec!["-C", s(&conf)];
        args.extend(extra);
        args.push(rcpt);
        sendmail(&args, &message).expect(0);
        let got = sb.wait_for_mail(rcpt, 1);
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
        assert!(lines.len() > 1, "{rcpt}: {header}");
        for line in &lines {
            assert!(line.len() <= 76, "{rcpt}: {line:?} in\n{header}");
        }
        assert!(lines.concat().contains(&sb.str("user")), "{header}");
    }
}

/// Standard base64 of `text`, for an encoded word.
fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}
