#!/usr/bin/python3
"""Loopback test sandbox for oauth2-sendmail.

    python3 sandbox/sandbox.py up --dir DIR [--no-smtp] [--ignore-stdin]
    python3 sandbox/sandbox.py demo --binary PATH [--keep]

`up` starts, on 127.0.0.1 only: an Entra look-alike HTTPS token endpoint
(in this process, see token_endpoint.py), and unless --no-smtp a private
Dovecot (token checker) and a private Postfix (submission server that
captures every delivery into DIR/mail), see mailservers.py. When all of them
accept connections it writes DIR/sandbox.json and prints the same JSON as
one line on stdout. It then runs until stdin reaches EOF (the parent test
closed it or died) or SIGTERM/SIGINT/SIGHUP, stops everything it started
and exits 0. Startup failures print one line to stderr and exit 1.

`demo` runs the real binary once against a fresh sandbox and shows what
arrived (the README's "try it without a tenant").

This file owns: the DIR layout, orchestration and readiness checks, the
sandbox.json contract, teardown, and the two commands. Python 3 standard
library only, plus the openssl CLI and the installed postfix/dovecot.
"""

import argparse
import base64
import json
import os
import pwd
import re
import select
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import mailservers  # noqa: E402
import pki  # noqa: E402
import token_endpoint as te  # noqa: E402

MARKER = ".oauth2-sendmail-sandbox"
STARTUP_TIMEOUT = 30.0
SMTP_HOST = "localhost"


class Interrupted(Exception):
    """SIGTERM/SIGINT/SIGHUP arrived during startup."""


