//! The programs that really call sendmail on a server, run against the
//! built binary and the sandbox's Postfix (which, like Exchange, accepts
//! only the authenticated mailbox as MAIL FROM): PHP's mail(), bsd-mailx,
//! GNU mailutils, s-nail and git send-email (installed from Debian by
//! scripts/setup-deps), and the exact argv and messages of cron, cronie,
//! atd, mdadm, logwatch and unattended-upgrades, and a Symfony-style `-bs`
//! dialogue. Each test checks the envelope and the headers that arrive.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::sandbox::{Delivered, sandbox};
use common::site::{Site, user};
use common::{BIN, s};

/// Waits for exactly one message to `rcpt` and returns it.
#[track_caller]
fn one(rcpt: &str) -> Delivered {
    let got = sandbox().wait_for_mail(rcpt, 1);
    assert_eq!(got.len(), 1, "{rcpt}: one copy");
    got.into_iter().next().unwrap()
}

/// The envelope sender is the mailbox, and From is "<name> via web1" <mailbox>.
#[track_caller]
fn from_rewritten(m: &Delivered, name: &str) {
    assert_eq!(m.sender, user(), "envelope sender:\n{}", m.header());
    assert_eq!(
        m.field("From"),
        Some(format!("\"{name} via web1\" <{}>", user())),
        "{}",
        m.header()
    );
}

#[test]
fn php_mail_with_the_default_sendmail_path() {
    let sb = sandbox();
    let _shared = sb.shared();
    let site = Site::new("php", "root: php-root@example.com\n", "");
    let sendmail = site.wrapper("bin/sendmail");
    let path = format!("sendmail_path={} -t -i", sendmail.display());
    let run = site.client(
        "php",
        &[
            "-n",
            "-d",
            &path,
            "-r",
            r#"exit(mail("root", "Café report", "line one\n.\nline three") ? 0 : 1);"#,
        ],
        b"",
    );
    run.expect(0);
    assert_eq!(site.invocations(), [["-t", "-i"]]);
    let m = one("php-root@example.com");
    assert_eq!(m.sender, user());
    // PHP writes no From: the mailbox's own is added.
    assert_eq!(m.field("From"), Some(user()));
    assert_eq!(m.field("To").as_deref(), Some("root@php.example"));
    assert_eq!(m.field("Subject").as_deref(), Some("Café report"));
    assert_eq!(
        m.body(),
        b"line one\n.\nline three\n",
        "-i keeps the dot line"
    );
}

#[test]
fn php_mail_with_a_from_header_and_a_fifth_argument() {
    let sb = sandbox();
    let _shared = sb.shared();
    let site = Site::new("php5", "", "");
    let sendmail = site.wrapper("bin/sendmail");
    let path = format!("sendmail_path={} -t -i", sendmail.display());
    let run = site.client(
        "php",
        &[
            "-n",
            "-d",
            &path,
            "-r",
            r#"exit(mail("customer@php5.example", "Your order", "Thanks", "From: Shop <shop@example.com>", "-fbounce@example.com") ? 0 : 1);"#,
        ],
        b"",
    );
    run.expect(0);
    assert_eq!(site.invocations(), [["-t", "-i", "-fbounce@example.com"]]);
    let m = one("customer@php5.example");
    // allow_from_override is off: -f does not change the envelope.
    from_rewritten(&m, "Shop");
    assert_eq!(
        m.field("Reply-To").as_deref(),
        Some("Shop <shop@example.com>")
    );
}

#[test]
fn bsd_mailx() {
    let sb = sandbox();
    let _shared = sb.shared();
    let site = Site::new("bsdmailx", "root: bsdmailx-root@example.com\n", "");
    let sendmail = site.wrapper("bin/sendmail");
    std::fs::write(
        site.scratch.join(".mailrc"),
        format!("set sendmail={}\n", sendmail.display()),
    )
    .unwrap();
    site.client(
        "bsd-mailx",
        &["-s", "Disk report", "root"],
        b"/ is 91% full\n",
    )
    .expect(0);
    let m = one("bsdmailx-root@example.com");
    assert_eq!(m.sender, user(), "argv {:?}", site.invocations());
    assert_eq!(m.field("Subject").as_deref(), Some("Disk report"));
    assert_eq!(m.field("To").as_deref(), Some("root@bsdmailx.example"));
    assert_eq!(m.field("From"), Some(user()));
    assert_eq!(m.body(), b"/ is 91% full\n");
}

