//! SMTP reply parser: never panics, never claims more bytes than it got,
//! and a reply it accepts has a valid code.
#![no_main]
#![allow(dead_code)]

#[path = "../../src/smtp/reply.rs"]
mod reply;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((used, r))) = reply::try_parse_reply(data) {
        assert!(used > 0 && used <= data.len());
        assert!((200..600).contains(&r.code));
        assert!(!r.lines.is_empty());
        let _ = r.enhanced_code();
        let _ = r.to_string();
    }
});
