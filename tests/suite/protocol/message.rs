//! Items 1, 2 and 5: the header that is checked is the header sent, only
//! CRLF.CRLF ends DATA in `-bs`, and the reply after the final dot.

use super::{good, settings_for};
use crate::common::fake_smtp::FakeSmtp;
use crate::common::sandbox::sandbox;
use crate::common::{Scratch, s, sendmail};

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