#[test]
fn gnu_mailutils_mail() {
    let sb = sandbox();
    let _shared = sb.shared();
    let site = Site::new("mailutils", "root: mailutils-root@example.com\n", "");
    let sendmail = site.wrapper("bin/sendmail");
    let setting = format!("set sendmail=sendmail://{}", sendmail.display());
    site.client(
        "mail.mailutils",
        &["--no-config", "-E", &setting, "-s", "Backup done", "root"],
        b"42 files\n",
    )
    .expect(0);
    // mailutils passes -f user@host; without allow_from_override the
    // envelope is still the mailbox.
    let argv = site.invocations();
    assert!(
        argv[0].starts_with(&["-oi".to_string(), "-f".to_string()]),
        "{argv:?}"
    );
    let m = one("mailutils-root@example.com");
    assert_eq!(m.sender, user());
    assert_eq!(m.field("Subject").as_deref(), Some("Backup done"));
    assert_eq!(m.field("From"), Some(user()));
}

#[test]
fn s_nail() {
    let sb = sandbox();
    let _shared = sb.shared();
    let site = Site::new("snail", "", "");
    let sendmail = site.wrapper("bin/sendmail");
    let mta = format!("mta={}", sendmail.display());
    site.client(
        "s-nail",
        &["-:/", "-S", &mta, "-s", "From s-nail", "ops@snail.example"],
        b"hello\n",
    )
    .expect(0);
    assert_eq!(site.invocations(), [["-i", "--", "ops@snail.example"]]);
    let m = one("ops@snail.example");
    assert_eq!(m.sender, user());
    assert_eq!(m.field("Subject").as_deref(), Some("From s-nail"));
}

#[test]
fn git_send_email() {
    let sb = sandbox();
    let _shared = sb.shared();
    let site = Site::new("gitsend", "", "");
    let sendmail = site.wrapper("bin/sendmail");
    let git = if std::path::Path::new("/usr/bin/git").exists() {
        "/usr/bin/git"
    } else {
        "git"
    };
    let repo = site.path("repo");
    let ident = [
        "-c",
        "user.name=Dev Eloper",
        "-c",
        "user.email=dev@example.com",
    ];
    let in_repo = |args: &[&str]| {
        let mut all = vec!["-C", repo.as_str()];
        all.extend_from_slice(&ident);
        all.extend_from_slice(args);
        site.client(git, &all, b"").expect(0);
    };
    std::fs::create_dir_all(&repo).unwrap();
    in_repo(&["init", "-q"]);
    std::fs::write(site.scratch.join("repo/README"), "hello\n").unwrap();
    in_repo(&["add", "README"]);
    in_repo(&["commit", "-q", "-m", "Add a README"]);
    let patches = site.path("patches");
    in_repo(&["format-patch", "-q", "-1", "-o", &patches]);
    let patch = std::fs::read_dir(&patches)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let cmd = format!("--sendmail-cmd={}", sendmail.display());
    in_repo(&[
        "send-email",
        "--confirm=never",
        "--suppress-cc=all",
        &cmd,
        "--to=maintainer@gitsend.example",
        "--cc=list@gitsend.example",
        "--from=Dev Eloper <dev@example.com>",
        s(&patch),
    ]);
    let argv = site.invocations();
    assert_eq!(argv.len(), 1, "{argv:?}");
    assert_eq!(argv[0][0], "-i", "{argv:?}");
    for rcpt in ["maintainer@gitsend.example", "list@gitsend.example"] {
        let m = one(rcpt);
        from_rewritten(&m, "Dev Eloper");
        assert_eq!(
            m.field("Reply-To").as_deref(),
            Some("Dev Eloper <dev@example.com>")
        );
        assert_eq!(m.field("Subject").as_deref(), Some("[PATCH] Add a README"));
        assert!(
            m.field("Message-Id")
                .is_some_and(|id| id.ends_with("@example.com>")),
            "git's Message-Id is kept:\n{}",
            m.header()
        );
        assert!(m.text().contains("+hello"), "{}", m.text());
    }
}

