//! Property tests for everything that parses input a stranger controls:
//! SMTP replies, the message header, addresses, the DATA encoding and the
//! command line. Each property holds for any input; the case budget is
//! fixed so CI time stays small (the table tests in each module pin the
//! exact behaviour, these look for what the tables did not think of).

use proptest::prelude::*;

use crate::address;
use crate::body::{DataEncoder, DotEnd};
use crate::cli;
use crate::header;
use crate::smtp::reply::try_parse_reply;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Bytes biased towards what the parsers look at: about a third of them
/// line ends, dots, colons, spaces, dashes, digits or NUL. (A byte-wise
/// `prop_oneof!` would be far slower to generate in a debug build.)
fn wire_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    const INTERESTING: &[u8] = b"\n\r.: -2\0\n\r.";
    prop::collection::vec(any::<u8>(), 0..max).prop_map(|bytes| {
        bytes
            .into_iter()
            .map(|b| match b {
                0x80..=0xd7 => INTERESTING[usize::from(b) % INTERESTING.len()],
                b => b,
            })
            .collect()
    })
}

// ---- SMTP replies -----------------------------------------------------------

/// A reply as a server sends it: code, lines, and the line end used.
fn rendered_reply() -> impl Strategy<Value = (u16, Vec<String>, &'static str)> {
    (
        200u16..600,
        prop::collection::vec("[ -~]{0,40}", 1..6),
        prop_oneof![Just("\r\n"), Just("\n")],
    )
}

fn render(code: u16, lines: &[String], end: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, text) in lines.iter().enumerate() {
        let sep = if i + 1 == lines.len() { ' ' } else { '-' };
        out.extend_from_slice(format!("{code}{sep}{text}{end}").as_bytes());
    }
    out
}

/// The text `try_parse_reply` gives back for a rendered line.
fn expected_text(text: &str, end: &str) -> String {
    // A CR at the end of the text melts into an LF line end.
    if end == "\n" {
        text.strip_suffix('\r').unwrap_or(text).to_string()
    } else {
        text.to_string()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn reply_parser_never_panics_and_stays_in_bounds(input in wire_bytes(600)) {
        if let Ok(Some((used, reply))) = try_parse_reply(&input) {
            prop_assert!(used > 0 && used <= input.len());
            prop_assert!((200..600).contains(&reply.code));
            prop_assert!(!reply.lines.is_empty());
            prop_assert_eq!(input[used - 1], b'\n');
        }
    }

    #[test]
    fn a_rendered_reply_parses_back_and_its_prefixes_need_more(
        (code, lines, end) in rendered_reply(),
        tail in wire_bytes(40),
    ) {
        let bytes = render(code, &lines, end);
        for cut in 0..bytes.len() {
            prop_assert_eq!(try_parse_reply(&bytes[..cut]), Ok(None));
        }
        let mut with_tail = bytes.clone();
        with_tail.extend_from_slice(&tail);
        let (used, reply) = try_parse_reply(&with_tail).unwrap().unwrap();
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(reply.code, code);
        let want: Vec<String> = lines.iter().map(|l| expected_text(l, end)).collect();
        prop_assert_eq!(reply.lines, want);
    }
}

// ---- the message header -----------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn header_reader_accounts_for_every_byte(input in wire_bytes(800), limit in 16usize..1000) {
        prop_assume!(!input.starts_with(b"From "));
        let mut rest = &input[..];
        match header::read_header_block(&mut rest, limit) {
            Err(e) => {
                prop_assert_eq!(e.exit_code(), 65);
                prop_assert!(input.len() > limit);
            }
            Ok(block) => {
                let consumed = &input[..input.len() - rest.len()];
                prop_assert!(consumed.len() <= limit);
                // Line ends are normalised, never moved: on the wire (where
                // a bare CR ends a line too) the block reads as the input.
                let wire = |bytes: &[u8]| {
                    let mut out = Vec::new();
                    let mut encoder = crate::body::DataEncoder::new();
                    encoder.encode(bytes, &mut out);
                    encoder.finish(&mut out);
                    out
                };
                let mut fields: Vec<u8> = block.fields.iter().flat_map(|f| f.raw.clone()).collect();
                if block.body_start.is_empty() {
                    let with_blank = [&fields[..], b"\n"].concat();
                    prop_assert!(wire(consumed) == wire(&fields) || wire(consumed) == wire(&with_blank), "{:?}", consumed);
                } else {
                    fields.extend_from_slice(&block.body_start);
                    prop_assert_eq!(wire(consumed), wire(&fields));
                }
                for field in &block.fields {
                    prop_assert!(!field.name.is_empty());
                    prop_assert!(field.name.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b':'));
                }
            }
        }
    }
}

