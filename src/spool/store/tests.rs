//! The spool's file operations on a scratch directory.

use super::*;
use std::fs::Permissions;
use std::os::unix::fs::PermissionsExt;

/// A prepared spool in a directory of the test's own (kept alive by the guard).
fn temp_spool(name: &str) -> (crate::testing::TempDir, Spool) {
    let dir = crate::testing::TempDir::new(name);
    let spool = Spool::new(dir.path());
    spool.prepare().unwrap();
    (dir, spool)
}

fn queue(spool: &Spool, id: &str, message: &[u8]) {
    let meta = Meta {
        id: id.into(),
        arrival: 1,
        uid: 0,
        sender: "s@x".into(),
        recipients: vec!["r@x".into()],
        size: message.len() as u64,
        ..Meta::default()
    };
    let mut bytes = format::format_head(&meta).unwrap();
    bytes.extend_from_slice(message);
    let tmp = spool.path(Area::Temporary, id);
    fs::write(&tmp, &bytes).unwrap();
    spool.publish(&tmp, Area::Messages, id).unwrap();
    fs::remove_file(tmp).unwrap();
}

#[test]
fn claim_lock_and_move_on() {
    let (_dir, spool) = temp_spool("claim");
    let id = "00000001AAAAAAAAAAAA";
    queue(&spool, id, b"Subject: x\n\nbody\n");
    let Claim::Taken(mut first) = spool.claim(id).unwrap() else {
        panic!("not taken")
    };
    let mut message = Vec::new();
    first.message().unwrap().read_to_end(&mut message).unwrap();
    assert_eq!(message, b"Subject: x\n\nbody\n");
    assert!(matches!(spool.claim(id).unwrap(), Claim::Busy));
    spool.remove(*first).unwrap();
    assert!(matches!(spool.claim(id).unwrap(), Claim::Gone));

    queue(&spool, id, b"m\n");
    let Claim::Taken(second) = spool.claim(id).unwrap() else {
        panic!()
    };
    let state = State {
        last_error: "refused".into(),
        ..State::default()
    };
    spool.fail(*second, &state).unwrap();
    assert!(spool.path(Area::Failed, id).exists());
    let reason = fs::read_to_string(spool.path(Area::Failed, &format!("{id}.reason"))).unwrap();
    assert!(reason.contains("error refused"));
    assert_eq!(spool.count(Area::Failed), 1);
    assert!(spool.ids().unwrap().0.is_empty());
    fs::remove_dir_all(spool.root()).unwrap();
}

#[test]
fn foreign_and_damaged_files() {
    let (_dir, spool) = temp_spool("foreign");
    fs::write(spool.path(Area::Messages, "notes.txt"), "hello").unwrap();
    let id = "00000002BBBBBBBBBBBB";
    fs::write(spool.path(Area::Messages, id), "garbage").unwrap();
    let (ids, foreign) = spool.ids().unwrap();
    assert_eq!(
        (ids, foreign),
        (vec![id.to_string()], vec!["notes.txt".to_string()])
    );
    assert!(matches!(spool.claim(id).unwrap(), Claim::Corrupt(_)));
    let moved = spool.set_aside(Area::Messages, id).unwrap();
    assert!(moved.starts_with(spool.path(Area::Corrupt, "")));
    fs::write(spool.path(Area::Messages, id), "again").unwrap();
    let moved = spool.set_aside(Area::Messages, id).unwrap();
    assert!(moved.ends_with(format!("{id}.1")), "{}", moved.display());
    fs::remove_dir_all(spool.root()).unwrap();
}

#[test]
fn state_is_replaced_and_damage_is_reported() {
    let (_dir, spool) = temp_spool("state");
    let id = "00000003CCCCCCCCCCCC";
    assert_eq!(spool.read_state(id), Ok(State::default()));
    let state = State {
        attempts: 2,
        ..State::default()
    };
    spool.write_state(id, &state).unwrap();
    assert_eq!(spool.read_state(id), Ok(state));
    fs::write(spool.path(Area::States, id), "half").unwrap();
    assert!(spool.read_state(id).is_err());
    fs::remove_dir_all(spool.root()).unwrap();
}

#[test]
fn clean_up_spares_what_is_held_or_young() {
    let (_dir, spool) = temp_spool("clean");
    let held = spool.path(Area::Temporary, "held");
    let held_file = spool.create(&held).unwrap();
    held_file.try_lock().unwrap();
    let dead = spool.path(Area::Temporary, "dead");
    drop(spool.create(&dead).unwrap());
    let orphan = spool.path(Area::States, "00000004DDDDDDDDDDDD");
    fs::write(&orphan, "x").unwrap();
    spool.clean_up(SystemTime::now());
    assert!(
        held.exists() && dead.exists() && orphan.exists(),
        "young files stay"
    );
    spool.clean_up(SystemTime::now() + Duration::from_secs(3600));
    assert!(held.exists(), "a locked file stays");
    assert!(!dead.exists() && !orphan.exists());
    drop(held_file);
    fs::remove_dir_all(spool.root()).unwrap();
}

#[test]
fn modes_follow_the_queue_directory() {
    let (_dir, spool) = temp_spool("modes");
    fs::set_permissions(spool.root(), Permissions::from_mode(0o2770)).unwrap();
    assert_eq!(spool.file_mode(), 0o660);
    let f = spool.path(Area::Temporary, "m");
    drop(spool.create(&f).unwrap());
    assert_eq!(fs::metadata(&f).unwrap().mode() & 0o7777, 0o660);
    fs::set_permissions(spool.root(), Permissions::from_mode(0o700)).unwrap();
    assert_eq!(spool.file_mode(), 0o600);
    fs::remove_dir_all(spool.root()).unwrap();
    spool.prepare().unwrap();
    let area = fs::metadata(spool.path(Area::Failed, "")).unwrap().mode() & 0o7777;
    assert_eq!(area & 0o007, 0, "nothing for others: {area:o}");
    fs::remove_dir_all(spool.root()).unwrap();
}
