"""Private Postfix and Dovecot instances for the sandbox.

Owns: their configuration files (written fresh under the sandbox DIR), the
capture pipe script, starting them as child processes and stopping them so
that no process of theirs survives.

Roles:
- Postfix is the submission server: STARTTLS-required port and an
  implicit-TLS port, SASL through Dovecot, sender must equal the
  authenticated mailbox (like Exchange), every recipient delivered to a
  `capture` pipe that writes mail/<id>.eml and mail/<id>.env.
- Dovecot only checks tokens: XOAUTH2/OAUTHBEARER via its oauth2 passdb,
  which introspects each token at the sandbox token endpoint.

Postfix is told to leave messages alone (no Bcc removal, no added
Date/Message-ID/From, no address qualification in headers): the tests check
that the client did those things. It still prepends its Received: header.
"""

import grp
import hashlib
import os
import pwd
import signal
import subprocess
import time

CAPTURE_USER = "nobody"

# Why a script file and not inline argv: quoting in master.cf is fragile.
# The message arrives on stdin exactly as queued (no pipe flags: no From_
# line, no Delivered-To, no Return-Path), with LF line endings.
# The .env file is renamed into place last, so its presence means the .eml
# is complete. Exit 75 (EX_TEMPFAIL) makes Postfix retry on a write error.
CAPTURE_SCRIPT = """\
#!/bin/sh
# capture.sh MAILDIR QUEUE_ID SENDER RECIPIENT  (run by Postfix pipe(8))
set -u
dir=$1; id="$2.$$"
umask 022
cat > "$dir/.$id.eml.tmp" || exit 75
mv "$dir/.$id.eml.tmp" "$dir/$id.eml" || exit 75
printf '%s\\n%s\\n' "$3" "$4" > "$dir/.$id.env.tmp" || exit 75
mv "$dir/.$id.env.tmp" "$dir/$id.env" || exit 75
exit 0
"""


class StartError(Exception):
    """A server could not be started; message is one line for stderr."""


def reachable_by(user, path):
    """True if `user` can traverse every directory down to `path` (so a
    process running as that user can open files there by absolute path)."""
    pw = pwd.getpwnam(user)
    groups = {pw.pw_gid}
    path = os.path.abspath(path)
    parts = path.split(os.sep)
    for i in range(1, len(parts) + 1):
        d = os.sep.join(parts[:i]) or os.sep
        st = os.stat(d)
        if st.st_uid == pw.pw_uid:
            ok = st.st_mode & 0o100
        elif st.st_gid in groups:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            return False
    return True


# --------------------------------------------------------------------------
# Dovecot


def dovecot_instance(sandbox_dir):
    """Dovecot's instance_name for a sandbox DIR. Dovecot overwrites its
    processes' environment with their titles ("dovecot-<instance>/auth"),
    so the title is how leftovers of one sandbox are recognised."""
    return "oauth2-sandbox-" + hashlib.sha1(sandbox_dir.encode()).hexdigest()[:12]


def write_dovecot_config(d, introspection_url, ca_file, auth_socket, logfile,
                         sandbox_dir):
    """Write d/dovecot.conf and d/oauth2.conf.ext; return the conf path.
    `d` is the sandbox's dovecot directory (base_dir and state inside)."""
    base = os.path.join(d, "run")
    state = os.path.join(d, "state")
    for p in (base, state):
        os.makedirs(p, exist_ok=True)
    ext = os.path.join(d, "oauth2.conf.ext")
    with open(ext, "w") as f:
        f.write(
            "# Dovecot oauth2 passdb: RFC 7662 introspection at the sandbox\n"
            "# token endpoint (POST token=...). The answer's `username` must\n"
            "# equal the XOAUTH2 user= (Dovecot's username_validation_format\n"
            "# default %%u), so a token only logs in as its own mailbox.\n"
            "introspection_mode = post\n"
            "introspection_url = %s\n"
            "tls_ca_cert_file = %s\n"
            "username_attribute = username\n"
            "active_attribute = active\n"
            "active_value = true\n"
            "timeout_msecs = 10000\n" % (introspection_url, ca_file))
    conf = os.path.join(d, "dovecot.conf")
    with open(conf, "w") as f:
        f.write("""\
# Auth-only Dovecot for the oauth2-sendmail sandbox (written by sandbox.py).
# No mail protocols: it only answers Postfix's SASL requests.
protocols =
base_dir = {base}
state_dir = {state}
instance_name = {inst}
log_path = {log}
info_log_path = {log}
debug_log_path = {log}
ssl = no
auth_mechanisms = xoauth2 oauthbearer
# Failures must be fast and must not escalate (docs/protocol-notes.md): no
# delay, and no per-IP penalty (anvil-auth-penalty listener disabled below).
auth_failure_delay = 0
auth_verbose = yes
auth_cache_size = 0
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {ext}
}}
# Postfix SASL never asks for a userdb; this only keeps doveconf quiet.
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent allow_all_users=yes
}}
service auth {{
  # The socket sits in Postfix's queue directory so smtpd (chrooted or
  # not) reaches it as private/auth without traversing DIR's parents.
  unix_listener {sock} {{
    mode = 0660
    user = postfix
    group = postfix
  }}
  # The auth process reads {ext_base} and the CA file by absolute path;
  # running it as root means DIR's parents need not be world-traversable.
  user = root
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
""".format(base=base, state=state, inst=dovecot_instance(sandbox_dir),
           log=logfile, ext=ext, sock=auth_socket,
           ext_base=os.path.basename(ext)))
    return conf


