//! What the set-up script needs from sendmail.conf, read leniently: the
//! file may not be complete yet (no `client_id` before the application
//! exists, no credential before the certificate is made), so this reads
//! only the few keys it uses and never a secret. For `--account NAME`, the
//! `[accounts.NAME]` table is laid over the top level first, as the
//! program does when it sends. Pure: TOML text in.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Which API the application will send through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// SMTP AUTH XOAUTH2: role `Application SMTP.SendAsApp`, SMTP AUTH on.
    Smtp,
    /// Microsoft Graph sendMail: role `Application Mail.Send`.
    Graph,
}

impl Transport {
    /// The name on the command line and in sendmail.conf.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Smtp => "smtp",
            Transport::Graph => "graph",
        }
    }
}

/// Microsoft's clouds, as sendmail.conf's `cloud` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cloud {
    /// Worldwide (also GCC moderate).
    Global,
    /// US Government GCC High.
    GccHigh,
    /// US Government DoD.
    Dod,
    /// China, operated by 21Vianet.
    China,
}

impl Cloud {
    /// `Connect-MgGraph -Environment`.
    pub fn graph_environment(self) -> &'static str {
        match self {
            Cloud::Global => "Global",
            Cloud::GccHigh => "USGov",
            Cloud::Dod => "USGovDoD",
            Cloud::China => "China",
        }
    }

    /// `Connect-ExchangeOnline -ExchangeEnvironmentName`.
    pub fn exchange_environment(self) -> &'static str {
        match self {
            Cloud::Global => "O365Default",
            Cloud::GccHigh => "O365USGovGCCHigh",
            Cloud::Dod => "O365USGovDoD",
            Cloud::China => "O365China",
        }
    }
}

/// The values the script is built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `tenant`: Directory (tenant) ID or domain.
    pub tenant: String,
    /// `client_id`, when the application exists already.
    pub client_id: Option<String>,
    /// `user`: the mailbox the application may send as.
    pub mailbox: String,
    /// `certificate_file`, else the suggested path for a new one.
    pub certificate_file: PathBuf,
    /// `private_key_file`, else the suggested path for a new one.
    pub private_key_file: PathBuf,
    /// Whether a certificate is configured already.
    pub has_certificate: bool,
    /// Whether a client secret is configured (it is never read).
    pub has_secret: bool,
    /// `cloud`.
    pub cloud: Cloud,
    /// `--transport`, else the file's `transport`, else SMTP.
    pub transport: Transport,
    /// `--account NAME`: the account the script is for (None: the top level).
    pub account: Option<String>,
    /// The file's other accounts, each a script of its own.
    pub other_accounts: Vec<String>,
}

