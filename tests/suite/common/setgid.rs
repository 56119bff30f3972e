//! A temporary set-group-ID installation of the built binary, run by
//! unprivileged users in a private mount namespace (see `tests/setgid.rs`
//! for the layout and why).

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::sandbox::Sandbox;
use super::{Run, Scratch};

/// The set-group-ID group (stands for `oauth2-sendmail`).
pub const GROUP: u32 = 3_999_100;
/// An unprivileged user and its primary group.
pub const USER: (u32, u32) = (3_999_001, 3_999_001);
/// The queue service's system user, as the packages create it: its
/// primary group is GROUP, and it runs the binary without set-group-ID
/// rights of a caller (the effective group is its own).
pub const SERVICE: (u32, u32) = (3_999_003, GROUP);
/// Where the binary looks, inside the namespace.
pub const ETC: &str = "/etc/oauth2-sendmail";

/// A temporary installation.
pub struct Install {
    pub scratch: Scratch,
    /// `PREFIX/sbin/sendmail`, setgid GROUP.
    pub binary: PathBuf,
    /// The directory laid over /etc (holds `oauth2-sendmail/`).
    pub layer: PathBuf,
    /// `PREFIX/etc-layer/oauth2-sendmail`, seen as /etc/oauth2-sendmail.
    pub etc: PathBuf,
    /// Token cache, 2770.
    pub cache: PathBuf,
}

pub fn chown(path: &Path, uid: u32, gid: u32, mode: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

impl Install {
    pub fn new(name: &str) -> Install {
        assert_eq!(
            rustix_uid(),
            0,
            "the set-group-ID tests need root (as the sandbox does); run them as .ci/run does"
        );
        let scratch = Scratch::new(name);
        let sbin = scratch.join("sbin");
        let layer = scratch.join("etc-layer");
        let etc = layer.join("oauth2-sendmail");
        let cache = scratch.join("cache");
        for dir in [&sbin, &layer, &etc] {
            std::fs::create_dir_all(dir).unwrap();
            chown(dir, 0, 0, 0o755);
        }
        std::fs::create_dir_all(&cache).unwrap();
        chown(&cache, 0, GROUP, 0o2770);
        let binary = sbin.join("sendmail");
        super::copy_binary(&binary);
        chown(&binary, 0, GROUP, 0o2755);
        Install {
            scratch,
            binary,
            layer,
            etc,
            cache,
        }
    }

    /// Writes a file under etc/oauth2-sendmail with owner, group and mode.
    pub fn put(&self, name: &str, content: &[u8], gid: u32, mode: u32) -> PathBuf {
        let path = self.etc.join(name);
        std::fs::write(&path, content).unwrap();
        chown(&path, 0, gid, mode);
        path
    }

    /// The standard configuration: secret in a file, sandbox CA copied in.
    pub fn configure(&self, sb: &Sandbox, extra_top: &str) -> PathBuf {
        self.put_credentials(sb);
        let text = self.config_text(sb, extra_top, true);
        self.put("sendmail.conf", text.as_bytes(), GROUP, 0o640)
    }

    /// The client secret and the sandbox CA, `root:GROUP 0640` and 0644.
    pub fn put_credentials(&self, sb: &Sandbox) {
        self.put(
            "client-secret",
            sb.str("client_secret").as_bytes(),
            GROUP,
            0o640,
        );
        self.put("ca.pem", &std::fs::read(sb.ca_file()).unwrap(), 0, 0o644);
    }

    /// A configuration that queues in `queue` and whose token endpoint no
    /// one answers, so that every message is a temporary failure.
    pub fn configure_queue(&self, sb: &Sandbox, queue: &Path) {
        self.put_credentials(sb);
        let closed = crate::common::queue::closed_port();
        let text = self.config_with_secret_file(sb, true).replace(
            &sb.str("token_url"),
            &format!("https://127.0.0.1:{closed}/{{tenant}}/oauth2/v2.0/token"),
        ) + &format!("\n[queue]\ndir = \"{}\"\n", queue.display());
        self.put("sendmail.conf", text.as_bytes(), GROUP, 0o640);
    }

    /// The queue directory and every area in it, `root:GROUP 2770`, as
    /// the packages make them.
    pub fn queue_areas(&self) -> PathBuf {
        let queue = self.scratch.join("queue");
        std::fs::create_dir_all(&queue).unwrap();
        chown(&queue, 0, GROUP, 0o2770);
        for area in QUEUE_AREAS {
            let path = queue.join(area);
            std::fs::create_dir_all(&path).unwrap();
            chown(&path, 0, GROUP, 0o2770);
        }
        queue
    }

    /// A working configuration (the sandbox's token endpoint and server)
    /// that queues in `queue`, with `extra` lines in `[queue]`.
    pub fn configure_sending_queue(&self, sb: &Sandbox, queue: &Path, extra: &str) {
        self.put_credentials(sb);
        let text = self.config_with_secret_file(sb, true)
            + &format!("\n[queue]\ndir = \"{}\"\n{extra}\n", queue.display());
        self.put("sendmail.conf", text.as_bytes(), GROUP, 0o640);
    }

    pub fn config_text(&self, sb: &Sandbox, extra_top: &str, with_ca: bool) -> String {
        let ca = if with_ca {
            format!("ca_file = \"{ETC}/ca.pem\"\n")
        } else {
            String::new()
        };
        format!(
            "tenant = \"{}\"\nclient_id = \"{}\"\nuser = \"{}\"\n{ca}syslog_socket = \"\"\n{extra_top}\n\
             [smtp]\nhost = \"{}\"\nport = {}\ntimeout = 30\n\n\
             [token]\nurl = \"{}\"\ncache_dir = \"{}\"\ntimeout = 10\n",
            sb.str("tenant"),
            sb.str("client_id"),
            sb.str("user"),
            sb.str("smtp_host"),
            sb.port("smtp_port"),
            sb.str("token_url"),
            self.cache.display(),
        )
    }

    pub fn config_with_secret_file(&self, sb: &Sandbox, with_ca: bool) -> String {
        self.config_text(
            sb,
            &format!("client_secret_file = \"{ETC}/client-secret\""),
            with_ca,
        )
    }

    /// Runs the installed binary as `who` (`None`: root) in a namespace
    /// that sees the prefix's configuration at /etc/oauth2-sendmail, with
    /// exactly `env` (plus a PATH), `input` on stdin.
    pub fn run(
        &self,
        who: Option<(u32, u32)>,
        args: &[&str],
        input: &[u8],
        env: &[(&str, &str)],
    ) -> Run {
        self.run_after(who, "", args, input, env)
    }

    /// [`Install::run`], with the shell commands `before` (resource limits,
    /// signal dispositions) run just before the binary starts.
    pub fn run_after(
        &self,
        who: Option<(u32, u32)>,
        before: &str,
        args: &[&str],
        input: &[u8],
        env: &[(&str, &str)],
    ) -> Run {
        let script = format!(
            r#"mount -t overlay overlay -o "lowerdir=$1:/etc" /etc || exit 90
uid=$2; gid=$3; shift 3
{before}
if [ "$uid" = root ]; then exec "$@"; fi
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@""#
        );
        let (uid, gid) = match who {
            Some((u, g)) => (u.to_string(), g.to_string()),
            None => ("root".into(), "root".into()),
        };
        let mut command = Command::new("unshare");
        command
            .args([
                "--mount",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                &script,
                "sh",
            ])
            .arg(&self.layer)
            .args([&uid, &gid])
            .arg(&self.binary)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .envs(env.iter().copied());
        run_with_deadline(command, input, Duration::from_secs(60))
    }

    /// What systemd makes of `LoadCredential=NAME:FILE` for a service
    /// with `User=`: a directory only that user may enter, holding a copy
    /// only it may read (systemd's fallback where it sets no ACL). The
    /// service finds it through `$CREDENTIALS_DIRECTORY`, which this
    /// returns.
    pub fn systemd_credential(&self, name: &str, content: &[u8]) -> PathBuf {
        let dir = self.scratch.join("run-credentials");
        std::fs::create_dir_all(&dir).unwrap();
        let copy = dir.join(name);
        std::fs::write(&copy, content).unwrap();
        chown(&copy, SERVICE.0, SERVICE.1, 0o400);
        chown(&dir, SERVICE.0, SERVICE.1, 0o500);
        dir
    }

    /// Adds the packages' `oauth2-sendmail` system user (as [`SERVICE`])
    /// to the /etc/passwd the binary sees in the namespace.
    pub fn add_service_user(&self) {
        let mut passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        passwd.push_str(&format!(
            "oauth2-sendmail:x:{}:{}::/nonexistent:/usr/sbin/nologin\n",
            SERVICE.0, SERVICE.1
        ));
        let path = self.layer.join("passwd");
        std::fs::write(&path, passwd).unwrap();
        chown(&path, 0, 0, 0o644);
    }

    /// The cached token (read as root), to check it never shows.
    pub fn cached_token(&self) -> String {
        for entry in std::fs::read_dir(&self.cache).unwrap().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            if let Some(token) = text.lines().find_map(|l| l.strip_prefix("token ")) {
                return token.to_string();
            }
        }
        panic!("no cached token in {}", self.cache.display());
    }
}