def _free_port():
    """A port the kernel just handed out on 127.0.0.1. Returned with its
    socket still open: close it right before the server binds, so two
    sandboxes starting together don't draw the same number."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1], s


def _tail(path, n=3):
    try:
        with open(path, errors="replace") as f:
            lines = [l.strip() for l in f if l.strip()]
        return " | ".join(lines[-n:])
    except OSError:
        return "(no log)"


class Sandbox:
    """One sandbox in one directory. start() returns the contract dict;
    stop() is idempotent and safe after a partial start."""

    def __init__(self, directory, smtp=True):
        self.dir = os.path.abspath(directory)
        self.smtp = smtp
        self.endpoint = None
        self.dovecot = self.postfix = None
        self.postfix_groups = set()  # pgids/sids of the Postfix tree
        self.dovecot_groups = set()  # ... and of the Dovecot tree
        self.public = None           # world-traversable dir outside DIR
        self.watchdog = None
        self.contract = None
        self.p = {
            "marker": os.path.join(self.dir, MARKER),
            "json": os.path.join(self.dir, "sandbox.json"),
            "clients": os.path.join(self.dir, "clients"),
            "token_log": os.path.join(self.dir, "token.log"),
            "postfix_log": os.path.join(self.dir, "postfix.log"),
            "postfix_out": os.path.join(self.dir, "postfix.stdout.log"),
            "dovecot_log": os.path.join(self.dir, "dovecot.log"),
            "postfix_conf": os.path.join(self.dir, "postfix"),
            "spool": os.path.join(self.dir, "spool"),
            "postfix_data": os.path.join(self.dir, "postfix-data"),
            "dovecot": os.path.join(self.dir, "dovecot"),
            "mail": os.path.join(self.dir, "mail"),
        }

    # ---- directory ---------------------------------------------------------

    def _prepare_dir(self):
        """DIR must be absent, empty, or a stale sandbox of ours (wiped)."""
        if re.search(r"\s", self.dir):
            raise mailservers.StartError(
                "--dir must not contain whitespace (it goes into master.cf)")
        if os.path.isdir(self.dir) and os.listdir(self.dir):
            if not os.path.exists(self.p["marker"]):
                raise mailservers.StartError(
                    "%s is not empty and was not created by sandbox.py; "
                    "refusing to wipe it" % self.dir)
            owner = mailservers.read_pid(self.p["marker"])
            if owner and owner != os.getpid() and _is_sandbox_process(owner):
                raise mailservers.StartError(
                    "a sandbox (pid %d) is still running in %s"
                    % (owner, self.dir))
            self._kill_leftovers()
            _unlink_public_link(self.p["mail"])
            for name in os.listdir(self.dir):
                path = os.path.join(self.dir, name)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                else:
                    os.unlink(path)
        os.makedirs(self.dir, exist_ok=True)
        with open(self.p["marker"], "w") as f:
            f.write("%d\n" % os.getpid())

    def _kill_leftovers(self):
        """Processes of an earlier sandbox in this DIR that was killed before
        its watchdog could act (normally there are none)."""
        pids = set(mailservers.processes_with_env(
            "MAIL_CONFIG", self.p["postfix_conf"]))
        pids.update(mailservers.processes_with_cmdline(
            "dovecot-%s/" % mailservers.dovecot_instance(self.dir)))
        for pidfile in (os.path.join(self.p["spool"], "pid", "master.pid"),
                        os.path.join(self.p["dovecot"], "run", "master.pid")):
            master = mailservers.read_pid(pidfile)
            # Each master leads its own process group; the cmdline check
            # guards against a recycled PID.
            if master and _cmdline_has(master, (b"master", b"dovecot")):
                pids.update(mailservers.processes_in({master}))
        mailservers.kill_all(pids)

    def _make_public_dir(self):
        """Postfix opens some files by absolute path after dropping root:
        the master its lock in data_directory (as `postfix`), the capture
        pipe its script and the mail dir (as `nobody`). Tests often put DIR
        in a 0700 temp dir, where those users cannot reach. Then these live
        in a world-traversable /tmp dir of ours, DIR/mail is a symlink to
        it, and stop() moves the mail back into DIR and removes the rest.
        Returns the directory that holds them (DIR itself when possible)."""
        os.chmod(self.dir, 0o755)
        if all(mailservers.reachable_by(u, self.dir)
               for u in (mailservers.CAPTURE_USER, "postfix")):
            base = self.dir
            os.makedirs(self.p["mail"])
        else:
            self.public = tempfile.mkdtemp(prefix="oauth2-sandbox-pub-",
                                           dir="/tmp")
            os.chmod(self.public, 0o755)
            base = self.public
            os.makedirs(os.path.join(base, "mail"))
            os.symlink(os.path.join(base, "mail"), self.p["mail"])
            self.p["postfix_data"] = os.path.join(base, "postfix-data")
        nobody = pwd.getpwnam(mailservers.CAPTURE_USER)
        os.chown(os.path.join(base, "mail"), nobody.pw_uid, nobody.pw_gid)
        os.chmod(os.path.join(base, "mail"), 0o755)
        return base

    # ---- start -------------------------------------------------------------

    def start(self):
        t0 = time.monotonic()
        if self.smtp and os.geteuid() != 0:
            raise mailservers.StartError(
                "Postfix needs root to start; run as root or use --no-smtp")
        for tool in ["openssl"] + (["postfix", "dovecot"] if self.smtp else []):
            if not shutil.which(tool, path=os.environ.get("PATH", "")
                                + ":/usr/sbin:/sbin"):
                raise mailservers.StartError("%s is not installed" % tool)
        self._prepare_dir()
        os.makedirs(self.p["clients"])
        keygen = pki.start_client_key(
            os.path.join(self.p["clients"], "certificate-client.key.pem"))
        certs = pki.make_ca_and_server(self.dir)
        os.chmod(certs["ca_cert"], 0o644)
        cert_files = pki.finish_client_cert(
            keygen, os.path.join(self.p["clients"], "certificate-client.key.pem"),
            os.path.join(self.p["clients"], "certificate-client.pem"),
            "oauth2-sendmail sandbox certificate client")
        clients = te.make_clients(cert_files)

        self.endpoint = te.TokenEndpoint(clients, certs["server_cert"],
                                         certs["server_key"], self.p["token_log"])
        self.endpoint.start()
        port = self.endpoint.port
        base = "https://127.0.0.1:%d" % port
        self._check_https(base + "/_control/stats", certs["ca_cert"])

        smtp_port = smtps_port = None
        if self.smtp:
            smtp_port, smtps_port = self._start_mail(certs, base + "/introspect",
                                                     clients["main"], t0)
            self.endpoint.service.reset()   # forget the self-check's token

        main = clients["main"]
        self.contract = {
            "dir": self.dir,
            "ca_file": certs["ca_cert"],
            "token_port": port,
            "token_url": base + "/{tenant}/oauth2/v2.0/token",
            "control_url": base + "/_control",
            "introspection_url": base + "/introspect",
            "tenant": te.TENANT_DOMAIN,
            "tenant_id": te.TENANT_ID,
            "client_id": main.client_id,
            "client_secret": main.secret,
            "user": main.mailbox,
            "scope": te.SCOPE,
            "smtp_host": SMTP_HOST if self.smtp else None,
            "smtp_port": smtp_port,
            "smtps_port": smtps_port,
            "mail_dir": self.p["mail"] if self.smtp else None,
            "logs": {
                "postfix": self.p["postfix_log"] if self.smtp else None,
                "dovecot": self.p["dovecot_log"] if self.smtp else None,
                "token": self.p["token_log"],
            },
            "other_clients": {name: c.contract() for name, c in clients.items()},
            "pid": os.getpid(),
            "startup_seconds": round(time.monotonic() - t0, 3),
        }
        tmp = self.p["json"] + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.contract, f, indent=2)
            f.write("\n")
        os.rename(tmp, self.p["json"])
        return self.contract

    def _track(self, groups, pgid):
        groups.add(pgid)
        self.watchdog.tell("pgid", pgid)

    def _start_mail(self, certs, introspection_url, main_client, t0):
        self.watchdog = Watchdog()
        self.watchdog.tell("env", "MAIL_CONFIG=" + self.p["postfix_conf"])
        base = self._make_public_dir()
        if self.public:
            self.watchdog.tell("home", self.p["mail"], self.public)
        capture_script = os.path.join(
            base if base != self.dir else self.p["postfix_conf"], "capture.sh")
        auth_socket = os.path.join(self.p["spool"], "private", "auth")
        cfg = {
            "queue": self.p["spool"], "data": self.p["postfix_data"],
            "maillog": self.p["postfix_log"], "logdir": self.dir,
            "cert": certs["server_cert"], "key": certs["server_key"],
            "capture_user": mailservers.CAPTURE_USER,
            "capture_script": capture_script,
            "mail_dir": os.path.join(base, "mail"),
        }
        conf = self.p["postfix_conf"]
        # Ports: up to three tries in case another process takes a port
        # between our probe and Postfix's bind.
        for attempt in range(3):
            (cfg["smtp_port"], s1), (cfg["smtps_port"], s2) = (
                _free_port(), _free_port())
            mailservers.write_postfix_config(conf, cfg)
            if attempt == 0:
                mailservers.make_queue_tree(self.p["spool"])
                self._start_dovecot(introspection_url, certs["ca_cert"],
                                    auth_socket)
            s1.close()
            s2.close()
            self.postfix = mailservers.start_postfix(conf, self.p["postfix_out"])
            self._track(self.postfix_groups, self.postfix.pid)
            if self._wait_postfix(cfg, t0):
                break
            self._stop_postfix()
            # The failed start consumed quick-start; the tree is complete.
            open(os.path.join(self.p["spool"], "quick-start"), "w").close()
        else:
            raise mailservers.StartError(
                "postfix did not start: %s" % _tail(self.p["postfix_log"]))
        self._wait(lambda: os.path.exists(auth_socket), t0,
                   "dovecot auth socket %s" % auth_socket, self.dovecot,
                   self.p["dovecot_log"])
        self._check_smtp(cfg["smtp_port"], cfg["smtps_port"], certs["ca_cert"],
                         main_client)
        return cfg["smtp_port"], cfg["smtps_port"]

    def _start_dovecot(self, introspection_url, ca_file, auth_socket):
        conf = mailservers.write_dovecot_config(
            self.p["dovecot"], introspection_url, ca_file, auth_socket,
            self.p["dovecot_log"], self.dir)
        self.dovecot = mailservers.start_dovecot(conf, self.p["dovecot_log"])
        self._track(self.dovecot_groups, self.dovecot.pid)

    def _wait_postfix(self, cfg, t0):
        """True once the master has both ports open; False if it died (bind
        race: caller retries with new ports)."""
        deadline = t0 + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            master = mailservers.read_pid(
                os.path.join(self.p["spool"], "pid", "master.pid"))
            if master and master not in self.postfix_groups:
                self._track(self.postfix_groups, master)
            if all(_connectable(p) for p in (cfg["smtp_port"], cfg["smtps_port"])):
                return True
            if self.postfix.poll() is not None:
                return False
            time.sleep(0.02)
        raise mailservers.StartError(
            "postfix did not open its ports within %ds: %s"
            % (STARTUP_TIMEOUT, _tail(self.p["postfix_log"])))

    def _wait(self, ready, t0, what, proc, log):
        while time.monotonic() < t0 + STARTUP_TIMEOUT:
            if ready():
                return
            if proc is not None and proc.poll() is not None:
                raise mailservers.StartError(
                    "%s: process exited with status %s: %s"
                    % (what, proc.returncode, _tail(log)))
            time.sleep(0.02)
        raise mailservers.StartError("timed out waiting for %s: %s"
                                     % (what, _tail(log)))

    # ---- readiness checks ----------------------------------------------------

    @staticmethod
    def _check_https(url, ca_file):
        ctx = ssl.create_default_context(cafile=ca_file)
        try:
            with urllib.request.urlopen(url, context=ctx, timeout=5) as r:
                r.read()
        except OSError as e:
            raise mailservers.StartError(
                "token endpoint self-check failed: %s" % e)

    def _check_smtp(self, smtp_port, smtps_port, ca_file, client):
        """Real TLS handshakes on both ports (certificate verified against
        the test CA for 'localhost') and one XOAUTH2 login through Dovecot
        and the introspection endpoint, so a broken chain fails here with a
        clear message instead of as a 535 inside some test."""
        ctx = ssl.create_default_context(cafile=ca_file)
        token = self.endpoint.service._issue(client, "1")["access_token"]
        blob = base64.b64encode(("user=%s\x01auth=Bearer %s\x01\x01"
                                 % (client.mailbox, token)).encode()).decode()
        try:
            with smtplib.SMTP(SMTP_HOST, smtp_port, timeout=10) as s:
                s.ehlo("sandbox-selfcheck")
                s.starttls(context=ctx)
                s.ehlo("sandbox-selfcheck")
                # Two-step form: the blob is longer than Postfix's 2048-byte
                # command line limit (line_length_limit), so SASL-IR fails.
                code, msg = s.docmd("AUTH", "XOAUTH2")
                if code == 334:
                    code, msg = s.docmd(blob)
                if code != 235:
                    raise mailservers.StartError(
                        "XOAUTH2 self-check got %d %s; dovecot log: %s"
                        % (code, msg.decode(errors="replace"),
                           _tail(self.p["dovecot_log"])))
            with smtplib.SMTP_SSL(SMTP_HOST, smtps_port, timeout=10,
                                  context=ctx) as s:
                s.ehlo("sandbox-selfcheck")
        except (OSError, smtplib.SMTPException) as e:
            raise mailservers.StartError(
                "SMTP self-check failed: %s; postfix log: %s"
                % (e, _tail(self.p["postfix_log"])))

    # ---- stop ----------------------------------------------------------------

    def _stop_postfix(self):
        if self.postfix is None:
            return
        master = mailservers.read_pid(
            os.path.join(self.p["spool"], "pid", "master.pid"))
        # SIGTERM to the master makes it end its children and exit; the
        # start-fg shell (self.postfix) exits with it. Then SIGKILL for
        # anything left in its session, and a sweep for processes that
        # carry our MAIL_CONFIG (they would keep the ports open).
        mailservers.terminate(self.postfix, self.postfix_groups,
                              [master] if master else [])
        mailservers.kill_all(mailservers.processes_with_env(
            "MAIL_CONFIG", self.p["postfix_conf"]))
        self.postfix = None

    def stop(self):
        """Stop everything; safe to call twice and after a failed start."""
        self._stop_postfix()
        if self.dovecot is not None:
            # Dovecot's master lingers ~1 s after SIGTERM; it holds no state
            # worth a graceful exit, so its group is killed after 0.3 s.
            mailservers.terminate(self.dovecot, self.dovecot_groups, timeout=0.3)
            self.dovecot = None
        if self.endpoint is not None:
            self.endpoint.stop()
            self.endpoint = None
        if self.public:
            # Bring captured mail home so DIR/mail outlives the sandbox.
            if os.path.islink(self.p["mail"]):
                os.unlink(self.p["mail"])
            if os.path.isdir(os.path.join(self.public, "mail")):
                shutil.move(os.path.join(self.public, "mail"), self.p["mail"])
            shutil.rmtree(self.public, ignore_errors=True)
            self.public = None
        if self.watchdog is not None:
            self.watchdog.release()
            self.watchdog = None
        # Keep the marker (without a pid) so a later `up` may wipe DIR.
        try:
            with open(self.p["marker"], "w") as f:
                f.write("stopped\n")
        except OSError:
            pass


def _unlink_public_link(path):
    if os.path.islink(path):
        target = os.readlink(path)
        os.unlink(path)
        pub = os.path.dirname(target)
        if os.path.basename(pub).startswith("oauth2-sandbox-pub-"):
            shutil.rmtree(pub, ignore_errors=True)


def _cmdline_has(pid, words):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read()
    except OSError:
        return False
    return any(w in cmd for w in words)


class Watchdog:
    """watchdog.py in its own session: if this process dies without its
    teardown (SIGKILL), it ends the servers and tidies the mail dir."""

    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(os.path.dirname(
                os.path.abspath(__file__)), "watchdog.py")],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)

    def tell(self, *words):
        try:
            self.proc.stdin.write((" ".join(map(str, words)) + "\n").encode())
            self.proc.stdin.flush()
        except OSError:
            pass

    def release(self):
        self.tell("done")
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _is_sandbox_process(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return b"sandbox.py" in f.read()
    except OSError:
        return False


def _connectable(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------
# Commands


def _install_signal_handlers(state):
    def handler(signum, frame):
        state["signal"] = signum
        if state.get("starting"):
            raise Interrupted()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, handler)


def _ignore_signals():
    """During teardown a second Ctrl-C must not abort the cleanup."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)


