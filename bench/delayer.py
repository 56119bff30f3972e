#!/usr/bin/python3
"""A WAN in a box: holds every packet of an NFQUEUE queue for a fixed delay.

    python3 bench/delayer.py --queue N --delay-ms 25 --trace FILE

The kernel here has no `sch_netem`, so added latency comes from an iptables
rule (`-t mangle -A PREROUTING -i lo ... -j NFQUEUE --queue-num N
--queue-bypass`) inside a network namespace of the benchmark's own, and this
program bound to that queue over nfnetlink_queue: each packet is accepted
DELAY ms after it arrived, in arrival order. On loopback every packet
passes PREROUTING exactly once, so a one-way delay D makes a round trip of
2D in both directions.

It also writes one line per packet to the trace file (arrival time on the
monotonic clock, source and destination port, TCP flags, payload length):
bench/turns.py counts round trips from it. It prints "ready" once bound, and
runs until SIGTERM/SIGINT or stdin EOF.

Python standard library only (a raw netlink socket; the message layouts are
those of <linux/netfilter/nfnetlink_queue.h>).
"""

import argparse
import collections
import os
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_PAYLOAD = 10
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_PACKET = 2
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2
NF_ACCEPT = 1
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5
# Enough of each packet for the IPv4 and TCP headers (options included).
COPY_RANGE = 128


def _align(n):
    return (n + 3) & ~3


def _attr(kind, payload):
    head = struct.pack("=HH", 4 + len(payload), kind)
    return head + payload + b"\0" * (_align(len(payload)) - len(payload))


def _message(msg_type, queue, attrs, flags=NLM_F_REQUEST, seq=0):
    # nfgenmsg: family, version, resource id (the queue number, big endian).
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + attrs
    kind = (NFNL_SUBSYS_QUEUE << 8) | msg_type
    return struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body


def _attributes(data):
    """{type: payload} of a netlink attribute block."""
    out = {}
    while len(data) >= 4:
        length, kind = struct.unpack_from("=HH", data)
        if length < 4:
            break
        out[kind & 0x7FFF] = data[4:length]
        data = data[_align(length):]
    return out


def packet_summary(ip):
    """(sport, dport, flags, payload length) of an IPv4/TCP packet's
    first bytes, or None for anything else. Pure, for the trace."""
    if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_TCP:
        return None
    ihl = (ip[0] & 0x0F) * 4
    total = struct.unpack_from("!H", ip, 2)[0]
    if len(ip) < ihl + 14:
        return None
    sport, dport = struct.unpack_from("!HH", ip, ihl)
    offset = (ip[ihl + 12] >> 4) * 4
    flags = ip[ihl + 13]
    return sport, dport, flags, total - ihl - offset


class Queue:
    """The bound NFQUEUE queue."""

    def __init__(self, number):
        self.number = number
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        try:
            self.sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
        except OSError:
            pass
        self.sock.bind((0, 0))
        self.seq = 0
        cmd = struct.pack("!BBH", NFQNL_CFG_CMD_BIND, 0, socket.AF_INET)
        self._config(_attr(NFQA_CFG_CMD, cmd))
        params = struct.pack("!IB", COPY_RANGE, NFQNL_COPY_PACKET)
        self._config(_attr(NFQA_CFG_PARAMS, params))
        self._config(_attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", 65536)))

    def _config(self, attrs):
        self.seq += 1
        self.sock.send(_message(NFQNL_MSG_CONFIG, self.number, attrs,
                                NLM_F_REQUEST | NLM_F_ACK, self.seq))
        reply = self.sock.recv(65536)
        length, kind = struct.unpack_from("=IH", reply)
        if kind == NLMSG_ERROR:
            errno = -struct.unpack_from("=i", reply, 16)[0]
            if errno:
                raise OSError(errno, "nfnetlink_queue config: %s" % os.strerror(errno))

    def receive(self):
        """[(packet id, first bytes of the packet)] of one recv."""
        data = self.sock.recv(1 << 20)
        packets = []
        while len(data) >= 16:
            length, kind = struct.unpack_from("=IH", data)
            if length < 16:
                break
            if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                attrs = _attributes(data[20:length])
                header = attrs.get(NFQA_PACKET_HDR)
                if header is not None:
                    packet_id = struct.unpack_from("!I", header)[0]
                    packets.append((packet_id, attrs.get(NFQA_PAYLOAD, b"")))
            data = data[_align(length):]
        return packets

    def accept(self, packet_id):
        verdict = struct.pack("!II", NF_ACCEPT, packet_id)
        self.sock.send(_message(NFQNL_MSG_VERDICT, self.number,
                                _attr(NFQA_VERDICT_HDR, verdict)))


def run(queue_number, delay, trace_path):
    queue = Queue(queue_number)
    held = collections.deque()   # (due time, packet id), in arrival order
    trace = open(trace_path, "a", buffering=1) if trace_path else None
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(1))
    print("ready", flush=True)
    stdin = sys.stdin.fileno()
    watch = [queue.sock, stdin]
    while not stop:
        now = time.monotonic()
        while held and held[0][0] <= now:
            queue.accept(held.popleft()[1])
        timeout = max(0.0, held[0][0] - now) if held else 1.0
        try:
            ready, _, _ = select.select(watch, [], [], timeout)
        except InterruptedError:
            continue
        if stdin in ready:
            if not os.read(stdin, 4096):
                break
        if queue.sock in ready:
            arrived = time.monotonic()
            for packet_id, head in queue.receive():
                held.append((arrived + delay, packet_id))
                summary = packet_summary(head)
                if trace and summary:
                    trace.write("%.6f %d %d %d %d\n" % ((arrived,) + summary))
    # Let what is still held through, so no connection is left hanging.
    for _, packet_id in held:
        queue.accept(packet_id)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--queue", type=int, required=True)
    ap.add_argument("--delay-ms", type=float, required=True)
    ap.add_argument("--trace", help="file to append one line per packet to")
    args = ap.parse_args(argv)
    return run(args.queue, args.delay_ms / 1000.0, args.trace)


if __name__ == "__main__":
    sys.exit(main())
