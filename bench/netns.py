"""A network namespace of the benchmark's own, with added delay on chosen
TCP ports: `ip netns`, an iptables NFQUEUE rule on loopback's PREROUTING,
and delayer.py bound to that queue (the kernel here has no `tc netem`).

The benchmark delays the SMTP port, and the clients' way to the token
endpoint through a forwarder (forwarder.py) on a port of its own: the
endpoint is also what Dovecot asks to introspect every XOAUTH2 token, and
delaying that would charge WAN round trips inside the "server" to both
clients alike.
"""

import os
import shutil
import subprocess

from harness import ROOT, RunFailed, enter_netns

QUEUE = 1   # NFQUEUE numbers are per namespace: any number will do


class Unavailable(Exception):
    """This machine cannot do it (no privileges, no iptables...)."""


def _run(argv, what):
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise Unavailable("%s failed: %s" % (what, (proc.stderr or proc.stdout).strip()))


class DelayedNetwork:
    """The namespace, its delayer and the delay rules. Use as a context manager."""

    def __init__(self, delay_ms, trace_path):
        self.name = "o2s-bench-%d" % os.getpid()
        self.delay_ms = delay_ms
        self.trace_path = trace_path
        self.delayer = None
        self.forwarders = []
        self.created = False

    def __enter__(self):
        if os.geteuid() != 0:
            raise Unavailable("needs root (ip netns, iptables)")
        if not shutil.which("iptables"):
            raise Unavailable("iptables is not installed")
        _run(["ip", "netns", "add", self.name], "ip netns add")
        self.created = True
        try:
            self._in_ns(["ip", "link", "set", "lo", "up"], "ip link set lo up")
            self.delayer = subprocess.Popen(
                ["python3", os.path.join(ROOT, "bench", "delayer.py"), "--queue", str(QUEUE),
                 "--delay-ms", str(self.delay_ms), "--trace", self.trace_path],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                preexec_fn=enter_netns(self.name))
            if self.delayer.stdout.readline().strip() != b"ready":
                err = self.delayer.stderr.read().decode(errors="replace").strip()
                raise Unavailable("the NFQUEUE delayer did not start: %s" % err)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _in_ns(self, argv, what):
        _run(["ip", "netns", "exec", self.name] + argv, what)

    def delay_port(self, port):
        """Every packet to or from `port` is held for the delay."""
        for direction in ("--dport", "--sport"):
            self._in_ns(["iptables", "-t", "mangle", "-A", "PREROUTING", "-i", "lo", "-p", "tcp",
                         direction, str(port), "-j", "NFQUEUE", "--queue-num", str(QUEUE),
                         "--queue-bypass"], "iptables NFQUEUE rule")

    def forward(self, port):
        """A port in the namespace that forwards to `port` (forwarder.py), so
        that one client's traffic to a server can be delayed and another's not."""
        proc = subprocess.Popen(
            ["python3", os.path.join(ROOT, "bench", "forwarder.py"), "--to", str(port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, preexec_fn=enter_netns(self.name))
        self.forwarders.append(proc)
        line = proc.stdout.readline().strip()
        if not line.isdigit():
            raise RunFailed("the forwarder did not start")
        return int(line)

    def __exit__(self, *exc):
        for proc in self.forwarders:
            proc.stdin.close()
            proc.wait(timeout=10)
        self.forwarders = []
        if self.delayer is not None:
            if self.delayer.poll() is not None:
                err = self.delayer.stderr.read().decode(errors="replace").strip()
                self.delayer = None
                self._delete()
                raise RunFailed("the delayer died: %s" % err)
            self.delayer.stdin.close()
            try:
                self.delayer.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.delayer.kill()
                self.delayer.wait()
            self.delayer = None
        self._delete()
        return False

    def _delete(self):
        if self.created:
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
            self.created = False
