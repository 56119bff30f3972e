"""The benchmark's fixtures: the loopback sandbox, the two clients'
configurations, test messages, timed runs and their statistics.

Both clients talk to the same sandbox (sandbox/sandbox.py: Postfix with
STARTTLS, Dovecot checking XOAUTH2 tokens, the Entra look-alike token
endpoint) in the same run. Each send is checked: exit 0 and the message
captured by Postfix's delivery pipe; anything else is a failed run, which
makes the benchmark exit non-zero.
"""

import ctypes
import json
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "sandbox"))
import demo  # noqa: E402  (the sandbox's config writer)
RECIPIENT = "bench@contoso.test"
CLONE_NEWNET = 0x40000000


class RunFailed(Exception):
    """A send that did not deliver, or a tool that did not work."""


# ---- the sandbox ----------------------------------------------------------

class Sandbox:
    """`sandbox.py up` as a child: started, its JSON read, stopped by
    closing its stdin. `netns` names a network namespace to start it in."""

    def __init__(self, directory, netns=None):
        self.dir = directory
        self.proc = subprocess.Popen(
            ["python3", os.path.join(ROOT, "sandbox", "sandbox.py"), "up",
             "--rm", "--dir", directory],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            preexec_fn=enter_netns(netns) if netns else None)
        line = self.proc.stdout.readline()
        if not line.strip():
            err = self.proc.stderr.read().decode(errors="replace").strip()
            self.proc.wait()
            raise RunFailed("the sandbox did not start: %s" % err)
        self.info = json.loads(line)
        self.mail_dir = self.info["mail_dir"]
        self._ssl = ssl.create_default_context(cafile=self.info["ca_file"])

    def stop(self):
        if self.proc.stdin:
            self.proc.stdin.close()
            self.proc.stdin = None
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def control(self, what, method="GET"):
        """The token endpoint's control API (stats, reset)."""
        req = urllib.request.Request(self.info["control_url"] + "/" + what,
                                     method=method, data=b"{}" if method == "POST" else None)
        with urllib.request.urlopen(req, context=self._ssl, timeout=10) as r:
            return json.load(r)

    def clear_mail(self):
        for name in os.listdir(self.mail_dir):
            try:
                os.unlink(os.path.join(self.mail_dir, name))
            except OSError:
                pass

    def wait_for_mail(self, count, timeout):
        """Waits until `count` messages were captured; clears them. False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            got = sum(1 for n in os.listdir(self.mail_dir) if n.endswith(".env"))
            if got >= count:
                self.clear_mail()
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)

    def smtp_sessions(self):
        """Connections Postfix's submission service has accepted so far."""
        try:
            with open(self.info["logs"]["postfix"], errors="replace") as f:
                return sum(1 for line in f if "]: connect from " in line)
        except OSError:
            return 0


def enter_netns(name):
    """A preexec_fn that moves the child into network namespace `name`."""
    def enter():
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open("/run/netns/" + name, os.O_RDONLY)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + name)
        os.close(fd)
    return enter


# ---- the clients ----------------------------------------------------------

def write_ours(path, info, cache_dir, extra=""):
    """Our config for the sandbox: the demo's (sandbox/demo.py), plus `extra`."""
    _write_private(path, demo.demo_config(info, cache_dir) + extra)


def write_msmtp(path, info, passwordeval):
    """msmtp's config: STARTTLS, XOAUTH2, the sandbox CA, the token from a
    command (`passwordeval`; msmtp refuses config lines over 500 characters,
    so a 2 KB token cannot be written inline with `password`)."""
    auth = "passwordeval %s" % passwordeval
    text = """\
defaults
tls on
tls_starttls on
tls_trust_file {ca}

account bench
host {host}
port {port}
auth xoauth2
user {user}
from {user}
{auth}

account default : bench
""".format(ca=info["ca_file"], host=info["smtp_host"], port=info["smtp_port"],
           user=info["user"], auth=auth)
    _write_private(path, text)


