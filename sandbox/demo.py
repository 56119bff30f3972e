"""`sandbox.py demo`: the README's "try it without a tenant".

Starts a sandbox in a temporary directory, writes a config file for the
binary (keys from sendmail.conf(5)), pipes a sample message (no From, with
To, Bcc, Subject and a body) into `BINARY -C CONF -t -i`, waits for the deliveries,
and prints the config (secret redacted), the binary's exit code and stderr,
and each delivered copy with its envelope. With `--transport graph` the
message goes through the sandbox's Microsoft Graph look-alike instead of
Postfix (graph.py), and the copies are the ones Graph "delivered". Exit 0 only if the binary exited
0 and every recipient got the message.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time

import mailservers
import pki
import runner
from runner import Interrupted, stderr

DEMO_MESSAGE = """\
To: Operations <ops@contoso.test>
Bcc: audit@contoso.test
Subject: Disk space low on web01

/var is 93% full on web01.

-- 
cron on web01
"""
DEMO_RECIPIENTS = ["ops@contoso.test", "audit@contoso.test"]


def demo_config(contract, cache_dir, transport="smtp"):
    """The TOML config for the binary (keys from sendmail.conf(5))."""
    def q(s):
        return json.dumps(s)   # a JSON string is a valid TOML basic string
    graph = ""
    if transport == "graph":
        graph = '\n[graph]\nurl = %s\n' % q(contract["graph_url"])
    return """\
# oauth2-sendmail configuration for the loopback sandbox
transport = {transport}
tenant = {tenant}
client_id = {client_id}
client_secret = {secret}
user = {user}
ca_file = {ca}

[smtp]
host = {host}
port = {port}
tls = "starttls"
timeout = 30

[token]
url = {url}
scope = {scope}
cache_dir = {cache}
timeout = 30

[addresses]
default_domain = "contoso.test"
{graph}""".format(transport=q(transport), graph=graph,
           tenant=q(contract["tenant"]), client_id=q(contract["client_id"]),
           secret=q(contract["client_secret"]), user=q(contract["user"]),
           ca=q(contract["ca_file"]), host=q(contract["smtp_host"]),
           port=contract["smtp_port"], url=q(contract["token_url"]),
           scope=q(contract["scope"]), cache=q(cache_dir))


def wait_for_deliveries(mail_dir, count, timeout):
    """[(sender, recipient, message bytes)] once `count` .env files exist
    (or at the timeout, whatever arrived)."""
    deadline = time.monotonic() + timeout
    while True:
        envs = sorted(n for n in os.listdir(mail_dir) if n.endswith(".env"))
        if len(envs) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    out = []
    for name in envs:
        with open(os.path.join(mail_dir, name)) as f:
            sender, recipient = (f.read().split("\n") + ["", ""])[:2]
        with open(os.path.join(mail_dir, name[:-4] + ".eml"), "rb") as f:
            out.append((sender, recipient, f.read()))
    return out


def cmd_demo(args):
    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        stderr("%s is not an executable file" % binary)
        return 1
    state = {"starting": True}
    runner.install_signal_handlers(state)
    work = tempfile.mkdtemp(prefix="oauth2-sendmail-demo-")
    sb = runner.Sandbox(os.path.join(work, "sandbox"))
    try:
        try:
            contract = sb.start()
        except (mailservers.StartError, pki.PkiError, OSError) as e:
            stderr("startup failed: %s" % e)
            return 1
        state["starting"] = False
        cache = os.path.join(work, "cache")
        os.makedirs(cache, mode=0o700)
        conf_path = os.path.join(work, "sendmail.conf")
        transport = getattr(args, "transport", "smtp")
        conf = demo_config(contract, cache, transport)
        with os.fdopen(os.open(conf_path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(conf)
        print("== sandbox started in %.2f s (%s)" % (contract["startup_seconds"], sb.dir))
        print("== config %s" % conf_path)
        print(conf.replace(json.dumps(contract["client_secret"]), '"<redacted>"'))
        cmd = [binary, "-C", conf_path, "-t", "-i"]
        print("== running: %s < message" % " ".join(cmd))
        print(DEMO_MESSAGE)
        t = time.monotonic()
        try:
            proc = subprocess.run(cmd, input=DEMO_MESSAGE.encode(),
                                  capture_output=True, timeout=120)
            rc, out, err = (proc.returncode, proc.stdout.decode(errors="replace"),
                            proc.stderr.decode(errors="replace"))
        except subprocess.TimeoutExpired:
            rc, out, err = None, "", "(timed out after 120 s)"
        print("== exit code %s after %.2f s" % (rc, time.monotonic() - t))
        if out:
            print("== stdout:\n%s" % out.rstrip("\n"))
        print("== stderr:\n%s" % (err.rstrip("\n") or "(empty)"))
        mail_dir = contract["graph_mail_dir" if transport == "graph"
                            else "mail_dir"]
        got = wait_for_deliveries(mail_dir, len(DEMO_RECIPIENTS),
                                  10 if rc == 0 else 1)
        for sender, recipient, message in got:
            print("== delivered: envelope sender <%s>, recipient <%s>"
                  % (sender, recipient))
            print(message.decode(errors="replace"))
        missing = set(DEMO_RECIPIENTS) - {r for _, r, _ in got}
        stats = sb.endpoint.service.stats()
        print("== token endpoint: %d token request(s), %d introspection(s)"
              % (stats["token_requests"], stats["introspections"]))
        if missing:
            print("== NOT delivered to: %s" % ", ".join(sorted(missing)))
        ok = rc == 0 and not missing
        print("== demo %s" % ("succeeded" if ok else "FAILED"))
        return 0 if ok else 1
    except Interrupted:
        stderr("interrupted")
        return 1
    finally:
        runner.ignore_signals()
        sb.stop()
        if args.keep:
            print("== kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