// ---- addresses --------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn an_accepted_address_cannot_break_an_smtp_command(addr in "\\PC{0,30}|[\\x00-\\x7f]{0,30}|\"[ -~\\t]{0,12}\"@[a-z.]{1,8}") {
        if address::check_recipient(&addr).is_ok() {
            prop_assert!(!addr.chars().any(|c| c.is_control() || c == '<' || c == '>'));
            // White space only as a space inside a quoted local part.
            let (local, domain) = addr.rsplit_once('@').unwrap_or((&addr, ""));
            prop_assert!(!domain.contains(char::is_whitespace));
            prop_assert!(!local.contains(char::is_whitespace) || (local.starts_with('"') && local.ends_with('"')));
            let command = format!("RCPT TO:<{addr}>\r\n");
            prop_assert_eq!(command.matches("\r\n").count(), 1);
            prop_assert_eq!(command.matches('<').count(), 1);
            prop_assert_eq!(command.matches('>').count(), 1);
        }
    }

    #[test]
    fn split_lists_yield_only_what_the_checker_then_judges(arg in "[ -~\\t\\r\\n]{0,60}") {
        for piece in address::split_list(&arg) {
            prop_assert!(!piece.is_empty());
            prop_assert_eq!(piece.trim(), piece.as_str());
            let _ = address::check_recipient(&piece);
        }
    }

    #[test]
    fn ordinary_addresses_are_accepted(
        local in "[a-z0-9][a-z0-9._+-]{0,20}",
        domain in "[a-z0-9]{1,10}(\\.[a-z0-9]{1,10}){1,3}",
    ) {
        let addr = format!("{local}@{domain}");
        prop_assert_eq!(address::check_recipient(&addr), Ok(()));
        prop_assert_eq!(address::check_mailbox(&addr), Ok(()));
    }
}

// ---- the DATA encoding ------------------------------------------------------

fn encode_in_pieces(input: &[u8], cut: usize) -> Vec<u8> {
    let cut = cut.min(input.len());
    let mut encoder = DataEncoder::new();
    let mut out = Vec::new();
    encoder.encode(&input[..cut], &mut out);
    encoder.encode(&input[cut..], &mut out);
    encoder.finish(&mut out);
    out
}

/// What a receiving server does: lines up to the lone dot, one leading
/// dot removed from each. `None` if the data never ends.
fn unstuff(wire: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < wire.len() {
        let end = wire[pos..].windows(2).position(|w| w == b"\r\n")? + pos;
        let line = &wire[pos..end];
        pos = end + 2;
        if line == b"." {
            return Some((out, pos));
        }
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        out.extend_from_slice(b"\r\n");
    }
    None
}

/// Every line end as CRLF, and a final one.
fn normalise(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if input.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn dot_stuffing_round_trips_and_ends_only_at_the_end(input in wire_bytes(800), cut in 0usize..800) {
        let wire = encode_in_pieces(&input, cut);
        prop_assert_eq!(&wire, &encode_in_pieces(&input, 0), "chunking changed the output");
        let (data, used) = unstuff(&wire).expect("the data ends");
        prop_assert_eq!(used, wire.len(), "the data ended early: injection");
        prop_assert_eq!(data, normalise(&input));
        // No bare CR or LF leaves: every CR is followed by LF and vice versa.
        for (i, b) in wire.iter().enumerate() {
            if *b == b'\r' { prop_assert_eq!(wire.get(i + 1), Some(&b'\n')); }
            if *b == b'\n' { prop_assert!(i > 0 && wire[i - 1] == b'\r'); }
        }
    }

    #[test]
    fn the_lone_dot_filter_only_ever_drops_a_suffix(input in wire_bytes(800), cut in 0usize..800) {
        let cut = cut.min(input.len());
        let mut filter = DotEnd::default();
        let mut out = Vec::new();
        let ended = filter.feed(&input[..cut], &mut out) || filter.feed(&input[cut..], &mut out);
        let _ = ended || filter.finish();
        prop_assert!(input.starts_with(&out), "kept bytes are a prefix of the input");
    }
}

