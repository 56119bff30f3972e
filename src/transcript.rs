//! The `-v` transcript: every SMTP line in both directions and a summary of
//! the token request, on stderr, with credentials already redacted by the
//! code that reports them (commands render their own redacted form; token
//! notes never receive a secret). Off unless `-v` is given.

use std::io::Write;

/// Where transcript lines go.
pub struct Transcript {
    sink: Option<Box<dyn Write>>,
    /// Secrets a hostile server might echo back; replaced before printing.
    hidden: Vec<String>,
}

impl Transcript {
    /// No transcript.
    pub fn off() -> Self {
        Transcript {
            sink: None,
            hidden: Vec::new(),
        }
    }

    /// Whether lines are written anywhere (`-v`).
    pub fn is_on(&self) -> bool {
        self.sink.is_some()
    }

    /// Transcript on stderr.
    pub fn stderr() -> Self {
        Transcript {
            sink: Some(Box::new(std::io::stderr())),
            hidden: Vec::new(),
        }
    }

    /// Transcript into any writer (tests).
    #[cfg(test)]
    pub fn to_writer(w: impl Write + 'static) -> Self {
        Transcript {
            sink: Some(Box::new(w)),
            hidden: Vec::new(),
        }
    }

    fn line(&mut self, prefix: &str, text: &str) {
        if let Some(sink) = &mut self.sink {
            let text = redact(text, &self.hidden);
            // A transcript that cannot be written must not stop the mail.
            let _ = writeln!(sink, "{prefix}{}", crate::error::one_line(&text));
        }
    }

    /// Never print `secret` from now on, whoever sends it (a server that
    /// echoes the AUTH line back in an error reply, for one).
    pub fn hide(&mut self, secret: &str) {
        if secret.len() >= 8 && !self.hidden.iter().any(|h| h == secret) {
            self.hidden.push(secret.to_string());
        }
    }

    /// A line the client sent (already redacted).
    pub fn client(&mut self, line: &str) {
        self.line("smtp> ", line);
    }

    /// A reply the server sent, line by line. Code and lines rather than
    /// `smtp::reply::Reply`, so that `smtp` uses this module and not the
    /// other way round.
    pub fn server(&mut self, code: u16, lines: &[String]) {
        if self.sink.is_none() {
            return;
        }
        let last = lines.len().saturating_sub(1);
        for (i, text) in lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            self.line("smtp< ", &format!("{code}{sep}{text}"));
        }
    }

    /// Any other event (connection, TLS, token).
    pub fn note(&mut self, text: &str) {
        self.line("* ", text);
    }
}

/// `text` with every occurrence of each of `secrets` replaced by `<redacted>`
/// (secrets shorter than 8 bytes are no secrets worth the false matches).
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "<redacted>");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    #[derive(Clone, Default)]
    struct Shared(Rc<RefCell<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_and_prefixes() {
        let shared = Shared::default();
        let mut t = Transcript::to_writer(shared.clone());
        t.client("EHLO h");
        t.server(250, &["h".into(), "PIPELINING".into()]);
        t.note("connected\r\nto x");
        let text = String::from_utf8(shared.0.borrow().clone()).unwrap();
        assert_eq!(
            text,
            "smtp> EHLO h\nsmtp< 250-h\nsmtp< 250 PIPELINING\n* connected to x\n"
        );
        let mut off = Transcript::off();
        off.client("nothing");
    }

    #[test]
    fn hidden_secrets_are_redacted() {
        let shared = Shared::default();
        let mut t = Transcript::to_writer(shared.clone());
        t.hide("eyJ0eXAi.payload.sig");
        t.hide("short");
        t.server(501, &["bad token eyJ0eXAi.payload.sig, short".into()]);
        let text = String::from_utf8(shared.0.borrow().clone()).unwrap();
        assert_eq!(text, "smtp< 501 bad token <redacted>, short\n");
    }
}
