//! A configured machine for the caller tests: a configuration against the
//! sandbox with an `[addresses]` section, an aliases file, a fixed host
//! name (so "… via web1" is predictable), and wrapper scripts that real
//! client programs run as their `sendmail`.
//!
//! A wrapper records the arguments it was given (so a test can show the
//! client's exact argv) and execs the binary under test with `-C` and the
//! same argv[0], so `/usr/lib/sendmail` and `newaliases` behave as such.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::sandbox::sandbox;
use super::{BIN, Run, Scratch, run_as, s};

/// The host name every site's configuration sets.
pub const HOST: &str = "web1.example.net";

/// Marks the end of one recorded invocation in the argv log.
const END: &str = "@@end@@";

/// A configured machine.
pub struct Site {
    pub scratch: Scratch,
    pub conf: PathBuf,
    /// `default_domain`: `<name>.example`, unique per test.
    pub domain: String,
    argv_log: PathBuf,
}

impl Site {
    /// A site named `name` with `aliases` as its aliases file and `addresses`
    /// added to its `[addresses]` section.
    pub fn new(name: &str, aliases: &str, addresses: &str) -> Site {
        let sb = sandbox();
        let scratch = Scratch::new(name);
        let aliases_path = scratch.join("aliases");
        std::fs::write(&aliases_path, aliases).unwrap();
        let domain = format!("{name}.example");
        let mut settings = sb.settings(&scratch);
        settings.extra = format!(
            "\n[addresses]\naliases = \"{}\"\ndefault_domain = \"{domain}\"\n{addresses}",
            aliases_path.display()
        );
        let conf = scratch.join("sendmail.conf");
        super::write_private(
            &conf,
            &format!("hostname = \"{HOST}\"\n{}", settings.render()),
        );
        let argv_log = scratch.join("argv.log");
        Site {
            scratch,
            conf,
            domain,
            argv_log,
        }
    }

    /// A wrapper script at `relative` (e.g. `bin/sendmail`,
    /// `usr/lib/sendmail`) inside the scratch directory.
    pub fn wrapper(&self, relative: &str) -> PathBuf {
        let path = self.scratch.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let script = format!(
            "#!/bin/bash\nprintf '%s\\n' \"$@\" '{END}' >> '{log}'\nexec -a \"$0\" '{BIN}' -C '{conf}' \"$@\"\n",
            log = self.argv_log.display(),
            conf = self.conf.display(),
        );
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// The argument lists the wrappers were called with, in order.
    pub fn invocations(&self) -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(&self.argv_log).unwrap_or_default();
        let mut all = Vec::new();
        let mut current = Vec::new();
        for line in text.lines() {
            if line == END {
                all.push(std::mem::take(&mut current));
            } else {
                current.push(line.to_string());
            }
        }
        all
    }

    /// Runs the binary with `-C` and `args`.
    pub fn sendmail(&self, args: &[&str], input: &[u8]) -> Run {
        let mut all = vec!["-C", s(&self.conf)];
        all.extend_from_slice(args);
        run_as(BIN, &all, input, &[])
    }

    /// Runs `program` with HOME in the scratch directory.
    pub fn client(&self, program: &str, args: &[&str], input: &[u8]) -> Run {
        let home = self.scratch.path.to_str().unwrap();
        run_as(program, args, input, &[("HOME", home)])
    }

    /// A path inside the scratch directory, as a string.
    pub fn path(&self, relative: &str) -> String {
        s(&self.scratch.join(relative)).to_string()
    }
}

/// The mailbox the sandbox authenticates (the envelope sender of everything).
pub fn user() -> String {
    sandbox().str("user")
}

/// Whether `program` can be run (installed by scripts/setup-deps).
pub fn installed(program: &str) -> bool {
    Path::new(program).is_absolute() && Path::new(program).exists()
        || std::env::var_os("PATH").is_some_and(|paths| {
            std::env::split_paths(&paths).any(|dir| dir.join(program).exists())
        })
}
