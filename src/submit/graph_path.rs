//! The Submitter's Microsoft Graph path: a message through `crate::graph`
//! instead of the SMTP relay, and `auto`'s switch to it.

use std::io::Read;

use super::Submitter;
use crate::attempt::Attempt;
use crate::envelope::Addresses;
use crate::error::Error;
use crate::graph;
use crate::log::Level;
use crate::transcript::Transcript;

impl Submitter<'_> {
    /// Tries one message through Microsoft Graph; logs nothing.
    pub(super) fn attempt_graph(
        &mut self,
        addresses: &Addresses,
        header: &[u8],
        body: &mut dyn Read,
    ) -> Attempt {
        let verbose = self.verbose;
        let config = self.account.config;
        let client = self.graph.get_or_insert_with(|| {
            let transcript = if verbose {
                Transcript::stderr()
            } else {
                Transcript::off()
            };
            graph::Client::new(config, transcript)
        });
        let result = client.send(&addresses.recipients, header, body);
        let warnings = client.take_warnings();
        for warning in warnings {
            self.syslog.log(Level::Warning, &warning);
        }
        graph::outcome::attempt(&addresses.recipients, result)
    }

    /// `auto`: SMTP AUTH was refused by policy (`refusal`); Graph from now on.
    pub(super) fn switch_to_graph(&mut self, refusal: &Error) {
        self.use_graph = true;
        let mut line = format!(
            "transport=auto: SMTP AUTH is refused by policy ({}); sending through Microsoft Graph",
            refusal.message()
        );
        match graph::memo::remember_graph(self.account.config) {
            Ok(()) => line.push_str(&format!(
                ", and so for the next {} days",
                graph::memo::REMEMBER_FOR / 86_400
            )),
            Err(e) => line.push_str(&format!(
                " (the choice cannot be remembered in {}: {})",
                self.account.config.token.cache_dir.display(),
                crate::error::io_reason(&e)
            )),
        }
        if self.verbose {
            eprintln!("* {line}");
        }
        self.syslog.log(Level::Warning, &line);
    }
}
