//! Issue 11, local security items 1–8, with other attacks.

use super::*;

// ---- local 6: --check by a caller, with -v, --json, a broken configuration ----

#[test]
fn check_by_a_caller_with_v_json_or_a_broken_configuration_shows_nothing() {
    use crate::common::setgid::*;
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("review-check");
    install.configure(sb, &format!("client_secret_file = \"{ETC}/client-secret\""));
    // A cached token first (root's send), so --check has one to judge.
    install
        .run(
            None,
            &["-i", "review-check@example.com"],
            b"Subject: c\n\nx\n",
            &[],
        )
        .expect(0);
    let token = install.cached_token();
    let secret = sb.str("client_secret");
    // The installed configuration's path is no secret to a send's error
    // line; --check names no path at all.
    let hidden = |out: &str, path_too: bool| {
        let path = if path_too {
            ETC.to_string()
        } else {
            secret.clone()
        };
        for value in [
            sb.str("tenant"),
            sb.str("client_id"),
            sb.str("user"),
            secret.clone(),
            token.clone(),
            install.cache.display().to_string(),
            path,
        ] {
            assert!(!out.contains(&value), "{value} shown to a caller:\n{out}");
        }
    };
    for args in [
        &["--check", "-v"][..],
        &["--check", "--json", "-v"],
        &["-v", "--check", "--to", "x@example.com"],
    ] {
        let run = install.run(Some(USER), args, b"", &[]);
        assert_ne!(run.code, -1);
        hidden(&run.output(), true);
    }
    // A configuration that no longer parses, its secret on the bad line.
    let text = install.config_text(
        sb,
        &format!("client_secret = \"{secret}\nclient_secret_file = \"x\""),
        true,
    );
    install.put("sendmail.conf", text.as_bytes(), GROUP, 0o640);
    for args in [
        &["--check", "-v"][..],
        &["--check", "--json"],
        &["-i", "a@example.com"],
    ] {
        let run = install.run(Some(USER), args, b"Subject: c\n\nx\n", &[]);
        assert_ne!(run.code, 0, "{args:?}");
        hidden(&run.output(), args[0] == "--check");
    }
}

// ---- local: a hostile caller's resource limits -------------------------------

#[test]
fn a_caller_with_few_file_descriptors_loses_no_message() {
    use crate::common::setgid::*;
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("review-nofile");
    let queue = install.queue_areas();
    install.configure_queue(sb, &queue);
    for limit in [6, 7, 8, 9, 10, 12, 16] {
        let rcpt = format!("nofile-{limit}@example.com");
        let run = install.run_after(
            Some(USER),
            &format!("ulimit -n {limit}"),
            &["-i", &rcpt],
            b"Subject: n\n\nx\n",
            &[],
        );
        assert_ne!(run.code, -1, "limit {limit}: hung");
        let listing = install.run(None, &["-bp"], b"", &[]).stdout;
        if run.code == 0 {
            assert!(
                listing.contains(&rcpt),
                "limit {limit}: exit 0 but not queued:\n{}\n{listing}",
                run.output()
            );
        } else {
            // The caller is told (an EMFILE reading a configured file is
            // reported as that file's problem, exit 78: the caller's own
            // doing, not a lost message).
            assert!(run.code > 0, "limit {limit}: {}", run.output());
            assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        }
    }
}

// ---- local 1: a caller's run never locks another user's message --------------

/// The lines of an strace of `args` run by `who` through the installation
/// (as `Install::run` does), each system call's descriptors shown with
/// their paths (`-y`).
fn traced(
    install: &crate::common::setgid::Install,
    who: (u32, u32),
    args: &[&str],
) -> (crate::common::Run, String) {
    let out = install.scratch.join("strace.out");
    let script = r#"mount -t overlay overlay -o "lowerdir=$1:/etc" /etc || exit 90
uid=$2; gid=$3; shift 3
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@""#;
    let mut command = std::process::Command::new("strace");
    command
        .args(["-f", "-qq", "-y", "-e", "trace=flock", "-o"])
        .arg(&out)
        .args(["unshare", "--mount", "--propagation", "private", "--"])
        .args(["sh", "-c", script, "sh"])
        .arg(&install.layer)
        .args([who.0.to_string(), who.1.to_string()])
        .arg(&install.binary)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    let run =
        crate::common::setgid::run_with_deadline(command, b"", std::time::Duration::from_secs(60));
    (run, std::fs::read_to_string(&out).unwrap_or_default())
}

