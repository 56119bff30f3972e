//! `oauth2-sendmail --setup-script [--account NAME] [--transport smtp|graph] [--undo]`:
//! prints the PowerShell (Microsoft Graph PowerShell and
//! ExchangeOnlineManagement) that sets up the tenant side for the
//! configured mailbox, or removes it again, so nobody types the object ids
//! by hand.
//!
//! `settings` reads the few keys it needs from sendmail.conf (leniently:
//! the file may be unfinished), `powershell` writes the script. It reads
//! the configuration with the caller's own rights only: a caller the
//! program runs set-group-ID for is refused, since the script names the
//! tenant, application and mailbox of a file they may not read.

mod powershell;
mod settings;

use std::path::Path;

use crate::cli::Invocation;
use crate::error::{Error, Kind, Result};

/// Prints the script for the configuration this invocation names.
///
/// # Errors
/// [`Kind::NoPermission`] for a set-group-ID caller; [`Kind::Config`] when
/// the file cannot be read or lacks `tenant` or `user`.
pub fn run(invocation: &Invocation) -> Result<()> {
    if crate::privilege::Caller::current().is_privileged() {
        return Err(Error::new(
            Kind::NoPermission,
            "--setup-script is refused: oauth2-sendmail runs with the oauth2-sendmail group's rights here, and the script shows what the configuration holds",
        )
        .with_hint("run it as root (sudo oauth2-sendmail --setup-script)"));
    }
    let path = invocation
        .config_path
        .as_deref()
        .unwrap_or(Path::new(crate::config::DEFAULT_PATH));
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::config(format!(
            "cannot read configuration file {}: {}",
            path.display(),
            crate::error::io_reason(&e)
        ))
        .with_hint("write tenant and user into it first (see sendmail.conf(5)); the script is built from them")
    })?;
    let settings = settings::read(
        &text,
        invocation.transport.as_deref(),
        invocation.account.as_deref(),
    )
    .map_err(|e| e.context(path.display().to_string()))?;
    let origin = path.display().to_string();
    let script = if invocation.undo {
        powershell::undo(&settings, &origin)
    } else {
        powershell::setup(&settings, &origin)
    };
    print!("{script}");
    Ok(())
}
