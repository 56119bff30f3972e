//! Reading the caller's message for Graph: the header fitted to the
//! envelope (`mime::fit_recipients`), line ends made CRLF, and the whole
//! held in memory when it fits one `sendMail` request ([`MAX_MIME`]), else
//! spooled to an unlinked temporary file for the upload path, so memory
//! stays flat whatever the size.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use super::mime;
use crate::error::{Error, Kind, Result, io_reason};
use crate::header;

/// Largest message (after the header rewrite, CRLF line ends) that goes in
/// one `sendMail`: its base64 is 4 MiB, Graph's request limit.
pub const MAX_MIME: usize = 3 * 1024 * 1024;

/// Octets held in memory while reading before the message goes to a file.
const SPILL: usize = 256 * 1024;

/// The message as Graph gets it.
pub enum Mime {
    /// Small enough for one request.
    Small(Vec<u8>),
    /// Larger: in a temporary file (already unlinked), this many octets.
    Large(File, u64),
}

/// Reads the message (`head` then `body`) for `recipients`.
///
/// # Errors
/// [`Kind::Input`] when reading fails, [`Kind::Data`] for a header that is
/// too large, [`Kind::CantCreate`] when no temporary file can be made.
pub fn read(recipients: &[String], head: &[u8], body: &mut dyn Read) -> Result<Mime> {
    let mut input = BufReader::new(head.chain(body));
    let block = header::read_header_block(&mut input, header::MAX_HEADER_BLOCK)?;
    let fitted = mime::fit_recipients(&block, recipients);
    let mut out = Vec::with_capacity(fitted.len() + SPILL);
    let mut last_cr = false;
    mime::push_crlf(&fitted, &mut last_cr, &mut out);
    let reading = |e: std::io::Error| {
        Error::new(
            Kind::Input,
            format!("reading the message failed: {}", io_reason(&e)),
        )
    };
    while out.len() <= SPILL {
        let chunk = input.fill_buf().map_err(reading)?;
        if chunk.is_empty() {
            return Ok(Mime::Small(out));
        }
        let n = chunk.len().min(SPILL);
        mime::push_crlf(&chunk[..n], &mut last_cr, &mut out);
        input.consume(n);
    }
    // Past SPILL octets the message goes to a file as it is read, so that
    // a large one never sits in memory; one that ends up fitting a request
    // is read back whole.
    let spool = |e: std::io::Error| {
        Error::new(
            Kind::CantCreate,
            format!(
                "cannot hold a large message for Graph in a temporary file in {}: {}",
                std::env::temp_dir().display(),
                io_reason(&e)
            ),
        )
    };
    let file = temporary_file().map_err(spool)?;
    let mut writer = BufWriter::with_capacity(64 * 1024, file);
    writer.write_all(&out).map_err(spool)?;
    let mut total = out.len() as u64;
    out = Vec::with_capacity(96 * 1024);
    loop {
        let chunk = input.fill_buf().map_err(reading)?;
        if chunk.is_empty() {
            break;
        }
        let n = chunk.len().min(32 * 1024);
        out.clear();
        mime::push_crlf(&chunk[..n], &mut last_cr, &mut out);
        input.consume(n);
        writer.write_all(&out).map_err(spool)?;
        total += out.len() as u64;
    }
    let mut file = writer.into_inner().map_err(|e| spool(e.into_error()))?;
    file.seek(SeekFrom::Start(0)).map_err(spool)?;
    if total <= MAX_MIME as u64 {
        let mut whole = Vec::with_capacity(total as usize);
        file.read_to_end(&mut whole).map_err(spool)?;
        return Ok(Mime::Small(whole));
    }
    Ok(Mime::Large(file, total))
}

/// A new file only this process can reach: created exclusively, mode
/// 0600, and unlinked at once (it lives as long as the descriptor).
fn temporary_file() -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = std::env::temp_dir();
    for _ in 0..8 {
        let name = dir.join(format!(
            ".oauth2-sendmail-graph-{}-{}",
            std::process::id(),
            crate::hex::lower(&crate::clock::random_bytes())
        ));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&name)
        {
            Ok(file) => {
                std::fs::remove_file(&name)?;
                return Ok(file);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free temporary file name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(m: Mime) -> Vec<u8> {
        match m {
            Mime::Small(v) => v,
            Mime::Large(..) => panic!("large"),
        }
    }

    #[test]
    fn mime_is_crlf_with_fitted_recipients() {
        let rcpt = vec!["b@y.test".to_string()];
        let mime = small(
            read(
                &rcpt,
                b"To: b@y.test\nSubject: s\n\n",
                &mut &b"one\ntwo\n"[..],
            )
            .unwrap(),
        );
        assert_eq!(mime, b"To: b@y.test\r\nSubject: s\r\n\r\none\r\ntwo\r\n");
        // The queue hands over the whole message as the body.
        let mime = small(read(&rcpt, b"", &mut &b"To: c@y.test\n\nhi\n"[..]).unwrap());
        assert_eq!(
            mime,
            b"To: undisclosed-recipients:;\r\nBcc: b@y.test\r\n\r\nhi\r\n"
        );
    }

    #[test]
    fn a_message_past_the_spill_size_that_fits_a_request_comes_back_whole() {
        let body = "x".repeat(SPILL * 3);
        let got = small(
            read(
                &["b@y.test".into()],
                b"To: b@y.test\n\n",
                &mut body.as_bytes(),
            )
            .unwrap(),
        );
        assert_eq!(got.len(), "To: b@y.test\r\n\r\n".len() + body.len());
        assert!(got.ends_with(b"xxx"));
    }

    #[test]
    fn a_large_message_goes_to_a_file_whole() {
        let mut big = b"To: b@y.test\n\n".to_vec();
        for i in 0..(MAX_MIME / 10) {
            big.extend_from_slice(format!("{:09}\n", i % 1_000_000_000).as_bytes());
        }
        let Mime::Large(mut file, len) = read(&["b@y.test".into()], b"", &mut &big[..]).unwrap()
        else {
            panic!("small");
        };
        let mut got = Vec::new();
        file.read_to_end(&mut got).unwrap();
        assert_eq!(got.len() as u64, len);
        let want: Vec<u8> = String::from_utf8(big)
            .unwrap()
            .replace('\n', "\r\n")
            .into_bytes();
        assert_eq!(got, want);
    }
}
