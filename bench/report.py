"""BENCHMARKS.md from one run's results: the machine, the versions, one
table of measurements with the issue's targets, and how each was measured.
"""

# The protocol's floor in round trips for one message on a new connection,
# each a wait for the server: TCP connect, greeting, EHLO, STARTTLS, TLS 1.3
# handshake, EHLO, AUTH (initial response on the line), then MAIL+RCPT and
# `BDAT n LAST` with the message in one flight (CHUNKING, RFC 3030, which
# Postfix and Exchange Online offer; with DATA it is one more: DATA waits
# for its 354); QUIT is not waited for.
FLOOR_STEPS = ["connect", "greeting", "EHLO", "STARTTLS", "TLS handshake", "EHLO",
               "AUTH", "MAIL/RCPT/BDAT with the message"]
FLOOR = len(FLOOR_STEPS)
# Postfix holds its first reply after a TLS 1.3 handshake until the client
# has acknowledged the session ticket (TLS 1.3 tickets come after the
# handshake; Postfix writes with Nagle on): one round trip no client avoids.
FLOOR_POSTFIX = FLOOR + 1

TARGET_SMALL_RATIO = 0.25
TARGET_BIG_RATIO = 0.8
TARGET_RSS_KB = 10 * 1024
TARGET_SIZE = 3 * 1000 * 1000


def ms(series):
    lo, hi = series.spread()
    return "%.1f ms (%.1f–%.1f)" % (series.median * 1e3, lo * 1e3, hi * 1e3)


def s(series):
    lo, hi = series.spread()
    return "%.2f s (%.2f–%.2f)" % (series.median, lo, hi)


def count(series):
    lo, hi = series.spread()
    m = series.median
    text = ("%d" % m) if m == int(m) else ("%.1f" % m)
    return text if lo == hi == m else "%s (%g–%g)" % (text, lo, hi)


def mib(kb_series):
    lo, hi = kb_series.spread()
    return "%.1f MiB (%.1f–%.1f)" % (kb_series.median / 1024, lo / 1024, hi / 1024)


def verdict(ok):
    return "**met**" if ok else "**missed**"


class Report:
    def __init__(self):
        self.rows = []      # (measurement, ours, msmtp, ratio, target, verdict)
        self.notes = []

    def row(self, what, ours, msmtp="", ratio="", target="", met=""):
        self.rows.append((what, ours, msmtp, ratio, target, met))

    def failed(self, what, reason):
        self.rows.append((what, "FAILED: %s" % reason.replace("|", "/").replace("\n", " "),
                          "", "", "", ""))

    def render(self, env, mode, runs):
        out = ["# Benchmarks", "",
               "Written by `bench/run%s` (see [bench/README.md](bench/README.md)); "
               "do not edit by hand. Each row names its number of runs (%s); "
               "times are the median with the interquartile range (min–max below 4 runs) "
               "in brackets." % (" --quick" if mode == "quick" else "", runs), "",
               "## Machine", "", "| | |", "|---|---|"]
        for k, v in env:
            out.append("| %s | %s |" % (k, v))
        out += ["", "## Results", "",
                "| measurement | oauth2-sendmail | msmtp | ours / msmtp | target | |",
                "|---|---|---|---|---|---|"]
        for r in self.rows:
            out.append("| %s |" % " | ".join(r))
        out += ["", "## How each row is measured", ""]
        out += ["- " + n for n in HOW]
        if self.notes:
            out += ["", "## Notes from this run", ""]
            out += ["- " + n for n in self.notes]
        return "\n".join(out) + "\n"


