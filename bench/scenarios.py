"""The measurements: each function runs one row of BENCHMARKS.md against
the sandbox and returns its numbers; `RunFailed` when a send fails.

Every scenario runs our release binary and msmtp in the same run, against
the same servers, alternating so that the machine's load hits both alike.
"""

import json
import os
import shutil
import socket
import subprocess
import time

import harness
import turns
from harness import RECIPIENT, RunFailed, Series


# msmtp paces nothing, and the rows compare speed: our [limits] (Exchange's
# 3 sessions, 30 messages a minute, 10,000 recipients a day per mailbox)
# would only measure the clock here.
UNPACED = "\n[limits]\nconnections = 0\nrate = 0\nrecipients_per_day = 0\n"


class Clients:
    """Both clients, configured for one sandbox, in `work`."""

    def __init__(self, binary, sandbox, work, netns=None, info=None):
        self.binary = binary
        self.sandbox = sandbox
        self.info = info or sandbox.info
        self.work = work
        self.netns = netns
        info = info or sandbox.info
        self.cache = os.path.join(work, "cache")
        os.makedirs(self.cache, exist_ok=True)
        self.ours_conf = os.path.join(work, "ours.conf")
        harness.write_ours(self.ours_conf, info, self.cache, extra=UNPACED)
        # msmtp as its users run it against Entra: a script fetches the token.
        self.fetch_script = os.path.join(work, "fetch-token.sh")
        harness.write_token_script(self.fetch_script, info)
        self.msmtp_fetch_conf = os.path.join(work, "msmtp-fetch.conf")
        harness.write_msmtp(self.msmtp_fetch_conf, info, self.fetch_script)
        # msmtp with a token handed to it: a file that holds one.
        self.token_file = os.path.join(work, "token")
        fetched = subprocess.run([self.fetch_script], capture_output=True, text=True,
                                 preexec_fn=harness.enter_netns(netns) if netns else None)
        if fetched.returncode != 0 or not fetched.stdout.strip():
            raise RunFailed("the token script failed: %s" % fetched.stderr.strip())
        with open(self.token_file, "w") as f:
            f.write(fetched.stdout.strip())
        self.msmtp_conf = os.path.join(work, "msmtp.conf")
        harness.write_msmtp(self.msmtp_conf, info, "cat %s" % self.token_file)

    def ours(self, conf=None):
        return [self.binary, "-C", conf or self.ours_conf, "-i", RECIPIENT]

    def msmtp(self, fetch=False):
        return ["msmtp", "-C", self.msmtp_fetch_conf if fetch else self.msmtp_conf, RECIPIENT]

    def send(self, argv, message, **kw):
        return harness.send_checked(self.sandbox, argv, message, netns=self.netns, **kw)

    def cold(self):
        harness.remove_tree_contents(self.cache)


def small_messages(clients, message, runs):
    """Small message: ours with a warm cache and with a cold one, msmtp with
    the token handed to it and fetched by passwordeval."""
    clients.send(clients.ours(), message)          # warms the cache
    clients.send(clients.msmtp(), message)
    times = {"ours_warm": [], "ours_cold": [], "msmtp_token": [], "msmtp_fetch": []}
    for _ in range(runs):
        times["ours_warm"].append(clients.send(clients.ours(), message).seconds)
        times["msmtp_token"].append(clients.send(clients.msmtp(), message).seconds)
        clients.cold()
        times["ours_cold"].append(clients.send(clients.ours(), message).seconds)
        times["msmtp_fetch"].append(clients.send(clients.msmtp(fetch=True), message).seconds)
    return {k: Series(v) for k, v in times.items()}


def big_message(clients, message, runs):
    """A large message: wall time and peak RSS of each client."""
    size = os.path.getsize(message)
    out = {"size": size}
    for name, argv in (("ours", clients.ours()), ("msmtp", clients.msmtp())):
        out[name] = {"seconds": [], "rss_kb": []}
    clients.send(clients.ours(), message, measure_rss=True)   # warm the cache
    for _ in range(runs):
        for name, argv in (("ours", clients.ours()), ("msmtp", clients.msmtp())):
            o = clients.send(argv, message, measure_rss=True)
            out[name]["seconds"].append(o.seconds)
            out[name]["rss_kb"].append(o.rss_kb)
    for name in ("ours", "msmtp"):
        out[name] = {"seconds": Series(out[name]["seconds"]),
                     "rss_kb": Series(out[name]["rss_kb"])}
    return out


