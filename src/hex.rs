//! Bytes as hexadecimal text: Message-IDs, GUIDs, cache keys, thumbprints.

/// Lower case: identifiers and file names.
pub fn lower(bytes: &[u8]) -> String {
    encode(bytes, b"0123456789abcdef")
}

/// Upper case, no separators: how the Entra portal shows thumbprints.
pub fn upper(bytes: &[u8]) -> String {
    encode(bytes, b"0123456789ABCDEF")
}

fn encode(bytes: &[u8], digits: &[u8; 16]) -> String {
    let mut text = String::with_capacity(2 * bytes.len());
    for b in bytes {
        text.push(char::from(digits[usize::from(b >> 4)]));
        text.push(char::from(digits[usize::from(b & 0x0f)]));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_cases() {
        assert_eq!(lower(&[0x00, 0xab, 0x01, 0xff]), "00ab01ff");
        assert_eq!(upper(&[0x00, 0xab, 0x01, 0xff]), "00AB01FF");
        assert_eq!(lower(&[]), "");
    }
}