#[test]
fn debian_cron() {
    let sb = sandbox();
    let _shared = sb.shared();
    let site = Site::new("cron", "root: cron-admin@example.com\n", "");
    let message = "From: root (Cron Daemon)\nTo: root\nSubject: Cron <root@web1> /usr/local/bin/backup\n\
                   MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n\
                   Content-Transfer-Encoding: 8bit\nX-Cron-Env: <SHELL=/bin/sh>\n\
                   X-Cron-Env: <HOME=/root>\n\nbackup: 3 files, 0 errors\n";
    // Current and older argument orders (docs/protocol-notes.md, "Real callers").
    for (n, argv) in [
        &["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"][..],
        &["-i", "-FCronDaemon", "-B8BITMIME", "-oem", "root"][..],
    ]
    .iter()
    .enumerate()
    {
        site.sendmail(argv, message.as_bytes()).expect(0);
        let got = sb.wait_for_mail("cron-admin@example.com", n + 1);
        assert_eq!(got.len(), n + 1);
    }
    for m in sb.mail_for("cron-admin@example.com") {
        from_rewritten(&m, "Cron Daemon");
        assert_eq!(m.field("Reply-To"), None, "a bare From gets no Reply-To");
        assert_eq!(m.field("To").as_deref(), Some("root@cron.example"));
        assert_eq!(m.body(), b"backup: 3 files, 0 errors\n");
    }
}

#[test]
fn cronie() {
    let sb = sandbox();
    let _shared = sb.shared();
    let site = Site::new("cronie", "root: cronie-admin@example.com\n", "");
    let message = "From: \"(Cron Daemon)\" <root>\nTo: root\nSubject: Cron <root@web1> run-parts /etc/cron.hourly\n\
                   MIME-Version: 1.0\nContent-Type: text/plain; charset=\"UTF-8\"\n\
                   Content-Transfer-Encoding: 8bit\nPrecedence: bulk\nX-Cron-Env: <LANG=C.UTF-8>\n\
                   Auto-Submitted: auto-generated\n\nhourly output\n";
    site.sendmail(
        &[
            "-FCronDaemon",
            "-i",
            "-odi",
            "-oem",
            "-oi",
            "-t",
            "-f",
            "root",
        ],
        message.as_bytes(),
    )
    .expect(0);
    let m = one("cronie-admin@example.com");
    from_rewritten(&m, "(Cron Daemon)");
    assert_eq!(m.field("Reply-To"), None);
    assert_eq!(m.field("Auto-Submitted").as_deref(), Some("auto-generated"));
}

#[test]
fn atd_mails_the_job_owner() {
    let sb = sandbox();
    let _shared = sb.shared();
    let site = Site::new("atd", "", "");
    let message = "Subject: Output from your job        7\nTo: alice\n\nreport done\n";
    site.sendmail(&["-i", "alice"], message.as_bytes())
        .expect(0);
    // No alias: alice gets the default domain.
    let m = one("alice@atd.example");
    assert_eq!(m.sender, user());
    assert_eq!(m.field("To").as_deref(), Some("alice@atd.example"));
    assert_eq!(m.field("From"), Some(user()));
}

#[test]
fn mdadm_through_usr_lib_sendmail() {
    let sb = sandbox();
    let _shared = sb.shared();
    let site = Site::new("mdadm", "root: raid-admins@example.com\n", "");
    // mdadm popen()s "/usr/lib/sendmail -t": a program named sendmail in
    // another directory is sendmail all the same.
    let usr_lib_sendmail = site.wrapper("usr/lib/sendmail");
    let message = "From: mdadm monitoring <root>\nTo: root@localhost\n\
                   Subject: Fail event on /dev/md0:web1\n\n\
                   This is an automatically generated mail message from mdadm\n";
    common::run_as(s(&usr_lib_sendmail), &["-t"], message.as_bytes(), &[]).expect(0);
    let m = one("raid-admins@example.com");
    from_rewritten(&m, "mdadm monitoring");
    assert_eq!(m.field("Reply-To"), None);
    // Only bare names are qualified in To; root@localhost stays as written.
    assert_eq!(m.field("To").as_deref(), Some("root@localhost"));
}

