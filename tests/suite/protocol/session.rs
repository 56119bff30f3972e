//! Items 3, 6 and 11: a stale session opened again, the two-step AUTH
//! after a refused or cut one-line AUTH, QUIT and close_notify, a TLS
//! handshake timeout.

use super::{good, settings_for};
use crate::common::fake_smtp::FakeSmtp;
use crate::common::queue::{Setup, Target};
use crate::common::sandbox::sandbox;
use crate::common::{Scratch, s, sendmail};

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
        let r = fake.record_once_closed();
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
    assert_eq!(fake.record_once_closed().clean_tls_closes, [true]);
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
