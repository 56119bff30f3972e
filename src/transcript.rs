//! The `-v` transcript: every SMTP line in both directions and a summary of
//! the token request, on stderr, with credentials already redacted by the
//! code that reports them (commands render their own redacted form; token
//! notes never receive a secret). Off unless `-v` is given.

use std::io::Write;

use crate::smtp::reply::Reply;

/// Where transcript lines go.
pub struct Transcript {
    sink: Option<Box<dyn Write>>,
}

impl Transcript {
    /// No transcript.
    pub fn off() -> Self {
        Transcript { sink: None }
    }

    /// Whether lines are written anywhere (`-v`).
    pub fn is_on(&self) -> bool {
        self.sink.is_some()
    }

    /// Transcript on stderr.
    pub fn stderr() -> Self {
        Transcript {
            sink: Some(Box::new(std::io::stderr())),
        }
    }

    /// Transcript into any writer (tests).
    #[cfg(test)]
    pub fn to_writer(w: impl Write + 'static) -> Self {
        Transcript {
            sink: Some(Box::new(w)),
        }
    }

    fn line(&mut self, prefix: &str, text: &str) {
        if let Some(sink) = &mut self.sink {
            // A transcript that cannot be written must not stop the mail.
            let _ = writeln!(sink, "{prefix}{}", crate::error::one_line(text));
        }
    }

    /// A line the client sent (already redacted).
    pub fn client(&mut self, line: &str) {
        self.line("smtp> ", line);
    }

    /// A reply the server sent, line by line.
    pub fn server(&mut self, reply: &Reply) {
        if self.sink.is_none() {
            return;
        }
        let last = reply.lines.len().saturating_sub(1);
        for (i, text) in reply.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            self.line("smtp< ", &format!("{}{sep}{text}", reply.code));
        }
    }

    /// Any other event (connection, TLS, token).
    pub fn note(&mut self, text: &str) {
        self.line("* ", text);
    }
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
        t.server(&Reply {
            code: 250,
            lines: vec!["h".into(), "PIPELINING".into()],
        });
        t.note("connected\r\nto x");
        let text = String::from_utf8(shared.0.borrow().clone()).unwrap();
        assert_eq!(
            text,
            "smtp> EHLO h\nsmtp< 250-h\nsmtp< 250 PIPELINING\n* connected to x\n"
        );
        let mut off = Transcript::off();
        off.client("nothing");
    }
}
