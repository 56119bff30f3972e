//! The sendmail command line: never panics, and whatever follows `--` is
//! exactly the recipients, whatever options come before it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth2_sendmail::cli;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // NUL separates arguments; a second NUL-NUL separates recipients.
    let (options, recipients) = text.split_once("\0\0").unwrap_or((text, ""));
    let mut argv: Vec<String> = vec!["sendmail".into()];
    argv.extend(
        options
            .split('\0')
            .filter(|a| !a.is_empty())
            .map(String::from),
    );
    let _ = cli::parse(argv.clone());
    let recipients: Vec<String> = recipients.split('\0').map(String::from).collect();
    argv.push("--".into());
    argv.extend(recipients.iter().cloned());
    if let Ok(inv) = cli::parse(argv.clone()) {
        // Options may legitimately consume "--" as a value (-f --), so only
        // when "--" itself ended the options must the tail be the recipients.
        if options
            .split('\0')
            .all(|a| !a.is_empty() && !a.starts_with('-'))
        {
            let mut want: Vec<String> = options.split('\0').map(String::from).collect();
            want.extend(recipients);
            assert_eq!(inv.recipients, want);
        }
    }
});
