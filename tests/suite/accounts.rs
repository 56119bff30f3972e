//! Several mailboxes (issue 15) through the real binary, as root: the
//! sandbox's second application ("second", mailbox shop@contoso.test) as
//! `[accounts.shop]`, the main application as the default account. Postfix
//! takes a MAIL FROM only from the mailbox that logged in and Dovecot
//! takes a token only for its own application's mailbox, so the envelope
//! sender a message arrives with proves which account sent it.
//!
//! The bound caller (`callers`) is tested with the set-group-ID install in
//! `accounts_setgid.rs`.

use std::path::{Path, PathBuf};

use crate::common::sandbox::sandbox;
use crate::common::{Run, Scratch, SyslogCapture, s, sendmail, write_private};

pub const SHOP: &str = "shop@contoso.test";

/// The `[accounts.shop]` table for the sandbox's second application.
pub fn shop_account(extra: &str) -> String {
    let sb = sandbox();
    let second = sb.client("second");
    format!(
        "\n[accounts.shop]\nclient_id = \"{}\"\nclient_secret = \"{}\"\nuser = \"{}\"\n{extra}\n",
        second["client_id"].as_str().unwrap(),
        second["client_secret"].as_str().unwrap(),
        second["user"].as_str().unwrap(),
    )
}

/// A configuration with the default account and `[accounts.shop]`.
fn two_accounts(scratch: &Scratch, top_extra: &str, shop_extra: &str) -> PathBuf {
    let mut settings = sandbox().settings(scratch);
    settings.extra = format!("{top_extra}\n{}", shop_account(shop_extra));
    let path = scratch.join("sendmail.conf");
    write_private(&path, &settings.render());
    path
}

fn send(conf: &Path, args: &[&str], message: &str) -> Run {
    let mut all = vec!["-C", s(conf)];
    all.extend_from_slice(args);
    sendmail(&all, message.as_bytes())
}

/// `mailq` as root, which must list a message of the shop account.
fn shop_message_listed(conf: &Path) -> Run {
    let listing = send(conf, &["-bp"], "");
    listing.expect(0);
    assert!(
        listing
            .stdout
            .contains(&format!("{SHOP}\n(account shop)\n")),
        "{}",
        listing.stdout
    );
    listing
}

fn token_files(cache: &Path) -> usize {
    std::fs::read_dir(cache)
        .unwrap()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("token-") && !name.ends_with(".lock")
        })
        .count()
}

#[test]
fn the_sender_chooses_the_account_else_the_default_with_a_cache_entry_each() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("accounts-sender");
    let log = SyslogCapture::new(&scratch);
    let mut settings = sb.settings(&scratch);
    settings.syslog_socket = Some(log.path.clone());
    settings.extra = shop_account("senders = [\"*@shop.example\"]");
    let conf = scratch.join("sendmail.conf");
    write_private(&conf, &settings.render());

    let to = "acc-sender@example.net";
    let run = send(
        &conf,
        &["-v", to],
        "From: Web Shop <orders@shop.example>\nSubject: by sender\n\nhello\n",
    );
    run.expect(0);
    assert!(
        run.stderr
            .contains("account shop, chosen by sender orders@shop.example"),
        "{}",
        run.stderr
    );
    let got = sb.wait_for_mail(to, 1);
    assert_eq!(got[0].sender, SHOP, "sent through the shop mailbox");

    let to2 = "acc-default@example.net";
    send(
        &conf,
        &["-v", to2],
        "From: someone@elsewhere.example\nSubject: default\n\nhello\n",
    )
    .expect(0);
    let got = sb.wait_for_mail(to2, 1);
    assert_eq!(got[0].sender, sb.str("user"), "the default account");

    // One token for each application, each in its own cache file.
    assert_eq!(token_files(&scratch.join("cache")), 2);
    let lines = log.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("account=shop ") && l.contains("outcome=delivered")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("account=default ") && l.contains("outcome=delivered")),
        "{lines:?}"
    );
}

