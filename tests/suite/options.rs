//! Every option of the table in src/options.rs, glued and separate, run against the
//! sandbox's Postfix with `-v`: what each honoured option changes shows in
//! the SMTP transcript or the delivered message, and no option value is
//! ever taken for a recipient. (The queue modes `-bp`, `-q`, `--queue-run`
//! are tested with the queue.)

use crate::common;

use common::sandbox::sandbox;
use common::site::{Site, user};

/// What a run must show.
#[derive(Clone, Copy)]
enum Expect {
    /// Delivered to the run's own recipient only; each string appears in
    /// the `-v` transcript (or, prefixed with `header:`, in the header).
    Sent(&'static [&'static str]),
    /// Delivered, and none of these appear in the transcript or header.
    SentWithout(&'static [&'static str]),
}

const MESSAGE: &str = "Subject: option test\n\nbefore\n.\nafter\n";

#[test]
fn every_sending_option_glued_and_separate() {
    let sb = sandbox();
    let _shared = sb.shared();
    // More than 30 sends in a minute, without a queue: unpaced.
    let site = Site::new("options", "", "[limits]\nrate = 0\n");
    let xfile = site.path("x-traffic.log");
    let table: Vec<(Vec<&str>, Expect)> = vec![
        (vec![], Expect::Sent(&["MAIL FROM:<", "body:before\n"])),
        (vec!["-bm"], Expect::Sent(&["body:before\n"])),
        (vec!["-i"], Expect::Sent(&["body:before\n.\nafter\n"])),
        (vec!["-oi"], Expect::Sent(&["body:before\n.\nafter\n"])),
        (vec!["-o", "i"], Expect::Sent(&["body:before\n.\nafter\n"])),
        (
            vec!["-f", "bounce@example.com"],
            Expect::SentWithout(&["bounce@"]),
        ),
        (
            vec!["-fbounce@example.com"],
            Expect::SentWithout(&["bounce@"]),
        ),
        (
            vec!["-r", "bounce@example.com"],
            Expect::SentWithout(&["bounce@"]),
        ),
        (
            vec!["-rbounce@example.com"],
            Expect::SentWithout(&["bounce@"]),
        ),
        (
            vec!["-F", "Night Job"],
            Expect::Sent(&["header:From: \"Night Job\" <"]),
        ),
        (
            vec!["-FNightJob"],
            Expect::Sent(&["header:From: \"NightJob\" <"]),
        ),
        (
            vec!["-N", "success,failure"],
            Expect::Sent(&["NOTIFY=SUCCESS,FAILURE"]),
        ),
        (vec!["-Nnever"], Expect::Sent(&["NOTIFY=NEVER"])),
        (vec!["-R", "hdrs"], Expect::Sent(&["RET=HDRS"])),
        (vec!["-Rfull"], Expect::Sent(&["RET=FULL"])),
        (vec!["-V", "env-1"], Expect::Sent(&["ENVID=env-1"])),
        (vec!["-Venv-2"], Expect::Sent(&["ENVID=env-2"])),
        (vec!["-B", "8BITMIME"], Expect::Sent(&["BODY=8BITMIME"])),
        (vec!["-B8BITMIME"], Expect::Sent(&["BODY=8BITMIME"])),
        (vec!["-B7BIT"], Expect::Sent(&["BODY=7BIT"])),
        (vec!["-o", "em"], Expect::SentWithout(&["em@"])),
        (vec!["-oem"], Expect::SentWithout(&["em@"])),
        (vec!["-odi"], Expect::SentWithout(&["di@"])),
        (
            vec!["-O", "DeliveryMode=b"],
            Expect::SentWithout(&["DeliveryMode"]),
        ),
        (
            vec!["-ODeliveryMode=b"],
            Expect::SentWithout(&["DeliveryMode"]),
        ),
        (vec!["-L", "label"], Expect::SentWithout(&["label"])),
        (vec!["-Llabel"], Expect::SentWithout(&["label"])),
        (vec!["-X", &xfile], Expect::SentWithout(&["x-traffic"])),
        (vec!["-h", "17"], Expect::Sent(&[])),
        (vec!["-h17"], Expect::Sent(&[])),
        (vec!["-A", "c"], Expect::SentWithout(&["<c>"])),
        (vec!["-Am"], Expect::SentWithout(&["<m>"])),
        (vec!["-e", "q"], Expect::SentWithout(&["<q>"])),
        (vec!["-eq"], Expect::SentWithout(&["<q>"])),
        (vec!["-G", "-U", "-m", "-n", "-x", "-c"], Expect::Sent(&[])),
        (vec!["-GUmnxc"], Expect::Sent(&[])),
        (vec!["-t"], Expect::Sent(&["body:before\n"])),
        (vec!["--"], Expect::Sent(&["body:before\n"])),
    ];
    for (n, (options, expect)) in table.iter().enumerate() {
        let rcpt = format!("opt-{n}@options.example");
        let mut args = vec!["-v"];
        args.extend(options.iter().copied());
        args.push(&rcpt);
        let run = site.sendmail(&args, MESSAGE.as_bytes());
        run.expect(0);
        let got = sb.wait_for_mail(&rcpt, 1);
        let m = &got[0];
        let transcript = &run.stderr;
        let rcpts: Vec<&str> = transcript
            .lines()
            .filter(|l| l.starts_with("smtp> RCPT TO:"))
            .collect();
        assert_eq!(rcpts.len(), 1, "{options:?}: only <{rcpt}>: {rcpts:?}");
        assert!(rcpts[0].contains(&rcpt), "{options:?}: {rcpts:?}");
        assert_eq!(m.sender, user(), "{options:?}: envelope sender");
        let seen = |needle: &str| match needle.split_once(':') {
            Some(("header", text)) => m.header().contains(text),
            Some(("body", text)) => String::from_utf8_lossy(m.body()) == text,
            _ => transcript.contains(needle),
        };
        match expect {
            Expect::Sent(needles) => {
                for needle in *needles {
                    assert!(
                        seen(needle),
                        "{options:?}: {needle:?} missing\n{transcript}\n{}",
                        m.text()
                    );
                }
            }
            Expect::SentWithout(needles) => {
                for needle in *needles {
                    let all = format!("{transcript}{}", m.header());
                    assert!(
                        !all.contains(needle),
                        "{options:?}: {needle:?} leaked\n{all}"
                    );
                }
            }
        }
    }
    assert!(
        !std::path::Path::new(&xfile).exists(),
        "-X never writes a file"
    );
    // Without -v nothing is printed.
    let run = site.sendmail(&["opt-quiet@options.example"], MESSAGE.as_bytes());
    run.expect(0);
    assert_eq!(run.output(), "");
}