def _wait_for_end(state, ignore_stdin, sandbox):
    """Until stdin EOF (unless ignored) or a signal. Warns once on stderr if
    a server dies underneath the tests."""
    fd = sys.stdin.fileno() if not ignore_stdin else None
    warned = set()
    while "signal" not in state:
        if fd is not None:
            r, _, _ = select.select([fd], [], [], 1.0)
            if r:
                try:
                    if not os.read(fd, 65536):
                        return "stdin closed"
                except OSError:
                    return "stdin error"
        else:
            time.sleep(1.0)
        for name in ("postfix", "dovecot"):
            proc = getattr(sandbox, name)
            if proc is not None and proc.poll() is not None and name not in warned:
                warned.add(name)
                _stderr("warning: %s exited unexpectedly (status %s)"
                        % (name, proc.returncode))
    return "signal %d" % state["signal"]


def _stderr(msg):
    try:
        sys.stderr.write("sandbox: %s\n" % msg)
        sys.stderr.flush()
    except OSError:
        pass


def cmd_up(args):
    state = {"starting": True}
    _install_signal_handlers(state)
    sb = Sandbox(args.dir, smtp=not args.no_smtp)
    try:
        contract = sb.start()
        state["starting"] = False
    except (mailservers.StartError, pki.PkiError, OSError) as e:
        _ignore_signals()
        _stderr("startup failed: %s" % e)
        sb.stop()
        return 1
    except Interrupted:
        _ignore_signals()
        _stderr("interrupted during startup")
        sb.stop()
        return 1
    try:
        sys.stdout.write(json.dumps(contract) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        pass   # the reader went away; stdin EOF follows
    _wait_for_end(state, args.ignore_stdin, sb)
    _ignore_signals()
    sb.stop()
    return 0


# ---- demo ------------------------------------------------------------------

DEMO_MESSAGE = """\
To: Operations <ops@contoso.test>
Bcc: audit@contoso.test
Subject: Disk space low on web01

/var is 93% full on web01.

-- 
cron on web01
"""
DEMO_RECIPIENTS = ["ops@contoso.test", "audit@contoso.test"]


def demo_config(contract, cache_dir):
    """The TOML config for the binary (keys from DESIGN.md)."""
    def q(s):
        return json.dumps(s)   # a JSON string is a valid TOML basic string
    return """\
# oauth2-sendmail configuration for the loopback sandbox
tenant = {tenant}
client_id = {client_id}
client_secret = {secret}
user = {user}
ca_file = {ca}

[smtp]
host = {host}
port = {port}
tls = "starttls"
timeout = 30

[token]
url = {url}
scope = {scope}
cache_dir = {cache}
timeout = 30

[addresses]
default_domain = "contoso.test"
""".format(tenant=q(contract["tenant"]), client_id=q(contract["client_id"]),
           secret=q(contract["client_secret"]), user=q(contract["user"]),
           ca=q(contract["ca_file"]), host=q(contract["smtp_host"]),
           port=contract["smtp_port"], url=q(contract["token_url"]),
           scope=q(contract["scope"]), cache=q(cache_dir))


def wait_for_deliveries(mail_dir, count, timeout):
    """[(sender, recipient, message bytes)] once `count` .env files exist
    (or at the timeout, whatever arrived)."""
    deadline = time.monotonic() + timeout
    while True:
        envs = sorted(n for n in os.listdir(mail_dir) if n.endswith(".env"))
        if len(envs) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    out = []
    for name in envs:
        with open(os.path.join(mail_dir, name)) as f:
            sender, recipient = (f.read().split("\n") + ["", ""])[:2]
        with open(os.path.join(mail_dir, name[:-4] + ".eml"), "rb") as f:
            out.append((sender, recipient, f.read()))
    return out


def cmd_demo(args):
    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        _stderr("%s is not an executable file" % binary)
        return 1
    state = {"starting": True}
    _install_signal_handlers(state)
    work = tempfile.mkdtemp(prefix="oauth2-sendmail-demo-")
    sb = Sandbox(os.path.join(work, "sandbox"))
    try:
        try:
            contract = sb.start()
        except (mailservers.StartError, pki.PkiError, OSError) as e:
            _stderr("startup failed: %s" % e)
            return 1
        state["starting"] = False
        cache = os.path.join(work, "cache")
        os.makedirs(cache, mode=0o700)
        conf_path = os.path.join(work, "sendmail.conf")
        conf = demo_config(contract, cache)
        with os.fdopen(os.open(conf_path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(conf)
        print("== sandbox started in %.2f s (%s)" % (contract["startup_seconds"], sb.dir))
        print("== config %s" % conf_path)
        print(conf.replace(json.dumps(contract["client_secret"]), '"<redacted>"'))
        cmd = [binary, "-C", conf_path, "-t", "-i"]
        print("== running: %s < message" % " ".join(cmd))
        print(DEMO_MESSAGE)
        t = time.monotonic()
        try:
            proc = subprocess.run(cmd, input=DEMO_MESSAGE.encode(),
                                  capture_output=True, timeout=120)
            rc, err = proc.returncode, proc.stderr.decode(errors="replace")
        except subprocess.TimeoutExpired:
            rc, err = None, "(timed out after 120 s)"
        print("== exit code %s after %.2f s" % (rc, time.monotonic() - t))
        print("== stderr:\n%s" % (err or "(empty)"))
        got = wait_for_deliveries(contract["mail_dir"], len(DEMO_RECIPIENTS),
                                  10 if rc == 0 else 1)
        for sender, recipient, message in got:
            print("== delivered: envelope sender <%s>, recipient <%s>"
                  % (sender, recipient))
            print(message.decode(errors="replace"))
        missing = set(DEMO_RECIPIENTS) - {r for _, r, _ in got}
        stats = sb.endpoint.service.stats()
        print("== token endpoint: %d token request(s), %d introspection(s)"
              % (stats["token_requests"], stats["introspections"]))
        if missing:
            print("== NOT delivered to: %s" % ", ".join(sorted(missing)))
        ok = rc == 0 and not missing
        print("== demo %s" % ("succeeded" if ok else "FAILED"))
        return 0 if ok else 1
    except Interrupted:
        _stderr("interrupted")
        return 1
    finally:
        _ignore_signals()
        sb.stop()
        if args.keep:
            print("== kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="sandbox.py", description="loopback test sandbox for oauth2-sendmail")
    sub = ap.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the sandbox and run until stdin EOF "
                        "or SIGTERM/SIGINT")
    up.add_argument("--dir", required=True,
                    help="sandbox directory (absent, empty, or an old sandbox)")
    up.add_argument("--no-smtp", action="store_true",
                    help="only the token endpoint (no root needed)")
    up.add_argument("--ignore-stdin", action="store_true",
                    help="run until a signal even if stdin is closed "
                    "(for running it in the background by hand)")
    demo = sub.add_parser("demo", help="send one message through the real "
                          "binary and show what arrived")
    demo.add_argument("--binary", required=True,
                      help="path to the oauth2-sendmail binary")
    demo.add_argument("--keep", action="store_true",
                      help="keep the temporary directory")
    args = ap.parse_args(argv)
    return cmd_up(args) if args.command == "up" else cmd_demo(args)


if __name__ == "__main__":
    sys.exit(main())
