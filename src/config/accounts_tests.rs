//! Tests of `[accounts.NAME]` (accounts.rs) through the whole parser.

use std::path::Path;

const TOP: &str = r#"tenant = "contoso.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
client_secret = "s"
user = "main@example.com"
from = "noreply@example.com"
[smtp]
host = "127.0.0.1"
port = 2525
tls = "none"
"#;

fn parse(extra: &str) -> crate::error::Result<crate::config::Config> {
    crate::config::parse(&format!("{TOP}{extra}"), Path::new("/etc/x.conf"))
}

#[test]
fn an_account_is_the_top_level_with_its_keys_laid_over() {
    let c = parse(
        "[accounts.site1]\nuser = \"shop@site1.example\"\nsenders = [\"*@site1.example\"]\ncertificate_file = \"/c.pem\"\nprivate_key_file = \"/k.pem\"\n[accounts.site1.smtp]\nport = 2526\n",
    )
    .unwrap();
    assert_eq!(c.account, "default");
    let a = &c.accounts[0];
    assert_eq!(a.account, "site1");
    assert_eq!(a.user, "shop@site1.example");
    // A further mailbox sends as itself, not as the top level's from.
    assert_eq!(a.from, "shop@site1.example");
    assert_eq!((a.smtp.host.as_str(), a.smtp.port), ("127.0.0.1", 2526));
    assert_eq!(a.tenant, c.tenant);
    assert!(matches!(
        a.credential,
        crate::config::Credential::Certificate { .. }
    ));
    assert_eq!(a.senders, ["*@site1.example"]);
    assert_eq!(c.smtp.port, 2525);
}

#[test]
fn errors_name_file_line_account_and_key() {
    for (extra, needle) in [
        (
            "[accounts.site1]\nbogus = 1\n",
            "/etc/x.conf:11: accounts.site1.bogus: unknown key",
        ),
        (
            "[accounts.site1]\n[accounts.site1.smtp]\nprot = 1\n",
            "/etc/x.conf:12: accounts.site1.smtp.prot: unknown key",
        ),
        (
            "[accounts.site1.smtp]\nport = 0\n",
            "/etc/x.conf:11: accounts.site1.smtp.port: must be between",
        ),
        (
            "[accounts.default]\nuser = \"a@b.example\"\n",
            "/etc/x.conf:10: accounts.default: \"default\" is the name",
        ),
        (
            "[accounts.site1]\nsenders = \"*@x\"\n",
            "/etc/x.conf:11: accounts.site1.senders: must be a list",
        ),
        (
            "[accounts.site1]\ncallers = [\"a b\"]\n",
            "accounts.site1.callers: each entry",
        ),
        ("senders2 = 1\n", "unknown key"),
    ] {
        let e = parse(extra).unwrap_err();
        assert_eq!(e.exit_code(), 78);
        assert!(e.message().contains(needle), "{extra:?}: {}", e.message());
    }
    let e =
        crate::config::parse(&format!("callers = [\"x\"]\n{TOP}"), Path::new("/x")).unwrap_err();
    assert!(
        e.message().contains("/x:1: callers: belongs inside"),
        "{}",
        e.message()
    );
}

#[test]
fn keys_of_transports_and_identities_work_inside_an_account() {
    use crate::config::{Credential, CredentialAccess, ManagedIdentity, Transport};
    let c = parse(concat!(
        "[accounts.graph1]\n",
        "user = \"shop@example.com\"\n",
        "transport = \"graph\"\n",
        "cloud = \"gcc-high\"\n",
        "client_assertion_file = \"/run/assertion.jwt\"\n",
        "credential_access = \"service\"\n",
        "max_message_size = 100000\n",
        "[accounts.graph1.graph]\n",
        "save_to_sent_items = false\n",
        "[accounts.mi]\n",
        "user = \"mi@example.com\"\n",
        "managed_identity = \"arc\"\n",
        "[accounts.mi.token]\n",
        "arc_url = \"http://127.0.0.1:40342/x\"\n",
        "arc_key_dir = \"/var/opt/keys\"\n",
        "imds_url = \"http://127.0.0.1:9/t\"\n",
    ))
    .unwrap();
    assert_eq!(c.transport, Transport::Smtp);
    assert!(c.graph.save_to_sent_items);
    let g = &c.accounts[0];
    assert_eq!(g.account, "graph1");
    assert_eq!(g.transport, Transport::Graph);
    assert!(!g.graph.save_to_sent_items);
    assert_ne!(g.graph.url, c.graph.url, "gcc-high has its own Graph host");
    assert_eq!(
        g.credential,
        Credential::FederatedAssertion("/run/assertion.jwt".into())
    );
    assert_eq!(g.credential_access, CredentialAccess::Service);
    assert_eq!(g.max_message_size, 100_000);
    // The top level's secret is replaced, not "set twice".
    let m = &c.accounts[1];
    assert_eq!(m.credential, Credential::Managed(ManagedIdentity::Arc));
    // The top level's application is not a user-assigned identity.
    assert_eq!(m.client_id, "");
    assert_eq!(m.token.arc_url, "http://127.0.0.1:40342/x");
    assert_eq!(m.token.arc_key_dir, std::path::Path::new("/var/opt/keys"));
    assert_eq!(m.token.imds_url, "http://127.0.0.1:9/t");
    assert_ne!(m.token.arc_url, c.token.arc_url);
}

#[test]
fn fleet_keys_work_inside_an_account_and_a_new_secret_drops_the_old_expiry() {
    use crate::config::DeliveryMode;
    let top = "client_secret_expires = \"2027-06-30\"\ndelivery = \"queue\"\n";
    let c = crate::config::parse(
        &format!(
            "{top}{TOP}[limits]\nrate = 20\n{}",
            concat!(
                "[accounts.a]\n",
                "user = \"a@example.com\"\n",
                "client_secret = \"other\"\n",
                "delivery = \"background\"\n",
                "metrics_file = \"/var/lib/m/a.prom\"\n",
                "[accounts.a.limits]\n",
                "connections = 1\n",
                "[accounts.b]\n",
                "user = \"b@example.com\"\n",
            )
        ),
        Path::new("/etc/x.conf"),
    )
    .unwrap();
    assert!(c.client_secret_expires.is_some());
    let (a, b) = (&c.accounts[0], &c.accounts[1]);
    assert_eq!(a.client_secret_expires, None, "a new secret, no date");
    assert_eq!(b.client_secret_expires, c.client_secret_expires);
    assert_eq!(
        (c.delivery, a.delivery),
        (DeliveryMode::Queue, DeliveryMode::Background)
    );
    assert_eq!(
        a.metrics_file.as_deref(),
        Some(Path::new("/var/lib/m/a.prom"))
    );
    assert_eq!((a.limits.connections, a.limits.rate), (1, 20));
    assert_eq!(b.limits, c.limits);
}
