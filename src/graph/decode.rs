//! Base64 decoded as it is read: an attachment's body goes from the
//! spooled message to Graph a line at a time, its text never held whole.

use std::io::{BufRead, Read};

use base64::Engine as _;

/// The bytes of a base64 body, decoded as they are read: a line at a
/// time, so neither the text nor a whole range is ever held. A decoding
/// error ends the stream and is kept in `failure`.
pub struct Base64Decoder<R> {
    input: R,
    line: Vec<u8>,
    carry: Vec<u8>,
    out: Vec<u8>,
    at: usize,
    done: bool,
    /// Why decoding stopped early, if it did.
    pub failure: Option<base64::DecodeSliceError>,
}

impl<R: BufRead> Base64Decoder<R> {
    /// A decoder of the base64 text `input`.
    pub fn new(input: R) -> Self {
        Base64Decoder {
            input,
            line: Vec::with_capacity(256),
            carry: Vec::with_capacity(512),
            out: Vec::with_capacity(16 * 1024),
            at: 0,
            done: false,
            failure: None,
        }
    }

    /// Decodes more input into `out`; false at the end.
    fn fill(&mut self) -> std::io::Result<bool> {
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        self.out.clear();
        self.at = 0;
        while self.out.len() < 8 * 1024 && !self.done {
            self.line.clear();
            let n = self.input.read_until(b'\n', &mut self.line)?;
            self.done = n == 0;
            self.carry
                .extend(self.line.iter().filter(|b| !b.is_ascii_whitespace()));
            let whole = if self.done {
                self.carry.len()
            } else {
                self.carry.len() / 4 * 4
            };
            if whole == 0 {
                continue;
            }
            let at = self.out.len();
            self.out.resize(at + whole / 4 * 3 + 3, 0);
            match engine.decode_slice(&self.carry[..whole], &mut self.out[at..]) {
                Ok(got) => self.out.truncate(at + got),
                Err(e) => {
                    self.failure = Some(e);
                    self.done = true;
                    self.out.truncate(at);
                    return Err(std::io::Error::other("the attachment is not valid base64"));
                }
            }
            self.carry.drain(..whole);
        }
        Ok(!self.out.is_empty())
    }
}

impl<R: BufRead> Read for Base64Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.out.len() && !self.fill()? {
            return Ok(0);
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_line_by_line_across_reads() {
        use base64::Engine as _;
        let data: Vec<u8> = (0..100_003u32).map(|i| (i * 31 % 251) as u8).collect();
        let text = base64::engine::general_purpose::STANDARD.encode(&data);
        let mut wrapped = String::new();
        for line in text.as_bytes().chunks(76) {
            wrapped.push_str(std::str::from_utf8(line).unwrap());
            wrapped.push_str("\r\n");
        }
        let mut decoder = Base64Decoder::new(wrapped.as_bytes());
        let mut got = Vec::new();
        let mut first = vec![0u8; 1000];
        (&mut decoder).take(1000).read_exact(&mut first).unwrap();
        got.extend_from_slice(&first);
        decoder.read_to_end(&mut got).unwrap();
        assert!(got == data);
        let mut bad = Base64Decoder::new(&b"AAAA\r\n!!!!\r\n"[..]);
        assert!(bad.read_to_end(&mut Vec::new()).is_err());
        assert!(bad.failure.is_some());
    }
}
