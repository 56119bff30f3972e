//! Shared test harness: runs the real binary, writes configurations,
//! captures syslog, and reaches the loopback sandbox and the fake peer.
//!
//! Each test gets its own scratch directory (config, token cache, syslog
//! socket), so tests run in parallel; they share one sandbox per test
//! binary (see `sandbox`).

#![allow(dead_code)]

pub mod fake_smtp;
pub mod queue;
pub mod sandbox;
pub mod setgid;
pub mod site;

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_oauth2-sendmail");

/// A directory of the test's own, removed when dropped (kept if the test
/// panicked, to look at).
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("o2s-test-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Scratch { path }
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics with everything the run printed unless it exited with `code`.
    #[track_caller]
    pub fn expect(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code; stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    /// Both output streams.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs the binary with `args` (argv[0] is the binary), `input` on stdin.
pub fn sendmail(args: &[&str], input: &[u8]) -> Run {
    run_as(BIN, args, input, &[])
}

/// Copies the built binary to `to` with `cp`, not `std::fs::copy`: a
/// descriptor open for writing in this process would be inherited by
/// whatever another test thread forks meanwhile, and exec'ing the copy
/// then fails with `ETXTBSY` until that child execs.
pub fn copy_binary(to: &Path) {
    let status = Command::new("cp").arg(BIN).arg(to).status().expect("cp");
    assert!(status.success(), "cp {BIN} {}", to.display());
}

/// Starts `command`, again while the program file is busy: a test that has
/// just written a script or copied the binary can see `ETXTBSY` when
/// another test thread forked while the file was still open for writing
/// (the forked child holds the descriptor until it execs).
pub fn spawn(command: &mut Command) -> std::io::Result<std::process::Child> {
    let mut tries = 0;
    loop {
        match command.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Runs `program` (the binary, or a link to it) with extra environment.
pub fn run_as(program: &str, args: &[&str], input: &[u8], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spawn(&mut command).unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // Write from a thread: the binary may exit before reading everything.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    let _ = writer.join();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A syslog socket of the test's own: the binary logs there through the
/// `syslog_socket` key.
pub struct SyslogCapture {
    pub path: PathBuf,
    socket: UnixDatagram,
}

impl SyslogCapture {
    pub fn new(scratch: &Scratch) -> SyslogCapture {
        let path = scratch.join("log.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        SyslogCapture { path, socket }
    }

    /// Every line received so far.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = self.socket.recv(&mut buf) {
            lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        lines
    }
}

/// The settings a test configuration is written from.
#[derive(Clone, Debug)]
pub struct Settings {
    pub tenant: String,
    pub client_id: String,
    pub secret: String,
    pub user: String,
    pub ca_file: Option<PathBuf>,
    pub host: String,
    pub port: u16,
    pub tls: &'static str,
    pub timeout: u64,
    pub token_url: String,
    pub token_timeout: u64,
    pub cache_dir: PathBuf,
    pub syslog_socket: Option<PathBuf>,
    /// Raw TOML appended at the end (sections such as `[addresses]`).
    pub extra: String,
}

impl Settings {
    /// Writes the configuration file into `scratch` and returns its path.
    pub fn write(&self, scratch: &Scratch) -> PathBuf {
        let path = scratch.join("sendmail.conf");
        write_private(&path, &self.render());
        path
    }

    pub fn render(&self) -> String {
        let mut text = format!(
            "tenant = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\nuser = \"{}\"\n",
            self.tenant, self.client_id, self.secret, self.user
        );
        if let Some(ca) = &self.ca_file {
            text.push_str(&format!("ca_file = \"{}\"\n", ca.display()));
        }
        match &self.syslog_socket {
            Some(p) => text.push_str(&format!("syslog_socket = \"{}\"\n", p.display())),
            None => text.push_str("syslog_socket = \"\"\n"),
        }
        text.push_str(&format!(
            "\n[smtp]\nhost = \"{}\"\nport = {}\ntls = \"{}\"\ntimeout = {}\n",
            self.host, self.port, self.tls, self.timeout
        ));
        text.push_str(&format!(
            "\n[token]\nurl = \"{}\"\ncache_dir = \"{}\"\ntimeout = {}\n",
            self.token_url,
            self.cache_dir.display(),
            self.token_timeout
        ));
        text.push_str(&self.extra);
        text
    }
}

/// Writes a configuration file that holds a secret: mode 0600, since the
/// binary refuses a world-readable one.
pub fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Whether `haystack` contains `needle` anywhere (for secret leak checks).
pub fn leaks(haystack: &str, needle: &str) -> bool {
    !needle.is_empty() && haystack.contains(needle)
}

/// A path as &str.
pub fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}
