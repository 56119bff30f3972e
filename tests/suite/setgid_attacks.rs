//! The queue, the token cache and `--check` of a set-group-ID
//! installation, attacked by the local users who may run the binary
//! (issue 11, "Local security"): a lock held by a stopped process,
//! symbolic links and a FIFO planted by a group member, queue runs by
//! callers, a state write that fails under `RLIMIT_FSIZE`, areas a caller
//! would have to create, `--check` as a probe of the configuration and a
//! way to make the application request tokens. Same installation as
//! `tests/setgid.rs` (`common::setgid`). Needs root, as the sandbox does.

use crate::common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::sandbox::sandbox;
use common::setgid::*;

mod check;

/// A process the test started, killed (by its PID) when dropped.
struct Holder(Child);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A group member's process (real uid USER, group GROUP, what the
/// set-group-ID binary runs as) that takes the exclusive lock on `file`
/// and then stops itself with SIGSTOP, holding it.
fn stopped_lock_holder(file: &Path) -> Holder {
    let script = "import fcntl, os, signal, sys\n\
                  f = open(sys.argv[1], 'r+')\n\
                  fcntl.flock(f, fcntl.LOCK_EX)\n\
                  print('held', flush=True)\n\
                  os.kill(os.getpid(), signal.SIGSTOP)\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .arg(file)
        .uid(USER.0)
        .gid(GROUP)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "held\n", "the holder did not get the lock");
    Holder(child)
}

/// Runs `sh -c script` as a group member (uid USER, gid GROUP).
pub(crate) fn as_group_member(script: &str) {
    let status = Command::new("sh")
        .args(["-c", script])
        .uid(USER.0)
        .gid(GROUP)
        .status()
        .unwrap();
    assert!(status.success(), "{script}");
}

