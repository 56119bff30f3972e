//! The loopback sandbox (`sandbox/sandbox.py`): a real Postfix with
//! STARTTLS, Dovecot validating XOAUTH2 tokens by introspection, and an
//! HTTPS token endpoint that answers like Entra ID.
//!
//! One sandbox is started per test binary, on first use, and lives until
//! the test process exits: it watches its stdin, which only this process
//! holds, and stops everything when that closes. Tests that change the
//! token endpoint's behaviour or count its requests take the exclusive
//! side of [`Sandbox::lock`]; all others take the shared side.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Scratch, Settings};

/// A running sandbox.
pub struct Sandbox {
    pub info: Value,
    pub dir: PathBuf,
    _process: Mutex<(Child, ChildStdin)>,
    lock: RwLock<()>,
}

static SANDBOX: OnceLock<Sandbox> = OnceLock::new();

/// The sandbox of this test binary, started on first use.
pub fn sandbox() -> &'static Sandbox {
    SANDBOX.get_or_init(start)
}

fn start() -> Sandbox {
    let dir = std::env::temp_dir().join(format!("o2s-sandbox-{}", std::process::id()));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("sandbox/sandbox.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .args(["up", "--rm", "--dir"])
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be installed to run the sandbox");
    let stdin = child.stdin.take().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    if line.trim().is_empty() {
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
        panic!(
            "the sandbox did not start (run the tests as root with postfix and dovecot-core installed; .ci/run does): {err}"
        );
    }
    let info: Value = serde_json::from_str(&line).expect("sandbox.json");
    Sandbox {
        info,
        dir,
        _process: Mutex::new((child, stdin)),
        lock: RwLock::new(()),
    }
}

impl Sandbox {
    pub fn str(&self, key: &str) -> String {
        self.info[key]
            .as_str()
            .unwrap_or_else(|| panic!("sandbox.json has no {key}"))
            .to_string()
    }

    pub fn port(&self, key: &str) -> u16 {
        self.info[key]
            .as_u64()
            .unwrap_or_else(|| panic!("sandbox.json has no {key}")) as u16
    }

    pub fn ca_file(&self) -> PathBuf {
        PathBuf::from(self.str("ca_file"))
    }

    /// A fixture client from `other_clients`.
    pub fn client(&self, name: &str) -> &Value {
        &self.info["other_clients"][name]
    }

    /// Shared use: the token endpoint behaves normally for the guard's life.
    pub fn shared(&self) -> RwLockReadGuard<'_, ()> {
        self.lock.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Exclusive use: counters reset, behaviour may change; normal again when dropped.
    pub fn exclusive(&self) -> Exclusive<'_> {
        let guard = self.lock.write().unwrap_or_else(|e| e.into_inner());
        self.control("reset", "{}");
        Exclusive {
            sandbox: self,
            _guard: guard,
        }
    }

    /// Settings for the main client against Postfix (STARTTLS port).
    pub fn settings(&self, scratch: &Scratch) -> Settings {
        Settings {
            tenant: self.str("tenant"),
            client_id: self.str("client_id"),
            secret: self.str("client_secret"),
            user: self.str("user"),
            ca_file: Some(self.ca_file()),
            host: self.str("smtp_host"),
            port: self.port("smtp_port"),
            tls: "starttls",
            timeout: 30,
            token_url: self.str("token_url"),
            token_timeout: 10,
            cache_dir: scratch.join("cache"),
            syslog_socket: None,
            extra: String::new(),
        }
    }

    /// Settings for the main client against a scripted peer on `port`
    /// (`fake_smtp`), which presents a certificate for localhost.
    pub fn peer_settings(&self, scratch: &Scratch, port: u16) -> Settings {
        Settings {
            host: "localhost".into(),
            port,
            timeout: 10,
            ..self.settings(scratch)
        }
    }

    fn agent(&self) -> ureq::Agent {
        use ureq::tls::{PemItem, RootCerts, TlsConfig, TlsProvider, parse_pem};
        let pem = std::fs::read(self.ca_file()).unwrap();
        let certs: Vec<_> = parse_pem(&pem)
            .filter_map(|i| match i {
                Ok(PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        let tls = TlsConfig::builder()
            .provider(TlsProvider::NativeTls)
            .root_certs(RootCerts::new_with_certs(&certs))
            .build();
        ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into()
    }

    /// POSTs `body` (JSON) to `/_control/<what>`.
    pub fn control(&self, what: &str, body: &str) -> Value {
        let url = format!("{}/{what}", self.str("control_url"));
        let mut response = self
            .agent()
            .post(&url)
            .header("Content-Type", "application/json")
            .send(body)
            .unwrap_or_else(|e| panic!("control {what}: {e}"));
        response.body_mut().read_json().unwrap_or(Value::Null)
    }

    /// The token endpoint's counters.
    pub fn stats(&self) -> Value {
        let url = format!("{}/stats", self.str("control_url"));
        let mut response = self.agent().get(&url).call().unwrap();
        response.body_mut().read_json().unwrap()
    }

    /// Token requests so far (since the last reset).
    pub fn token_requests(&self) -> u64 {
        self.stats()["token_requests"].as_u64().unwrap()
    }

    /// Gets a token straight from the endpoint for the main client.
    pub fn fetch_token(&self) -> String {
        let url = self
            .str("token_url")
            .replace("{tenant}", &self.str("tenant"));
        let secret = self.str("client_secret");
        let client = self.str("client_id");
        let scope = self.str("scope");
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client.as_str()),
            ("client_secret", secret.as_str()),
            ("scope", scope.as_str()),
        ];
        let mut response = self.agent().post(&url).send_form(form).unwrap();
        let json: Value = response.body_mut().read_json().unwrap();
        json["access_token"].as_str().unwrap().to_string()
    }

    /// Queues answers for the next Graph sendMail requests (graph.py):
    /// `[{"status": 429, "code": "...", "headers": {...}}, ...]`.
    pub fn graph_faults(&self, faults: &str) -> Value {
        let mut response = self
            .agent()
            .post(&self.str("graph_control_url"))
            .header("Content-Type", "application/json")
            .send(format!("{{\"faults\": {faults}}}"))
            .unwrap_or_else(|e| panic!("graph faults: {e}"));
        response.body_mut().read_json().unwrap_or(Value::Null)
    }

    /// The Graph look-alike's counters (`requests`, `accepted`).
    pub fn graph_stats(&self) -> Value {
        let mut response = self
            .agent()
            .get(&self.str("graph_control_url"))
            .call()
            .unwrap();
        response.body_mut().read_json().unwrap()
    }

    /// Every message Graph delivered to `recipient` so far.
    pub fn graph_mail_for(&self, recipient: &str) -> Vec<Delivered> {
        self.delivered_in(&PathBuf::from(self.str("graph_mail_dir")), recipient)
    }

    /// Waits until `recipient` has received `count` messages; returns them.
    pub fn wait_for_mail(&self, recipient: &str, count: usize) -> Vec<Delivered> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = self.mail_for(recipient);
            if got.len() >= count {
                return got;
            }
            if Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(self.info["logs"]["postfix"].as_str().unwrap_or(""))
                        .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                panic!(
                    "{recipient}: {} of {count} messages arrived; postfix log tail:\n{}",
                    got.len(),
                    tail.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every message delivered to `recipient` so far.
    pub fn mail_for(&self, recipient: &str) -> Vec<Delivered> {
        self.delivered_in(&PathBuf::from(self.str("mail_dir")), recipient)
    }

    /// The `<id>.env` + `<id>.eml` pairs for `recipient` in `dir`.
    fn delivered_in(&self, dir: &Path, recipient: &str) -> Vec<Delivered> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("env") {
                continue;
            }
            let envelope = std::fs::read_to_string(&path).unwrap_or_default();
            let mut lines = envelope.lines();
            let (sender, rcpt) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
            if rcpt.eq_ignore_ascii_case(recipient) {
                let message = std::fs::read(path.with_extension("eml")).unwrap();
                found.push(Delivered {
                    sender: sender.to_string(),
                    recipient: rcpt.to_string(),
                    message,
                });
            }
        }
        found
    }
}

/// Exclusive access to the sandbox; the token endpoint goes back to normal on drop.
pub struct Exclusive<'a> {
    sandbox: &'a Sandbox,
    _guard: RwLockWriteGuard<'a, ()>,
}

impl std::ops::Deref for Exclusive<'_> {
    type Target = Sandbox;
    fn deref(&self) -> &Sandbox {
        self.sandbox
    }
}

impl Drop for Exclusive<'_> {
    fn drop(&mut self) {
        self.sandbox.control("reset", "{}");
    }
}

/// One message as Postfix delivered it to one recipient.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub sender: String,
    pub recipient: String,
    pub message: Vec<u8>,
}

impl Delivered {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.message).into_owned()
    }

    /// The header block (up to the blank line).
    pub fn header(&self) -> String {
        let text = self.text();
        let end = text
            .find("\n\n")
            .or_else(|| text.find("\r\n\r\n"))
            .unwrap_or(text.len());
        text[..end].to_string()
    }

    /// The body bytes (after the blank line).
    pub fn body(&self) -> &[u8] {
        let m = &self.message;
        let pos = m.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
        &m[pos.unwrap_or(m.len())..]
    }

    /// The value of the first header field `name`.
    pub fn field(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.header()
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_string())
    }
}