HOW = [
    "Servers: the integration tests' loopback sandbox (`sandbox/sandbox.py up`): "
    "Postfix with STARTTLS required and `AUTH XOAUTH2` checked by Dovecot against the "
    "Entra look-alike token endpoint, which Dovecot asks to introspect every token. "
    "Every send must exit 0 and arrive in Postfix's capture pipe before the next "
    "starts; a send that does not is a failed run (exit 1).",
    "msmtp: `auth xoauth2`, `tls on`, `tls_starttls on`, `tls_trust_file` = the "
    "sandbox CA. *Token handed*: `passwordeval 'cat FILE'` (msmtp refuses config lines "
    "over 500 characters, so a 2 KB token cannot go inline with `password`). "
    "*passwordeval*: a shell script POSTs the client credentials with curl and cuts "
    "`access_token` out of the JSON with sed, as msmtp users do; msmtp has no token cache.",
    "oauth2-sendmail: the release binary, `-i`, the recipient on the command line. "
    "*Warm cache*: a valid token in `token.cache_dir`; *cold cache*: the cache "
    "directory emptied before each send. The message carries Date, Message-ID and "
    "From, so neither client adds headers.",
    "Wall time: from fork to exit, measured by the benchmark (Python "
    "`perf_counter`). Peak RSS: `/usr/bin/time -v` (maximum resident set size). "
    "Throughput: message bytes / wall time.",
    "Concurrent cold sends: 50 processes started at once with an empty cache; token "
    "requests counted by the token endpoint (`GET /_control/stats` after "
    "`POST /_control/reset`).",
    "Round trips: servers and clients in a network namespace of the benchmark's own, "
    "every packet to or from the SMTP port held 25 ms by an NFQUEUE delayer "
    "(`bench/delayer.py`; this kernel has no `tc netem`), so a round trip is 50 ms. The "
    "clients reach the token endpoint through a forwarder whose port is delayed the same "
    "way (`bench/forwarder.py`), while Dovecot's introspection calls to it stay local. "
    "Round trips of the SMTP connection are counted from the delayer's packet trace "
    "(`bench/turns.py`): the longest chain of packets each sent at least one delay after "
    "a packet of the other side, from the client's SYN to its FIN, halved. "
    "The protocol's floor is %d: %s; QUIT is not waited for. Against Postfix it is %d: "
    "after a TLS 1.3 handshake Postfix sends its session ticket, then holds the EHLO "
    "reply (Nagle) until the client has acknowledged the ticket." % (
        FLOOR, ", ".join(FLOOR_STEPS), FLOOR_POSTFIX),
    "Queue flush: 100 messages queued while the SMTP port is closed, then one "
    "`oauth2-sendmail -q` with the server back, `rate_limit = 0` (the default of 30 a "
    "minute paces a real Exchange mailbox and would only measure the clock here); SMTP "
    "sessions counted in Postfix's log.",
    "Graph rows: our binary with `transport = \"graph\"` against the sandbox's Microsoft "
    "Graph look-alike (`sandbox/graph.py`), which checks the token and answers like Graph; "
    "each send must exit 0 and arrive in its delivery directory. The 25 MiB message is a "
    "multipart with a 15 MB and a second base64 attachment, too large for one `sendMail`: "
    "a draft, upload sessions in 3 MiB ranges, then `send` (`bench/graph_rows.py`). At "
    "50 ms RTT the Graph port is delayed like the SMTP port and the round trips are counted "
    "the same way on the one connection to Graph (TCP, TLS 1.3, the POST: 3; with a cold "
    "cache the token is fetched while that connection is set up). msmtp has no Graph "
    "transport.",
    "Pacing: the rows above run with `[limits]` off (msmtp paces nothing). Burst: 50 "
    "live sends started at once with `limits.connections = 3` and a queue; a send that "
    "finds no slot within 5 s is queued (exit 0) and one `-q` afterwards delivers it; "
    "total time from the first start until all 50 arrived.",
    "Background: `-odb` with a queue, at 50 ms RTT; the time is the caller's, from fork "
    "to exit; each message must still arrive (the detached process delivers it) before "
    "the next send starts.",
    "Start-up: `hyperfine -N` of `--version`. Binary size: the stripped release binary "
    "(msmtp's for comparison; both link the system's TLS library dynamically). The "
    "portable build (`make portable`, when built: OpenSSL 3 linked in, glibc 2.17) is "
    "timed in the same run; the programs take turns in 10 rounds.",
]
