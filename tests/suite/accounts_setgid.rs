//! A caller bound by `callers` (issue 15), through the set-group-ID
//! install as an unprivileged user: it sends through its own account
//! whatever it writes, and reaches the other one neither by From, nor by
//! `-f`, nor by `-bs`, nor by `--check --account`, nor through the queue
//! (a queued message whose account tag was changed to another account is
//! failed by root's run, not sent).
//!
//! The install's /etc overlay carries a `passwd` and a `group` naming the
//! test user `www-shop`, in group `webteam`. Postfix takes a MAIL FROM
//! only from the mailbox that logged in, so the envelope sender shows
//! which account sent.

use crate::accounts::{SHOP, shop_account};
use crate::common::sandbox::{Sandbox, sandbox};
use crate::common::setgid::*;

/// The test user's name in the overlay's /etc/passwd.
const NAME: &str = "www-shop";

/// Names the test users in the namespace's /etc/passwd and /etc/group.
fn name_users(install: &Install) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap()
        + &format!(
            "{NAME}:x:{}:{}::/nonexistent:/usr/sbin/nologin\nother-user:x:{}:{}::/nonexistent:/usr/sbin/nologin\n",
            USER.0, USER.1, OTHER.0, OTHER.1
        );
    let group = std::fs::read_to_string("/etc/group").unwrap()
        + &format!("{NAME}:x:{}:\nwebteam:x:3999200:{NAME}\n", USER.1);
    for (name, text) in [("passwd", passwd), ("group", group)] {
        let path = install.layer.join(name);
        std::fs::write(&path, text).unwrap();
        chown(&path, 0, 0, 0o644);
    }
}

/// The default account (main application) and `[accounts.shop]` bound to
/// `callers`; `-f` allowed, so that it is a way to try; `extra` at the end.
fn configure(install: &Install, sb: &Sandbox, callers: &str, extra: &str) {
    install.put_credentials(sb);
    name_users(install);
    let second = sb.client("second");
    install.put(
        "shop-secret",
        second["client_secret"].as_str().unwrap().as_bytes(),
        GROUP,
        0o640,
    );
    let shop = shop_account(&format!(
        "callers = [{callers}]\nclient_secret_file = \"{ETC}/shop-secret\"\n"
    ))
    .lines()
    .filter(|l| !l.starts_with("client_secret ="))
    .collect::<Vec<_>>()
    .join("\n");
    let text = install.config_with_secret_file(sb, true)
        + "\n[addresses]\nallow_from_override = true\n"
        + extra
        + &shop
        + "\n";
    install.put("sendmail.conf", text.as_bytes(), GROUP, 0o640);
}

#[test]
fn a_bound_caller_sends_through_its_account_whatever_it_writes() {
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("accounts-bound");
    configure(&install, sb, "\"@webteam\"", "");
    let main = sb.str("user");

    // Its From names the default account's mailbox: still the shop.
    let to = "bound-from@example.net";
    let run = install.run(
        Some(USER),
        &["-v", to],
        format!("From: {main}\nSubject: by From\n\nx\n").as_bytes(),
        &[],
    );
    run.expect(0);
    assert!(
        run.stderr
            .contains("account shop, chosen by caller @webteam"),
        "{}",
        run.stderr
    );
    let got = sb.wait_for_mail(to, 1);
    assert_eq!(got[0].sender, SHOP);
    // from_policy = "rewrite": its From became the shop's address.
    assert!(
        got[0].field("From").unwrap().contains(SHOP),
        "{:?}",
        got[0].field("From")
    );

    // -f with the default mailbox: the account stays the shop's, so the
    // server refuses a sender the shop mailbox does not own; nothing goes
    // out as the default mailbox.
    let to = "bound-f@example.net";
    let run = install.run(
        Some(USER),
        &["-f", &main, to],
        b"Subject: by -f\n\nx\n",
        &[],
    );
    assert_ne!(run.code, 0, "{}", run.output());
    assert!(sb.mail_for(to).iter().all(|m| m.sender != main));

    // -bs: the dialogue's account is the binding, whatever MAIL FROM says.
    let to = "bound-bs@example.net";
    let dialogue = format!(
        "EHLO client\r\nMAIL FROM:<{SHOP}>\r\nRCPT TO:<{to}>\r\nDATA\r\nFrom: {main}\r\nSubject: bs\r\n\r\nx\r\n.\r\nQUIT\r\n"
    );
    let run = install.run(Some(USER), &["-bs"], dialogue.as_bytes(), &[]);
    run.expect(0);
    let got = sb.wait_for_mail(to, 1);
    assert_eq!(got[0].sender, SHOP, "{}", run.stdout);

    // --check --account names only its own account.
    let run = install.run(Some(USER), &["--check", "--account", "default"], b"", &[]);
    run.expect(64);
    assert!(
        run.stdout.contains("--account default: no such account"),
        "{}",
        run.stdout
    );

    // Only the shop application ever fetched a token: one cache entry.
    let tokens = std::fs::read_dir(&install.cache)
        .unwrap()
        .flatten()
        .filter(|e| {
            // The pacing files (pace.KEY, slot.KEY.N) live there too.
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("token-") && !name.ends_with(".lock")
        })
        .count();
    assert_eq!(tokens, 1);
}

