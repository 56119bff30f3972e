//! Header block reader: never panics, respects its limit, and what it
//! consumed is exactly the fields plus the line that ended them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth2_sendmail::header;

fuzz_target!(|data: &[u8]| {
    let limit = 4096;
    let mut rest = data;
    if let Ok(block) = header::read_header_block(&mut rest, limit) {
        let consumed = &data[..data.len() - rest.len()];
        assert!(consumed.len() <= limit);
        let fields: Vec<u8> = block.fields.iter().flat_map(|f| f.raw.clone()).collect();
        if !data.starts_with(b"From ") {
            assert!(consumed.starts_with(&fields));
        }
        for f in &block.fields {
            let _ = f.value();
        }
    }
});
