//! What a server offers, from its EHLO reply (RFC 5321 §4.1.1.1).
//!
//! Keywords are matched case-insensitively (servers vary), and `AUTH=`
//! lines are read like `AUTH` ones: some old servers still send them.

use super::reply::Reply;

/// The extensions this client uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// STARTTLS (RFC 3207).
    pub starttls: bool,
    /// PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// CHUNKING (RFC 3030): BDAT.
    pub chunking: bool,
    /// SIZE (RFC 1870): `Some(limit)`, where 0 means no fixed limit.
    pub size: Option<u64>,
    /// 8BITMIME (RFC 6152).
    pub eight_bit_mime: bool,
    /// DSN (RFC 3461).
    pub dsn: bool,
    /// SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// ENHANCEDSTATUSCODES (RFC 2034).
    pub enhanced_status_codes: bool,
    /// SASL mechanisms from AUTH lines, upper-cased.
    pub auth: Vec<String>,
}

impl Capabilities {
    /// Reads the capabilities from an EHLO reply; the first line is the greeting.
    pub fn from_ehlo(reply: &Reply) -> Self {
        let mut caps = Capabilities::default();
        for line in reply.lines.iter().skip(1) {
            let upper = line.to_ascii_uppercase();
            let mut words = upper.split_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            match keyword {
                "STARTTLS" => caps.starttls = true,
                "PIPELINING" => caps.pipelining = true,
                "CHUNKING" => caps.chunking = true,
                "8BITMIME" => caps.eight_bit_mime = true,
                "DSN" => caps.dsn = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "ENHANCEDSTATUSCODES" => caps.enhanced_status_codes = true,
                "SIZE" => caps.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
                "AUTH" => caps.auth.extend(words.map(str::to_string)),
                k if k.starts_with("AUTH=") => {
                    caps.auth.push(k["AUTH=".len()..].to_string());
                    caps.auth.extend(words.map(str::to_string));
                }
                _ => {}
            }
        }
        caps.auth.dedup();
        caps
    }

    /// Whether the server offers SASL `mechanism`.
    pub fn offers_auth(&self, mechanism: &str) -> bool {
        self.auth.iter().any(|m| m.eq_ignore_ascii_case(mechanism))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(lines: &[&str]) -> Capabilities {
        Capabilities::from_ehlo(&Reply {
            code: 250,
            lines: lines.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn exchange_before_and_after_tls() {
        let before = caps(&[
            "XXXXPR01CA0005.outlook.office365.com Hello [192.0.2.1]",
            "SIZE 157286400",
            "PIPELINING",
            "DSN",
            "ENHANCEDSTATUSCODES",
            "STARTTLS",
            "8BITMIME",
            "BINARYMIME",
            "CHUNKING",
            "SMTPUTF8",
        ]);
        assert!(before.starttls && before.pipelining && before.dsn && before.eight_bit_mime);
        assert!(before.smtputf8 && before.enhanced_status_codes);
        assert_eq!(before.size, Some(157_286_400));
        assert!(!before.offers_auth("XOAUTH2"));
        let after = caps(&["host", "AUTH LOGIN XOAUTH2", "SIZE"]);
        assert!(after.offers_auth("xoauth2") && after.offers_auth("LOGIN"));
        assert_eq!(after.size, Some(0));
        assert!(!after.starttls);
    }

    #[test]
    fn case_and_old_syntax() {
        let c = caps(&["host", "starttls", "auth=xoauth2 plain", "Pipelining"]);
        assert!(c.starttls && c.pipelining);
        assert!(c.offers_auth("XOAUTH2") && c.offers_auth("PLAIN"));
        // The greeting line is never a keyword.
        assert!(!caps(&["STARTTLS"]).starttls);
    }
}