#[test]
fn a_callers_run_never_locks_another_users_message() {
    use crate::common::setgid::*;
    use crate::setgid_attacks::{make_due, queue_from};
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("review-claim");
    let queue = install.queue_areas();
    // Another user's message, due; the server still down.
    queue_from(&install, sb, &queue, &[(OTHER, "claim-theirs@example.com")]);
    let id = std::fs::read_dir(queue.join("msg"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .file_name()
        .to_string_lossy()
        .into_owned();
    // And one of the caller's own, which its run does lock.
    queue_from(&install, sb, &queue, &[(USER, "claim-mine@example.com")]);
    make_due(&queue);
    // A caller who stops its own run while it holds that lock would keep
    // the message from everyone's runs for as long as it likes.
    for args in [&["-q"][..], &["--queue-run"]] {
        make_due(&queue);
        let (run, trace) = traced(&install, USER, args);
        run.expect(0);
        assert!(
            trace.contains("/msg/"),
            "the caller's own message: {}\n{trace}",
            run.output()
        );
        let locked: Vec<&str> = trace
            .lines()
            .filter(|l| l.contains("flock(") && l.contains(&format!("/msg/{id}>")))
            .collect();
        assert!(locked.is_empty(), "{args:?}: {locked:?}");
    }
    // Root's run still takes it.
    let (run, trace) = traced(&install, (0, 0), &["-q"]);
    run.expect(0);
    assert!(
        trace
            .lines()
            .any(|l| l.contains("flock(") && l.contains(&format!("/msg/{id}>"))),
        "{trace}"
    );
}

// ---- local: a caller that closes its standard descriptors ---------------------

#[test]
fn closed_standard_descriptors_write_nothing_into_queue_or_cache_files() {
    use crate::common::setgid::*;
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("review-closed-fds");
    let queue = install.queue_areas();
    install.configure_queue(sb, &queue);
    for closing in ["exec 1>&- 2>&-", "exec 2>&-", "exec 0<&- 1>&- 2>&-"] {
        let _ = install.run_after(
            Some(USER),
            closing,
            &["-i", "-v", "fds@example.com"],
            b"Subject: fds\n\nthe body\n",
            &[],
        );
    }
    for area in ["msg", "state", "tmp", "failed"] {
        for entry in std::fs::read_dir(queue.join(area)).unwrap().flatten() {
            let text = String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap()).into_owned();
            assert!(
                !text.contains("oauth2-sendmail:") && !text.contains("queued"),
                "{area}/{:?}: {text}",
                entry.file_name()
            );
        }
    }
    for entry in std::fs::read_dir(&install.cache).unwrap().flatten() {
        let text = String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap()).into_owned();
        assert!(!text.contains("oauth2-sendmail:"), "{text}");
    }
    let listing = install.run(None, &["-bp"], b"", &[]).stdout;
    assert!(listing.contains("fds@example.com"), "{listing}");
}

// ---- local 2 and 3: a file size limit that cuts the queued copy -------------

#[test]
fn a_queued_copy_cut_by_rlimit_fsize_is_never_reported_as_queued() {
    use crate::common::setgid::*;
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("review-fsize-cut");
    let queue = install.queue_areas();
    install.configure_queue(sb, &queue);
    let mut message = b"Subject: cut\n\n".to_vec();
    for n in 0..200 {
        message.extend_from_slice(
            format!("line {n} of a message longer than 512 octets\n").as_bytes(),
        );
    }
    for blocks in [1, 4] {
        let run = install.run_after(
            Some(USER),
            &format!("trap '' XFSZ; ulimit -f {blocks}"),
            &["-i", "fsize-cut@example.com"],
            &message,
            &[],
        );
        assert_ne!(run.code, 0, "{blocks}: {}", run.output());
        assert_ne!(run.code, -1, "{blocks}: hung");
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    }
    for area in ["msg", "state"] {
        assert!(
            std::fs::read_dir(queue.join(area))
                .unwrap()
                .next()
                .is_none(),
            "{area}: a cut copy was kept"
        );
    }
}

// ---- local 8: every directory on the way to a named file ----------------------

