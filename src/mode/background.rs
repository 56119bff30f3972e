//! Delivery modes (`delivery`, `-odi`, `-odb`, `-odq`) and the detached
//! process of background delivery.
//!
//! `queue` and `background` first spool the message durably, as a queued
//! message due now (fsync, rename: the queue's own `Draft`), and the caller
//! gets exit 0 at once. `background` then starts the same program again as
//! `--deliver-queued ID`: a new session (`setsid`), no terminal, stdin,
//! stdout and stderr on `/dev/null`, the safe environment only, so nothing
//! the caller waits on stays open. That process claims the message like a
//! queue run and delivers it; if it is killed, the message is still queued
//! and the next queue run delivers it. Its errors go to syslog (and the
//! metrics), since the caller has gone.

use std::io::{self, BufRead};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::cli::{Delivery, Invocation};
use crate::config::{Config, DeliveryMode, QueueConfig};
use crate::envelope::Addresses;
use crate::error::{Error, Kind, Result};
use crate::log::{Level, Outcome, Record, Syslog};
use crate::message::PreparedHeader;
use crate::spool::caller;
use crate::spool::draft::{Draft, Tee};
use crate::spool::format::{self, Meta, State};
use crate::spool::store::{Area, Spool};
use crate::submit::Submitter;
use crate::system;

/// The delivery mode of this send: the option, else the configuration;
/// without a queue, the foreground (said once on stderr).
pub fn effective(invocation: &Invocation, config: &Config) -> DeliveryMode {
    let mode = invocation.delivery_mode.unwrap_or(config.delivery);
    if mode != DeliveryMode::Foreground && config.queue.is_none() {
        eprintln!(
            "oauth2-sendmail: delivery {} needs [queue] dir in {}: delivering in the foreground",
            mode.name(),
            config.path.display()
        );
        return DeliveryMode::Foreground;
    }
    mode
}

/// Spools the message as a queued message due now; returns its queue id.
///
/// # Errors
/// The queue cannot take it (exit 73), or reading stdin failed (exit 74);
/// nothing is queued then.
pub fn spool(
    config: &Config,
    delivery: &Delivery,
    addresses: &Addresses,
    header: &PreparedHeader,
    input: &mut dyn BufRead,
) -> Result<String> {
    let queue = config.queue.as_ref().expect("checked by the caller");
    let spool = Spool::new(&queue.dir);
    let cant = |e: &io::Error| crate::spool::cant_use(&spool, e);
    let meta = Meta {
        sender: addresses.sender.clone(),
        recipients: addresses.recipients.clone(),
        message_id: header.message_id.clone(),
        delivery: delivery.clone(),
        // The account the message was chosen for; its run delivers it.
        account: config.account_tag(),
        ..Meta::default()
    };
    let mut draft = Draft::begin(&spool, meta, &header.bytes).map_err(|e| cant(&e))?;
    Tee::new(input, Some(&mut draft)).drain().map_err(|e| {
        Error::new(
            Kind::Input,
            format!(
                "reading the message failed: {}; it was not queued",
                crate::error::io_reason(&e)
            ),
        )
    })?;
    // Due now, nothing tried: the queue needs no state file for it.
    draft
        .keep(&spool, &State::default(), Area::Messages)
        .map_err(|e| cant(&e))?;
    Ok(draft.id().to_string())
}

/// The syslog line of a message spooled for later.
pub fn log_queued(
    syslog: &mut Syslog,
    addresses: &Addresses,
    header: &PreparedHeader,
    id: &str,
    started: Instant,
    why: &str,
) {
    let line = Record {
        queue_id: Some(id),
        message_id: Some(&header.message_id),
        outcome: Outcome::Queued,
        error: Some(why),
        ..Record::delivered(&addresses.sender, &addresses.recipients, started.elapsed())
    }
    .line();
    syslog.log(Level::Info, &line);
}

