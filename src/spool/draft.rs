//! The copy of a message being sent live, kept in case it must be queued.
//!
//! The body streams from the caller to the server and is never held in
//! memory, so it cannot be read twice. A [`Draft`] is a file in the queue's
//! `tmp/` area that receives every byte as it is read ([`Tee`]): if the
//! server or the network fails halfway, the rest of the input is read into
//! it too, and the draft becomes a queued (or failed) message without the
//! caller having to hand it over again. A delivered message's draft is
//! removed without ever being flushed to disk. The draft holds its file's
//! lock for its whole life, so neither a cleanup nor a queue run touches
//! it before it is complete.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use super::caller;
use super::format::{self, Meta, State};
use super::store::{Area, Spool};
use crate::clock;

/// A message being written to the queue's `tmp/` area.
pub struct Draft {
    meta: Meta,
    path: PathBuf,
    writer: Option<BufWriter<File>>,
    size_field: u64,
    broken: Option<io::Error>,
}

impl Draft {
    /// Starts a draft for `meta` (its id and size are filled in here) and
    /// writes `header`, the message's first bytes.
    ///
    /// # Errors
    /// The file cannot be created or written.
    pub fn create(spool: &Spool, meta: Meta, header: &[u8]) -> io::Result<Draft> {
        let path = spool.path(Area::Temporary, &meta.id);
        let file = spool.create(&path)?;
        let mut draft = Draft {
            meta,
            path,
            writer: None,
            size_field: 0,
            broken: None,
        };
        file.try_lock().map_err(io::Error::from)?;
        let head = format::format_head(&draft.meta)
            .map_err(|c| io::Error::new(io::ErrorKind::InvalidInput, c.0))?;
        draft.size_field = format::size_field_offset(&head) as u64;
        let mut writer = BufWriter::with_capacity(64 * 1024, file);
        writer.write_all(&head)?;
        writer.write_all(header)?;
        draft.meta.size = header.len() as u64;
        draft.writer = Some(writer);
        Ok(draft)
    }

    /// Starts a draft for a new message: `meta` holds its envelope, and
    /// its queue id, arrival time and owner (the real caller) are set here.
    /// Creates the queue's areas first when they are missing.
    ///
    /// # Errors
    /// As [`Draft::create`], and the areas cannot be made.
    pub fn begin(spool: &Spool, mut meta: Meta, header: &[u8]) -> io::Result<Draft> {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        meta.id = format::new_queue_id(micros, clock::random_bytes());
        meta.arrival = clock::now();
        meta.uid = caller::real_uid();
        match Draft::create(spool, meta.clone(), header) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                spool.prepare()?;
                Draft::create(spool, meta, header)
            }
            other => other,
        }
    }

    /// The queue id.
    pub fn id(&self) -> &str {
        &self.meta.id
    }

    /// The file in `tmp/`.
    #[cfg(test)]
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Appends message bytes; the first failure (disk full) stops the copy
    /// and is reported by [`Draft::finish`], while the send goes on.
    fn append(&mut self, bytes: &[u8]) {
        if self.broken.is_some() {
            return;
        }
        if let Some(writer) = self.writer.as_mut() {
            match writer.write_all(bytes) {
                Ok(()) => self.meta.size += bytes.len() as u64,
                Err(e) => self.broken = Some(e),
            }
        }
    }

    /// Completes the file: records the size in the head and makes it durable.
    ///
    /// # Errors
    /// The first write error, or that of the flush or fsync.
    pub fn finish(&mut self) -> io::Result<()> {
        // The failure sticks: a draft that missed bytes is never complete.
        if let Some(e) = &self.broken {
            return Err(match e.raw_os_error() {
                Some(code) => io::Error::from_raw_os_error(code),
                None => io::Error::new(e.kind(), e.to_string()),
            });
        }
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| io::Error::other("the draft was already finished"))?;
        writer.flush()?;
        let file = writer.get_mut();
        file.seek(SeekFrom::Start(self.size_field))?;
        file.write_all(&format::size_field(self.meta.size))?;
        file.sync_all()
    }

    /// Completes the draft and puts it in the queue (`area` is
    /// [`Area::Messages`]) or in `failed/` (with `state` as the reason),
    /// durably. The state goes first: a crash in between leaves a stray
    /// state file, never a message without its record of recipients done.
    /// A queued message whose state is still fresh ([`State::is_fresh`]:
    /// `-odb`, `-odq`, a message held by `[limits]`) gets no state file,
    /// since a missing one reads the same: two fsyncs fewer (the file's
    /// and its directory's) on the path a caller waits for.
    ///
    /// # Errors
    /// The I/O error; nothing is in `area` then.
    pub fn keep(&mut self, spool: &Spool, state: &State, area: Area) -> io::Result<()> {
        self.finish()?;
        let id = self.meta.id.clone();
        let record = match area {
            Area::Failed => Some(spool.path(Area::Failed, &format!("{id}.reason"))),
            _ if state.is_fresh(clock::now()) => None,
            _ => Some(spool.path(Area::States, &id)),
        };
        if let Some(record) = &record {
            spool.write_atomic(record, format::format_state(state).as_bytes())?;
        }
        spool.publish(&self.path, area, &id).inspect_err(|_| {
            if let Some(record) = &record {
                let _ = std::fs::remove_file(record);
            }
        })
    }
}