pub fn rustix_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

/// Runs `command` with `input`; kills it if it is still running after
/// `deadline` (exit code -1 then).
pub fn run_with_deadline(mut command: Command, input: &[u8], deadline: Duration) -> Run {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare and setpriv (util-linux) must be installed");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let start = Instant::now();
    let timed_out = loop {
        if child.try_wait().unwrap().is_some() {
            break false;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            break true;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = child.wait_with_output().unwrap();
    let _ = writer.join();
    Run {
        code: if timed_out {
            -1
        } else {
            output.status.code().unwrap_or(-1)
        },
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Whether `who` can read `path` (with `cat`, as that user, no groups).
pub fn can_read(who: (u32, u32), path: &Path) -> bool {
    use std::os::unix::process::CommandExt;
    Command::new("cat")
        .arg(path)
        .uid(who.0)
        .gid(who.1)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// Whether `who` can list `dir`.
pub fn can_list(who: (u32, u32), dir: &Path) -> bool {
    use std::os::unix::process::CommandExt;
    Command::new("ls")
        .arg(dir)
        .uid(who.0)
        .gid(who.1)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// The areas of the queue directory (`src/spool/store.rs`).
pub const QUEUE_AREAS: [&str; 5] = ["msg", "state", "tmp", "failed", "corrupt"];

/// A second unprivileged user, for the queue's privacy.
pub const OTHER: (u32, u32) = (3_999_002, 3_999_002);