#[test]
fn sender_options_change_the_envelope_only_when_allowed() {
    let sb = sandbox();
    let _shared = sb.shared();
    let site = Site::new("override", "", "allow_from_override = true\n");
    // The sandbox, like Exchange, takes only the mailbox or the null sender.
    for (n, args) in [&["-f", "<>"][..], &["-f<>"], &["-r", "<>"]]
        .iter()
        .enumerate()
    {
        let rcpt = format!("null-{n}@override.example");
        let mut all = args.to_vec();
        all.push(&rcpt);
        site.sendmail(&all, MESSAGE.as_bytes()).expect(0);
        let got = sb.wait_for_mail(&rcpt, 1);
        assert_eq!(got[0].sender, "", "{args:?}: the null sender");
    }
    // Any other address is refused by the server: with the override on, -f
    // really reaches MAIL FROM (and the refusal is shown).
    let run = site.sendmail(
        &["-f", "boss@contoso.test", "x@override.example"],
        MESSAGE.as_bytes(),
    );
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("MAIL FROM"), "{}", run.stderr);
    assert!(run.stderr.contains("<boss@contoso.test>"), "{}", run.stderr);
}

#[test]
fn modes_and_usage_errors() {
    let site = Site::new("modes", "root: a@example.com\n", "");
    for args in [&["-bi"][..], &["-I"]] {
        let run = site.sendmail(args, b"");
        run.expect(0);
        assert!(
            run.stdout.contains("1 alias, 0 errors"),
            "{args:?}: {}",
            run.stdout
        );
    }
    let run = site.sendmail(&["--help"], b"");
    run.expect(0);
    for (section, option) in [("Honoured", "-B TYPE"), ("Accepted and ignored", "-X FILE")] {
        assert!(run.stdout.contains(section), "{}", run.stdout);
        assert!(run.stdout.contains(option), "{}", run.stdout);
    }
    site.sendmail(&["--version"], b"").expect(0);
    for (args, named) in [
        (&["-k", "a@x.com"][..], "-k"),
        (&["--frobnicate"], "--frobnicate"),
        (&["-bz"], "-bz"),
        (&["-f"], "-f"),
        (&["-B"], "-B"),
    ] {
        let run = site.sendmail(args, b"x");
        run.expect(64);
        assert!(run.stderr.contains(named), "{args:?}: {}", run.stderr);
    }
    // -bs is tested with whole dialogues in callers.rs; here: it starts.
    let run = site.sendmail(&["-bs"], b"QUIT\r\n");
    run.expect(0);
    assert!(
        run.stdout.starts_with("220 web1.example.net "),
        "{}",
        run.stdout
    );
    assert!(run.stdout.ends_with("221 2.0.0 Bye\r\n"), "{}", run.stdout);
}
