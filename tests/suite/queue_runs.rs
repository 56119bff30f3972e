//! Queue runs, end to end: only due messages for `--queue-run`, a
//! throttling 421 ends a run, due messages follow a live delivery over the
//! same session, the per-minute limit and the number of SMTP sessions for
//! 100 messages, two runs at once (each message exactly once, through the
//! sandbox's Postfix), and `kill -9` of runs at random moments (nothing
//! lost, duplicates counted).

use crate::common;

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::fake_smtp::FakeSmtp;
use common::queue::*;
use common::sandbox::sandbox;
use common::{BIN, Run, s, sendmail};

#[test]
fn a_421_mid_session_stops_the_run_and_leaves_the_rest() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("throttle");
    let down = setup.config("down.conf", Target::Closed, "");
    queue_messages(&down, "t@example.com", 5);
    setup.edit_states("next", "0");
    let mut behaviour = good();
    behaviour.mail_reply_after = Some((2, "421 4.3.2 Service not available, too busy".into()));
    let busy = FakeSmtp::start(behaviour);
    let conf = setup.config("busy.conf", Target::Fake(busy.port), "");
    let out = sendmail(&["-C", s(&conf), "--queue-run"], b"");
    out.expect(0);
    assert_eq!(out.output(), "", "--queue-run is quiet");
    assert_eq!(sequence_numbers(&busy.record().messages), vec![0, 1]);
    assert_eq!(busy.record().connections, 1);
    let listing = mailq(&conf).stdout;
    assert_eq!(listing.matches("(2 attempts").count(), 1, "{listing}");
    assert_eq!(
        listing.matches("(1 attempt,").count(),
        2,
        "untouched: {listing}"
    );
    assert!(listing.contains("421 4.3.2"), "{listing}");

    let fine = FakeSmtp::start(good());
    let conf = setup.config("good.conf", Target::Fake(fine.port), "");
    flush(&conf);
    let mut seen = sequence_numbers(&fine.record().messages);
    seen.sort_unstable();
    assert_eq!(seen, vec![2, 3, 4], "the rest, once each");
}

#[test]
fn queue_run_takes_only_due_messages_and_q_takes_all() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("due");
    let down = setup.config("down.conf", Target::Closed, "");
    queue_messages(&down, "d@example.com", 3);
    let fake = FakeSmtp::start(good());
    let conf = setup.config("good.conf", Target::Fake(fake.port), "");
    sendmail(&["-C", s(&conf), "--queue-run"], b"").expect(0);
    assert_eq!(fake.record().connections, 0, "nothing was due");
    assert_eq!(setup.area("msg").len(), 3);
    let first = setup.area("state")[0].clone();
    let path = setup.queue.join("state").join(&first);
    let text = fs::read_to_string(&path).unwrap();
    let due: String = text
        .lines()
        .map(|l| {
            if l.starts_with("next ") {
                "next 0\n".into()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(&path, due).unwrap();
    sendmail(&["-C", s(&conf), "--queue-run"], b"").expect(0);
    assert_eq!(fake.record().messages.len(), 1, "only the due one");
    flush(&conf);
    assert_eq!(fake.record().messages.len(), 3);
    assert!(setup.area("msg").is_empty());
}

#[test]
fn after_a_live_delivery_due_messages_follow_over_the_same_session() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("flush");
    let down = setup.config("down.conf", Target::Closed, "");
    queue_messages(&down, "f@example.com", 3);
    // A minute passes: their retry time comes.
    setup.edit_states("next", "0");
    let fake = FakeSmtp::start(good());
    let conf = setup.config("good.conf", Target::Fake(fake.port), "");
    sendmail(&["-C", s(&conf), "-i", "f@example.com"], &numbered(99)).expect(0);
    let record = fake.record();
    assert_eq!(record.connections, 1, "one session for all");
    assert_eq!(sequence_numbers(&record.messages), vec![99, 0, 1, 2]);
    assert!(setup.area("msg").is_empty());
}

#[test]
fn two_concurrent_runs_deliver_each_of_50_messages_exactly_once() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("concurrent");
    let rcpt = "queue-concurrent@example.com";
    let down = setup.config("down.conf", Target::Closed, "rate_limit = 0\n");
    queue_messages(&down, rcpt, 50);
    let conf = setup.config("postfix.conf", Target::Postfix, "rate_limit = 0\n");
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let conf = conf.clone();
            std::thread::spawn(move || sendmail(&["-C", s(&conf), "-q"], b""))
        })
        .collect();
    let outputs: Vec<Run> = runs.into_iter().map(|h| h.join().unwrap()).collect();
    for run in &outputs {
        run.expect(0);
    }
    let got = sb.wait_for_mail(rcpt, 50);
    // Late duplicates would arrive within moments.
    std::thread::sleep(Duration::from_millis(500));
    let got = if got.len() == 50 {
        sb.mail_for(rcpt)
    } else {
        got
    };
    let mut seen: Vec<usize> = got
        .iter()
        .filter_map(|m| m.field("X-Seq").and_then(|v| v.parse().ok()))
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..50).collect::<Vec<_>>(), "each exactly once");
    eprintln!(
        "two concurrent runs: {} / {}",
        outputs[0].stdout.trim(),
        outputs[1].stdout.trim()
    );
    assert!(setup.area("msg").is_empty());
}

