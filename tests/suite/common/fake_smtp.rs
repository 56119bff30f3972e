//! A scripted SMTP peer for the faults a real server will not produce on
//! demand: a 421 greeting, a dropped connection in DATA, no STARTTLS, an
//! XOAUTH2 error challenge, a 4xx for one recipient, an untrusted
//! certificate, bytes injected before the TLS handshake, a throttling
//! reply in the middle of a session, a slow reply after the final dot.
//!
//! It answers like a small submission server, steered by [`Behaviour`],
//! and records what the client sent (commands, bearer tokens, messages) so
//! tests can assert, for example, that no token left the machine.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use native_tls::{Identity, TlsAcceptor};

mod certs;
pub use certs::*;

/// How the peer behaves.
#[derive(Clone)]
pub struct Behaviour {
    /// The greeting line.
    pub greeting: String,
    /// Whether EHLO offers STARTTLS.
    pub offer_starttls: bool,
    /// Whether EHLO offers PIPELINING.
    pub pipelining: bool,
    /// Certificate and key for STARTTLS.
    pub identity: Option<Identity>,
    /// Replies to successive AUTH attempts (the last one repeats).
    pub auth_replies: Vec<String>,
    /// Answer AUTH with a 334 error challenge, then this final reply.
    pub auth_challenge: Option<String>,
    /// Close the connection after a failed AUTH.
    pub hang_up_after_failed_auth: bool,
    /// Replies for particular recipients (others get 250).
    pub rcpt_replies: HashMap<String, String>,
    /// Reply after the final dot.
    pub final_reply: String,
    /// Close the connection after this many bytes of DATA.
    pub drop_in_data_after: Option<usize>,
    /// Bytes sent right behind the 220 to STARTTLS, in clear text.
    pub inject_after_starttls: Option<String>,
    /// Wait this long before the reply after the final dot (the message is
    /// already recorded): a window for killing the client.
    pub final_reply_delay: Option<Duration>,
    /// After this many messages on one connection, answer MAIL with this
    /// reply (and hang up if it is a 421): throttling mid-session.
    pub mail_reply_after: Option<(usize, String)>,
    /// After this many messages on one connection, answer DATA with this
    /// reply (and hang up if it is a 421): a session gone stale at DATA.
    pub data_reply_after: Option<(usize, String)>,
    /// Reply to MAIL FROM (default: 250).
    pub mail_reply: Option<String>,
    /// STARTTLS offers only TLS 1.0 and 1.1 (OpenSSL at security level
    /// 0), with this certificate and key (PEM), instead of `identity`.
    pub legacy_tls_only: Option<(Vec<u8>, Vec<u8>)>,
    /// Refuse AUTH with a 535 that quotes the client's XOAUTH2 response
    /// (a hostile or careless server).
    pub echo_auth: bool,
    /// Close the connection right after the final dot, without a reply.
    pub hang_up_after_dot: bool,
    /// The SIZE limit EHLO announces.
    pub size_limit: u64,
    /// After this many octets of DATA, send this reply and close (a server
    /// that stops reading a message too large for it).
    pub refuse_in_data_after: Option<(usize, String)>,
    /// Cut command lines longer than this, as Postfix's `line_length_limit`
    /// does (an AUTH line cut so gets 535 "Invalid base64 data").
    pub line_length_limit: Option<usize>,
    /// After the reply to each message, send this line (if not empty) and
    /// close: a server that drops a session gone idle.
    pub close_after_message: Option<String>,
    /// Recipients a transaction takes; more get 452 4.5.3.
    pub max_recipients: Option<usize>,
    /// After the 220 to STARTTLS, wait this long instead of a handshake.
    pub stall_after_starttls: Option<Duration>,
}

impl Behaviour {
    /// A well-behaved server whose STARTTLS uses `identity`.
    pub fn good(identity: Identity) -> Behaviour {
        Behaviour {
            greeting: "220 fake.test ESMTP ready".into(),
            offer_starttls: true,
            pipelining: true,
            identity: Some(identity),
            auth_replies: vec!["235 2.7.0 Authentication successful".into()],
            auth_challenge: None,
            hang_up_after_failed_auth: false,
            rcpt_replies: HashMap::new(),
            final_reply: "250 2.0.0 OK queued".into(),
            drop_in_data_after: None,
            inject_after_starttls: None,
            final_reply_delay: None,
            mail_reply_after: None,
            data_reply_after: None,
            mail_reply: None,
            legacy_tls_only: None,
            echo_auth: false,
            hang_up_after_dot: false,
            size_limit: 157_286_400,
            refuse_in_data_after: None,
            line_length_limit: None,
            close_after_message: None,
            max_recipients: None,
            stall_after_starttls: None,
        }
    }
}

