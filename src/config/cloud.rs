//! National clouds: `cloud = "global" | "gcc-high" | "dod" | "china"`.
//!
//! A cloud is one set of hosts: the login host of the token endpoint, the
//! SMTP host, the SMTP scope and the Graph URL (and so the Graph scope).
//! A token from one cloud is useless in another (AADSTS900382), so the
//! preset sets them together; an explicit `[token] url`, `[token] scope` or
//! `[smtp] host` still wins. The values and how sure each one is are in
//! docs/national-clouds.md; [`Preset::smtp_host_confirmed`] is false where
//! Microsoft documents no SMTP host for that cloud.

/// Which Microsoft cloud the tenant lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cloud {
    /// The worldwide cloud, also GCC ("moderate").
    Global,
    /// US Government GCC High.
    GccHigh,
    /// US Government DoD.
    Dod,
    /// China, operated by 21Vianet.
    China,
}

/// The hosts and scopes of one cloud.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preset {
    /// Host of the token endpoint (`https://HOST/{tenant}/oauth2/v2.0/token`).
    pub login_host: &'static str,
    /// SMTP submission host.
    pub smtp_host: &'static str,
    /// Whether Microsoft documents `smtp_host` for this cloud.
    pub smtp_host_confirmed: bool,
    /// Exchange Online resource (SMTP audience); the scope adds `/.default`.
    pub exchange_resource: &'static str,
    /// Microsoft Graph base URL; its scope is this plus `/.default`.
    pub graph_url: &'static str,
}

impl Cloud {
    /// Every cloud, in the order the documentation lists them.
    pub const ALL: [Cloud; 4] = [Cloud::Global, Cloud::GccHigh, Cloud::Dod, Cloud::China];

    /// The value of the `cloud` key.
    pub fn name(self) -> &'static str {
        match self {
            Cloud::Global => "global",
            Cloud::GccHigh => "gcc-high",
            Cloud::Dod => "dod",
            Cloud::China => "china",
        }
    }

    /// The cloud a `cloud` value names.
    pub fn from_name(name: &str) -> Option<Cloud> {
        Cloud::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Its hosts and scopes.
    pub fn preset(self) -> Preset {
        match self {
            Cloud::Global => Preset {
                login_host: "login.microsoftonline.com",
                smtp_host: "smtp.office365.com",
                smtp_host_confirmed: true,
                exchange_resource: "https://outlook.office365.com",
                graph_url: "https://graph.microsoft.com",
            },
            Cloud::GccHigh => Preset {
                login_host: "login.microsoftonline.us",
                smtp_host: "smtp.office365.us",
                smtp_host_confirmed: true,
                exchange_resource: "https://outlook.office365.us",
                graph_url: "https://graph.microsoft.us",
            },
            Cloud::Dod => Preset {
                login_host: "login.microsoftonline.us",
                // GCC High's host is the likely one; Microsoft names none.
                smtp_host: "smtp.office365.us",
                smtp_host_confirmed: false,
                exchange_resource: "https://outlook-dod.office365.us",
                graph_url: "https://dod-graph.microsoft.us",
            },
            Cloud::China => Preset {
                login_host: "login.partner.microsoftonline.cn",
                smtp_host: "smtp.partner.outlook.cn",
                smtp_host_confirmed: false,
                exchange_resource: "https://partner.outlook.cn",
                graph_url: "https://microsoftgraph.chinacloudapi.cn",
            },
        }
    }

    /// The token URL template (`{tenant}` not yet replaced).
    pub fn token_url(self) -> String {
        format!(
            "https://{}/{{tenant}}/oauth2/v2.0/token",
            self.preset().login_host
        )
    }

    /// The SMTP scope of the client-credentials grant.
    pub fn smtp_scope(self) -> String {
        format!("{}/.default", self.preset().exchange_resource)
    }

    /// The Graph scope of the client-credentials grant.
    #[allow(dead_code)] // for the Graph transport's default `[graph] url`
    pub fn graph_scope(self) -> String {
        format!("{}/.default", self.preset().graph_url)
    }

    /// The cloud an OpenID configuration's `tenant_region_scope` and
    /// `tenant_region_sub_scope` describe (docs/protocol-notes.md: `USGov` with `DODCON`
    /// is GCC High, with `DOD` DoD; `USGov`/`USG` with `GCC` or nothing is
    /// GCC moderate, which is the global cloud).
    pub fn from_region(scope: &str, sub_scope: Option<&str>) -> Cloud {
        let sub = sub_scope.unwrap_or("").to_ascii_uppercase();
        match (scope.to_ascii_uppercase().as_str(), sub.as_str()) {
            (_, "DODCON") => Cloud::GccHigh,
            (_, "DOD") => Cloud::Dod,
            ("CN" | "CHINA", _) => Cloud::China,
            _ => Cloud::Global,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Cloud::ALL {
            assert_eq!(Cloud::from_name(c.name()), Some(c));
        }
        assert_eq!(Cloud::from_name("usgov"), None);
        assert_eq!(Cloud::from_name("Global"), None);
    }

    #[test]
    fn presets_by_table() {
        let table = [
            (
                Cloud::Global,
                "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
                "smtp.office365.com",
                "https://outlook.office365.com/.default",
                "https://graph.microsoft.com/.default",
            ),
            (
                Cloud::GccHigh,
                "https://login.microsoftonline.us/{tenant}/oauth2/v2.0/token",
                "smtp.office365.us",
                "https://outlook.office365.us/.default",
                "https://graph.microsoft.us/.default",
            ),
            (
                Cloud::Dod,
                "https://login.microsoftonline.us/{tenant}/oauth2/v2.0/token",
                "smtp.office365.us",
                "https://outlook-dod.office365.us/.default",
                "https://dod-graph.microsoft.us/.default",
            ),
            (
                Cloud::China,
                "https://login.partner.microsoftonline.cn/{tenant}/oauth2/v2.0/token",
                "smtp.partner.outlook.cn",
                "https://partner.outlook.cn/.default",
                "https://microsoftgraph.chinacloudapi.cn/.default",
            ),
        ];
        for (cloud, url, smtp, scope, graph) in table {
            assert_eq!(cloud.token_url(), url, "{cloud:?}");
            assert_eq!(cloud.preset().smtp_host, smtp, "{cloud:?}");
            assert_eq!(cloud.smtp_scope(), scope, "{cloud:?}");
            assert_eq!(cloud.graph_scope(), graph, "{cloud:?}");
        }
        let unconfirmed: Vec<_> = Cloud::ALL
            .into_iter()
            .filter(|c| !c.preset().smtp_host_confirmed)
            .collect();
        assert_eq!(unconfirmed, [Cloud::Dod, Cloud::China]);
    }

    #[test]
    fn regions_by_table() {
        let table = [
            ("NA", None, Cloud::Global),
            ("EU", None, Cloud::Global),
            ("USGov", Some("GCC"), Cloud::Global),
            ("USGov", Some("DODCON"), Cloud::GccHigh),
            ("USGov", Some("DOD"), Cloud::Dod),
            ("CN", None, Cloud::China),
        ];
        for (scope, sub, cloud) in table {
            assert_eq!(Cloud::from_region(scope, sub), cloud, "{scope} {sub:?}");
        }
    }
}
