"""Round trips in a packet trace: how many times a client waited.

The delayer (delayer.py) holds every packet for the same one-way delay D
and writes its arrival time (= the moment it was sent), ports, TCP flags and
payload length. A packet sent by one side at least D after a packet of the
other side was sent may have waited for it; the longest such chain of
"heard, then answered" steps, in one-way trips, is the number of waits a
connection cannot do without at that delay. Counted up to the client's
FIN (closing: after it nothing more is waited for), halved: the round trips
the client's conversation took, whatever the processing time on either side.

Pure functions over parsed trace lines, so they are tested by tables
(test_turns.py).
"""

import collections

FIN = 0x01
SYN = 0x02
RST = 0x04

# Tolerance for the float arithmetic of "sent at least D after".
EPSILON = 0.0002

Packet = collections.namedtuple("Packet", "time sport dport flags length")


def parse(lines):
    """Packets of a trace file's lines."""
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) != 5:
            continue
        out.append(Packet(float(parts[0]), int(parts[1]), int(parts[2]),
                          int(parts[3]), int(parts[4])))
    return out


def connections(packets, server_port):
    """{client port: [packets]} of the connections to `server_port`, each
    starting with the client's SYN (connections seen only in part are left out)."""
    by_port = collections.OrderedDict()
    for p in packets:
        if p.dport == server_port:
            client = p.sport
        elif p.sport == server_port:
            client = p.dport
        else:
            continue
        if client not in by_port:
            if p.dport != server_port or not p.flags & SYN:
                continue
            by_port[client] = []
        elif p.dport == server_port and p.flags & SYN and not p.flags & 0x10:
            # The port was reused by a new connection: keep the latest.
            by_port[client] = []
        by_port[client].append(p)
    return by_port


def round_trips(conn, server_port, delay):
    """Round trips the client of `conn` waited for, up to its FIN (or RST,
    or the last packet it sent)."""
    last = {True: -1, False: -1}      # deepest chain of each side so far
    sent = {True: [], False: []}      # (time, depth) of each side's packets
    end_depth = 0
    for p in conn:
        from_client = p.dport == server_port
        depth = last[from_client] if last[from_client] >= 0 else 0
        for t, d in sent[not from_client]:
            if t + delay <= p.time + EPSILON and d + 1 > depth:
                depth = d + 1
        last[from_client] = depth
        sent[from_client].append((p.time, depth))
        if from_client:
            end_depth = depth
            if p.flags & (FIN | RST):
                break
    return end_depth // 2


def elapsed(conn, server_port):
    """Seconds from the client's SYN to its FIN (or last packet)."""
    start = conn[0].time
    end = start
    for p in conn:
        if p.dport == server_port:
            end = p.time
            if p.flags & (FIN | RST):
                break
    return end - start