/// What the client did.
#[derive(Clone, Debug, Default)]
pub struct Record {
    /// Connections accepted.
    pub connections: usize,
    /// Every command line, AUTH payloads included (as sent).
    pub commands: Vec<String>,
    /// Bearer tokens found in XOAUTH2 responses.
    pub tokens: Vec<String>,
    /// `user=` values of XOAUTH2 responses.
    pub users: Vec<String>,
    /// Messages received (DATA content, dot-unstuffed, CRLF kept).
    pub messages: Vec<Vec<u8>>,
    /// Whether a TLS handshake completed.
    pub tls: bool,
    /// Messages exactly as they crossed the wire in DATA (dot-stuffed,
    /// CRLF, bytes kept), without the final dot line.
    pub raw_messages: Vec<Vec<u8>>,
    /// Why server-side TLS handshakes failed.
    pub tls_failures: Vec<String>,
    /// For each QUIT on a TLS connection: whether the client then closed
    /// TLS in order (close_notify) rather than just dropping the socket.
    pub clean_tls_closes: Vec<bool>,
    /// Connections open now.
    pub active: usize,
    /// The most connections that were open at once.
    pub max_active: usize,
    /// Transactions open now: from an accepted MAIL FROM to the final
    /// reply (or RSET, or the end of the connection).
    pub in_transaction: usize,
    /// The most transactions that were open at once. Unlike
    /// [`Record::max_active`], no race stretches it: a transaction ends
    /// before its final reply is written, so before the client can hand
    /// its connection slot to another.
    pub max_in_transaction: usize,
}

/// A running fake peer.
pub struct FakeSmtp {
    pub port: u16,
    record: Arc<Mutex<Record>>,
}

impl FakeSmtp {
    /// Listens on 127.0.0.1 and serves connections in a thread, forever.
    pub fn start(behaviour: Behaviour) -> FakeSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let record = Arc::new(Mutex::new(Record::default()));
        let shared = Arc::clone(&record);
        std::thread::spawn(move || {
            let auth_attempts = Arc::new(Mutex::new(0usize));
            for stream in listener.incoming().flatten() {
                shared.lock().unwrap().connections += 1;
                let (b, r, a) = (
                    behaviour.clone(),
                    Arc::clone(&shared),
                    Arc::clone(&auth_attempts),
                );
                std::thread::spawn(move || {
                    let mut session = Active::default();
                    let _ = serve(stream, &b, &r, &a, &mut session);
                    session.end(&r);
                });
            }
        });
        FakeSmtp { port, record }
    }

    /// What the client did so far.
    pub fn record(&self) -> Record {
        self.record.lock().unwrap().clone()
    }

    /// The record once the peer has seen the client close its TLS
    /// session, which may come after the client process has exited
    /// (waits 10 s at most; a session without TLS is returned at once).
    pub fn record_once_closed(&self) -> Record {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut record = self.record();
        while record.tls
            && record.clean_tls_closes.is_empty()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
            record = self.record();
        }
        record
    }
}

/// A connection before or after TLS, with its unread bytes.
struct Conn {
    plain: Option<TcpStream>,
    tls: Option<native_tls::TlsStream<TcpStream>>,
    pending: Vec<u8>,
}

impl Conn {
    fn stream(&mut self) -> &mut dyn ReadWrite {
        match (&mut self.tls, &mut self.plain) {
            (Some(t), _) => t,
            (None, Some(p)) => p,
            _ => unreachable!(),
        }
    }

    fn send(&mut self, text: &str) -> std::io::Result<()> {
        self.stream().write_all(format!("{text}\r\n").as_bytes())
    }

    fn line(&mut self) -> std::io::Result<Option<String>> {
        Ok(self.raw_line()?.map(|line| {
            String::from_utf8_lossy(&line)
                .trim_end_matches(['\r', '\n'])
                .to_string()
        }))
    }

    /// The next line with its line end, bytes as sent.
    fn raw_line(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
                return Ok(Some(self.pending.drain(..=i).collect()));
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream().read(&mut chunk)?;
            if n == 0 {
                return Ok(None);
            }
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }
}

/// A session counts as open from the client's first command to its QUIT
/// (or the end of the connection): the client's view, which a server
/// thread that has not yet read the QUIT would otherwise stretch.
#[derive(Default)]
struct Active {
    counted: bool,
    ended: bool,
    in_transaction: bool,
}

impl Active {
    fn begin(&mut self, record: &Mutex<Record>) {
        if !self.counted && !self.ended {
            self.counted = true;
            let mut record = record.lock().unwrap();
            record.active += 1;
            record.max_active = record.max_active.max(record.active);
        }
    }

