//! A string that must never be shown: client secrets and access tokens.
//!
//! [`Secret`] has no `Display`, and its `Debug` prints `<redacted>`, so a
//! secret cannot reach stderr, syslog or a `-v` transcript by accident; the
//! few places that need the bytes (the token request form, the XOAUTH2
//! string, the cache file) call [`Secret::expose`] explicitly.

use std::fmt;

/// A secret value (client secret, access token, private key material).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the few places that must send or store it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Drop for Secret {
    /// Overwrites the bytes so a freed secret does not linger in memory
    /// (core dumps are disabled too, but defence in depth is cheap here).
    fn drop(&mut self) {
        std::hint::black_box(zero_in_place(&mut self.0));
    }
}

/// Zeroes a string's bytes without `unsafe`: `clear` keeps the buffer, so
/// refilling it with NULs overwrites the old bytes where they lie.
fn zero_in_place(s: &mut String) -> usize {
    let len = s.len();
    s.clear();
    s.extend(std::iter::repeat_n('\0', len));
    let n = s.len();
    s.clear();
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(&s)), "Some(<redacted>)");
        assert_eq!(s.expose(), "hunter2");
    }
}
