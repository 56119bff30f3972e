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
