"""The Microsoft Graph rows: our binary with `transport = "graph"` against
the sandbox's Graph look-alike (sandbox/graph.py). msmtp has no Graph
transport, so these rows have no comparison.

- small message: a send with a cached Graph token, and with a cold cache;
- 25 MiB message with a 15 MB attachment: too large for one sendMail, so
  a draft, upload sessions in 3 MiB ranges, then send: wall time and
  peak RSS (target: ≤ 10 MiB, as on the SMTP path);
- at 50 ms RTT (bench/run's delayed network): wall time and the round
  trips of the connection to Graph, with a cached token and a cold cache
  (target: at most 4, against 10 for SMTP).
"""

import base64
import os
import time

import harness
from harness import RECIPIENT, RunFailed, Series
import turns

import demo  # noqa: E402  (on sys.path through harness)


class GraphMail:
    """clear_mail / wait_for_mail of harness.Sandbox, over Graph's mail dir."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.mail_dir = sandbox.info["graph_mail_dir"]

    def clear_mail(self):
        harness.Sandbox.clear_mail(self)

    def wait_for_mail(self, count, timeout):
        return harness.Sandbox.wait_for_mail(self, count, timeout)


def attachment_message(path, size, attachment):
    """A multipart message of about `size` bytes: a text part, one base64
    attachment of `attachment` bytes, and a second filling the rest."""
    head = (b"From: %s\nTo: %s\nSubject: nightly dump\n"
            b"Date: Sun, 23 Nov 2025 10:00:00 +0000\nMessage-ID: <bench.graph@contoso.test>\n"
            b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"bench\"\n\n"
            b"--bench\nContent-Type: text/plain\n\nThe dump is attached.\n"
            % (demo_user().encode(), RECIPIENT.encode()))
    second = max(0, (size - len(head)) * 3 // 4 - attachment - 2048)
    with open(path, "wb") as f:
        f.write(head)
        for name, n in (("dump.bin", attachment), ("log.bin", second)):
            f.write(b"--bench\nContent-Type: application/octet-stream\n"
                    b"Content-Disposition: attachment; filename=\"%s\"\n"
                    b"Content-Transfer-Encoding: base64\n\n" % name.encode())
            block = os.urandom(57 * 1024)
            left = n
            while left > 0:
                chunk = block[:min(left, len(block))]
                f.write(base64.encodebytes(chunk))
                left -= len(chunk)
        f.write(b"--bench--\n")


_USER = {}


def demo_user():
    return _USER.get("user", "alerts@contoso.test")


def run(binary, sandbox, work, small, runs, few):
    """{"warm", "cold": Series of seconds; "big": {"size", "seconds", "rss_kb"}}."""
    _USER["user"] = sandbox.info["user"]
    os.makedirs(work, exist_ok=True)
    cache = os.path.join(work, "cache")
    os.makedirs(cache, exist_ok=True)
    conf = os.path.join(work, "graph.conf")
    harness._write_private(conf, demo.demo_config(sandbox.info, cache, "graph"))
    mail = GraphMail(sandbox)
    argv = [binary, "-C", conf, "-i", RECIPIENT]
    harness.send_checked(mail, argv, small)          # warms the cache
    warm, cold = [], []
    for _ in range(runs):
        warm.append(harness.send_checked(mail, argv, small).seconds)
        harness.remove_tree_contents(cache)
        cold.append(harness.send_checked(mail, argv, small).seconds)
    big = os.path.join(work, "graph-big.eml")
    attachment_message(big, 25 * 1024 * 1024, 15 * 1000 * 1000)
    size = os.path.getsize(big)
    if size < 25 * 1024 * 1024:
        raise RunFailed("the Graph test message is only %d bytes" % size)
    seconds, rss = [], []
    for _ in range(few):
        o = harness.send_checked(mail, argv, big, measure_rss=True)
        seconds.append(o.seconds)
        rss.append(o.rss_kb)
    return {"warm": Series(warm), "cold": Series(cold),
            "big": {"size": size, "seconds": Series(seconds), "rss_kb": Series(rss)}}


def round_trips(binary, sandbox, info, work, small, runs, trace_path, delay, netns_name):
    """Sends at added delay: {"warm", "cold": {"seconds", "turns": Series}},
    the round trips counted on the one connection to Graph (its port must
    be delayed by the caller); `info` has the delayed token URL."""
    _USER["user"] = info["user"]
    port = int(info["graph_url"].rsplit(":", 1)[1])
    os.makedirs(work, exist_ok=True)
    cache = os.path.join(work, "cache")
    os.makedirs(cache, exist_ok=True)
    conf = os.path.join(work, "graph.conf")
    harness._write_private(conf, demo.demo_config(info, cache, "graph"))
    mail = GraphMail(sandbox)
    argv = [binary, "-C", conf, "-i", RECIPIENT]
    harness.send_checked(mail, argv, small, netns=netns_name)     # warms the cache
    out = {name: {"seconds": [], "turns": []} for name in ("warm", "cold")}
    for _ in range(runs):
        for name in ("warm", "cold"):
            if name == "cold":
                harness.remove_tree_contents(cache)
            with open(trace_path) as f:
                f.seek(0, os.SEEK_END)
                offset = f.tell()
            o = harness.send_checked(mail, argv, small, netns=netns_name)
            time.sleep(3 * delay)             # the last packets reach the trace
            with open(trace_path) as f:
                f.seek(offset)
                conns = list(turns.connections(turns.parse(f), port).values())
            if len(conns) != 1:
                raise RunFailed("expected one connection to Graph in the trace of a %s "
                                "send, found %d" % (name, len(conns)))
            out[name]["seconds"].append(o.seconds)
            out[name]["turns"].append(turns.round_trips(conns[0], port, delay))
    return {name: {k: Series(v) for k, v in d.items()} for name, d in out.items()}
