//! Helpers for the queue tests: a scratch queue with its own syslog
//! socket, configurations aimed at Postfix, the scripted peer or a closed
//! port, numbered messages, and looks into the queue's areas.

use std::fs;
use std::path::{Path, PathBuf};

use super::fake_smtp::{Behaviour, sandbox_identity};
use super::sandbox::sandbox;
use super::{Run, Scratch, Settings, SyslogCapture, s, sendmail};

/// Where a configuration sends mail.
#[derive(Clone, Copy)]
pub enum Target {
    /// The sandbox's Postfix.
    Postfix,
    /// A scripted peer on this port.
    Fake(u16),
    /// A port nobody listens on: every send fails temporarily.
    Closed,
}

/// A test's scratch directory with a queue and a syslog socket in it.
pub struct Setup {
    pub scratch: Scratch,
    pub queue: PathBuf,
    pub syslog: SyslogCapture,
}

impl Setup {
    pub fn new(name: &str) -> Setup {
        let scratch = Scratch::new(name);
        let queue = scratch.join("queue");
        let syslog = SyslogCapture::new(&scratch);
        Setup {
            scratch,
            queue,
            syslog,
        }
    }

    /// Writes configuration `name` for `target`, with `queue_keys` (TOML
    /// lines) after the queue's `dir`.
    pub fn config(&self, name: &str, target: Target, queue_keys: &str) -> PathBuf {
        let mut settings = match target {
            Target::Postfix => sandbox().settings(&self.scratch),
            Target::Fake(port) => sandbox().peer_settings(&self.scratch, port),
            Target::Closed => Settings {
                port: closed_port(),
                ..sandbox().settings(&self.scratch)
            },
        };
        settings.syslog_socket = Some(self.syslog.path.clone());
        settings.extra = format!(
            "\n[queue]\ndir = \"{}\"\n{queue_keys}",
            self.queue.display()
        );
        let path = self.scratch.join(name);
        super::write_private(&path, &settings.render());
        path
    }

    /// File names in a queue area, sorted.
    pub fn area(&self, name: &str) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.queue.join(name))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The one queued message's id.
    pub fn only_id(&self) -> String {
        let ids = self.area("msg");
        assert_eq!(ids.len(), 1, "one queued message expected: {ids:?}");
        ids[0].clone()
    }

    /// The message bytes of a queued file (after its head).
    pub fn queued_message(&self, area: &str, id: &str) -> Vec<u8> {
        let bytes = fs::read(self.queue.join(area).join(id)).unwrap();
        let start = bytes.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
        bytes[start..].to_vec()
    }

    /// Sets a retry-state field of every queued message (`next 0` makes them due).
    pub fn edit_states(&self, key: &str, value: &str) {
        for id in self.area("state") {
            let path = self.queue.join("state").join(&id);
            let text = fs::read_to_string(&path).unwrap();
            let edited: String = text
                .lines()
                .map(|l| match l.split_once(' ') {
                    Some((k, _)) if k == key => format!("{key} {value}\n"),
                    _ => format!("{l}\n"),
                })
                .collect();
            super::write_private(&path, &edited);
        }
    }
}

/// A loopback port with nothing listening on it.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Message number `n`, recognisable by its `X-Seq` field.
pub fn numbered(n: usize) -> Vec<u8> {
    format!("Subject: queued {n}\nX-Seq: {n}\n\nbody of message {n}\n.leading dot\n").into_bytes()
}

/// The `X-Seq` numbers in messages the scripted peer received.
pub fn sequence_numbers(messages: &[Vec<u8>]) -> Vec<usize> {
    messages
        .iter()
        .filter_map(|m| {
            let text = String::from_utf8_lossy(m);
            text.lines()
                .find_map(|l| l.strip_prefix("X-Seq: "))
                .and_then(|n| n.trim().parse().ok())
        })
        .collect()
}

/// CRLF line ends, as the scripted peer records a message (and as the
/// message is on the wire).
pub fn crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 20);
    for &b in &lf(bytes) {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// LF line ends, as Postfix's capture stores a message.
pub fn lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for (i, &b) in bytes.iter().enumerate() {
        if !(b == b'\r' && bytes.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}

/// Queues `count` numbered messages through `conf` (a config whose server is down).
pub fn queue_messages(conf: &Path, recipient: &str, count: usize) {
    queue_numbers(conf, recipient, 0..count);
}

/// Queues the messages numbered `numbers`.
pub fn queue_numbers(conf: &Path, recipient: &str, numbers: std::ops::Range<usize>) {
    for n in numbers {
        let run = sendmail(&["-C", s(conf), "-i", recipient], &numbered(n));
        run.expect(0);
    }
}

pub fn good() -> Behaviour {
    Behaviour::good(sandbox_identity(&sandbox().dir))
}

pub fn mailq(conf: &Path) -> Run {
    let run = sendmail(&["-C", s(conf), "-bp"], b"");
    run.expect(0);
    run
}

pub fn flush(conf: &Path) -> Run {
    let run = sendmail(&["-C", s(conf), "-q"], b"");
    run.expect(0);
    run
}

/// Waits (bounded) until `check` holds.
#[track_caller]
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The pids of the detached processes delivering queued message `id`.
pub fn detached(id: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.contains(&b"--deliver-queued".as_slice()) && args.contains(&id.as_bytes()) {
            pids.push(pid);
        }
    }
    pids
}
