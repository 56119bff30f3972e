#!/usr/bin/python3
"""A plain TCP forwarder: the token endpoint "far away".

    python3 bench/forwarder.py --to PORT

Listens on a free 127.0.0.1 port (printed on stdout as one line) and copies
bytes both ways between each client and 127.0.0.1:PORT, until stdin EOF.
TLS passes through untouched, so clients still verify the endpoint's own
certificate. The benchmark delays this port only: the clients' token
requests cross the "WAN", while Dovecot's introspection calls to the same
endpoint stay local, as they would inside Microsoft's network.
"""

import argparse
import os
import select
import socket
import sys
import threading


def pump(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(listener, port):
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", port))
        except OSError:
            client.close()
            continue
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--to", type=int, required=True)
    args = ap.parse_args()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    print(listener.getsockname()[1], flush=True)
    threading.Thread(target=serve, args=(listener, args.to), daemon=True).start()
    while True:
        ready, _, _ = select.select([sys.stdin], [], [])
        if ready and not os.read(sys.stdin.fileno(), 4096):
            return 0


if __name__ == "__main__":
    sys.exit(main())
