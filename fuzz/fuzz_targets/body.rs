//! DATA encoding: the wire form unstuffs back to the input (line ends as
//! CRLF), ends only at its end, and does not depend on chunking; the
//! lone-dot filter only drops a suffix.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth2_sendmail::body;

fn encode(input: &[u8], cut: usize) -> Vec<u8> {
    let mut e = body::DataEncoder::new();
    let mut out = Vec::new();
    e.encode(&input[..cut], &mut out);
    e.encode(&input[cut..], &mut out);
    e.finish(&mut out);
    out
}

fuzz_target!(|data: &[u8]| {
    let cut = data
        .first()
        .map_or(0, |b| usize::from(*b) % (data.len() + 1));
    let wire = encode(data, cut);
    assert_eq!(wire, encode(data, 0));
    // Unstuff as a server would, up to the lone dot.
    let mut out = Vec::new();
    let mut pos = 0;
    let mut ended = false;
    while let Some(i) = wire[pos..].windows(2).position(|w| w == b"\r\n") {
        let line = &wire[pos..pos + i];
        pos += i + 2;
        if line == b"." {
            ended = true;
            break;
        }
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        out.extend_from_slice(b"\r\n");
    }
    assert!(ended && pos == wire.len());
    let mut dots = body::DotEnd::default();
    let mut kept = Vec::new();
    if !dots.feed(data, &mut kept) {
        dots.finish();
    }
    assert!(data.starts_with(&kept));
});