#[test]
fn a_queued_message_of_the_second_account_is_delivered_by_q_as_that_account() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("accounts-queue");
    let queue = scratch.join("queue");
    let closed = crate::common::queue::closed_port();
    let queue_section = format!("\n[queue]\ndir = \"{}\"\n", queue.display());
    // The shop account's server is down: its message waits in the queue.
    let conf = two_accounts(
        &scratch,
        &queue_section,
        &format!("senders = [\"*@shop.example\"]\n[accounts.shop.smtp]\nport = {closed}\n"),
    );
    let to = "acc-queued@example.net";
    send(
        &conf,
        &[to],
        "From: orders@shop.example\nSubject: queued\n\nx\n",
    )
    .expect(0);
    assert!(sb.mail_for(to).is_empty());
    shop_message_listed(&conf);

    // The server is back; the default account's run does not take it, the
    // shop account's run sends it as the shop mailbox.
    let conf = two_accounts(&scratch, &queue_section, "senders = [\"*@shop.example\"]");
    let run = send(&conf, &["-q"], "");
    run.expect(0);
    assert!(run.stdout.contains("1 delivered"), "{}", run.stdout);
    let got = sb.wait_for_mail(to, 1);
    assert_eq!(got[0].sender, SHOP);
    assert!(
        send(&conf, &["-bp"], "")
            .stdout
            .contains("Mail queue is empty")
    );
}

#[test]
fn check_covers_every_account_or_the_one_named() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("accounts-check");
    let conf = two_accounts(&scratch, "", "");
    let all = send(&conf, &["--check"], "");
    all.expect(0);
    assert!(all.stdout.contains("account  result"), "{}", all.stdout);
    let row = |name: &str| {
        all.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name:7}  ")))
            .unwrap_or_else(|| panic!("no row for {name}: {}", all.stdout))
            .to_string()
    };
    // ok, or warn for this sandbox's cache directory; never FAIL.
    assert!(!row("default").contains("FAIL") && row("default").ends_with(&sb.str("user")));
    assert!(
        !row("shop").contains("FAIL") && row("shop").ends_with(SHOP),
        "{}",
        row("shop")
    );

    let one = send(&conf, &["--check", "--account", "shop"], "");
    one.expect(0);
    assert!(one.stdout.contains("account shop"), "{}", one.stdout);
    assert!(one.stdout.contains(SHOP), "{}", one.stdout);

    let none = send(&conf, &["--check", "--account", "nope"], "");
    none.expect(64);
    assert!(
        none.stdout.contains("--account nope: no such account"),
        "{}",
        none.stdout
    );

    let to = "acc-check@example.net";
    send(&conf, &["--check", "--to", to, "--account", "shop"], "").expect(0);
    let got = sb.wait_for_mail(to, 1);
    assert_eq!(got[0].sender, SHOP, "the test message went through shop");
}

#[test]
fn check_shows_a_failing_account_in_the_table_and_its_steps() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("accounts-check-fail");
    let conf = two_accounts(&scratch, "", "");
    let second = sb.client("second")["client_secret"]
        .as_str()
        .unwrap()
        .to_string();
    let text = std::fs::read_to_string(&conf).unwrap();
    write_private(&conf, &text.replace(&second, "wrong-secret-value"));
    let run = send(&conf, &["--check"], "");
    run.expect(78);
    assert!(run.stdout.contains("shop     FAIL"), "{}", run.stdout);
    assert!(!run.stdout.contains("default  FAIL"), "{}", run.stdout);
    assert!(run.stdout.contains("\naccount shop:\n"), "{}", run.stdout);
}

