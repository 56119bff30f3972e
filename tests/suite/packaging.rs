//! What the packages' scripts and `packaging/install` make on the target
//! system: every queue area, the queue service's system user, the modes.
//!
//! The Debian postinst and `packaging/install` (without DESTDIR) really run,
//! as root, in a private mount namespace whose /etc and /var are overlays
//! with a throw-away upper layer (users and groups are added there, the
//! spool is made there): nothing on the machine changes. The RPM spec and
//! the systemd unit are read. `make package-test` builds and installs the
//! real packages; this is the quick check of the same scripts.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::{BIN, Scratch};

/// The queue's areas (`src/spool/store.rs`).
const AREAS: [&str; 5] = ["msg", "state", "tmp", "failed", "corrupt"];
const SPOOL: &str = "/var/spool/oauth2-sendmail";

/// Runs `script` (sh, with `$1` = the scratch directory) in a private
/// mount namespace whose /etc and /var are writable overlays that vanish
/// with it; returns its stdout.
fn in_throwaway_system(scratch: &Path, script: &str) -> String {
    let setup = r#"set -e
s=$1
mkdir -p "$s/layers"
mount -t tmpfs tmpfs "$s/layers"
for d in etc var; do
    mkdir -p "$s/layers/$d-up" "$s/layers/$d-work"
    mount -t overlay overlay -o "lowerdir=/$d,upperdir=$s/layers/$d-up,workdir=$s/layers/$d-work" "/$d"
done
"#;
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(format!("{setup}{script}"))
        .arg("sh")
        .arg(scratch)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `stat` lines (`PATH MODE USER GROUP`) for the spool, every area and the cache.
fn stat_script(spool: &str, cache: &str) -> String {
    let areas: Vec<String> = AREAS.iter().map(|a| format!("{spool}/{a}")).collect();
    format!(
        "stat -c '%n %a %U %G %F' {spool} {} {cache}\n\
         echo \"user $(id -gn oauth2-sendmail) $(getent passwd oauth2-sendmail | cut -d: -f7)\"\n",
        areas.join(" ")
    )
}

#[track_caller]
fn assert_layout(out: &str, spool: &str, cache: &str) {
    for dir in std::iter::once(spool.to_string())
        .chain(AREAS.iter().map(|a| format!("{spool}/{a}")))
        .chain(std::iter::once(cache.to_string()))
    {
        let want = format!("{dir} 2770 root oauth2-sendmail directory");
        assert!(out.lines().any(|l| l == want), "{want}:\n{out}");
    }
    let user = out.lines().find(|l| l.starts_with("user ")).unwrap();
    assert!(
        user.starts_with("user oauth2-sendmail ") && user.ends_with("nologin"),
        "the queue service's user, in the group, without a login: {out}"
    );
}

#[test]
fn the_deb_postinst_creates_every_queue_area_and_the_service_user() {
    let scratch = Scratch::new("postinst");
    let victim = scratch.join("victim");
    std::fs::create_dir(&victim).unwrap();
    // 0.1's first sender could leave a link where an area goes: it is
    // replaced, never followed.
    let script = format!(
        "mkdir -p {SPOOL} && ln -s '{}' {SPOOL}/msg\n\
         sh packaging/debian/postinst configure >/dev/null 2>&1\n{}",
        victim.display(),
        stat_script(SPOOL, "/var/cache/oauth2-sendmail")
    );
    let out = in_throwaway_system(&scratch.path, &script);
    assert_layout(&out, SPOOL, "/var/cache/oauth2-sendmail");
    let meta = std::fs::metadata(&victim).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.gid(), meta.mode() & 0o7777), (0, 0o755));
}

#[test]
fn packaging_install_creates_every_queue_area_and_the_service_user() {
    let scratch = Scratch::new("install");
    let root = scratch.join("root");
    let script = format!(
        "export PREFIX=$s/root/usr SYSCONFDIR=$s/root/etc LOCALSTATEDIR=$s/root/var UNITDIR=$s/root/units BINARY={BIN}\n\
         packaging/install >/dev/null\n{}\
         grep '^User=' $s/root/units/oauth2-sendmail-queue.service\n",
        stat_script(
            &format!("{}/var/spool/oauth2-sendmail", root.display()),
            &format!("{}/var/cache/oauth2-sendmail", root.display())
        )
    );
    let out = in_throwaway_system(&scratch.path, &script);
    assert_layout(
        &out,
        &format!("{}/var/spool/oauth2-sendmail", root.display()),
        &format!("{}/var/cache/oauth2-sendmail", root.display()),
    );
    assert!(out.contains("User=oauth2-sendmail\n"), "{out}");
}

#[test]
fn the_rpm_makes_every_queue_area_and_the_service_user() {
    let spec = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/rpm/oauth2-sendmail.spec"),
    )
    .unwrap();
    for area in AREAS {
        let line = format!("%dir %attr(2770,root,%{{group}}) %{{spool}}/{area}");
        assert!(spec.lines().any(|l| l == line), "{line}");
    }
    assert!(spec.contains("useradd --system --gid %{group}"));
}

#[test]
fn the_queue_service_runs_as_its_own_user_with_its_sandboxing() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("packaging/systemd/oauth2-sendmail-queue.service"),
    )
    .unwrap();
    let keys: Vec<&str> = unit.lines().filter(|l| !l.starts_with('#')).collect();
    for want in [
        "User=oauth2-sendmail",
        "Group=oauth2-sendmail",
        "CapabilityBoundingSet=",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/spool/oauth2-sendmail /var/cache/oauth2-sendmail",
    ] {
        assert!(keys.contains(&want), "{want}");
    }
    assert!(!keys.iter().any(|l| l.starts_with("User=root")));
}
