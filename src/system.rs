//! Facts about this machine the program needs: its host name.

use crate::config::{self, Config};

/// The name for EHLO, Message-IDs and "via": `hostname` from the
/// configuration, else the kernel's host name, else `localhost`.
pub fn host_name(config: &Config) -> String {
    if let Some(name) = &config.hostname {
        return name.clone();
    }
    let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name = kernel.trim();
    let usable = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if usable && (config::is_domain_name(name) || !name.contains('.')) {
        name.to_string()
    } else {
        "localhost".to_string()
    }
}
