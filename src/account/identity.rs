//! A uid's user name and groups, from `/etc/passwd` and `/etc/group`.
//!
//! Read from the files themselves (the program links no NSS and has no
//! `unsafe`): users and groups that exist only in a directory service
//! (LDAP, SSSD) have no name here and so match no `callers` entry. The
//! parsing is pure and tested by tables; a uid without a name is an
//! identity without user or groups.

use super::select::Identity;

/// The identity of `uid` read from the system's files.
pub fn of_uid(uid: u32) -> Identity {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    resolve(&passwd, &group, uid)
}

/// The identity of `uid` given the text of `/etc/passwd` and `/etc/group`.
pub fn resolve(passwd: &str, group: &str, uid: u32) -> Identity {
    let Some((user, gid)) = passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 4 && f[2].parse() == Ok(uid)).then(|| (f[0].to_string(), f[3].to_string()))
    }) else {
        return Identity::default();
    };
    let mut groups = Vec::new();
    for line in group.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 || f[0].is_empty() {
            continue;
        }
        let member = f[3].split(',').any(|m| m.trim() == user);
        if (f[2] == gid || member) && !groups.iter().any(|g| g == f[0]) {
            groups.push(f[0].to_string());
        }
    }
    Identity {
        user: Some(user),
        groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\nbroken line\nbob:x:1000:1000::/home/bob:/bin/sh\n";
    const GROUP: &str =
        "root:x:0:\nwww-data:x:33:\nbob:x:1000:\nwebteam:x:2000:alice,bob\nother:x:2001:bobby\n";

    #[test]
    fn names_and_groups() {
        let bob = resolve(PASSWD, GROUP, 1000);
        assert_eq!(bob.user.as_deref(), Some("bob"));
        assert_eq!(bob.groups, ["bob", "webteam"]);
        let www = resolve(PASSWD, GROUP, 33);
        assert_eq!(www.groups, ["www-data"]);
        assert_eq!(resolve(PASSWD, GROUP, 4242), Identity::default());
    }
}
