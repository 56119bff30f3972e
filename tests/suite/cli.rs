//! The command line and the configuration file, without any server.

use crate::common;

use common::{Scratch, s, sendmail};

const GOOD: &str = "tenant = \"contoso.onmicrosoft.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\nclient_secret = \"Sup3r~Secret+/=.\"\nuser = \"alerts@contoso.com\"\nsyslog_socket = \"\"\n";

fn conf(scratch: &Scratch, text: &str) -> std::path::PathBuf {
    let path = scratch.join("sendmail.conf");
    std::fs::write(&path, text).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

#[test]
fn version_and_help() {
    let run = sendmail(&["--version"], b"");
    run.expect(0);
    assert!(run.stdout.starts_with("oauth2-sendmail "));
    let run = sendmail(&["--help"], b"");
    run.expect(0);
    assert!(run.stdout.contains("Accepted and ignored"));
}

#[test]
fn unknown_option_exits_64_naming_it() {
    let run = sendmail(&["-k", "a@example.com"], b"");
    run.expect(64);
    assert!(run.stderr.contains("-k"), "{}", run.stderr);
    let run = sendmail(&["-f"], b"");
    run.expect(64);
    assert!(run.stderr.contains("-f"), "{}", run.stderr);
}

#[test]
fn no_recipients_exits_64() {
    let scratch = Scratch::new("norcpt");
    let c = conf(&scratch, GOOD);
    let run = sendmail(&["-C", s(&c)], b"Subject: x\n\nbody\n");
    run.expect(64);
    assert!(run.stderr.contains("no recipients"), "{}", run.stderr);
    let run = sendmail(&["-C", s(&c), "-t"], b"Subject: x\n\nbody\n");
    run.expect(64);
}

#[test]
fn config_errors_exit_78_with_file_line_and_key() {
    let scratch = Scratch::new("conf");
    let missing = scratch.join("missing.conf");
    let run = sendmail(&["-C", s(&missing), "a@example.com"], b"x");
    run.expect(78);
    assert!(run.stderr.contains("missing.conf"), "{}", run.stderr);

    let table = [
        ("[smtp]\nport = \"587\"\n", ":7: smtp.port: wrong type"),
        (
            "[smtp]\nrelayhost = \"x\"\n",
            ":7: smtp.relayhost: unknown key",
        ),
        ("[smtp]\ntls = \"none\"\n", ":7: smtp.tls"),
    ];
    for (tail, needle) in table {
        let c = conf(&scratch, &format!("{GOOD}{tail}"));
        let run = sendmail(&["-C", s(&c), "a@example.com"], b"x");
        run.expect(78);
        assert!(run.stderr.contains(needle), "{needle}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1);
    }
    let c = conf(
        &scratch,
        &GOOD.replace("user = \"alerts@contoso.com\"\n", ""),
    );
    let run = sendmail(&["-C", s(&c), "a@example.com"], b"x");
    run.expect(78);
    assert!(
        run.stderr.contains("missing required key user"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("Sup3r"), "never quote the secret");
}

#[test]
fn malformed_recipient_exits_65() {
    let scratch = Scratch::new("badrcpt");
    let c = conf(&scratch, GOOD);
    let run = sendmail(&["-C", s(&c), "a@x>\r\nRCPT TO:<evil@x"], b"x");
    run.expect(65);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

#[test]
fn full_name_with_a_newline_is_refused() {
    let scratch = Scratch::new("fname");
    let c = conf(&scratch, GOOD);
    sendmail(
        &[
            "-C",
            s(&c),
            "-F",
            "x\nBcc: evil@example.com",
            "a@example.com",
        ],
        b"x",
    )
    .expect(64);
}

#[test]
fn a_message_refused_before_sending_still_gets_its_syslog_line() {
    let scratch = Scratch::new("refused-log");
    let syslog = common::SyslogCapture::new(&scratch);
    let text = GOOD.replace(
        "syslog_socket = \"\"",
        &format!("syslog_socket = \"{}\"", syslog.path.display()),
    );
    let c = conf(&scratch, &text);
    sendmail(&["-C", s(&c), "a b@example.com"], b"Subject: x\n\nbody\n").expect(65);
    sendmail(&["-C", s(&c), "-t"], b"Subject: no recipients\n\nbody\n").expect(64);
    let lines = syslog.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains("outcome=failed") && lines[0].contains("exit=EX_DATAERR"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("outcome=failed") && lines[1].contains("exit=EX_USAGE"),
        "{}",
        lines[1]
    );
    assert!(
        lines.iter().all(|l| !l.contains("Sup3r")),
        "no secret in syslog"
    );
}
