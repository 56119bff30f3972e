//! CHUNKING through the real binary and the sandbox's Postfix, which
//! offers it: a small message goes as MAIL, RCPT and `BDAT n LAST` in one
//! flight and arrives byte for byte; a message too long for one flight
//! goes through DATA and arrives whole too.

use crate::common::sandbox::sandbox;
use crate::common::{Scratch, s, sendmail};

/// A message with everything an encoding could get wrong: lines that
/// start with dots, a lone dot (kept with -i), bare CR, 8-bit bytes, a
/// last line without its newline.
const TRICKY: &[u8] =
    b".leading dot\n..two dots\n.\nbare\rcr\r\n8bit: \xe9\xff\x80\nlast line without newline";
/// The body Postfix hands over (LF line ends).
const ARRIVES: &[u8] =
    b".leading dot\n..two dots\n.\nbare\ncr\n8bit: \xe9\xff\x80\nlast line without newline\n";

#[test]
fn a_small_message_goes_in_one_flight_and_arrives_byte_for_byte() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("chunking");
    let conf = sb.settings(&scratch).write(&scratch);
    let to = "chunking@example.com";
    let mut input = format!("To: {to}\nSubject: chunking\n\n").into_bytes();
    input.extend_from_slice(TRICKY);
    let run = sendmail(&["-C", s(&conf), "-v", "-i", "-t"], &input);
    run.expect(0);
    let transcript = &run.stderr;
    assert!(
        transcript.contains("CHUNKING"),
        "Postfix offers it: {transcript}"
    );
    let bdat = transcript
        .lines()
        .find(|l| l.contains("BDAT "))
        .unwrap_or_else(|| panic!("{transcript}"));
    assert!(bdat.ends_with(" LAST"), "{bdat}");
    assert!(
        !transcript.lines().any(|l| l.ends_with("DATA")),
        "{transcript}"
    );
    // MAIL, RCPT and BDAT are written before any of their replies is read.
    let client: Vec<&str> = transcript.lines().collect();
    let mail = client
        .iter()
        .position(|l| l.contains("MAIL FROM:"))
        .unwrap();
    let at_bdat = client.iter().position(|l| l.contains("BDAT ")).unwrap();
    assert!(
        client[mail..at_bdat].iter().all(|l| !l.contains(" 250")),
        "a reply between MAIL and BDAT: {transcript}"
    );
    let got = sb.wait_for_mail(to, 1);
    assert_eq!(
        got[0].body(),
        ARRIVES,
        "{:?}",
        String::from_utf8_lossy(got[0].body())
    );
}

#[test]
fn a_message_too_long_for_one_flight_goes_through_data_whole() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("chunking-long");
    let conf = sb.settings(&scratch).write(&scratch);
    let to = "chunking-long@example.com";
    let line = "0123456789abcdefghijklmnopqrstuvwxyz.0123456789abcdefghijklmnopqrstuvwxyz\n";
    let long = line.repeat(300 * 1024 / line.len());
    let mut input = format!("To: {to}\nSubject: long\n\n").into_bytes();
    input.extend_from_slice(long.as_bytes());
    input.extend_from_slice(TRICKY);
    let run = sendmail(&["-C", s(&conf), "-v", "-i", "-t"], &input);
    run.expect(0);
    assert!(
        run.stderr.lines().any(|l| l.ends_with("DATA")),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("BDAT"), "{}", run.stderr);
    let got = sb.wait_for_mail(to, 1);
    let mut want = long.into_bytes();
    want.extend_from_slice(ARRIVES);
    assert!(
        got[0].body() == want.as_slice(),
        "the long message arrived changed"
    );
}