def start_dovecot(conf, logfile):
    with open(logfile, "ab") as log:
        # Own session so the whole tree can be signalled as one group.
        return subprocess.Popen(
            ["dovecot", "-F", "-c", conf], stdin=subprocess.DEVNULL,
            stdout=log, stderr=log, start_new_session=True)


# --------------------------------------------------------------------------
# Postfix


def write_postfix_config(conf, cfg):
    """Write main.cf, master.cf, the sender-login map and the capture script.
    `conf` is the config directory (DIR/postfix); cfg holds ports, paths and
    cert files. Safe to call again with other ports (start retries)."""
    os.makedirs(conf, exist_ok=True)
    # queue_directory belongs to root, data_directory to mail_owner (the
    # master creates its lock file there after dropping privileges).
    os.makedirs(cfg["queue"], exist_ok=True)
    os.makedirs(cfg["data"], mode=0o700, exist_ok=True)
    pf = pwd.getpwnam("postfix")
    os.chown(cfg["data"], pf.pw_uid, pf.pw_gid)
    with open(cfg["capture_script"], "w") as f:
        f.write(CAPTURE_SCRIPT)
    os.chmod(cfg["capture_script"], 0o755)
    login_map = os.path.join(conf, "sender_login.regexp")
    with open(login_map, "w") as f:
        # Every sender address is owned by the login of the same name:
        # MAIL FROM must equal the authenticated mailbox, as on Exchange.
        f.write("/^(.+)$/ ${1}\n")
    with open(os.path.join(conf, "main.cf"), "w") as f:
        f.write(MAIN_CF.format(conf=conf, login_map=login_map, **cfg))
    with open(os.path.join(conf, "master.cf"), "w") as f:
        f.write(MASTER_CF.format(**cfg))
    # Postfix re-reads a configuration file whose mtime is this very second,
    # every 0.3 s until it is older (protection against half-written
    # files), which cost ~2 s per start. Backdate our files instead.
    past = time.time() - 60
    for name in ("main.cf", "master.cf", os.path.basename(login_map)):
        os.utime(os.path.join(conf, name), (past, past))


MAIN_CF = """\
# Private Postfix instance of the oauth2-sendmail sandbox (written by
# sandbox.py; every run writes it afresh).
compatibility_level = 3.6
config_directory = {conf}
queue_directory = {queue}
data_directory = {data}
maillog_file = {maillog}
maillog_file_prefixes = {logdir}
myhostname = sandbox.test
mydomain = sandbox.test
myorigin = $myhostname
mydestination =
local_recipient_maps =
relay_domains =
mynetworks = 127.0.0.1/32
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
smtpd_peername_lookup = no
biff = no

# Every recipient goes to the capture pipe, one pipe run per recipient.
default_transport = capture
relay_transport = capture
capture_destination_recipient_limit = 1
message_size_limit = 104857600
mailbox_size_limit = 0

# Leave the message as the client sent it: tests check that the client
# added Date/Message-ID/From, qualified addresses and removed Bcc.
local_header_rewrite_clients =
always_add_missing_headers = no
message_drop_headers =
strict_rfc821_envelopes = yes

# Submission policy, Exchange-like: TLS before AUTH, relay only when
# authenticated, MAIL FROM must be the authenticated mailbox, and
# addresses must carry a domain.
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_tls_loglevel = 1
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_sasl_response_limit = 32768
# Entra tokens make an AUTH line with the initial response (RFC 4954 SASL-IR)
# of 2-4 KB; Postfix's default 2048-byte line limit would cut it in two.
line_length_limit = 16384
smtpd_sasl_authenticated_header = no
# Refuse at the command itself (MAIL FROM), not only at RCPT time.
smtpd_delay_reject = no
smtpd_sender_login_maps = regexp:{login_map}
smtpd_sender_restrictions = reject_non_fqdn_sender, reject_sender_login_mismatch
smtpd_relay_restrictions = reject_non_fqdn_recipient, permit_sasl_authenticated, reject
smtpd_recipient_restrictions =
smtpd_client_restrictions =
smtpd_helo_restrictions =
# Fast failure for the tests' error cases; no tarpit.
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 100
smtpd_hard_error_limit = 200
"""