    fn end(&mut self, record: &Mutex<Record>) {
        self.transaction_over(record);
        if self.counted && !self.ended {
            record.lock().unwrap().active -= 1;
        }
        self.ended = true;
    }

    fn transaction_begun(&mut self, record: &Mutex<Record>) {
        if !self.in_transaction {
            self.in_transaction = true;
            let mut record = record.lock().unwrap();
            record.in_transaction += 1;
            record.max_in_transaction = record.max_in_transaction.max(record.in_transaction);
        }
    }

    fn transaction_over(&mut self, record: &Mutex<Record>) {
        if self.in_transaction {
            self.in_transaction = false;
            record.lock().unwrap().in_transaction -= 1;
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn serve(
    stream: TcpStream,
    b: &Behaviour,
    record: &Mutex<Record>,
    auth_attempts: &Mutex<usize>,
    session: &mut Active,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut conn = Conn {
        plain: Some(stream),
        tls: None,
        pending: Vec::new(),
    };
    conn.send(&b.greeting)?;
    if !b.greeting.starts_with("220") {
        return Ok(());
    }
    let mut in_data_accepted = false;
    let mut messages_here = 0usize;
    let mut mail_accepted = false;
    let mut recipients_here = 0usize;
    while let Some(line) = conn.line()? {
        record.lock().unwrap().commands.push(line.clone());
        let upper = line.to_ascii_uppercase();
        let verb = upper.split_whitespace().next().unwrap_or("").to_string();
        if verb == "QUIT" {
            session.end(record);
        } else {
            session.begin(record);
        }
        match verb.as_str() {
            "EHLO" => {
                let mut caps = vec!["250-fake.test".to_string()];
                if b.pipelining {
                    caps.push("250-PIPELINING".into());
                }
                caps.push(format!("250-SIZE {}", b.size_limit));
                if b.offer_starttls && conn.tls.is_none() {
                    caps.push("250-STARTTLS".into());
                }
                caps.push("250-8BITMIME".into());
                caps.push("250 AUTH LOGIN XOAUTH2".into());
                conn.send(&caps.join("\r\n"))?;
            }
            "STARTTLS" => {
                let injected = b.inject_after_starttls.clone().unwrap_or_default();
                conn.stream()
                    .write_all(format!("220 2.0.0 go ahead\r\n{injected}").as_bytes())?;
                if let Some(stall) = b.stall_after_starttls {
                    std::thread::sleep(stall);
                    return Ok(());
                }
                if let Some((cert, key)) = &b.legacy_tls_only {
                    let plain = conn.plain.take().unwrap();
                    match legacy_acceptor(cert, key).accept(plain) {
                        Ok(_) => record.lock().unwrap().tls = true,
                        Err(e) => record.lock().unwrap().tls_failures.push(e.to_string()),
                    }
                    return Ok(());
                }
                let identity = b.identity.clone().expect("STARTTLS needs an identity");
                let acceptor = TlsAcceptor::new(identity).unwrap();
                let plain = conn.plain.take().unwrap();
                match acceptor.accept(plain) {
                    Ok(tls) => {
                        conn.tls = Some(tls);
                        conn.pending.clear();
                        record.lock().unwrap().tls = true;
                    }
                    Err(_) => return Ok(()),
                }
            }
            "AUTH"
                if b.line_length_limit
                    .is_some_and(|limit| line.len() + 2 > limit) =>
            {
                conn.send(
                    "535 5.7.8 Error: authentication failed: Invalid base64 data in initial response",
                )?;
            }
            "AUTH" => {
                let mut payload = line.split_whitespace().nth(2).map(str::to_string);
                if payload.is_none() {
                    conn.send("334 ")?;
                    payload = conn.line()?;
                }
                let payload = payload.unwrap_or_default();
                remember_xoauth2(&payload, record);
                let attempt = {
                    let mut a = auth_attempts.lock().unwrap();
                    *a += 1;
                    *a - 1
                };
                if b.echo_auth {
                    conn.send(&format!("535 5.7.3 cannot use {payload}"))?;
                    continue;
                }
                if let Some(final_reply) = &b.auth_challenge {
                    let json = base64::engine::general_purpose::STANDARD
                        .encode(r#"{"status":"invalid_token","schemes":"bearer"}"#);
                    conn.send(&format!("334 {json}"))?;
                    let answer = conn.line()?.unwrap_or_default();
                    record.lock().unwrap().commands.push(answer);
                    conn.send(final_reply)?;
                    continue;
                }
                let reply = b
                    .auth_replies
                    .get(attempt)
                    .or(b.auth_replies.last())
                    .cloned()
                    .unwrap_or_default();
                conn.send(&reply)?;
                if !reply.starts_with('2') && b.hang_up_after_failed_auth {
                    return Ok(());
                }
            }
            "MAIL" => {
                let reply = match (&b.mail_reply_after, &b.mail_reply) {
                    (Some((after, reply)), _) if messages_here >= *after => reply.clone(),
                    (_, Some(reply)) => reply.clone(),
                    _ => "250 2.1.0 Sender OK".to_string(),
                };
                mail_accepted = reply.starts_with('2');
                if mail_accepted {
                    session.transaction_begun(record);
                }
                recipients_here = 0;
                conn.send(&reply)?;
                if reply.starts_with("421") {
                    return Ok(());
                }
            }
            "RCPT" => {
                let rcpt = line.split(['<', '>']).nth(1).unwrap_or("").to_string();
                let reply = if mail_accepted
                    && b.max_recipients.is_some_and(|max| recipients_here >= max)
                {
                    "452 4.5.3 Error: too many recipients".into()
                } else if mail_accepted {
                    b.rcpt_replies
                        .get(&rcpt)
                        .cloned()
                        .unwrap_or_else(|| "250 2.1.5 Recipient OK".into())
                } else {
                    "503 5.5.1 Error: need MAIL command".into()
                };
                in_data_accepted |= reply.starts_with('2');
                recipients_here += usize::from(reply.starts_with('2'));
                conn.send(&reply)?;
            }
            "DATA" => {
                if !in_data_accepted {
                    conn.send("554 5.5.1 no valid recipients")?;
                    continue;
                }
                if let Some((after, reply)) = &b.data_reply_after
                    && messages_here >= *after
                {
                    conn.send(reply)?;
                    if reply.starts_with("421") {
                        return Ok(());
                    }
                    continue;
                }
                conn.send("354 Start mail input; end with <CRLF>.<CRLF>")?;
                let mut message = Vec::new();
                let mut raw = Vec::new();
                loop {
                    let Some(raw_line) = conn.raw_line()? else {
                        return Ok(());
                    };
                    if raw_line == b".\r\n" {
                        break;
                    }
                    raw.extend_from_slice(&raw_line);
                    let l = String::from_utf8_lossy(&raw_line)
                        .trim_end_matches(['\r', '\n'])
                        .to_string();
                    let l = l.strip_prefix('.').map_or(l.as_str(), |s| s);
                    message.extend_from_slice(l.as_bytes());
                    message.extend_from_slice(b"\r\n");
                    if b.drop_in_data_after.is_some_and(|n| message.len() >= n) {
                        return Ok(());
                    }
                    if let Some((after, reply)) = &b.refuse_in_data_after
                        && message.len() >= *after
                    {
                        conn.send(reply)?;
                        return Ok(());
                    }
                }
                let mut r = record.lock().unwrap();
                r.messages.push(message);
                r.raw_messages.push(raw);
                drop(r);
                messages_here += 1;
                if b.hang_up_after_dot {
                    return Ok(());
                }
                if let Some(delay) = b.final_reply_delay {
                    std::thread::sleep(delay);
                }
                session.transaction_over(record);
                conn.send(&b.final_reply)?;
                in_data_accepted = false;
                mail_accepted = false;
                if let Some(last) = &b.close_after_message {
                    if !last.is_empty() {
                        conn.send(last)?;
                    }
                    return Ok(());
                }
            }
            "RSET" => {
                session.transaction_over(record);
                in_data_accepted = false;
                mail_accepted = false;
                conn.send("250 2.0.0 OK")?;
            }
            "NOOP" => conn.send("250 2.0.0 OK")?,
            "QUIT" => {
                let _ = conn.send("221 2.0.0 Bye");
                if let Some(tls) = conn.tls.as_mut() {
                    // close_notify reads as the end of the stream; a socket
                    // closed without it as an error.
                    let mut rest = Vec::new();
                    let clean = tls.read_to_end(&mut rest).is_ok();
                    record.lock().unwrap().clean_tls_closes.push(clean);
                }
                return Ok(());
            }
            _ => conn.send("500 5.5.2 command not recognized")?,
        }
    }
    Ok(())
}

/// Notes the user and bearer token of an XOAUTH2 response.
fn remember_xoauth2(payload: &str, record: &Mutex<Record>) {
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(payload.trim()) else {
        return;
    };
    let text = String::from_utf8_lossy(&raw).into_owned();
    let mut r = record.lock().unwrap();
    for part in text.split('\x01') {
        if let Some(user) = part.strip_prefix("user=") {
            r.users.push(user.to_string());
        }
        if let Some(token) = part.strip_prefix("auth=Bearer ") {
            r.tokens.push(token.to_string());
        }
    }
}