#[test]
fn an_unbound_caller_is_chosen_by_sender_and_the_default() {
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("accounts-unbound");
    // Bound: the other user only; the test user chooses by sender.
    configure(&install, sb, "\"other-user\"", "");
    let to = "unbound-default@example.net";
    install
        .run(
            Some(USER),
            &[to],
            b"From: x@elsewhere.example\nSubject: d\n\nx\n",
            &[],
        )
        .expect(0);
    assert_eq!(sb.wait_for_mail(to, 1)[0].sender, sb.str("user"));
}

#[test]
fn a_bound_callers_queued_message_cannot_be_turned_to_another_account() {
    let sb = sandbox();
    let _shared = sb.shared();
    let install = Install::new("accounts-queue-tag");
    let queue = install.queue_areas();
    let closed = crate::common::queue::closed_port();
    let queue_section = format!("[queue]\ndir = \"{}\"\n", queue.display());
    // The shop's server is down: both messages wait, tagged "account shop".
    configure(
        &install,
        sb,
        "\"www-shop\"",
        &format!("{queue_section}\n[accounts.shop.smtp]\nport = {closed}\n"),
    );
    let (kept, turned) = ("tag-kept@example.net", "tag-turned@example.net");
    for to in [kept, turned] {
        install
            .run(Some(USER), &[to], b"Subject: queued\n\nx\n", &[])
            .expect(0);
    }
    let listing = install.run(Some(USER), &["-bp"], b"", &[]);
    assert_eq!(
        listing.stdout.matches("(account shop)").count(),
        2,
        "{}",
        listing.stdout
    );

    // The server is back. Someone with the group's rights strips the tag
    // of one message, which now claims the default account.
    configure(&install, sb, "\"www-shop\"", &queue_section);
    let ids: Vec<String> = std::fs::read_dir(queue.join("msg"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let turned_id = ids
        .iter()
        .find(|id| {
            std::fs::read_to_string(queue.join("msg").join(id))
                .unwrap()
                .contains(turned)
        })
        .unwrap();
    let path = queue.join("msg").join(turned_id);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("account shop\n", "", 1)).unwrap();

    // Root's run: the kept one goes out as the shop; the turned one is
    // failed, never sent as the default mailbox.
    let run = install.run(None, &["-q"], b"", &[]);
    run.expect(0);
    assert!(run.stdout.contains("1 delivered"), "{}", run.stdout);
    assert!(run.stdout.contains("1 failed"), "{}", run.stdout);
    assert_eq!(sb.wait_for_mail(kept, 1)[0].sender, SHOP);
    assert!(sb.mail_for(turned).is_empty());
    let failed: Vec<String> = std::fs::read_dir(queue.join("failed"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        failed.iter().any(|f| f.starts_with(turned_id.as_str())),
        "{failed:?}"
    );
}