// ---- the command line -------------------------------------------------------

/// One command-line item before the recipients.
#[derive(Clone, Debug)]
enum Item {
    /// An option taking a value, given separately (`-f VALUE`).
    Separate(char, String),
    /// The same, glued (`-fVALUE`).
    Glued(char, String),
    /// A flag.
    Flag(&'static str),
}

fn item() -> impl Strategy<Value = Item> {
    let with_value = prop::sample::select(vec![
        'f', 'r', 'F', 'C', 'N', 'R', 'V', 'B', 'o', 'O', 'L', 'X', 'h', 'A', 'e',
    ]);
    // Values that look like recipients, options, "--", or anything at all.
    let value = prop_oneof![
        Just("--".to_string()),
        Just("-t".to_string()),
        Just("a@example.com".to_string()),
        "-[a-z]{1,5}",
        "[^\\x00]{0,12}",
    ];
    prop_oneof![
        (with_value.clone(), value.clone()).prop_map(|(c, v)| Item::Separate(c, v)),
        (with_value, "[^\\x00]{1,12}").prop_map(|(c, v)| Item::Glued(c, v)),
        prop::sample::select(vec![
            "-t", "-i", "-v", "-G", "-U", "-m", "-n", "-x", "-c", "-ti"
        ])
        .prop_map(Item::Flag),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn no_option_value_ever_becomes_a_recipient(
        items in prop::collection::vec(item(), 0..8),
        recipients in prop::collection::vec("[^\\x00]{0,20}", 0..4),
    ) {
        let mut argv = vec!["sendmail".to_string()];
        for item in &items {
            match item {
                Item::Separate(c, v) => {
                    argv.push(format!("-{c}"));
                    argv.push(v.clone());
                }
                Item::Glued(c, v) => argv.push(format!("-{c}{v}")),
                Item::Flag(f) => argv.push((*f).to_string()),
            }
        }
        argv.push("--".to_string());
        argv.extend(recipients.iter().cloned());
        let invocation = cli::parse(argv.clone()).map_err(|e| TestCaseError::fail(format!("{argv:?}: {e}")))?;
        prop_assert_eq!(&invocation.recipients, &recipients, "{:?}", argv);
    }
}

// ---- the -bs end of DATA ------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// Only `<CRLF>.<CRLF>` ends DATA (the 354 counts as a line end): the
    /// reader stops right after the first one and nowhere else, whatever
    /// mix of bare CR, bare LF and dots comes before it.
    #[test]
    fn dot_reader_ends_only_at_crlf_dot_crlf(
        data in prop::collection::vec(prop::sample::select(vec![b'\r', b'\n', b'.', b'a']), 0..40)
    ) {
        use std::io::Read;
        let input = [&data[..], b"\r\n.\r\nNEXT"].concat();
        let seen = [&b"\r\n"[..], &input[..]].concat();
        let first = seen
            .windows(5)
            .position(|w| w == b"\r\n.\r\n")
            .expect("the input ends with one");
        let mut source = std::io::BufReader::with_capacity(3, &input[..]);
        let mut message = Vec::new();
        crate::smtp::dot_reader::DotReader::new(&mut source)
            .read_to_end(&mut message)
            .unwrap();
        let mut rest = Vec::new();
        source.read_to_end(&mut rest).unwrap();
        prop_assert_eq!(input.len() - rest.len(), first + 3);
    }
}
