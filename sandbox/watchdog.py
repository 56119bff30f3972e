"""Clean up after a sandbox that died without its own teardown (SIGKILL,
e.g. a test harness calling Child::kill()).

sandbox.py starts this in its own session with a pipe on stdin and writes
one instruction per line as it learns things:

    pgid N            a process group of one of its servers
    env NAME=VALUE    processes whose environment holds this (Postfix
                      daemons carry MAIL_CONFIG=<the sandbox's config dir>)
    home LINK PUBDIR  DIR/mail is a symlink LINK into PUBDIR (outside DIR):
                      move the mail back to LINK and remove PUBDIR
    done              the sandbox stopped everything itself: exit quietly

EOF without "done" means the sandbox is gone: SIGTERM, then SIGKILL, to
everything listed, then the `home` step. Standard library only.
"""

import os
import shutil
import signal
import sys
import time


def processes_with_env(needles):
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % name, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if any(n in env for n in needles):
            found.append(int(name))
    return found


def main():
    groups, needles, homes = set(), [], []
    for line in sys.stdin:
        word, _, rest = line.strip().partition(" ")
        if word == "done":
            return 0
        if word == "pgid" and rest.isdigit():
            groups.add(int(rest))
        elif word == "env" and rest:
            needles.append(rest.encode())
        elif word == "home" and rest:
            homes.append(rest.split(" ", 1))
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = False
        for g in groups:
            try:
                os.killpg(g, sig)
                alive = True
            except OSError:
                pass
        for pid in processes_with_env(needles):
            try:
                os.kill(pid, sig)
                alive = True
            except OSError:
                pass
        if not alive:
            break
        time.sleep(0.3)
    for link, pub in homes:
        try:
            if os.path.islink(link):
                os.unlink(link)
                shutil.move(os.path.join(pub, "mail"), link)
        except OSError:
            pass
        shutil.rmtree(pub, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