#[test]
fn a_hundred_messages_flush_over_few_sessions_within_the_rate_limit() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("hundred");
    // Unpaced, so the 100 live attempts leave the minute to the runs below.
    let down = setup.config("down.conf", Target::Closed, "rate_limit = 0\n");
    queue_messages(&down, "h@example.com", 100);
    let fake = FakeSmtp::start(good());
    let limited = setup.config("limited.conf", Target::Fake(fake.port), "rate_limit = 40\n");
    let out = flush(&limited).stdout;
    assert!(out.contains("40 delivered"), "{out}");
    assert!(out.contains("60 left in the queue"), "{out}");
    assert!(out.contains("limit of 40 messages a minute"), "{out}");
    assert_eq!(fake.record().messages.len(), 40);
    // The minute is not over: another run sends nothing, opens nothing.
    let out = flush(&limited).stdout;
    assert!(out.contains("0 delivered"), "{out}");
    assert_eq!(fake.record().connections, 1);
    let unlimited = setup.config(
        "unlimited.conf",
        Target::Fake(fake.port),
        "rate_limit = 0\n",
    );
    let out = flush(&unlimited).stdout;
    assert!(out.contains("60 delivered"), "{out}");
    let record = fake.record();
    let mut seen = sequence_numbers(&record.messages);
    seen.sort_unstable();
    assert_eq!(seen, (0..100).collect::<Vec<_>>());
    eprintln!(
        "100 queued messages went over {} SMTP sessions",
        record.connections
    );
    assert_eq!(record.connections, 2);
    let rsets = record.commands.iter().filter(|c| *c == "RSET").count();
    assert_eq!(rsets, 0, "no refusal, so no RSET between messages");
}

#[test]
fn kill_9_during_queue_runs_loses_nothing() {
    let sb = sandbox();
    let _shared = sb.shared();
    let setup = Setup::new("kill");
    // Queueing also caches the token, so the runs spend their time on the queue.
    let down = setup.config("down.conf", Target::Closed, "rate_limit = 0\n");
    queue_messages(&down, "k@example.com", 20);
    let mut behaviour = good();
    // A slow 250 makes each run send only a message or two before the kill,
    // and widens the window between the server's 250 and the removal.
    behaviour.final_reply_delay = Some(Duration::from_millis(40));
    let fake = FakeSmtp::start(behaviour);
    let conf = setup.config("good.conf", Target::Fake(fake.port), "rate_limit = 0\n");
    let started = Instant::now();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        ^ u64::from(std::process::id());
    let mut random = seed | 1;
    let spawn = || {
        Command::new(BIN)
            .args(["-C", s(&conf), "-q"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // Calibration, and the first kill: right after the server has the
    // first message, before its 250 (a duplicate in the making). Later
    // kills fall anywhere from start-up to a few messages in.
    let mut child = spawn();
    let first = Instant::now();
    while fake.record().messages.is_empty() {
        assert!(
            first.elapsed() < Duration::from_secs(30),
            "no message arrived"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let to_first_message = first.elapsed();
    child.kill().unwrap();
    child.wait().unwrap();
    let window = to_first_message + Duration::from_millis(300);
    let (mut killed, mut queued) = (1, 20);
    for _ in 1..50 {
        // Every kill cuts into a queue of 20: refill it once it drains.
        if setup.area("msg").is_empty() {
            queue_numbers(&down, "k@example.com", queued..queued + 20);
            queued += 20;
        }
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        let delay = Duration::from_micros(random % window.as_micros() as u64);
        let mut child = spawn();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            killed += 1;
        }
        child.wait().unwrap();
    }
    let out = flush(&conf).stdout;
    assert!(out.contains("; 0 left in the queue"), "{out}");
    let record = fake.record();
    let mut seen = sequence_numbers(&record.messages);
    seen.sort_unstable();
    let mut distinct = seen.clone();
    distinct.dedup();
    assert_eq!(
        distinct,
        (0..queued).collect::<Vec<_>>(),
        "every message arrived"
    );
    let duplicates = seen.len() - distinct.len();
    eprintln!(
        "kill -9: {killed} of 50 runs killed (seed {seed}, first message after {:?}), \
         {} deliveries of {queued} messages ({duplicates} duplicates), {} temporary files \
         left, {:.1} s",
        to_first_message,
        seen.len(),
        setup.area("tmp").len(),
        started.elapsed().as_secs_f64()
    );
    assert!(setup.area("msg").is_empty(), "none left behind");
    assert!(setup.area("failed").is_empty() && setup.area("corrupt").is_empty());
    assert!(killed > 0, "the test killed no run");
}