/// Makes every queued message due now, keeping each state file's owner.
pub(crate) fn make_due(queue: &Path) {
    for entry in std::fs::read_dir(queue.join("state")).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let edited: String = text
            .lines()
            .map(|l| {
                if l.starts_with("next ") {
                    "next 0\n".to_string()
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        std::fs::write(entry.path(), edited).unwrap();
    }
}

/// Root's view of the queue.
fn root_mailq(install: &Install) -> String {
    let run = install.run(None, &["-bp"], b"", &[]);
    run.expect(0);
    run.stdout
}

/// Queues one message from each of `who` (the token endpoint is down).
pub(crate) fn queue_from(
    install: &Install,
    sb: &common::sandbox::Sandbox,
    queue: &Path,
    who: &[((u32, u32), &str)],
) {
    install.configure_queue(sb, queue);
    for &(user, rcpt) in who {
        install
            .run(Some(user), &["-i", rcpt], b"Subject: q\n\nqueued\n", &[])
            .expect(0);
    }
}

#[test]
fn a_stopped_ledger_holder_hangs_neither_a_live_send_nor_roots_queue_run() {
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("setgid-ledger-lock");
    let queue = install.queue_areas();
    queue_from(
        &install,
        sb,
        &queue,
        &[
            (USER, "ledger-a@example.com"),
            (OTHER, "ledger-b@example.com"),
        ],
    );
    make_due(&queue);
    install.configure_sending_queue(sb, &queue, "rate_limit = 30");
    let rate = pace_ledger(&install, sb);
    std::fs::write(&rate, "").unwrap();
    chown(&rate, USER.0, GROUP, 0o660);
    let _holder = stopped_lock_holder(&rate);

    // Another user's live send: delivered, and its flush does not wait
    // (on 0.1 it waited for the ledger forever).
    let live = install.run(
        Some(OTHER),
        &["-i", "ledger-live@example.com"],
        b"Subject: live\n\nx\n",
        &[],
    );
    live.expect(0);
    sb.wait_for_mail("ledger-live@example.com", 1);
    let left = root_mailq(&install);
    assert!(left.contains("ledger-b@example.com"), "{left}");

    // Root's queue run waits a moment, then sends without the ledger.
    let run = install.run(None, &["-q"], b"", &[]);
    run.expect(0);
    assert!(run.stdout.contains("2 delivered"), "{}", run.stdout);
    sb.wait_for_mail("ledger-a@example.com", 1);
    sb.wait_for_mail("ledger-b@example.com", 1);
}

/// The pacing ledger of the sandbox's mailbox (`limits.rate`,
/// `limits.recipients_per_day`) in the cache directory: `pace.` and the
/// FNV-1a hash of the mailbox in lower case (`limits::files::mailbox_key`).
fn pace_ledger(install: &Install, sb: &common::sandbox::Sandbox) -> PathBuf {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in sb.str("user").to_ascii_lowercase().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    install.cache.join(format!("pace.{hash:016x}"))
}

/// A file root owns that no one else may change.
pub(crate) fn victim(install: &Install, name: &str) -> PathBuf {
    let path = install.scratch.join(name);
    std::fs::write(&path, "precious\n").unwrap();
    chown(&path, 0, 0, 0o600);
    path
}

#[track_caller]
pub(crate) fn assert_untouched(path: &Path) {
    let meta = std::fs::metadata(path).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (0, 0, 0o600),
        "{} was changed",
        path.display()
    );
    assert_eq!(std::fs::read_to_string(path).unwrap(), "precious\n");
}

#[test]
fn links_and_a_fifo_planted_by_a_group_member_change_no_root_file() {
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("setgid-links");
    let queue = install.queue_areas();
    queue_from(&install, sb, &queue, &[(USER, "links-q@example.com")]);
    make_due(&queue);
    install.configure_sending_queue(sb, &queue, "rate_limit = 30");
    // A first send caches the token: its file and lock file now exist.
    install
        .run(
            Some(OTHER),
            &["-i", "links-1@example.com"],
            b"Subject: 1\n\nx\n",
            &[],
        )
        .expect(0);
    let names: Vec<String> = std::fs::read_dir(&install.cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    // (The configuration that queued has its own, token-less, entry.)
    let token = names
        .iter()
        .find(|n| n.starts_with("token-") && !n.ends_with(".lock"))
        .unwrap()
        .clone();
    let lock = format!("{token}.lock");
    let state = std::fs::read_dir(queue.join("state"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .file_name()
        .to_string_lossy()
        .into_owned();
    let victims: Vec<PathBuf> = ["lock", "token", "rate", "state"]
        .iter()
        .map(|n| victim(&install, &format!("victim-{n}")))
        .collect();
    let plant = [
        (install.cache.join(&lock), &victims[0]),
        (install.cache.join(&token), &victims[1]),
        (pace_ledger(&install, sb), &victims[2]),
        (queue.join("state").join(&state), &victims[3]),
    ];
    for (link, target) in &plant {
        as_group_member(&format!(
            "rm -f '{0}' && ln -s '{1}' '{0}'",
            link.display(),
            target.display()
        ));
    }
    // And a FIFO in tmp/, old enough to be cleaned up: opening it to see
    // whether a sender still holds it must not block the run.
    let fifo = queue.join("tmp").join("w.1.0");
    as_group_member(&format!(
        "mkfifo '{0}' && touch -d '1 hour ago' '{0}'",
        fifo.display()
    ));

    // Root sends (the token file is a link: no cached token, so the lock
    // is taken) and runs the queue (the ledger, the state, the FIFO).
    let sent = install.run(
        None,
        &["-i", "links-2@example.com"],
        b"Subject: 2\n\nx\n",
        &[],
    );
    sent.expect(0);
    let run = install.run(None, &["-q"], b"", &[]);
    run.expect(0);
    assert!(run.stdout.contains("1 delivered"), "{}", run.stdout);
    sb.wait_for_mail("links-q@example.com", 1);
    for victim in &victims {
        assert_untouched(victim);
    }
    assert!(!fifo.exists(), "the stale FIFO is removed");
    // The cache works again: the token was written over the link.
    let cached = std::fs::symlink_metadata(install.cache.join(&token)).unwrap();
    assert!(cached.file_type().is_file());

    // An area replaced by a link to a directory of root's: no run (nor the
    // flush after a live send) moves that directory's files aside.
    let root_dir = install.scratch.join("victim-dir");
    std::fs::create_dir(&root_dir).unwrap();
    let root_file = victim(&install, "victim-dir/notes");
    as_group_member(&format!(
        "mv '{0}' '{0}.old' && ln -s '{1}' '{0}'",
        queue.join("msg").display(),
        root_dir.display()
    ));
    install
        .run(
            None,
            &["-i", "links-3@example.com"],
            b"Subject: 3\n\nx\n",
            &[],
        )
        .expect(0);
    let run = install.run(None, &["-q"], b"", &[]);
    run.expect(73);
    assert!(run.stderr.contains("not a directory"), "{}", run.stderr);
    assert_untouched(&root_file);
}

#[test]
fn a_callers_queue_run_takes_only_its_own_due_messages() {
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("setgid-own-run");
    let queue = install.queue_areas();
    queue_from(
        &install,
        sb,
        &queue,
        &[
            (USER, "own-mine@example.com"),
            (OTHER, "own-theirs@example.com"),
        ],
    );
    // Still down: -q by a caller tries nothing that is not due (0.1
    // retried every message, everyone's).
    install.run(Some(USER), &["-q"], b"", &[]).expect(0);
    let listing = root_mailq(&install);
    assert_eq!(listing.matches("(1 attempt,").count(), 2, "{listing}");

    make_due(&queue);
    install.configure_sending_queue(sb, &queue, "");
    let run = install.run(Some(USER), &["-q", "-v"], b"", &[]);
    run.expect(0);
    assert!(
        run.stdout
            .contains("1 delivered, 0 deferred, 0 failed; 0 left"),
        "{}",
        run.stdout
    );
    assert!(!run.output().contains("own-theirs"), "{}", run.output());
    sb.wait_for_mail("own-mine@example.com", 1);
    let listing = root_mailq(&install);
    assert!(listing.contains("own-theirs@example.com"), "{listing}");
    assert!(!listing.contains("own-mine@example.com"), "{listing}");
}

/// Ignores SIGXFSZ and sets `RLIMIT_FSIZE` to 0: every write that would
/// grow a file fails with EFBIG.
const NO_FILE_GROWTH: &str = "trap '' XFSZ; ulimit -f 0";

#[test]
fn a_result_that_cannot_be_recorded_stops_a_callers_run_and_the_ledger_survives() {
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("setgid-fsize");
    let queue = install.queue_areas();
    // Two due messages of the caller's, and the token endpoint still down:
    // each attempt fails and its state must be written.
    install.configure_queue(sb, &queue);
    for n in 1..=2 {
        let rcpt = format!("fsize-{n}@example.com");
        install
            .run(Some(USER), &["-i", &rcpt], b"Subject: f\n\nx\n", &[])
            .expect(0);
    }
    make_due(&queue);
    let conf = install.etc.join("sendmail.conf");
    let limit = |from: &str, to: &str| {
        let text = std::fs::read_to_string(&conf).unwrap().replace(from, to);
        install.put("sendmail.conf", text.as_bytes(), GROUP, 0o640);
    };
    // No pacing at first: the ledger is not written at all.
    limit("[queue]\n", "[queue]\nrate_limit = 0\n");
    let text = std::fs::read_to_string(&conf).unwrap() + "\n[limits]\nrecipients_per_day = 0\n";
    install.put("sendmail.conf", text.as_bytes(), GROUP, 0o640);
    let states = |queue: &Path| -> Vec<String> {
        let mut texts: Vec<String> = std::fs::read_dir(queue.join("state"))
            .unwrap()
            .flatten()
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .collect();
        texts.sort();
        texts
    };
    let before = states(&queue);
    let run = install.run_after(Some(USER), NO_FILE_GROWTH, &["-q"], b"", &[]);
    run.expect(0);
    assert!(
        run.stdout.contains("(stopped: cannot record the attempt: "),
        "{}",
        run.output()
    );
    assert_eq!(states(&queue), before, "no state was half-written");

    // With the per-minute limit on, the ledger is written first: that
    // fails, the run stops, and the ledger keeps its times (0.1 cut it
    // to nothing first).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ledger = format!(
        "day {} 0\nwarned 0\n{}\n{}\n",
        now / 86_400,
        now - 5,
        now - 3
    );
    let rate = pace_ledger(&install, sb);
    std::fs::write(&rate, &ledger).unwrap();
    chown(&rate, USER.0, GROUP, 0o660);
    limit("rate_limit = 0", "rate_limit = 30");
    let run = install.run_after(Some(USER), NO_FILE_GROWTH, &["-q"], b"", &[]);
    run.expect(0);
    assert!(run.stdout.contains("pacing ledger"), "{}", run.output());
    assert_eq!(std::fs::read_to_string(&rate).unwrap(), ledger);
}

#[test]
fn a_caller_never_creates_the_queue_areas() {
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("setgid-no-areas");
    let queue = install.scratch.join("queue");
    std::fs::create_dir_all(&queue).unwrap();
    chown(&queue, 0, GROUP, 0o2770);
    install.configure_queue(sb, &queue);
    let run = install.run(
        Some(USER),
        &["-i", "a@example.com"],
        b"Subject: q\n\nx\n",
        &[],
    );
    run.expect(75);
    assert!(run.stderr.contains("root must create it"), "{}", run.stderr);
    let made: Vec<_> = std::fs::read_dir(&queue).unwrap().flatten().collect();
    assert!(made.is_empty(), "the caller made {made:?}");

    // Root (or the queue service) does, each with its final mode at once.
    install.run(None, &["-q"], b"", &[]).expect(0);
    for area in QUEUE_AREAS {
        let meta = std::fs::metadata(queue.join(area)).unwrap();
        assert_eq!(
            (meta.uid(), meta.mode() & 0o7777),
            (0, 0o2770),
            "{area}: {:o}",
            meta.mode()
        );
    }
}

/// The queue service's user: its own uid, the group as its primary group
/// (systemd's `User=oauth2-sendmail`, `Group=oauth2-sendmail`).
const SERVICE: (u32, u32) = (3_999_003, GROUP);

#[test]
fn the_queue_service_user_delivers_every_users_queued_mail() {
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("setgid-service");
    let queue = install.queue_areas();
    queue_from(
        &install,
        sb,
        &queue,
        &[
            (USER, "service-a@example.com"),
            (OTHER, "service-b@example.com"),
        ],
    );
    make_due(&queue);
    install.configure_sending_queue(sb, &queue, "");
    install
        .run(Some(SERVICE), &["--queue-run"], b"", &[])
        .expect(0);
    sb.wait_for_mail("service-a@example.com", 1);
    sb.wait_for_mail("service-b@example.com", 1);
    assert_eq!(root_mailq(&install), "Mail queue is empty\n");
}

#[test]
fn a_state_write_failing_after_a_partial_delivery_stops_the_run() {
    use common::fake_smtp::FakeSmtp;
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("setgid-partial");
    let queue = install.queue_areas();
    install.configure_queue(sb, &queue);
    for n in 1..=2 {
        let good = format!("partial-{n}@example.com");
        install
            .run(
                Some(USER),
                &["-i", &good, "later@example.com"],
                b"Subject: p\n\nx\n",
                &[],
            )
            .expect(0);
    }
    make_due(&queue);
    // A server that takes the first recipient and defers the second: the
    // attempt's result (one recipient served) must be recorded.
    let mut behaviour = common::queue::good();
    behaviour
        .rcpt_replies
        .insert("later@example.com".into(), "450 4.2.0 try later".into());
    let fake = FakeSmtp::start(behaviour);
    install.configure_sending_queue(sb, &queue, "rate_limit = 0");
    let conf = install.etc.join("sendmail.conf");
    // No pacing: the ledger is not written at all.
    let text = std::fs::read_to_string(&conf).unwrap().replace(
        &format!("port = {}", sb.port("smtp_port")),
        &format!("port = {}", fake.port),
    ) + "\n[limits]\nrecipients_per_day = 0\n";
    install.put("sendmail.conf", text.as_bytes(), GROUP, 0o640);
    let run = install.run_after(Some(USER), NO_FILE_GROWTH, &["-q"], b"", &[]);
    run.expect(0);
    assert!(
        run.stdout.contains("(stopped: cannot record the attempt: "),
        "{}",
        run.output()
    );
    assert_eq!(
        fake.record().messages.len(),
        1,
        "the run went on after a result it could not record"
    );
}

#[test]
fn a_stopped_token_lock_holder_does_not_stop_mail() {
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("setgid-token-lock");
    install.configure(sb, &format!("client_secret_file = \"{ETC}/client-secret\""));
    install
        .run(
            Some(OTHER),
            &["-i", "token-lock-1@example.com"],
            b"Subject: 1\n\nx\n",
            &[],
        )
        .expect(0);
    let lock = std::fs::read_dir(&install.cache)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".lock"))
        .unwrap();
    // No cached token: the next send must fetch one, under the lock.
    std::fs::remove_file(lock.with_extension("")).unwrap();
    let _holder = stopped_lock_holder(&lock);
    install
        .run(
            Some(OTHER),
            &["-i", "token-lock-2@example.com"],
            b"Subject: 2\n\nx\n",
            &[],
        )
        .expect(0);
    sb.wait_for_mail("token-lock-2@example.com", 1);
}