#[test]
fn an_unknown_key_in_an_account_names_file_line_account_and_key() {
    let scratch = Scratch::new("accounts-unknown-key");
    let sb = sandbox();
    let mut settings = sb.settings(&scratch);
    settings.extra =
        "\n[accounts.shop]\nuser = \"shop@contoso.test\"\n[accounts.shop.smtp]\nprot = 25\n".into();
    let conf = scratch.join("sendmail.conf");
    write_private(&conf, &settings.render());
    let lines = settings.render().lines().count();
    let run = send(&conf, &["x@example.net"], "Subject: x\n\nx\n");
    run.expect(78);
    assert!(
        run.stderr.contains(&format!(
            "{}:{lines}: accounts.shop.smtp.prot: unknown key",
            conf.display()
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn a_graph_account_sends_through_graph_with_its_own_token_while_the_default_uses_smtp() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("accounts-graph");
    let log = SyslogCapture::new(&scratch);
    let mut settings = sb.settings(&scratch);
    settings.syslog_socket = Some(log.path.clone());
    // The same application as the default account, over Graph.
    settings.extra = format!(
        "\n[graph]\nurl = \"{}\"\n[accounts.news]\ntransport = \"graph\"\nsenders = [\"*@news.example\"]\n",
        sb.str("graph_url")
    );
    let conf = scratch.join("sendmail.conf");
    write_private(&conf, &settings.render());

    let by_graph = "acc-graph@example.net";
    send(
        &conf,
        &[by_graph],
        "From: letters@news.example\nSubject: by graph\n\nhello\n",
    )
    .expect(0);
    let got = sb.graph_mail_for(by_graph);
    assert_eq!(got.len(), 1, "delivered by Graph");
    assert_eq!(got[0].sender, sb.str("user"));
    assert!(sb.mail_for(by_graph).is_empty(), "not over SMTP");
    assert_eq!(token_files(&scratch.join("cache")), 1, "Graph's token");

    let by_smtp = "acc-graph-default@example.net";
    send(
        &conf,
        &[by_smtp],
        "From: someone@elsewhere.example\nSubject: by smtp\n\nhello\n",
    )
    .expect(0);
    assert_eq!(sb.wait_for_mail(by_smtp, 1)[0].sender, sb.str("user"));
    assert!(sb.graph_mail_for(by_smtp).is_empty(), "not by Graph");
    // The default account's SMTP token is a cache entry of its own.
    assert_eq!(token_files(&scratch.join("cache")), 2);
    let lines = log.lines();
    assert!(
        lines.iter().any(|l| l.contains("account=news ")
            && l.contains("transport=graph")
            && l.contains("outcome=delivered")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("account=default ")
            && !l.contains("transport=graph")
            && l.contains("outcome=delivered")),
        "{lines:?}"
    );
}

#[test]
fn an_accounts_own_queue_is_listed_and_run() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("accounts-own-queue");
    let top_queue = scratch.join("queue-top");
    let shop_queue = scratch.join("queue-shop");
    let closed = crate::common::queue::closed_port();
    let sections = |shop_port: String| {
        two_accounts(
            &scratch,
            &format!("\n[queue]\ndir = \"{}\"\n", top_queue.display()),
            &format!(
                "senders = [\"*@shop.example\"]\n{shop_port}[accounts.shop.queue]\ndir = \"{}\"\n",
                shop_queue.display()
            ),
        )
    };
    // The shop account's server is down: its message waits in its own queue.
    let conf = sections(format!("[accounts.shop.smtp]\nport = {closed}\n"));
    let to = "acc-own-queue@example.net";
    send(
        &conf,
        &[to],
        "From: orders@shop.example\nSubject: own\n\nx\n",
    )
    .expect(0);
    assert_eq!(
        std::fs::read_dir(shop_queue.join("msg")).unwrap().count(),
        1
    );
    let listing = shop_message_listed(&conf);
    assert!(
        listing.stdout.contains("in 1 Request."),
        "{}",
        listing.stdout
    );

    // The server is back: -q runs the shop account's own queue too.
    let conf = sections(String::new());
    let run = send(&conf, &["-q"], "");
    run.expect(0);
    assert!(run.stdout.contains("1 delivered"), "{}", run.stdout);
    assert_eq!(sb.wait_for_mail(to, 1)[0].sender, SHOP);
    let listing = send(&conf, &["-bp"], "");
    assert!(
        listing.stdout.contains("Mail queue is empty"),
        "{}",
        listing.stdout
    );
}
