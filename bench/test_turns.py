#!/usr/bin/python3
"""Tests of the benchmark's pure parts: round-trip counting (turns.py) and
packet parsing (delayer.py). Run: python3 bench/test_turns.py"""

import os
import struct
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import delayer  # noqa: E402
import turns  # noqa: E402
from turns import Packet  # noqa: E402

D = 0.025
SERVER = 587
CLIENT = 40000
SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01


def conversation(steps, start=100.0):
    """Packets of (side, flags, length, seconds the sender spent before
    sending after the previous packet arrived, or None to send at once
    without waiting for it)."""
    out = []
    t = start
    for side, flags, length, think in steps:
        if out and think is not None:
            t = out[-1].time + D + think
        sport, dport = (CLIENT, SERVER) if side == "C" else (SERVER, CLIENT)
        out.append(Packet(t, sport, dport, flags, length))
        t += 0.0001
    return out


HANDSHAKE = [("C", SYN, 0, None), ("S", SYN | ACK, 0, 0), ("C", ACK, 0, 0)]


class RoundTrips(unittest.TestCase):
    def count(self, steps):
        conn = conversation(steps)
        return turns.round_trips(conn, SERVER, D)

    def test_lockstep_dialogue(self):
        steps = HANDSHAKE + [
            ("S", PSH | ACK, 30, 0),       # greeting, once the ACK is in
            ("C", PSH | ACK, 12, 0),       # EHLO
            ("S", PSH | ACK, 90, 0),       # 250
            ("C", PSH | ACK | FIN, 6, 0),  # QUIT, close
        ]
        self.assertEqual(self.count(steps), 3)   # connect, greeting, EHLO

    def test_processing_time_is_not_a_round_trip(self):
        steps = HANDSHAKE + [
            ("S", PSH | ACK, 30, 0.012),
            ("C", PSH | ACK, 12, 0.008),
            ("S", PSH | ACK, 90, 0.015),
            ("C", PSH | ACK | FIN, 6, 0.001),
        ]
        self.assertEqual(self.count(steps), 3)

    def test_pipelined_writes_count_once(self):
        steps = HANDSHAKE + [
            ("S", PSH | ACK, 30, 0),
            ("C", PSH | ACK, 40, 0),       # MAIL
            ("C", PSH | ACK, 40, None),    # RCPT, same flight
            ("C", PSH | ACK, 6, None),     # DATA, same flight
            ("S", PSH | ACK, 30, 0),
            ("S", PSH | ACK, 30, None),
            ("S", PSH | ACK, 30, None),
            ("C", PSH | ACK | FIN, 6, 0),
        ]
        self.assertEqual(self.count(steps), 3)

    def test_waiting_for_the_reply_to_quit_costs_one_more(self):
        steps = HANDSHAKE + [
            ("S", PSH | ACK, 30, 0),
            ("C", PSH | ACK, 6, 0),        # QUIT
            ("S", PSH | ACK, 20, 0),       # 221
            ("C", ACK | FIN, 0, 0),        # close only after it
            ("S", ACK | FIN, 0, 0),
            ("C", ACK, 0, 0),              # after the FIN: not counted
        ]
        self.assertEqual(self.count(steps), 3)

    def test_a_delayed_ack_the_server_waits_for_is_a_round_trip(self):
        steps = HANDSHAKE + [
            ("S", PSH | ACK, 30, 0),
            ("C", PSH | ACK, 12, 0),       # EHLO
            ("S", PSH | ACK, 250, 0),      # session ticket
            ("C", ACK, 0, 0),              # client's ACK of it
            ("S", PSH | ACK, 90, 0),       # only now the EHLO reply
            ("C", PSH | ACK | FIN, 6, 0),
        ]
        self.assertEqual(self.count(steps), 4)

    def test_elapsed_runs_from_syn_to_fin(self):
        conn = conversation(HANDSHAKE + [("S", PSH | ACK, 30, 0),
                                         ("C", PSH | ACK | FIN, 6, 0),
                                         ("S", ACK | FIN, 0, 0)])
        self.assertAlmostEqual(turns.elapsed(conn, SERVER), 4 * D, delta=0.001)


class Connections(unittest.TestCase):
    def test_split_by_client_port_and_only_from_syn(self):
        packets = [
            Packet(1.0, 40001, SERVER, PSH | ACK, 10),   # began before the trace
            Packet(1.1, 40002, SERVER, SYN, 0),
            Packet(1.2, SERVER, 40002, SYN | ACK, 0),
            Packet(1.3, 50000, 443, SYN, 0),             # another server
            Packet(1.4, 40002, SERVER, ACK | FIN, 0),
        ]
        conns = turns.connections(packets, SERVER)
        self.assertEqual(list(conns), [40002])
        self.assertEqual(len(conns[40002]), 3)

    def test_parse_trace_lines(self):
        lines = ["12.5 40002 587 2 0\n", "garbage\n", "12.6 587 40002 18 0\n"]
        self.assertEqual(turns.parse(lines),
                         [Packet(12.5, 40002, 587, 2, 0), Packet(12.6, 587, 40002, 18, 0)])


class PacketSummary(unittest.TestCase):
    def packet(self, payload_len, proto=6, version=4):
        tcp = struct.pack("!HHIIBBHHH", 40002, 587, 1, 0, 5 << 4, PSH | ACK, 65535, 0, 0)
        total = 20 + len(tcp) + payload_len
        ip = struct.pack("!BBHHHBBH4s4s", (version << 4) | 5, 0, total, 0, 0, 64, proto, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
        return ip + tcp + b"x" * min(payload_len, 20)   # truncated, as the queue copies

    def test_tcp_header_fields(self):
        self.assertEqual(delayer.packet_summary(self.packet(300)), (40002, 587, PSH | ACK, 300))

    def test_other_packets_are_ignored(self):
        self.assertIsNone(delayer.packet_summary(self.packet(10, proto=17)))
        self.assertIsNone(delayer.packet_summary(self.packet(10, version=6)))
        self.assertIsNone(delayer.packet_summary(b"\x45\x00"))


if __name__ == "__main__":
    unittest.main()
