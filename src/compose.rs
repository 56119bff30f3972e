//! One message, from its header block to what `Submitter::submit` takes:
//! the envelope resolved (the aliases file read the first time a local
//! name needs it), the From policy applied, the header prepared.
//!
//! Shared by the command-line mode (`run`) and the SMTP dialogue (`serve`),
//! so both treat a message the same way.

use std::path::PathBuf;

use crate::address::LocalDomains;
use crate::aliases::{self, Aliases, Severity};
use crate::clock;
use crate::config::{Config, FromPolicy};
use crate::envelope::{self, Addresses, LocalRouting, Request};
use crate::error::Result;
use crate::from_policy::{self, Policy};
use crate::header::HeaderBlock;
use crate::log::{Level, Syslog};
use crate::message::{self, Additions, PreparedHeader};

/// Composes the messages of one invocation.
pub struct Composer<'c> {
    config: &'c Config,
    host: String,
    domains: LocalDomains,
    full_name: Option<String>,
    aliases: Option<Aliases>,
    aliases_read: bool,
}

impl<'c> Composer<'c> {
    /// A composer for `config` on the machine `host`; `full_name` is `-F`.
    pub fn new(config: &'c Config, host: String, full_name: Option<String>) -> Self {
        Composer {
            config,
            domains: LocalDomains::new(&host),
            host,
            full_name,
            aliases: None,
            aliases_read: false,
        }
    }

    /// This machine's name, as used in EHLO and Message-IDs.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The envelope and the header, ready for `Submitter::submit`.
    ///
    /// # Errors
    /// Malformed addresses or header lines (65), no recipients (64), only
    /// undeliverable aliases (67), an unreadable aliases file (78).
    pub fn compose(
        &mut self,
        request: &Request,
        mut block: HeaderBlock,
        syslog: &mut Syslog,
    ) -> Result<(Addresses, PreparedHeader)> {
        let wanted = envelope::requested_recipients(request, &block)?;
        if envelope::has_local(&wanted, &self.domains) {
            self.read_aliases(syslog)?;
        }
        let config = self.config;
        let local = LocalRouting {
            aliases: self.aliases.as_ref(),
            domains: &self.domains,
            default_recipient: config.addresses.default_recipient.as_deref(),
            default_domain: &config.addresses.default_domain,
        };
        let (addresses, routed) = envelope::resolve(request, config, &block, &local)?;
        for path in &routed.loops {
            syslog.log(
                Level::Warning,
                &format!(
                    "warning: alias loop {path}: the repeated name is treated as a local name"
                ),
            );
        }
        for name in &routed.undeliverable {
            syslog.log(
                Level::Warning,
                &format!(
                    "warning: recipient {name} dropped: its aliases are only commands or files"
                ),
            );
        }
        if config.addresses.from_policy == FromPolicy::Rewrite {
            let policy = Policy {
                from: &config.from,
                host: &self.host,
                local: &self.domains,
            };
            from_policy::rewrite(&mut block.fields, &policy);
        }
        let now = clock::now();
        let prepared = message::prepare(
            block,
            &Additions {
                date: clock::rfc5322_date(now),
                message_id: clock::message_id(now, clock::random_bytes(), &self.host),
                from_address: &config.from,
                from_name: self
                    .full_name
                    .as_deref()
                    .filter(|n| !n.trim().is_empty())
                    .or(config.from_name.as_deref()),
                qualify_domain: &config.addresses.default_domain,
            },
        )?;
        Ok((addresses, prepared))
    }

    /// Reads the aliases file once; its problems go to syslog once.
    fn read_aliases(&mut self, syslog: &mut Syslog) -> Result<()> {
        if std::mem::replace(&mut self.aliases_read, true) {
            return Ok(());
        }
        let Some(path): Option<&PathBuf> = self.config.addresses.aliases.as_ref() else {
            return Ok(());
        };
        let (aliases, problems) = aliases::load(path)?;
        if let Some(first) = problems.first() {
            let errors = problems
                .iter()
                .filter(|p| p.severity == Severity::Error)
                .count();
            syslog.log(
                Level::Warning,
                &format!(
                    "warning: aliases file {}: {} problem(s), {errors} entry error(s); first: line {}: {}; run newaliases to see all",
                    path.display(),
                    problems.len(),
                    first.line,
                    first.message
                ),
            );
        }
        self.aliases = Some(aliases);
        Ok(())
    }
}
