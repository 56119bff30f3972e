//! Address checks: whatever the checker accepts cannot break an SMTP
//! command line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth2_sendmail::address;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for addr in address::split_list(text)
        .iter()
        .map(String::as_str)
        .chain([text])
    {
        if address::check_recipient(addr).is_ok() {
            let command = format!("RCPT TO:<{addr}>\r\n");
            assert_eq!(command.matches("\r\n").count(), 1);
            assert_eq!(command.matches('<').count(), 1);
            assert_eq!(command.matches('>').count(), 1);
            let _ = address::qualify(addr, "example.com");
        }
    }
});
