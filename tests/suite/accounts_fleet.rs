//! Several mailboxes (issue 15) with issue 16's delivery modes, pacing and
//! metrics, through the real binary against the sandbox: each account
//! keeps its own queue tag, pacing files and metrics series, and the
//! default account's session never sends another account's message.

use crate::accounts::{SHOP, shop_account};
use crate::common::sandbox::sandbox;
use crate::common::{Scratch, s, sendmail, write_private};

/// The value of the sample line `series`.
fn sample(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn each_account_has_its_own_metrics_pacing_and_queued_messages() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("accounts-fleet");
    let metrics = scratch.join("textfile").join("oauth2-sendmail.prom");
    std::fs::create_dir_all(metrics.parent().unwrap()).unwrap();
    let mut settings = sb.settings(&scratch);
    settings.extra = format!(
        "\n[queue]\ndir = \"{}\"\n{}",
        scratch.join("queue").display(),
        shop_account("senders = [\"*@shop.example\"]\ndelivery = \"queue\"")
    );
    let conf = scratch.join("sendmail.conf");
    write_private(
        &conf,
        &format!(
            "metrics_file = \"{}\"\n{}",
            metrics.display(),
            settings.render()
        ),
    );
    let send = |args: &[&str], message: &str| {
        let mut all = vec!["-C", s(&conf)];
        all.extend_from_slice(args);
        sendmail(&all, message.as_bytes())
    };

    // The shop account only queues (its delivery = "queue").
    let to_shop = "acc-fleet-shop@example.net";
    send(&[to_shop], "From: orders@shop.example\nSubject: q\n\nx\n").expect(0);
    // The default account delivers now; its flush leaves shop's message.
    let to_default = "acc-fleet-default@example.net";
    send(
        &[to_default],
        "From: a@elsewhere.example\nSubject: d\n\nx\n",
    )
    .expect(0);
    assert_eq!(sb.wait_for_mail(to_default, 1)[0].sender, sb.str("user"));
    assert!(sb.mail_for(to_shop).is_empty(), "not sent by the default");

    let text = std::fs::read_to_string(&metrics).unwrap();
    let series =
        |name: &str, labels: &str| sample(&text, &format!("oauth2_sendmail_{name}{{{labels}}}"));
    assert_eq!(
        series(
            "messages_total",
            "account=\"shop\",outcome=\"queued\",cause=\"queue-mode\""
        ),
        Some(1),
        "{text}"
    );
    assert_eq!(
        series(
            "messages_total",
            "account=\"default\",outcome=\"delivered\",cause=\"none\""
        ),
        Some(1),
        "{text}"
    );
    assert_eq!(series("queue_messages", "account=\"shop\""), Some(1));
    assert_eq!(series("queue_messages", "account=\"default\""), Some(0));
    assert_eq!(
        text.matches("# TYPE oauth2_sendmail_messages_total counter")
            .count(),
        1,
        "{text}"
    );

    // The queue run sends it as the shop mailbox, on the shop's pacing.
    let run = send(&["-q"], "");
    run.expect(0);
    assert!(run.stdout.contains("1 delivered"), "{}", run.stdout);
    assert_eq!(sb.wait_for_mail(to_shop, 1)[0].sender, SHOP);
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(
        sample(
            &text,
            "oauth2_sendmail_messages_total{account=\"shop\",outcome=\"delivered\",cause=\"none\"}"
        ),
        Some(1),
        "{text}"
    );
    assert_eq!(
        sample(&text, "oauth2_sendmail_queue_messages{account=\"shop\"}"),
        Some(0),
        "{text}"
    );
    let pace_files = std::fs::read_dir(scratch.join("cache"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("pace."))
        .count();
    assert_eq!(pace_files, 2, "one pacing ledger per mailbox");
}

#[test]
fn background_delivery_sends_with_the_messages_own_account() {
    let sb = sandbox();
    let _shared = sb.shared();
    let scratch = Scratch::new("accounts-background");
    let mut settings = sb.settings(&scratch);
    settings.extra = format!(
        "\n[queue]\ndir = \"{}\"\n{}",
        scratch.join("queue").display(),
        shop_account("senders = [\"*@shop.example\"]\ndelivery = \"background\"")
    );
    let conf = scratch.join("sendmail.conf");
    write_private(&conf, &settings.render());
    let to = "acc-background@example.net";
    // The detached process finds the message's account by its tag: the
    // default account's session could not send it (Postfix takes a MAIL
    // FROM only from the mailbox that logged in).
    sendmail(
        &["-C", s(&conf), to],
        b"From: orders@shop.example\nSubject: bg\n\nx\n",
    )
    .expect(0);
    assert_eq!(sb.wait_for_mail(to, 1)[0].sender, SHOP);
}