#[test]
fn logwatch_with_a_bare_from_and_default_recipient() {
    let sb = sandbox();
    let _shared = sb.shared();
    let site = Site::new(
        "logwatch",
        "",
        "default_recipient = \"logwatch-ops@example.com\"\n",
    );
    let message = "From: Logwatch\nTo: root\nSubject: Logwatch for web1\n\n ### Logwatch ###\n";
    site.sendmail(&["-t"], message.as_bytes()).expect(0);
    let m = one("logwatch-ops@example.com");
    from_rewritten(&m, "Logwatch");
    // The header keeps the name, qualified so replies work.
    assert_eq!(m.field("To").as_deref(), Some("root@logwatch.example"));
}

#[test]
fn unattended_upgrades() {
    let sb = sandbox();
    let _shared = sb.shared();
    let site = Site::new("uu", "root: uu-admin@example.com\n", "");
    let sendmail = site.wrapper("usr/sbin/sendmail");
    // What unattended-upgrade does: an email.message built in Python, piped
    // to [SENDMAIL, "-oi", "-t"].
    let script = r#"
import subprocess, sys
from email.mime.text import MIMEText
msg = MIMEText("Packages that were upgraded:\n libssl3 \n", "plain", "utf-8")
msg["Subject"] = "unattended-upgrades result for web1: SUCCESS"
msg["From"] = "root"
msg["To"] = "root"
msg["Auto-Submitted"] = "auto-generated"
p = subprocess.Popen([sys.argv[1], "-oi", "-t"], stdin=subprocess.PIPE, universal_newlines=True)
p.stdin.write(msg.as_string())
p.stdin.close()
sys.exit(p.wait())
"#;
    site.client("python3", &["-c", script, s(&sendmail)], b"")
        .expect(0);
    assert_eq!(site.invocations(), [["-oi", "-t"]]);
    let m = one("uu-admin@example.com");
    from_rewritten(&m, "root");
    assert_eq!(
        m.field("Subject").as_deref(),
        Some("unattended-upgrades result for web1: SUCCESS")
    );
}