impl Drop for Draft {
    /// The temporary name always goes; a queued draft lives on under the
    /// name it was linked to. The lock goes with the file, after the name.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A reader that copies what it reads into a draft.
pub struct Tee<'a> {
    inner: &'a mut dyn Read,
    draft: Option<&'a mut Draft>,
}

impl<'a> Tee<'a> {
    /// Reads from `inner`, copying into `draft` when there is one.
    pub fn new(inner: &'a mut dyn Read, draft: Option<&'a mut Draft>) -> Self {
        Tee { inner, draft }
    }

    /// Reads the input to its end (into the draft): what the server did
    /// not take must still be kept.
    ///
    /// # Errors
    /// Reading the input failed.
    pub fn drain(&mut self) -> io::Result<()> {
        io::copy(self, &mut io::sink()).map(drop)
    }
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(draft) = self.draft.as_deref_mut() {
            draft.append(&buf[..n]);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::format::{new_queue_id, parse_head};

    #[test]
    fn a_draft_holds_header_and_body_and_its_size() {
        let dir = crate::testing::TempDir::new("draft");
        let spool = Spool::new(dir.path());
        spool.prepare().unwrap();
        let meta = Meta {
            id: new_queue_id(5, [1; 8]),
            arrival: 5,
            sender: "s@x".into(),
            recipients: vec!["r@x".into()],
            ..Meta::default()
        };
        let body = vec![b'x'; 300_000];
        let mut draft = Draft::create(&spool, meta, b"Subject: t\n\nfirst ").unwrap();
        let mut input: &[u8] = &body;
        let mut tee = Tee::new(&mut input, Some(&mut draft));
        let mut some = [0u8; 1000];
        tee.read_exact(&mut some).unwrap();
        tee.drain().unwrap();
        draft.finish().unwrap();
        let bytes = std::fs::read(draft.path()).unwrap();
        let (meta, start) = parse_head(&bytes, bytes.len() as u64).unwrap();
        assert_eq!(meta.size, 300_000 + 18);
        assert!(bytes[start..].starts_with(b"Subject: t\n\nfirst xxx"));
        spool
            .publish(draft.path(), Area::Messages, &meta.id)
            .unwrap();
        let path = draft.path().to_path_buf();
        drop(draft);
        assert!(!path.exists(), "the temporary name is gone");
        assert!(spool.path(Area::Messages, &meta.id).exists());
    }

    #[test]
    fn a_full_disk_stops_the_copy_but_not_the_send() {
        let dir = crate::testing::TempDir::new("draft-full");
        let spool = Spool::new(dir.path());
        spool.prepare().unwrap();
        let meta = Meta {
            id: new_queue_id(6, [2; 8]),
            recipients: vec!["r@x".into()],
            ..Meta::default()
        };
        let mut draft = Draft::create(&spool, meta, b"Subject: t\n\n").unwrap();
        // Every write to /dev/full fails with ENOSPC, as on a full disk.
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        draft.writer = Some(BufWriter::with_capacity(1024, full));
        let body = vec![b'y'; 200_000];
        let mut input: &[u8] = &body;
        let mut sent = Vec::new();
        Tee::new(&mut input, Some(&mut draft))
            .read_to_end(&mut sent)
            .unwrap();
        assert_eq!(sent, body, "the reader still hands over every byte");
        let e = draft.finish().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(28), "ENOSPC: {e}");
        let state = State::default();
        assert!(draft.keep(&spool, &state, Area::Messages).is_err());
        assert!(
            spool.ids().unwrap().0.is_empty(),
            "nothing half-written is queued"
        );
    }

    /// A fresh state needs no file (a missing one reads the same); one
    /// with an attempt or a settled recipient is written before the
    /// message is published.
    #[test]
    fn only_a_state_that_says_something_is_written() {
        let dir = crate::testing::TempDir::new("draft-state");
        let spool = Spool::new(dir.path());
        spool.prepare().unwrap();
        let tried = State {
            attempts: 1,
            next_attempt: u64::MAX,
            ..State::default()
        };
        let settled = State {
            delivered: vec!["a@x".into()],
            ..State::default()
        };
        let later = State {
            next_attempt: u64::MAX,
            ..State::default()
        };
        for (n, state, file) in [
            (1, State::default(), false),
            (2, tried, true),
            (3, settled, true),
            (4, later, true),
        ] {
            let meta = Meta {
                id: new_queue_id(n, [3; 8]),
                recipients: vec!["a@x".into(), "b@x".into()],
                ..Meta::default()
            };
            let id = meta.id.clone();
            let mut draft = Draft::create(&spool, meta, b"Subject: s\n\n").unwrap();
            draft.keep(&spool, &state, Area::Messages).unwrap();
            assert!(spool.path(Area::Messages, &id).exists());
            assert_eq!(spool.path(Area::States, &id).exists(), file, "{state:?}");
            assert_eq!(
                spool.read_state(&id).unwrap(),
                if file { state } else { State::default() }
            );
        }
    }
}
