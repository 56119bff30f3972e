"""One sandbox's life: directory layout, start order, readiness checks,
the sandbox.json contract, and teardown. Used by `sandbox.py up` and
`sandbox.py demo`.

Start order and why:
1. DIR is checked and wiped (only if an earlier sandbox made it).
2. CA and server certificate (pki.py); the certificate client's RSA key is
   generated in the background meanwhile (the slowest step).
3. The token endpoint binds port 0 and serves (token_endpoint.py).
4. With SMTP: watchdog (cleans up if we get SIGKILLed), queue tree, Dovecot
   (needs the endpoint's URL), Postfix (needs Dovecot's socket path); then
   real STARTTLS/implicit-TLS handshakes and one XOAUTH2 login through the
   whole chain, so a broken setup fails here and not inside a test.
5. sandbox.json is written atomically.
Teardown stops Postfix, Dovecot (SIGTERM to each master, then SIGKILL to
their process groups and a /proc sweep), then the endpoint.
"""

import base64
import json
import os
import pwd
import re
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

import entra
import graph
import identity
import mailservers
import pki
import token_endpoint

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
        self.managed = None          # identity.Managed: IMDS and Arc look-alikes
        self.graph = None
        self.dovecot = self.postfix = None
        self.postfix_groups = set()  # pgids/sids of the Postfix tree
        self.dovecot_groups = set()  # ... and of the Dovecot tree
        self.public = None           # world-traversable dir outside DIR
        self.watchdog = None
        self.keygen = None           # openssl genpkey running in background
        self.contract = None
        self.p = {
            "marker": os.path.join(self.dir, MARKER),
            "json": os.path.join(self.dir, "sandbox.json"),
            "clients": os.path.join(self.dir, "clients"),
            "token_log": os.path.join(self.dir, "token.log"),
            "graph_log": os.path.join(self.dir, "graph.log"),
            "graph_mail": os.path.join(self.dir, "graph-mail"),
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
        self.keygen = keygen = pki.start_client_key(
            os.path.join(self.p["clients"], "certificate-client.key.pem"))
        certs = pki.make_ca_and_server(self.dir)
        os.chmod(certs["ca_cert"], 0o644)
        clients = entra.make_secret_clients()
        clients.update(identity.make_clients())

        self.endpoint = token_endpoint.TokenEndpoint(
            clients, certs["server_cert"], certs["server_key"],
            self.p["token_log"])
        self.endpoint.service.federated = identity.FederatedIssuer()
        self.endpoint.start()
        self.managed = identity.Managed(self.endpoint.service, clients, self.dir)
        self.managed.start()
        port = self.endpoint.port
        base = "https://127.0.0.1:%d" % port
        self._check_https(base + "/_control/stats", certs["ca_cert"])
        self.graph = graph.Graph(self.endpoint.service, certs["server_cert"],
                                 certs["server_key"], self.p["graph_mail"],
                                 self.p["graph_log"])
        self.graph.start()
        self._check_https(self.graph.url + "/_control/graph", certs["ca_cert"])

        smtp_port = smtps_port = None
        if self.smtp:
            smtp_port, smtps_port = self._start_mail(certs, base + "/introspect",
                                                     clients["main"], t0)
            self.endpoint.service.reset()   # forget the self-check's token
        # The RSA key was generated in the background meanwhile.
        cert_files = pki.finish_client_cert(
            keygen, os.path.join(self.p["clients"], "certificate-client.key.pem"),
            os.path.join(self.p["clients"], "certificate-client.pem"),
            "oauth2-sendmail sandbox certificate client")
        clients["certificate"] = entra.make_certificate_client(cert_files)
        self.endpoint.service.add_client(clients["certificate"])
        self.keygen = None

        main = clients["main"]
        self.contract = {
            "dir": self.dir,
            "ca_file": certs["ca_cert"],
            "token_port": port,
            "token_url": base + "/{tenant}/oauth2/v2.0/token",
            "control_url": base + "/_control",
            "introspection_url": base + "/introspect",
            "tenant": entra.TENANT_DOMAIN,
            "tenant_id": entra.TENANT_ID,
            "client_id": main.client_id,
            "client_secret": main.secret,
            "user": main.mailbox,
            "scope": entra.SCOPE,
            "smtp_host": SMTP_HOST if self.smtp else None,
            "smtp_port": smtp_port,
            "smtps_port": smtps_port,
            "mail_dir": self.p["mail"] if self.smtp else None,
            "graph_url": self.graph.url,
            "graph_control_url": self.graph.url + "/_control/graph",
            "graph_mail_dir": self.p["graph_mail"],
            "logs": {
                "postfix": self.p["postfix_log"] if self.smtp else None,
                "dovecot": self.p["dovecot_log"] if self.smtp else None,
                "token": self.p["token_log"],
                "graph": self.p["graph_log"],
            },
            "other_clients": {name: c.contract() for name, c in clients.items()},
            "openid_url": base + "/{tenant}/v2.0/.well-known/openid-configuration",
            "federated": {"client_id": clients["federated"].client_id,
                          "issuer": identity.ISSUER,
                          "subject": identity.SUBJECT,
                          "audience": identity.AUDIENCE},
            "managed": self.managed.contract(clients),
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
            if _listening((cfg["smtp_port"], cfg["smtps_port"])):
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
        self.endpoint.service.log("startup self-check: one XOAUTH2 login "
                                  "through Postfix and Dovecot")
        token = self.endpoint.service.issue(client, "1")["access_token"]
        blob = base64.b64encode(("user=%s\x01auth=Bearer %s\x01\x01"
                                 % (client.mailbox, token)).encode()).decode()
        try:
            with smtplib.SMTP(SMTP_HOST, smtp_port, timeout=10) as s:
                s.ehlo("sandbox-selfcheck")
                s.starttls(context=ctx)
                s.ehlo("sandbox-selfcheck")
                # Two-step form (the one-line SASL-IR form works too, thanks
                # to line_length_limit = 16384 in main.cf).
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
        if self.keygen is not None and self.keygen.poll() is None:
            self.keygen.kill()
            self.keygen.wait()
        self._stop_postfix()
        if self.dovecot is not None:
            # Dovecot's master lingers ~1 s after SIGTERM; it holds no state
            # worth a graceful exit, so its group is killed after 0.3 s.
            mailservers.terminate(self.dovecot, self.dovecot_groups, timeout=0.3)
            self.dovecot = None
        if self.managed is not None:
            self.managed.stop()
            self.managed = None
        if self.graph is not None:
            self.graph.stop()
            self.graph = None
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

    def remove(self):
        """Delete DIR after stop() (`up --rm`): only a directory that carries
        our marker, so a mistyped --dir cannot cost anything else."""
        if os.path.exists(self.p["marker"]):
            shutil.rmtree(self.dir, ignore_errors=True)


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


def _listening(ports):
    """True if every port has a listening socket on 127.0.0.1. Read from
    /proc/net/tcp rather than by connecting: a probe connection would put
    "lost connection after CONNECT" / "SSL_accept error" in Postfix's log."""
    want = {"0100007F:%04X" % p for p in ports}
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            found = {fields[1] for fields in (line.split() for line in f)
                     if fields[3] == "0A"}      # 0A = TCP_LISTEN
    except OSError:
        return False
    return want <= found


# --------------------------------------------------------------------------
# Signals and messages, shared by the commands


def install_signal_handlers(state):
    """SIGTERM/SIGINT/SIGHUP set state["signal"]; while state["starting"]
    they also raise Interrupted so a slow start can be abandoned."""
    def handler(signum, frame):
        state["signal"] = signum
        if state.get("starting"):
            raise Interrupted()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, handler)


def ignore_signals():
    """During teardown a second Ctrl-C must not abort the cleanup."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)


def stderr(msg):
    try:
        sys.stderr.write("sandbox: %s\n" % msg)
        sys.stderr.flush()
    except OSError:
        pass