def concurrent_cold(clients, message, runs, count=50):
    """`count` sends started at once with a cold cache: token requests made
    and total wall time (all must exit 0 and arrive)."""
    out = {}
    for name, argv in (("ours", clients.ours()), ("msmtp", clients.msmtp(fetch=True))):
        seconds, requests = [], []
        for _ in range(runs):
            clients.cold()
            clients.sandbox.clear_mail()
            clients.sandbox.control("reset", method="POST")
            start = time.perf_counter()
            procs = []
            for _ in range(count):
                with open(message, "rb") as stdin:
                    procs.append(subprocess.Popen(argv, stdin=stdin, stdout=subprocess.DEVNULL,
                                                  stderr=subprocess.PIPE))
            errors = []
            for p in procs:
                _, err = p.communicate(timeout=300)
                if p.returncode != 0:
                    errors.append("exit %s: %s" % (p.returncode, err.decode(errors="replace")[-200:]))
            seconds.append(time.perf_counter() - start)
            if errors:
                raise RunFailed("%d of %d concurrent %s sends failed, e.g. %s"
                                % (len(errors), count, name, errors[0]))
            if not clients.sandbox.wait_for_mail(count, 120):
                raise RunFailed("concurrent %s sends exited 0 but not all %d arrived"
                                % (name, count))
            requests.append(clients.sandbox.control("stats")["token_requests"])
        out[name] = {"seconds": Series(seconds), "requests": Series(requests)}
    return out


def round_trips(clients, message, runs, trace_path, delay):
    """Per message under added delay: wall time, and the SMTP connection's
    round trips counted in the delayer's packet trace. Tokens cached (ours
    warm, msmtp's handed) and fetched (ours cold, msmtp's passwordeval)."""
    port = clients.sandbox.info["smtp_port"]
    variants = [("ours", clients.ours(), False), ("msmtp", clients.msmtp(), False),
                ("ours_cold", clients.ours(), True), ("msmtp_fetch", clients.msmtp(fetch=True), False)]
    clients.send(clients.ours(), message)     # warms the cache
    out = {name: {"seconds": [], "turns": []} for name, _, _ in variants}
    for _ in range(runs):
        for name, argv, cold in variants:
            if cold:
                clients.cold()
            with open(trace_path) as f:
                f.seek(0, os.SEEK_END)
                offset = f.tell()
            o = clients.send(argv, message)
            time.sleep(3 * delay)             # the last packets reach the trace
            with open(trace_path) as f:
                f.seek(offset)
                conns = list(turns.connections(turns.parse(f), port).values())
            if len(conns) != 1:
                raise RunFailed("expected one SMTP connection in the trace of a %s send, "
                                "found %d" % (name, len(conns)))
            out[name]["seconds"].append(o.seconds)
            out[name]["turns"].append(turns.round_trips(conns[0], port, delay))
    return {name: {k: Series(v) for k, v in d.items()} for name, d in out.items()}


def queue_flush(clients, message, runs, count=100):
    """`count` messages queued (the server unreachable), then one `-q`:
    total time and SMTP sessions. None when this build has no queue."""
    spool = os.path.join(clients.work, "queue")
    os.makedirs(spool, exist_ok=True)
    # The default rate limit (30 a minute, Exchange's per-mailbox limit) would
    # make this row measure the clock; the row is about sessions and speed.
    queue_section = "\n[queue]\ndir = %s\nrate_limit = 0\n" % json.dumps(spool) + UNPACED
    good = os.path.join(clients.work, "queue.conf")
    harness.write_ours(good, clients.sandbox.info, clients.cache, extra=queue_section)
    probe = harness.timed([clients.binary, "-C", good, "-q"], os.devnull)
    if probe.code != 0:
        return None, probe.stderr.splitlines()[-1] if probe.stderr else "exit %d" % probe.code
    unreachable = dict(clients.sandbox.info, smtp_port=_closed_port())
    down = os.path.join(clients.work, "queue-down.conf")
    harness.write_ours(down, unreachable, clients.cache, extra=queue_section)
    seconds, sessions = [], []
    for _ in range(runs):
        for _ in range(count):
            o = harness.timed([clients.binary, "-C", down, "-i", RECIPIENT], message)
            if o.code != 0:
                raise RunFailed("queueing a message failed (exit %s): %s" % (o.code, o.stderr))
        clients.sandbox.clear_mail()
        before = clients.sandbox.smtp_sessions()
        o = harness.timed([clients.binary, "-C", good, "-q"], os.devnull)
        if o.code != 0:
            raise RunFailed("-q exited %s: %s" % (o.code, o.stderr))
        if not clients.sandbox.wait_for_mail(count, 120):
            raise RunFailed("-q exited 0 but not all %d queued messages arrived" % count)
        seconds.append(o.seconds)
        time.sleep(0.2)                       # Postfix logs the connection
        sessions.append(clients.sandbox.smtp_sessions() - before)
    return {"seconds": Series(seconds), "sessions": Series(sessions)}, None