#[test]
fn a_user_owned_directory_anywhere_above_a_named_file_is_refused() {
    use crate::common::setgid::*;
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("review-ancestors");
    // etc/oauth2-sendmail/a (a user's) / b (root's) / client-secret: the
    // user may rename b and put its own b, with its own files, in place.
    let a = install.etc.join("a");
    let b = a.join("b");
    std::fs::create_dir_all(&b).unwrap();
    chown(&a, USER.0, USER.1, 0o755);
    chown(&b, 0, 0, 0o755);
    install.put(
        "a/b/client-secret",
        sb.str("client_secret").as_bytes(),
        GROUP,
        0o640,
    );
    install.configure(
        sb,
        &format!("client_secret_file = \"{ETC}/a/b/client-secret\""),
    );
    let run = install.run(
        Some(USER),
        &["-i", "anc@example.com"],
        b"Subject: a\n\nx\n",
        &[],
    );
    run.expect(78);
    assert!(
        run.stderr.contains(&format!(
            "the directory {ETC}/a of a file the configuration names"
        )),
        "{}",
        run.stderr
    );
    // The same through a link in a root directory to the user's tree.
    chown(&a, 0, 0, 0o755);
    let user_dir = install.scratch.join("users-tree");
    std::fs::create_dir_all(user_dir.join("b")).unwrap();
    chown(&user_dir, USER.0, USER.1, 0o755);
    std::fs::copy(b.join("client-secret"), user_dir.join("b/client-secret")).unwrap();
    chown(&user_dir.join("b/client-secret"), 0, GROUP, 0o640);
    std::fs::remove_dir_all(&b).unwrap();
    std::os::unix::fs::symlink(user_dir.join("b"), &b).unwrap();
    let run = install.run(
        Some(USER),
        &["-i", "anc@example.com"],
        b"Subject: a\n\nx\n",
        &[],
    );
    run.expect(78);
    assert!(run.stderr.contains("users-tree"), "{}", run.stderr);
    // Root's own directories all the way: it sends.
    std::fs::remove_file(&b).unwrap();
    std::fs::create_dir(&b).unwrap();
    chown(&b, 0, 0, 0o755);
    install.put(
        "a/b/client-secret",
        sb.str("client_secret").as_bytes(),
        GROUP,
        0o640,
    );
    install
        .run(
            Some(USER),
            &["-i", "anc@example.com"],
            b"Subject: a\n\nx\n",
            &[],
        )
        .expect(0);
    // Root's directory in a sticky one (the scratch directory in /tmp):
    // nobody else may rename it, so it passes.
    let sticky_secret = install.scratch.join("sticky-secret");
    std::fs::write(&sticky_secret, sb.str("client_secret")).unwrap();
    chown(&sticky_secret, 0, GROUP, 0o640);
    chown(&install.scratch.path, 0, 0, 0o755);
    install.configure(
        sb,
        &format!("client_secret_file = \"{}\"", sticky_secret.display()),
    );
    install
        .run(
            Some(USER),
            &["-i", "anc@example.com"],
            b"Subject: a\n\nx\n",
            &[],
        )
        .expect(0);
}

// ---- local 5: links at a message's name and at a failure's reason ---------------

#[test]
fn links_at_a_message_name_and_a_failure_reason_change_no_root_file() {
    use crate::common::setgid::*;
    use crate::setgid_attacks::{as_group_member, assert_untouched, make_due, queue_from, victim};
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("review-links");
    let queue = install.queue_areas();
    queue_from(&install, sb, &queue, &[(USER, "links-gone@example.com")]);
    make_due(&queue);
    let id = std::fs::read_dir(queue.join("msg"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .file_name()
        .to_string_lossy()
        .into_owned();
    let victims: Vec<_> = ["msg", "reason"]
        .iter()
        .map(|n| victim(&install, &format!("victim-{n}")))
        .collect();
    // A link with a queue id's name in msg/, and one where the failure's
    // reason will be written.
    let planted = [
        (queue.join("msg").join("00000000000000000001"), &victims[0]),
        (
            queue.join("failed").join(format!("{id}.reason")),
            &victims[1],
        ),
    ];
    for (link, target) in &planted {
        as_group_member(&format!(
            "ln -s '{}' '{}'",
            target.display(),
            link.display()
        ));
    }
    // A server that refuses the recipient for good: the message fails and
    // its reason is written.
    let mut b = crate::common::queue::good();
    b.rcpt_replies.insert(
        "links-gone@example.com".into(),
        "550 5.1.1 User unknown".into(),
    );
    let fake = FakeSmtp::start(b);
    install.configure_sending_queue(sb, &queue, "");
    let conf = install.etc.join("sendmail.conf");
    let text = std::fs::read_to_string(&conf).unwrap().replace(
        &format!("port = {}", sb.port("smtp_port")),
        &format!("port = {}", fake.port),
    );
    install.put("sendmail.conf", text.as_bytes(), GROUP, 0o640);
    let run = install.run(None, &["-q"], b"", &[]);
    run.expect(0);
    assert!(run.stdout.contains("1 failed"), "{}", run.stdout);
    for v in &victims {
        assert_untouched(v);
    }
    let reason =
        std::fs::symlink_metadata(queue.join("failed").join(format!("{id}.reason"))).unwrap();
    assert!(
        reason.file_type().is_file(),
        "the reason was written over the link"
    );
    assert!(
        !queue.join("msg").join("00000000000000000001").exists(),
        "the planted link was set aside"
    );
}
