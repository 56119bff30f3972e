"""The Microsoft Graph rows: our binary with `transport = "graph"` against
the sandbox's Graph look-alike (sandbox/graph.py). msmtp has no Graph
transport, so these rows have no comparison.

- small message: a send with a cached Graph token, and with a cold cache;
- 25 MiB message with a 15 MB attachment: too large for one sendMail, so
  a draft, upload sessions in 2 MiB ranges, then send: wall time and
  peak RSS (target: ≤ 10 MiB, as on the SMTP path).
"""

import base64
import os

import harness
from harness import RECIPIENT, RunFailed, Series

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