def background(clients, message, runs):
    """Caller-visible time of a background send (`-odb`): spooled, exit 0,
    delivered by the detached process (each must arrive before the next)."""
    spool = os.path.join(clients.work, "background-queue")
    os.makedirs(spool, exist_ok=True)
    conf = os.path.join(clients.work, "background.conf")
    harness.write_ours(conf, clients.info, clients.cache,
                       extra="\n[queue]\ndir = %s\n" % json.dumps(spool) + UNPACED)
    argv = clients.ours(conf) + ["-odb"]
    clients.send(argv, message)               # warms the cache
    return Series([clients.send(argv, message).seconds for _ in range(runs)])


def burst(clients, message, runs, count=50, connections=3):
    """`count` live sends started at once with `limits.connections` =
    `connections`: all exit 0 (a send that waits too long for a slot is
    queued, and a `-q` afterwards delivers it), all arrive; total time."""
    spool = os.path.join(clients.work, "burst-queue")
    os.makedirs(spool, exist_ok=True)
    conf = os.path.join(clients.work, "burst.conf")
    harness.write_ours(conf, clients.info, clients.cache, extra=(
        "\n[queue]\ndir = %s\n\n[limits]\nconnections = %d\nrate = 0\nrecipients_per_day = 0\n"
        % (json.dumps(spool), connections)))
    clients.send(clients.ours(conf), message)  # warms the cache
    seconds, queued = [], []
    for _ in range(runs):
        clients.sandbox.clear_mail()
        start = time.perf_counter()
        procs = []
        for _ in range(count):
            with open(message, "rb") as stdin:
                procs.append(subprocess.Popen(clients.ours(conf), stdin=stdin,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        for p in procs:
            _, err = p.communicate(timeout=300)
            if p.returncode != 0:
                raise RunFailed("a burst send exited %s: %s"
                                % (p.returncode, err.decode(errors="replace")[-200:]))
        waiting = len(os.listdir(os.path.join(spool, "msg"))) if os.path.isdir(
            os.path.join(spool, "msg")) else 0
        if waiting:
            o = harness.timed([clients.binary, "-C", conf, "-q"], os.devnull)
            if o.code != 0:
                raise RunFailed("-q after the burst exited %s: %s" % (o.code, o.stderr))
        if not clients.sandbox.wait_for_mail(count, 120):
            raise RunFailed("burst sends exited 0 but not all %d arrived" % count)
        seconds.append(time.perf_counter() - start)
        queued.append(waiting)
    return {"seconds": Series(seconds), "queued": Series(queued)}


def _closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def startup(binary, quick, portable=None):
    """`--version` start-up time (hyperfine), ours and msmtp's, and the
    portable build's (OpenSSL linked in, glibc 2.17) when given. The runs
    are taken in 10 rounds that alternate the programs, so that a change of
    load on a shared machine falls on all of them alike."""
    total = 30 if quick else 300
    rounds = 3 if quick else 10
    commands = [("ours", "%s --version" % binary), ("msmtp", "msmtp --version")]
    if portable:
        commands.append(("portable", "%s --version" % portable))
    times = {name: [] for name, _ in commands}
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "o2s-hyperfine-%d.json" % os.getpid())
    for _ in range(rounds):
        for name, cmd in commands:
            proc = subprocess.run(["hyperfine", "-N", "--warmup", "3", "--runs",
                                   str(total // rounds), "--export-json", path,
                                   "--style", "none", cmd],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise RunFailed("hyperfine failed: %s" % proc.stderr.strip()[-300:])
            with open(path) as f:
                times[name].extend(json.load(f)["results"][0]["times"])
            os.unlink(path)
    return {name: Series(values) for name, values in times.items()}


def binary_size(binary):
    return os.path.getsize(binary), os.path.getsize(shutil.which("msmtp"))