def write_token_script(path, info):
    """What msmtp users put in passwordeval: POST the client credentials to
    the token endpoint with curl and cut the access_token out of the JSON."""
    url = info["token_url"].replace("{tenant}", info["tenant"])
    text = """\
#!/bin/sh
curl -sS --fail --cacert {ca} \\
  --data-urlencode grant_type=client_credentials \\
  --data-urlencode client_id={cid} \\
  --data-urlencode client_secret@{secret_file} \\
  --data-urlencode scope={scope} \\
  {url} | sed -n 's/.*"access_token": *"\\([^"]*\\)".*/\\1/p'
""".format(ca=info["ca_file"], cid=info["client_id"], scope=info["scope"], url=url,
           secret_file=path + ".secret")
    _write_private(path + ".secret", info["client_secret"])
    _write_private(path, text, mode=0o700)


def _write_private(path, text, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def small_message(size=300):
    """A complete message of exactly `size` bytes (neither client adds a header)."""
    head = ("From: Alerts <alerts@contoso.test>\nTo: %s\nSubject: backup report\n"
            "Date: Sun, 23 Nov 2025 10:00:00 +0000\n"
            "Message-ID: <bench.%%d@contoso.test>\n\n" % RECIPIENT)
    head = head % 1
    body_len = size - len(head)
    line = "The nightly backup of /srv finished without errors.\n"
    body = (line * (body_len // len(line) + 1))[:body_len - 1] + "\n"
    return (head + body).encode()


def big_message(path, size):
    """Writes a message of `size` bytes: a header, then 76-character text lines."""
    head = small_message(300).split(b"\n\n", 1)[0] + b"\n\n"
    line = (b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/0123456789ab"
            b"\n")
    with open(path, "wb") as f:
        f.write(head)
        left = size - len(head)
        block = line * 1024
        while left > 0:
            chunk = block[:left]
            f.write(chunk)
            left -= len(chunk)


# ---- running and timing ---------------------------------------------------

class Outcome:
    """One timed send."""

    def __init__(self, seconds, code, stderr, rss_kb=None):
        self.seconds = seconds
        self.code = code
        self.stderr = stderr
        self.rss_kb = rss_kb


def timed(argv, stdin_path, netns=None, measure_rss=False, timeout=300):
    """Runs `argv` with stdin from a file; wall time from fork to exit."""
    if measure_rss:
        argv = ["/usr/bin/time", "-v"] + argv
    with open(stdin_path, "rb") as stdin:
        start = time.perf_counter()
        proc = subprocess.run(argv, stdin=stdin, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=timeout,
                              preexec_fn=enter_netns(netns) if netns else None)
        seconds = time.perf_counter() - start
    err = proc.stderr.decode(errors="replace")
    rss = None
    if measure_rss:
        for line in err.splitlines():
            if "Maximum resident set size" in line:
                rss = int(line.rsplit(":", 1)[1])
        err = "\n".join(l for l in err.splitlines() if not l.startswith("\t")
                        and not l.startswith("Command exited"))
    return Outcome(seconds, proc.returncode, err.strip(), rss)


def send_checked(sandbox, argv, stdin_path, **kw):
    """A timed send that must exit 0 and arrive."""
    sandbox.clear_mail()
    out = timed(argv, stdin_path, **kw)
    if out.code != 0:
        raise RunFailed("%s exited %s: %s" % (os.path.basename(argv[0]), out.code,
                                               out.stderr[-300:]))
    if not sandbox.wait_for_mail(1, 60):
        raise RunFailed("%s exited 0 but the message did not arrive"
                        % os.path.basename(argv[0]))
    return out


class Series:
    """Measurements of one quantity: median and spread."""

    def __init__(self, values):
        self.values = sorted(values)

    @property
    def median(self):
        return statistics.median(self.values)

    def spread(self):
        """Interquartile range, or min–max with fewer than 4 values."""
        v = self.values
        if len(v) >= 4:
            q = statistics.quantiles(v, n=4, method="inclusive")
            return q[0], q[2]
        return v[0], v[-1]


def remove_tree_contents(path):
    for name in os.listdir(path):
        p = os.path.join(path, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)
