#!/usr/bin/python3
"""Loopback test sandbox for oauth2-sendmail: the command line.

    python3 sandbox/sandbox.py up --dir DIR [--no-smtp] [--rm] [--ignore-stdin]
    python3 sandbox/sandbox.py demo --binary PATH [--keep]

`up` starts, on 127.0.0.1 only, an Entra look-alike HTTPS token endpoint (in
this process) and, unless --no-smtp, a private Dovecot (token checker) and a
private Postfix (submission server that captures every delivery into
DIR/mail). When all accept connections it writes DIR/sandbox.json and
prints the same JSON as one line on stdout. It then runs until stdin
reaches EOF (the parent test closed it or died) or SIGTERM/SIGINT/SIGHUP,
stops everything it started and exits 0. A startup failure prints one line
to stderr and exits 1.

`demo` runs the real binary once against a fresh sandbox and shows what
arrived (the README's "try it without a tenant"); see demo.py.

Modules: runner.py (one sandbox's life), entra.py + token_endpoint.py (the
token endpoint), mailservers.py (Postfix, Dovecot), pki.py (certificates),
watchdog.py (cleanup after SIGKILL), demo.py. Python 3 standard library
only, plus the openssl CLI and the installed postfix/dovecot.
"""

import argparse
import json
import os
import select
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import mailservers  # noqa: E402
import pki  # noqa: E402
import runner  # noqa: E402
from runner import Interrupted, stderr  # noqa: E402


def wait_for_end(state, ignore_stdin, sandbox):
    """Until stdin EOF (unless ignored) or a signal. Warns once on stderr if
    a server dies underneath the tests."""
    fd = sys.stdin.fileno() if not ignore_stdin else None
    warned = set()
    while "signal" not in state:
        if fd is not None:
            r, _, _ = select.select([fd], [], [], 1.0)
            if r:
                try:
                    if not os.read(fd, 65536):
                        return "stdin closed"
                except OSError:
                    return "stdin error"
        else:
            time.sleep(1.0)
        for name in ("postfix", "dovecot"):
            proc = getattr(sandbox, name)
            if proc is not None and proc.poll() is not None and name not in warned:
                warned.add(name)
                stderr("warning: %s exited unexpectedly (status %s)"
                       % (name, proc.returncode))
    return "signal %d" % state["signal"]


def cmd_up(args):
    state = {"starting": True}
    runner.install_signal_handlers(state)
    sb = runner.Sandbox(args.dir, smtp=not args.no_smtp)
    try:
        contract = sb.start()
        state["starting"] = False
    except (mailservers.StartError, pki.PkiError, OSError) as e:
        runner.ignore_signals()
        stderr("startup failed: %s" % e)
        sb.stop()
        return 1
    except Interrupted:
        runner.ignore_signals()
        stderr("interrupted during startup")
        sb.stop()
        return 1
    try:
        sys.stdout.write(json.dumps(contract) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        pass   # the reader went away; stdin EOF follows
    wait_for_end(state, args.ignore_stdin, sb)
    runner.ignore_signals()
    sb.stop()
    if args.rm:
        sb.remove()
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="sandbox.py", description="loopback test sandbox for oauth2-sendmail")
    sub = ap.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the sandbox and run until stdin EOF "
                        "or SIGTERM/SIGINT")
    up.add_argument("--dir", required=True,
                    help="sandbox directory (absent, empty, or an old sandbox)")
    up.add_argument("--no-smtp", action="store_true",
                    help="only the token endpoint (no root needed)")
    up.add_argument("--rm", action="store_true",
                    help="delete DIR (logs, captured mail) after stopping")
    up.add_argument("--ignore-stdin", action="store_true",
                    help="run until a signal even if stdin is closed "
                    "(for running it in the background by hand)")
    demo = sub.add_parser("demo", help="send one message through the real "
                          "binary and show what arrived")
    demo.add_argument("--binary", required=True,
                      help="path to the oauth2-sendmail binary")
    demo.add_argument("--keep", action="store_true",
                      help="keep the temporary directory")
    demo.add_argument("--transport", choices=("smtp", "graph"), default="smtp",
                      help="send through Postfix (smtp) or the Microsoft "
                      "Graph look-alike (graph)")
    args = ap.parse_args(argv)
    if args.command == "up":
        return cmd_up(args)
    import demo
    return demo.cmd_demo(args)


if __name__ == "__main__":
    sys.exit(main())
