//! Quoted local parts (`"first last"@example.com`) kept away from
//! mail-parser, which reads one as a display name and adds any comment
//! after the address to it (`"x y"@example.com (Ex)` would become the
//! address `"x y (Ex)"@example.com`): [`protect`] puts an atom in each
//! one's place before parsing, [`restore`] puts it back in the address
//! parsed. Pure functions.

/// The local part mail-parser is shown instead of the `n`th quoted one.
const QUOTED_STAND_IN: &str = "o2s-quoted-local-";

/// Replaces each quoted local part (`"first last"@`, outside comments)
/// in `raw` with an atom, and returns the quoted parts as written:
/// mail-parser reads a quoted local part as a display name and adds any
/// comment after the address to it (`"x y"@example.com (Ex)` would be the
/// address `"x y (Ex)"@example.com`), so it never sees one.
pub fn protect(raw: &[u8]) -> (Vec<u8>, Vec<String>) {
    let mut out = Vec::with_capacity(raw.len());
    let mut quoted = Vec::new();
    let mut i = 0;
    let mut comment = 0usize;
    while i < raw.len() {
        let b = raw[i];
        match b {
            b'\\' if comment > 0 => {
                out.extend_from_slice(&raw[i..(i + 2).min(raw.len())]);
                i += 2;
                continue;
            }
            b'(' => comment += 1,
            b')' => comment = comment.saturating_sub(1),
            b'"' if comment == 0 => {
                let mut end = i + 1;
                while end < raw.len() && raw[end] != b'"' {
                    end += if raw[end] == b'\\' { 2 } else { 1 };
                }
                if end < raw.len() && raw.get(end + 1) == Some(&b'@') {
                    let text: Vec<u8> = raw[i..=end]
                        .iter()
                        .copied()
                        .filter(|&c| c != b'\r' && c != b'\n')
                        .collect();
                    out.extend_from_slice(format!("{QUOTED_STAND_IN}{}", quoted.len()).as_bytes());
                    quoted.push(String::from_utf8_lossy(&text).into_owned());
                } else {
                    out.extend_from_slice(&raw[i..(end + 1).min(raw.len())]);
                }
                i = end + 1;
                continue;
            }
            _ => {}
        }
        out.push(b);
        i += 1;
    }
    (out, quoted)
}

/// `addr` with the quoted local part [`protect`] took out put back.
pub fn restore(addr: String, quoted: &[String]) -> String {
    let original = addr.rsplit_once('@').and_then(|(local, domain)| {
        let n: usize = local.strip_prefix(QUOTED_STAND_IN)?.parse().ok()?;
        Some(format!("{}@{domain}", quoted.get(n)?))
    });
    original.unwrap_or(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_local_parts_go_and_come_back() {
        let raw = br#"To: "x y"@e.com (Ex), "n" <"a\"b"@e.com>, "not local" (c "q"@x) <k@e.com>"#;
        let (out, quoted) = protect(raw);
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            r#"To: o2s-quoted-local-0@e.com (Ex), "n" <o2s-quoted-local-1@e.com>, "not local" (c "q"@x) <k@e.com>"#
        );
        assert_eq!(quoted, [r#""x y""#, r#""a\"b""#]);
        assert_eq!(
            restore("o2s-quoted-local-1@e.com".into(), &quoted),
            r#""a\"b"@e.com"#
        );
        assert_eq!(
            restore("o2s-quoted-local-7@e.com".into(), &quoted),
            "o2s-quoted-local-7@e.com"
        );
        assert_eq!(restore("k@e.com".into(), &quoted), "k@e.com");
    }
}