#[test]
fn newaliases_by_its_name() {
    let site = Site::new(
        "newaliases",
        "root: admin@example.com\npipe: |/usr/bin/procmail\n",
        "",
    );
    let newaliases = site.wrapper("usr/bin/newaliases");
    let run = common::run_as(s(&newaliases), &[], b"", &[]);
    run.expect(0);
    assert!(
        run.stdout.contains("2 aliases, 0 errors, 1 warning"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains(":2: warning: alias pipe"),
        "{}",
        run.stderr
    );
    std::fs::write(site.scratch.join("aliases"), "root admin@example.com\n").unwrap();
    let run = common::run_as(s(&newaliases), &[], b"", &[]);
    run.expect(78);
    assert!(
        run.stderr.contains(":1: error: not an alias"),
        "{}",
        run.stderr
    );
}

/// A `sendmail -bs` child and its replies, line by line.
struct Dialogue {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Dialogue {
    fn start(site: &Site, extra: &[&str]) -> Dialogue {
        let mut child = Command::new(BIN)
            .args(["-C", s(&site.conf), "-bs"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            // split, not lines(): lines() would hide a missing CR.
            for line in BufReader::new(stdout).split(b'\n') {
                let Ok(line) = line else { break };
                if tx
                    .send(String::from_utf8_lossy(&line).into_owned())
                    .is_err()
                {
                    break;
                }
            }
        });
        Dialogue {
            child,
            stdin,
            lines,
        }
    }

    /// Reads one whole reply (all its lines) and checks its code.
    #[track_caller]
    fn expect(&self, code: &str) -> String {
        let mut reply = String::new();
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no reply (wanted {code}); so far {reply:?}"));
            assert!(line.ends_with('\r'), "replies end in CRLF: {line:?}");
            reply.push_str(&line);
            reply.push('\n');
            if line.as_bytes().get(3) != Some(&b'-') {
                break;
            }
        }
        assert!(reply.starts_with(code), "wanted {code}, got {reply:?}");
        reply
    }

    fn send(&mut self, text: &str) {
        self.stdin.write_all(text.as_bytes()).unwrap();
        self.stdin.flush().unwrap();
    }

    /// One command and its reply, as Symfony's executeCommand does.
    #[track_caller]
    fn command(&mut self, command: &str, code: &str) -> String {
        self.send(&format!("{command}\r\n"));
        self.expect(code)
    }

    fn finish(mut self) -> i32 {
        drop(self.stdin);
        let status = self.child.wait().unwrap();
        let _ = self.child.stderr.take().map(std::io::read_to_string);
        status.code().unwrap_or(-1)
    }
}

#[test]
fn symfony_sendmail_bs_with_two_messages() {
    let sb = sandbox();
    let _shared = sb.shared();
    let site = Site::new("symfony", "", "");
    // Laravel's current skeleton runs "sendmail -bs -i"; -i changes nothing here.
    let mut d = Dialogue::start(&site, &["-i"]);
    d.expect("220 ");
    d.command("HELO [127.0.0.1]", "250 ");
    for (n, rcpt) in ["first@symfony.example", "second@symfony.example"]
        .iter()
        .enumerate()
    {
        d.command("MAIL FROM:<app@shop.example>", "250 ");
        d.command(&format!("RCPT TO:<{rcpt}>"), "250 ");
        d.command("DATA", "354 ");
        // What Symfony writes: the message with "\r\n." doubled, then "\r\n.\r\n".
        let message = format!(
            "From: Shop <app@shop.example>\r\nTo: {rcpt}\r\nSubject: Message {n}\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             Hello\r\n.\r\n..two dots\r\nBye"
        )
        .replace("\r\n.", "\r\n..");
        d.send(&message);
        let reply = d.command("\r\n.", "250 ");
        // The 250 comes only once the message is handed over.
        let m = one(rcpt);
        assert!(
            reply.contains('<'),
            "the reply names the Message-ID: {reply}"
        );
        from_rewritten(&m, "Shop");
        assert_eq!(
            m.field("Reply-To").as_deref(),
            Some("Shop <app@shop.example>")
        );
        assert_eq!(
            m.field("Subject").as_deref(),
            Some(format!("Message {n}").as_str())
        );
        assert_eq!(m.body(), b"Hello\n.\n..two dots\nBye\n");
    }
    d.command("QUIT", "221 ");
    assert_eq!(d.finish(), 0);
}

#[test]
fn bs_answers_a_failure_with_4xx_and_goes_on() {
    let sb = sandbox();
    let sb = sb.exclusive();
    let site = Site::new("bsfail", "", "");
    let mut d = Dialogue::start(&site, &[]);
    d.expect("220 ");
    d.command("EHLO client.example", "250-");
    // The token endpoint is down: nothing can be sent, and the client is told
    // to try again later.
    sb.control("mode", r#"{"mode": "status", "status": 503}"#);
    d.command("MAIL FROM:<app@example.com>", "250 ");
    d.command("RCPT TO:<late@bsfail.example>", "250 ");
    d.command("DATA", "354 ");
    d.send("Subject: first try\r\n\r\nbody\r\n");
    let reply = d.command(".", "451 4.");
    assert!(reply.contains("token"), "{reply}");
    // Symfony sends RSET after a failure; then the same message again.
    d.command("RSET", "250 ");
    sb.control("reset", "{}");
    d.command("MAIL FROM:<app@example.com>", "250 ");
    d.command("RCPT TO:<late@bsfail.example>", "250 ");
    d.command("DATA", "354 ");
    d.send("Subject: second try\r\n\r\nbody\r\n");
    d.command(".", "250 ");
    let m = one("late@bsfail.example");
    assert_eq!(m.field("Subject").as_deref(), Some("second try"));
    // A message that cannot be sent as it is gets a 5xx naming why.
    d.command("MAIL FROM:<>", "250 ");
    d.command("RCPT TO:<never@bsfail.example>", "250 ");
    d.command("DATA", "354 ");
    d.send(&format!("X-Long: {}\r\n\r\nbody\r\n", "x".repeat(1200)));
    let reply = d.command(".", "554 5.6.0 ");
    assert!(reply.contains("X-Long"), "{reply}");
    d.command("QUIT", "221 ");
    assert_eq!(d.finish(), 0);
    assert!(sb.mail_for("never@bsfail.example").is_empty());
}

#[test]
fn bs_with_a_broken_configuration_says_421() {
    let site = Site::new("bsconf", "", "");
    std::fs::write(&site.conf, "tenant = \"x\"\n").unwrap();
    let run = site.sendmail(&["-bs"], b"HELO x\r\n");
    run.expect(78);
    assert!(run.stdout.starts_with("421 4.3.5 "), "{}", run.stdout);
}
