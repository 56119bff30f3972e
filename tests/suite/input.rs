//! The odd input real callers send, through the built binary to the
//! sandbox's Postfix: line endings of every kind, a last line without a
//! newline, an mbox `From ` line, 8-bit and UTF-8 headers, lines over 998
//! octets, no header at all, an empty message.

use crate::common;

use common::sandbox::sandbox;
use common::site::{Site, user};

/// A message, the options, and what must arrive: a header field (name,
/// value) and the exact body (LF line endings, as Postfix captures them).
struct Case {
    name: &'static str,
    args: &'static [&'static str],
    input: Vec<u8>,
    field: (&'static str, Option<String>),
    body: Vec<u8>,
}

fn case(
    name: &'static str,
    args: &'static [&'static str],
    input: impl Into<Vec<u8>>,
    field: (&'static str, Option<&str>),
    body: impl Into<Vec<u8>>,
) -> Case {
    Case {
        name,
        args,
        input: input.into(),
        field: (field.0, field.1.map(str::to_string)),
        body: body.into(),
    }
}

#[test]
fn odd_input_arrives_whole_and_well_formed() {
    let sb = sandbox();
    let _shared = sb.shared();
    let site = Site::new("input", "", "");
    let words = vec!["word"; 600].join(" ");
    let html = format!("<p>{}</p>", vec!["<b>bold</b> text"; 200].join(" "));
    let table = vec![
        case(
            "lf",
            &["-i"],
            "Subject: lf\nX-A: 1\n\none\ntwo\n",
            ("X-A", Some("1")),
            "one\ntwo\n",
        ),
        case(
            "crlf",
            &["-i"],
            "Subject: crlf\r\nX-A: 1\r\n\r\none\r\ntwo\r\n",
            ("X-A", Some("1")),
            "one\ntwo\n",
        ),
        case(
            "mixed",
            &["-i"],
            "Subject: mixed\r\nX-A: 1\n\r\none\rtwo\r\nthree",
            ("X-A", Some("1")),
            "one\ntwo\nthree\n",
        ),
        case(
            "no-final-newline",
            &[],
            "Subject: nonl\n\nlast line",
            ("Subject", Some("nonl")),
            "last line\n",
        ),
        case(
            "mbox",
            &["-i"],
            "From someone@example.com Mon Jan  1 00:00:00 2024\nSubject: mbox\n\nbody\n",
            ("Subject", Some("mbox")),
            "body\n",
        ),
        case(
            "utf8-header",
            &["-i"],
            "Subject: Grüße aus Zürich\n\nbody\n",
            ("Subject", Some("Grüße aus Zürich")),
            "body\n",
        ),
        case(
            "latin1-header",
            &["-i"],
            b"X-Latin: caf\xe9\n\nbody\n".to_vec(),
            ("X-Latin", Some("caf\u{fffd}")),
            "body\n",
        ),
        case(
            "utf8-from",
            &["-i"],
            "From: Jörg Müller <joerg@example.com>\n\nbody\n",
            ("Reply-To", Some("Jörg Müller <joerg@example.com>")),
            "body\n",
        ),
        case(
            "no-header",
            &["-i"],
            "just a line of text\nand another\n",
            ("From", Some(&user())),
            "just a line of text\nand another\n",
        ),
        case(
            "blank-first",
            &["-i"],
            "\nonly body\n",
            ("Subject", None),
            "only body\n",
        ),
        case("empty", &["-i"], "", ("From", Some(&user())), ""),
        case(
            "lone-dot",
            &[],
            "Subject: dot\n\nbefore\n.\nafter\n",
            ("Subject", Some("dot")),
            "before\n",
        ),
        case(
            "lone-dot-i",
            &["-oi"],
            "Subject: dot\n\nbefore\n.\nafter\n",
            ("Subject", Some("dot")),
            "before\n.\nafter\n",
        ),
        case(
            "long-body-line",
            &["-i"],
            format!("Subject: long\n\n{html}\n"),
            ("Subject", Some("long")),
            Vec::new(), // checked below: broken at spaces, nothing lost
        ),
        case(
            "long-header-line",
            &["-i"],
            format!("Subject: {words}\n\nbody\n"),
            ("X-None", None),
            "body\n",
        ),
    ];
    for (n, c) in table.iter().enumerate() {
        let rcpt = format!("input-{n}-{}@input.example", c.name);
        let mut args = c.args.to_vec();
        args.push(&rcpt);
        site.sendmail(&args, &c.input).expect(0);
        let got = sb.wait_for_mail(&rcpt, 1);
        let m = &got[0];
        assert_eq!(m.sender, user(), "{}", c.name);
        assert_eq!(
            m.field(c.field.0),
            c.field.1,
            "{}: {}\n{}",
            c.name,
            c.field.0,
            m.header()
        );
        // What any message leaves with.
        for name in ["From", "Date", "Message-ID"] {
            assert!(
                m.field(name).is_some(),
                "{}: {name}\n{}",
                c.name,
                m.header()
            );
        }
        for line in m.message.split(|&b| b == b'\n') {
            assert!(
                line.len() <= 998,
                "{}: a line of {} octets",
                c.name,
                line.len()
            );
        }
        match c.name {
            "long-body-line" => {
                let body = String::from_utf8_lossy(m.body()).into_owned();
                assert!(body.lines().count() > 3, "{body}");
                assert_eq!(body.replace('\n', ""), html, "only line breaks were added");
            }
            "long-header-line" => {
                let header = m.header();
                let subject: String = header
                    .split_once("Subject:")
                    .map(|(_, rest)| rest)
                    .unwrap()
                    .lines()
                    .take_while(|l| !l.contains(':'))
                    .collect::<Vec<_>>()
                    .join("");
                assert_eq!(subject.trim(), words, "unfolding gives the Subject back");
                assert_eq!(m.body(), c.body, "{}", c.name);
            }
            _ => assert_eq!(
                String::from_utf8_lossy(m.body()),
                String::from_utf8_lossy(&c.body),
                "{}",
                c.name
            ),
        }
    }
}

#[test]
fn a_header_line_that_cannot_be_folded_is_refused_and_nothing_is_sent() {
    let sb = sandbox();
    let _shared = sb.shared();
    let site = Site::new("unfoldable", "", "");
    let token = "A".repeat(1500);
    let run = site.sendmail(
        &["-i", "refused@unfoldable.example"],
        format!("Subject: x\nX-Token: {token}\n\nbody\n").as_bytes(),
    );
    run.expect(65);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("X-Token header"), "{}", run.stderr);
    assert!(run.stderr.contains("nothing was sent"), "{}", run.stderr);
    // A later message to the same address is the only one there.
    site.sendmail(
        &["-i", "refused@unfoldable.example"],
        b"Subject: later\n\nok\n",
    )
    .expect(0);
    let got = sb.wait_for_mail("refused@unfoldable.example", 1);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let got_later = sb.mail_for("refused@unfoldable.example");
    assert_eq!(got_later.len(), 1, "{got:?}");
    assert_eq!(got_later[0].field("Subject").as_deref(), Some("later"));
}
