//! The message and protocol findings of the outside review (issue 11),
//! each driven through the real binary: against the sandbox's Postfix where
//! Postfix shows the effect, against the scripted peer where only a
//! scripted server produces the fault. A file per theme.

mod addresses;
mod message;
mod session;
mod size;

use crate::common::fake_smtp::{Behaviour, FakeSmtp, sandbox_identity};
use crate::common::sandbox::{Sandbox, sandbox};
use crate::common::{Scratch, Settings};

/// Settings that point the binary at `fake`.
fn settings_for(sb: &Sandbox, fake: &FakeSmtp, scratch: &Scratch) -> Settings {
    let mut settings = sb.settings(scratch);
    settings.host = "localhost".into();
    settings.port = fake.port;
    settings.timeout = 10;
    settings
}

fn good() -> Behaviour {
    Behaviour::good(sandbox_identity(&sandbox().dir))
}