MASTER_CF = """\
# Only the services the sandbox needs; no port-25 listener, no chroot.
# service           type  private unpriv chroot wakeup maxproc command
127.0.0.1:{smtp_port} inet n       -      n      -      -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
127.0.0.1:{smtps_port} inet n      -      n      -      -       smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
# The capture transport. No flags: the message is piped unchanged (no
# From_ line, Delivered-To or Return-Path). null_sender= keeps an empty
# envelope sender empty instead of MAILER-DAEMON.
capture   unix  -       n       n       -       -       pipe
  flags= user={capture_user} null_sender=
  argv=/bin/sh {capture_script} {mail_dir} ${{queue_id}} ${{sender}} ${{recipient}}
"""


# The queue tree as Postfix 3.7's postfix-files describes it. Made here
# because `postfix check` (post-install create-missing) takes ~2 s of
# postconf calls; with the tree in place and a `quick-start` file, start-fg
# skips those checks (postfix-script: "quick-start").
QUEUE_DIRS = (
    # name, owner, group, mode
    ("active", "postfix", None, 0o700), ("bounce", "postfix", None, 0o700),
    ("corrupt", "postfix", None, 0o700), ("defer", "postfix", None, 0o700),
    ("deferred", "postfix", None, 0o700), ("flush", "postfix", None, 0o700),
    ("hold", "postfix", None, 0o700), ("incoming", "postfix", None, 0o700),
    ("saved", "postfix", None, 0o700), ("trace", "postfix", None, 0o700),
    ("private", "postfix", None, 0o700),
    ("maildrop", "postfix", "postdrop", 0o730),
    ("public", "postfix", "postdrop", 0o710),
    ("pid", "root", None, 0o755),
)


def make_queue_tree(queue):
    os.makedirs(queue, mode=0o755, exist_ok=True)
    for name, owner, group, mode in QUEUE_DIRS:
        path = os.path.join(queue, name)
        os.makedirs(path, exist_ok=True)
        pw = pwd.getpwnam(owner)
        gid = grp.getgrnam(group).gr_gid if group else pw.pw_gid
        os.chown(path, pw.pw_uid, gid)
        os.chmod(path, mode)
    open(os.path.join(queue, "quick-start"), "w").close()


def start_postfix(conf, logfile):
    """`postfix start-fg`: postfix-script stays in the foreground while the
    master runs as its child (`master -s`, its own session)."""
    with open(logfile, "ab") as log:
        return subprocess.Popen(
            ["postfix", "-c", conf, "start-fg"], stdin=subprocess.DEVNULL,
            stdout=log, stderr=log, start_new_session=True)


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


# --------------------------------------------------------------------------
# Stopping: gracefully, then by process group/session, then a /proc sweep.


def _proc_ids(pid):
    """(pgid, sid) of a live process, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[2]), int(fields[3])
    except (OSError, IndexError, ValueError):
        return None


def processes_in(groups):
    """PIDs whose process group or session id is in `groups`."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        ids = _proc_ids(int(name))
        if ids and (ids[0] in groups or ids[1] in groups):
            found.append(int(name))
    return found


def processes_with_env(var, value):
    """PIDs whose environment has var=value (Postfix daemons inherit
    MAIL_CONFIG=<our config dir>, which identifies them exactly)."""
    needle = ("%s=%s" % (var, value)).encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % name, "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(int(name))
        except OSError:
            pass
    return found


def processes_with_cmdline(prefix):
    """PIDs whose command line (argv[0] onwards) starts with `prefix`."""
    needle = prefix.encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                if f.read().startswith(needle):
                    found.append(int(name))
        except OSError:
            pass
    return found


def _wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [p for p in pids if _alive(p)]
        if not pids:
            return []
        time.sleep(0.02)
    return [p for p in pids if _alive(p)]


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def terminate(popen, groups, primary=(), timeout=5.0):
    """Stop a server tree. SIGTERM goes to the main processes only (`popen`
    and `primary`: a Postfix or Dovecot master ends its own children, and
    signalling those directly just adds noise to the logs). After the
    masters are gone or `timeout` passed, everything still alive in
    `groups` (pgids/sids) or `primary` gets SIGKILL. Reaps `popen`.
    Returns the PIDs that survived even that (should be empty)."""
    mains = set(primary)
    if popen is not None and popen.poll() is None:
        mains.add(popen.pid)
    for pid in mains:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    _wait_gone(list(mains), timeout)
    left = {p for p in mains if _alive(p)} | set(processes_in(groups))
    left.discard(os.getpid())
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if popen is not None:
        popen.wait()
    return _wait_gone(list(left), 2.0)


def kill_all(pids):
    """SIGKILL stragglers found by other means (e.g. the /proc sweep)."""
    pids = [p for p in pids if p != os.getpid()]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return _wait_gone(pids, 2.0)
