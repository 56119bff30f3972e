//! SMTP reply parser: never panics, never claims more bytes than it got,
//! and a reply it accepts has a valid code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth2_sendmail::smtp::reply;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((used, r))) = reply::try_parse_reply(data) {
        assert!(used > 0 && used <= data.len());
        assert!((200..600).contains(&r.code));
        assert!(!r.lines.is_empty());
        let _ = r.enhanced_code();
        let _ = r.to_string();
    }
});