/// Starts the detached process that delivers queued message `id`; a
/// failure is logged and leaves the message to the next queue run.
pub fn start_detached(invocation: &Invocation, id: &str, syslog: &mut Syslog) {
    let mut command = Command::new("/proc/self/exe");
    command
        .arg0("sendmail")
        .env_clear()
        .env("PATH", crate::privilege::SAFE_PATH)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(path) = &invocation.config_path {
        command.arg("-C").arg(path);
    }
    command.arg("--deliver-queued").arg(id);
    // Not waited for: the caller has its exit code at once; the process
    // outlives us and init reaps it.
    if let Err(e) = command.spawn() {
        syslog.log(
            Level::Warning,
            &format!(
                "queue-id={id}: cannot start background delivery ({}): the next queue run delivers it",
                crate::error::io_reason(&e)
            ),
        );
    }
}

/// `--deliver-queued ID`: the detached process. Leaves the caller's
/// session, then delivers that one message, if it is still queued and
/// belongs to the calling user (or the caller is root).
///
/// # Errors
/// A malformed id (64), or another user's message (77).
pub fn deliver_queued(invocation: &Invocation, config: &Config, mut syslog: Syslog) -> Result<()> {
    // No controlling terminal, no signals for the caller's process group.
    let _ = rustix::process::setsid();
    let id = invocation.recipients.first().map_or("", String::as_str);
    if !format::is_queue_id(id) || invocation.recipients.len() != 1 {
        return Err(Error::usage("--deliver-queued takes one queue id"));
    }
    let top = config;
    let uid = caller::real_uid();
    let Some((queue, meta)) = find(top, id)? else {
        // Delivered (or given up) already: nothing to do.
        return Ok(());
    };
    if meta.uid != uid && uid != 0 {
        return Err(not_theirs(id));
    }
    // The message's own account, checked against its owner's binding as a
    // queue run checks it; a run fails a message that may not be sent.
    let tag = meta
        .account
        .as_deref()
        .unwrap_or(crate::config::DEFAULT_ACCOUNT);
    let config = match crate::account::may_send(top, meta.uid, tag) {
        Ok(account) => account,
        Err(e) => {
            let line = format!(
                "queue-id={id}: left for the next queue run: {}",
                e.message()
            );
            syslog.log(Level::Warning, &line);
            return Ok(());
        }
    };
    super::accounts::tag(&mut syslog, top, config);
    let slot = crate::limits::session_slot(config, crate::limits::LIVE_WAIT);
    let (_slot, warning) = match slot {
        Ok(slot) => slot,
        Err(why) => {
            syslog.log(
                Level::Warning,
                &format!("queue-id={id}: left for the next queue run: {why}"),
            );
            return Ok(());
        }
    };
    if let Some(warning) = warning {
        syslog.log(Level::Warning, &warning);
    }
    let mut submitter = Submitter::new(
        config,
        system::host_name(config),
        Delivery::default(),
        false,
        syslog,
    );
    // A caller's process, as a live send is: with credential_access =
    // "service" it uses cached tokens only (the queue service renews them).
    submitter.callers_only();
    let summary = super::queue::run_one(&mut submitter, top, queue, id);
    if let Ok(summary) = &summary
        && let Some(why) = &summary.stopped
    {
        submitter.log(
            Level::Warning,
            &format!("queue-id={id}: left for the next queue run: {why}"),
        );
    }
    if let Ok(summary) = &summary {
        super::report::after_sends(
            top,
            config,
            &super::report::of_run(summary.delivered, &summary.failed_causes),
            submitter.syslog(),
        );
    }
    submitter.finish();
    Ok(())
}

/// The queue holding message `id` (the top level's, or an account's own
/// `[queue] dir`) and its metadata; `None` once it is gone.
///
/// # Errors
/// A queue that cannot be read (77).
fn find<'c>(top: &'c Config, id: &str) -> Result<Option<(&'c QueueConfig, Meta)>> {
    let mut unreadable = false;
    for queue in std::iter::once(top)
        .chain(&top.accounts)
        .filter_map(|a| a.queue.as_ref())
    {
        match Spool::new(&queue.dir).peek(id) {
            Ok(meta) => return Ok(Some((queue, meta))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(_) => unreadable = true,
        }
    }
    if unreadable {
        return Err(not_theirs(id));
    }
    Ok(None)
}

fn not_theirs(id: &str) -> Error {
    Error::new(
        Kind::NoPermission,
        format!("--deliver-queued {id}: not a queued message of this user"),
    )
}