fn text<'a>(table: &'a toml::Table, key: &str) -> Option<&'a str> {
    table
        .get(key)
        .and_then(toml::Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Whether `value` is made only of what names, domains and ids are made
/// of: it goes into PowerShell strings and comments, so no quoting trick
/// or line break can reach the script.
fn plain(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@.-_+".contains(c))
}

/// Reads the settings from sendmail.conf's text; `transport` is the
/// command line's choice, `account` its `--account`, if any.
///
/// # Errors
/// [`Error::config`] when the text is not TOML, the account is not in it,
/// or `tenant` or `user` is missing or not plain, or `cloud` or
/// `transport` is unknown.
pub fn read(conf: &str, transport: Option<&str>, account: Option<&str>) -> Result<Settings> {
    let mut table: toml::Table = conf
        .parse()
        .map_err(|e: toml::de::Error| Error::config(format!("not valid TOML: {}", e.message())))?;
    let accounts = table
        .get("accounts")
        .and_then(toml::Value::as_table)
        .cloned()
        .unwrap_or_default();
    if let Some(name) = account {
        let over = accounts
            .get(name)
            .and_then(toml::Value::as_table)
            .ok_or_else(|| Error::config(format!("the configuration has no [accounts.{name}]")))?;
        if !plain(name) {
            return Err(Error::config(format!(
                "account name {name:?} is not a plain name"
            )));
        }
        for (key, value) in over {
            table.insert(key.clone(), value.clone());
        }
    }
    let other_accounts = accounts
        .keys()
        .filter(|name| Some(name.as_str()) != account && plain(name))
        .cloned()
        .collect();
    let required = |key: &str, what: &str| {
        text(&table, key).map(str::to_string).ok_or_else(|| {
            Error::config(format!("{key} is not set")).with_hint(format!(
                "set {key} (the {what}) in sendmail.conf first; the script is built from it"
            ))
        })
    };
    let tenant = required("tenant", "Directory (tenant) ID or the tenant's domain")?;
    let mailbox = required("user", "mailbox the application sends as")?;
    let client_id = text(&table, "client_id").map(str::to_string);
    for (key, value) in [
        ("tenant", Some(&tenant)),
        ("user", Some(&mailbox)),
        ("client_id", client_id.as_ref()),
    ] {
        if let Some(value) = value
            && !plain(value)
        {
            return Err(Error::config(format!(
                "{key} {value:?} is not a plain name"
            )));
        }
    }
    let cloud = match text(&table, "cloud").unwrap_or("global") {
        "global" => Cloud::Global,
        "gcc-high" => Cloud::GccHigh,
        "dod" => Cloud::Dod,
        "china" => Cloud::China,
        other => {
            return Err(Error::config(format!(
                "cloud {other:?} is not global, gcc-high, dod or china"
            )));
        }
    };
    let transport = match transport.or(text(&table, "transport")).unwrap_or("smtp") {
        // auto starts on SMTP; its Graph side is a second run.
        "smtp" | "auto" => Transport::Smtp,
        "graph" => Transport::Graph,
        other => {
            return Err(Error::config(format!(
                "transport {other:?} is not smtp, graph or auto"
            )));
        }
    };
    let path = |key: &str, default: &str| PathBuf::from(text(&table, key).unwrap_or(default));
    Ok(Settings {
        tenant,
        client_id,
        mailbox,
        has_certificate: text(&table, "certificate_file").is_some(),
        certificate_file: path("certificate_file", "/etc/oauth2-sendmail/certificate.pem"),
        private_key_file: path("private_key_file", "/etc/oauth2-sendmail/private-key.pem"),
        has_secret: text(&table, "client_secret").is_some()
            || text(&table, "client_secret_file").is_some(),
        cloud,
        transport,
        account: account.map(str::to_string),
        other_accounts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_script_needs() {
        let s = read(
            "tenant = \"contoso.onmicrosoft.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\nuser = \"alerts@contoso.com\"\nclient_secret = \"s3cr3t-value\"\ncloud = \"gcc-high\"\n[smtp]\nhost = \"smtp.office365.us\"\n",
            None,
            None,
        )
        .unwrap();
        assert_eq!(s.tenant, "contoso.onmicrosoft.com");
        assert_eq!(
            s.client_id.as_deref(),
            Some("11111111-2222-3333-4444-555555555555")
        );
        assert_eq!(s.mailbox, "alerts@contoso.com");
        assert!(s.has_secret && !s.has_certificate);
        assert_eq!(s.cloud, Cloud::GccHigh);
        assert_eq!(s.transport, Transport::Smtp);
        let s = read(
            "tenant = \"t.example\"\nuser = \"a@t.example\"\ntransport = \"smtp\"\n",
            Some("graph"),
            None,
        )
        .unwrap();
        assert_eq!((s.transport, s.client_id), (Transport::Graph, None));
    }

    #[test]
    fn refuses_what_it_cannot_use() {
        for (conf, needle) in [
            ("user = \"a@x\"\n", "tenant is not set"),
            ("tenant = \"x\"\n", "user is not set"),
            (
                "tenant = \"x'; Remove-Mailbox\"\nuser = \"a@x\"\n",
                "not a plain name",
            ),
            (
                "tenant = \"x\"\nuser = \"a@x\"\ncloud = \"mars\"\n",
                "cloud",
            ),
            ("tenant = [\n", "TOML"),
        ] {
            let e = read(conf, None, None).unwrap_err();
            assert!(e.message().contains(needle), "{conf}: {}", e.message());
        }
    }

    #[test]
    fn an_account_is_laid_over_the_top_level() {
        let conf = "tenant = \"t.example\"\nuser = \"alerts@t.example\"\nclient_id = \"top\"\ncloud = \"dod\"\n\
                    [accounts.shop]\nuser = \"shop@t.example\"\nclient_id = \"second\"\ntransport = \"graph\"\n\
                    [accounts.site1]\nuser = \"site1@t.example\"\n";
        let top = read(conf, None, None).unwrap();
        assert_eq!(top.mailbox, "alerts@t.example");
        assert_eq!(top.other_accounts, ["shop", "site1"]);
        let shop = read(conf, None, Some("shop")).unwrap();
        assert_eq!(
            (shop.mailbox.as_str(), shop.client_id.as_deref()),
            ("shop@t.example", Some("second"))
        );
        assert_eq!((shop.transport, shop.cloud), (Transport::Graph, Cloud::Dod));
        assert_eq!(shop.account.as_deref(), Some("shop"));
        assert_eq!(shop.other_accounts, ["site1"]);
        let e = read(conf, None, Some("nope")).unwrap_err();
        assert!(
            e.message().contains("no [accounts.nope]"),
            "{}",
            e.message()
        );
        let hostile =
            "tenant = \"t\"\nuser = \"a@t\"\n[accounts.\"x\\n$(evil)\"]\nuser = \"b@t\"\n";
        assert!(read(hostile, None, None).unwrap().other_accounts.is_empty());
        assert!(read(hostile, None, Some("x\n$(evil)")).is_err());
    }
}
