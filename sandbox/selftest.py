#!/usr/bin/python3
"""Self-test of the sandbox (not of oauth2-sendmail): proves that the
servers behave as the Rust integration tests expect.

    python3 sandbox/selftest.py [--big] [--only NAME]

Starts `sandbox.py up` as a child exactly as a test would (stdin pipe, one
JSON line on stdout), then checks: every Entra error shape; secret, Basic
and certificate (PS256/RS256) grants; introspection; the control API;
XOAUTH2 logins that must work or fail; the Graph look-alike (sendMail;
the draft path: attachments posted, upload sessions refused under 3 MB,
drafts deleted); capture of a two-recipient message
with Bcc and without Date/Message-ID; implicit TLS; sender policy; teardown
on stdin EOF with no process left; two sandboxes at once. --big adds a
25 MB message. Standard library only. Exit 0 when everything passed.
"""

import argparse
import base64
import json
import os
import smtplib
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pki  # noqa: E402

FAILS = []


def check(cond, what):
    print("  %s %s" % ("ok  " if cond else "FAIL", what))
    if not cond:
        FAILS.append(what)
    return cond


def start(directory, *extra):
    t = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "sandbox.py"), "up", "--dir",
         directory, *extra], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    line = proc.stdout.readline()
    if not line:
        raise SystemExit("sandbox failed: %s" % proc.stderr.read().decode())
    return proc, json.loads(line), time.monotonic() - t


def stop(proc):
    t = time.monotonic()
    proc.stdin.close()
    rc = proc.wait(20)
    return rc, time.monotonic() - t


def leftovers(directory):
    """PIDs of processes whose environment or command line names DIR."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % name, "rb") as f:
                env = f.read()
            with open("/proc/%s/cmdline" % name, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if directory.encode() in env or directory.encode() in cmd:
            found.append((int(name), cmd.replace(b"\0", b" ").decode()[:80]))
    return found


class Http:
    def __init__(self, sb):
        self.sb = sb
        self.ctx = ssl.create_default_context(cafile=sb["ca_file"])

    def post(self, url, data=None, js=None, headers=None, timeout=10):
        hdrs = dict(headers or {})
        if js is not None:
            body = json.dumps(js).encode()
            hdrs["Content-Type"] = "application/json"
        elif data is not None:
            body = data if isinstance(data, bytes) else \
                urllib.parse.urlencode(data).encode()
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        else:
            body = b""
        req = urllib.request.Request(url, data=body, headers=hdrs, method="POST")
        return self._do(req, timeout)

    def get(self, url, timeout=10):
        return self._do(urllib.request.Request(url), timeout)

    def _do(self, req, timeout):
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"null"), r.headers
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw), e.headers
            except ValueError:
                return e.code, raw, e.headers

    def token_url(self, tenant=None):
        return self.sb["token_url"].replace("{tenant}", tenant or self.sb["tenant"])

    def token(self, client=None, tenant=None, **over):
        c = client or self.sb["other_clients"]["main"]
        form = {"grant_type": "client_credentials", "client_id": c["client_id"],
                "client_secret": c.get("client_secret", ""),
                "scope": self.sb["scope"]}
        form.update(over)
        form = {k: v for k, v in form.items() if v is not None}
        return self.post(self.token_url(tenant), form)

    def control(self, what, js=None):
        return self.post(self.sb["control_url"] + "/" + what, js=js or {})


def assertion(sb, client, alg="PS256", aud=None, nbf=None, exp=None,
              x5t_s256=None, jti=True, key=None):
    now = int(time.time())
    header = {"alg": alg, "typ": "JWT",
              "x5t#S256": x5t_s256 or client["x5t#S256"]}
    claims = {"aud": aud or sb["token_url"].replace("{tenant}", sb["tenant_id"]),
              "iss": client["client_id"], "sub": client["client_id"],
              "nbf": nbf if nbf is not None else now,
              "iat": now, "exp": exp if exp is not None else now + 300}
    if jti:
        claims["jti"] = str(uuid.uuid4())

    def enc(o):
        return pki.b64url(json.dumps(o).encode())
    signing_input = enc(header) + "." + enc(claims)
    sig = pki.sign_rsa(key or client["private_key_file"], alg,
                       signing_input.encode())
    return signing_input + "." + pki.b64url(sig)


def xoauth2(user, token):
    return base64.b64encode(("user=%s\x01auth=Bearer %s\x01\x01"
                             % (user, token)).encode()).decode()


def smtp_login(sb, user, token, implicit=False):
    """Returns (smtp, code, text) after a two-step AUTH XOAUTH2; answers a
    334 error challenge with an empty line like a client must."""
    ctx = ssl.create_default_context(cafile=sb["ca_file"])
    if implicit:
        s = smtplib.SMTP_SSL(sb["smtp_host"], sb["smtps_port"], context=ctx,
                             timeout=10)
        s.ehlo("selftest")
    else:
        s = smtplib.SMTP(sb["smtp_host"], sb["smtp_port"], timeout=10)
        s.ehlo("selftest")
        s.starttls(context=ctx)
        s.ehlo("selftest")
    code, text = s.docmd("AUTH", "XOAUTH2")
    if code == 334:
        code, text = s.docmd(xoauth2(user, token))
        if code == 334:
            code, text = s.docmd("")
    return s, code, text.decode(errors="replace")


def wait_mail(sb, n, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        envs = sorted(f for f in os.listdir(sb["mail_dir"]) if f.endswith(".env"))
        if len(envs) >= n:
            break
        time.sleep(0.02)
    out = []
    for e in envs:
        with open(os.path.join(sb["mail_dir"], e)) as f:
            sender, rcpt = f.read().split("\n")[:2]
        with open(os.path.join(sb["mail_dir"], e[:-4] + ".eml"), "rb") as f:
            out.append((sender, rcpt, f.read()))
    return out


def clear_mail(sb):
    for f in os.listdir(sb["mail_dir"]):
        os.unlink(os.path.join(sb["mail_dir"], f))


# --------------------------------------------------------------------------


def test_token_errors(h, sb):
    print("token endpoint: errors")
    main = sb["other_clients"]["main"]

    def err(resp, status, error, code, what):
        st, body, _ = resp
        ok = (st == status and isinstance(body, dict) and body.get("error") == error
              and body.get("error_codes") == [code]
              and body["error_description"].startswith("AADSTS%d: " % code)
              and "\r\nTrace ID: " in body["error_description"]
              and "\r\nCorrelation ID: " in body["error_description"]
              and "\r\nTimestamp: " in body["error_description"]
              and all(k in body for k in ("timestamp", "trace_id",
                                          "correlation_id", "error_uri")))
        check(ok, "%s -> %d %s AADSTS%d (got %s %s)" % (
            what, status, error, code, st,
            body.get("error_codes") if isinstance(body, dict) else body))
        return body

    err(h.token(client_secret=main["client_secret"] + "x"), 401,
        "invalid_client", 7000215, "wrong secret")
    err(h.token(client_id=str(uuid.uuid4())), 400, "unauthorized_client",
        700016, "unknown client_id")
    err(h.token(tenant="fabrikam.onmicrosoft.com"), 400, "invalid_request",
        90002, "unknown tenant domain")
    err(h.token(tenant=str(uuid.uuid4())), 400, "invalid_request", 90002,
        "unknown tenant GUID")
    err(h.token(tenant="{tenant}"), 400, "invalid_request", 900023,
        "unreplaced {tenant} placeholder")
    err(h.token(tenant="common"), 400, "invalid_request", 9001023, "/common")
    err(h.token(tenant="consumers"), 400, "invalid_request", 9001023,
        "/consumers")
    err(h.token(scope="https://outlook.office365.com/SMTP.Send"), 400,
        "invalid_scope", 1002012, "scope without /.default")
    err(h.token(scope="https://management.azure.com/.default"), 400,
        "invalid_scope", 70011, "other scope")
    err(h.token(grant_type=None), 400, "invalid_request", 900144,
        "missing grant_type")
    err(h.token(scope=None), 400, "invalid_request", 900144, "missing scope")
    err(h.token(client_secret=None), 401, "invalid_client", 7000218,
        "no credential")
    exp = sb["other_clients"]["expired_secret"]
    err(h.token(exp), 401, "invalid_client", 7000222, "expired secret")
    # A '+' sent unencoded arrives as a space: must be refused.
    raw = ("grant_type=client_credentials&client_id=%s&scope=%s&client_secret=%s"
           % (main["client_id"], urllib.parse.quote(sb["scope"], safe=""),
              main["client_secret"])).encode()
    err(h.post(h.token_url(), raw), 401, "invalid_client", 7000215,
        "secret with unencoded '+'")
    st, body, hdrs = h.post(h.token_url(), {
            "grant_type": "client_credentials", "client_id": main["client_id"],
            "client_secret": "x", "scope": sb["scope"]},
            headers={"client-request-id": "11111111-2222-3333-4444-555555555555"})
    check(body.get("correlation_id") == "11111111-2222-3333-4444-555555555555",
          "client-request-id is echoed as correlation_id")
    print("  sample error_description: %r" % body["error_description"])


def test_token_success(h, sb):
    print("token endpoint: grants")
    main = sb["other_clients"]["main"]
    st, body, hdrs = h.token()
    check(st == 200 and body["token_type"] == "Bearer"
          and body["expires_in"] == 3599 and body["ext_expires_in"] == 3599,
          "secret grant -> 200 Bearer 3599")
    tok = body["access_token"]
    parts = tok.split(".")
    claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    check(len(parts) == 3 and "=" not in tok, "JWT, base64url without padding")
    check(1500 <= len(tok) <= 3000, "token length %d in 1.5-3 KB" % len(tok))
    check(claims["aud"] == "https://outlook.office365.com"
          and claims["iss"] == "https://sts.windows.net/%s/" % sb["tenant_id"]
          and claims["tid"] == sb["tenant_id"] and claims["appid"] == main["client_id"]
          and claims["appidacr"] == "1" and claims["roles"] == ["SMTP.SendAsApp"]
          and claims["ver"] == "1.0" and claims["exp"] - claims["iat"] == 3599,
          "claims aud/iss/tid/appid/appidacr/roles/ver/exp")
    st, _, _ = h.token(tenant=sb["tenant_id"])
    check(st == 200, "tenant GUID in path accepted")
    st, _, _ = h.token(tenant=sb["tenant"].upper())
    check(st == 200, "tenant domain case-insensitive")
    basic = base64.b64encode(("%s:%s" % (
        urllib.parse.quote_plus(main["client_id"]),
        urllib.parse.quote_plus(main["client_secret"]))).encode()).decode()
    st, _, _ = h.post(h.token_url(), {"grant_type": "client_credentials",
                                      "scope": sb["scope"]},
                      headers={"Authorization": "Basic " + basic})
    check(st == 200, "HTTP Basic client authentication")
    st, body, _ = h.token(sb["other_clients"]["no_role"])
    claims = json.loads(base64.urlsafe_b64decode(
        body["access_token"].split(".")[1] + "=="))
    check(st == 200 and "roles" not in claims, "no-role client gets a token without roles")

    print("token endpoint: certificate assertions")
    cc = sb["other_clients"]["certificate"]
    at = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

    def grant(a, tenant=None, cid=True):
        form = {"grant_type": "client_credentials", "scope": sb["scope"],
                "client_assertion_type": at, "client_assertion": a}
        if cid:
            form["client_id"] = cc["client_id"]
        return h.post(h.token_url(tenant), form)

    for alg in ("PS256", "RS256"):
        st, body, _ = grant(assertion(sb, cc, alg))
        ok = st == 200
        if ok:
            c = json.loads(base64.urlsafe_b64decode(
                body["access_token"].split(".")[1] + "=="))
            ok = c["appidacr"] == "2" and c["appid"] == cc["client_id"]
        check(ok, "%s assertion -> 200, appidacr 2 (%s)" % (alg, st))
    st, _, _ = grant(assertion(sb, cc, aud=sb["token_url"].replace(
        "{tenant}", sb["tenant"])), tenant=sb["tenant"])
    check(st == 200, "aud with tenant domain accepted")
    st, _, _ = grant(assertion(sb, cc), cid=False)
    check(st == 200, "assertion without client_id accepted")

    def aerr(a, status, code, what):
        st, body, _ = grant(a)
        check(st == status and body.get("error_codes") == [code],
              "%s -> %d AADSTS%d (got %s %s)" % (what, status, code, st,
                                                 body.get("error_codes")))
        return body
    body = aerr(assertion(sb, cc, x5t_s256=pki.b64url(os.urandom(32))), 401,
                700027, "unknown thumbprint")
    check("The key was not found." in body["error_description"]
          and "Thumbprint of key used by client: '" in body["error_description"],
          "700027 text names the thumbprint")
    with tempfile.TemporaryDirectory() as tmp:
        other = os.path.join(tmp, "k.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-out", other],
                       check=True, capture_output=True)
        aerr(assertion(sb, cc, key=other), 401, 700027, "wrong signing key")
    aerr(assertion(sb, cc, aud="https://login.microsoftonline.com/%s/oauth2/v2.0/token"
                   % sb["tenant_id"]), 401, 700023, "aud = the real Entra URL")
    now = int(time.time())
    aerr(assertion(sb, cc, nbf=now - 400, exp=now - 10), 401, 700024, "expired assertion")
    aerr(assertion(sb, cc, nbf=now + 600, exp=now + 800), 401, 700024,
         "nbf 10 min in the future")
    aerr(assertion(sb, cc, exp=now + 3600), 401, 700024, "lifetime 1 h")
    aerr(assertion(sb, cc, jti=False), 400, 50027, "no jti")
    st, body, _ = h.post(h.token_url(), {
        "grant_type": "client_credentials", "scope": sb["scope"],
        "client_id": cc["client_id"], "client_secret": "x"})
    check(st == 401 and body["error_codes"] == [7000215],
          "certificate client with a secret -> 7000215")


def test_graph(h, sb):
    """The Graph look-alike (graph.py): Graph tokens, sendMail, its errors."""
    print("graph look-alike")
    st, body, _ = h.token(scope="https://graph.microsoft.com/.default")
    check(st == 200, "Graph scope -> 200")
    tok = body["access_token"]
    p = tok.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    check(claims["aud"] == "https://graph.microsoft.com"
          and claims["roles"] == ["Mail.Send", "Mail.ReadWrite"],
          "Graph token: audience and roles")
    url = sb["graph_url"] + "/v1.0/users/%s/sendMail" % sb["user"]

    def send(token, raw, user=None):
        req = urllib.request.Request(
            url if user is None else url.replace(sb["user"], user),
            data=base64.b64encode(raw), method="POST",
            headers={"Authorization": "Bearer " + token,
                     "Content-Type": "text/plain"})
        return h._do(req, 10)
    msg = (b"From: %s\r\nTo: graph-self@example.com\r\nBcc: graph-hidden@example.com"
           b"\r\nSubject: g\r\n\r\nbody\r\n" % sb["user"].encode())
    st, _, hdrs = send(tok, msg)
    check(st == 202 and hdrs.get("request-id"), "sendMail -> 202 with request-id")
    got = {}
    for name in os.listdir(sb["graph_mail_dir"]):
        if name.endswith(".env"):
            with open(os.path.join(sb["graph_mail_dir"], name)) as f:
                rcpt = f.read().split("\n")[1]
            with open(os.path.join(sb["graph_mail_dir"], name[:-4] + ".eml"), "rb") as f:
                got[rcpt] = f.read()
    check(set(got) == {"graph-self@example.com", "graph-hidden@example.com"}
          and all(b"graph-hidden" not in m for m in got.values()),
          "delivered to To and Bcc, Bcc removed")
    st, body, _ = send(h.token()[1]["access_token"], msg)
    check(st == 401 and body["error"]["code"] == "InvalidAuthenticationToken",
          "an Exchange token -> 401 InvalidAuthenticationToken")
    st, body, _ = send(tok, msg, "other@contoso.test")
    check(st == 403 and body["error"]["code"] == "ErrorAccessDenied",
          "a mailbox outside the scope -> 403 ErrorAccessDenied")
    st, body, _ = send(tok, msg.replace(b"From: alerts", b"From: boss"))
    check(st == 403 and body["error"]["code"] == "ErrorSendAsDenied",
          "another From -> 403 ErrorSendAsDenied")
    h.post(sb["graph_control_url"], js={"faults": [
        {"status": 429, "code": "ApplicationThrottled",
         "headers": {"Retry-After": "1"}}]})
    st, body, hdrs = send(tok, msg)
    check(st == 429 and hdrs.get("Retry-After") == "1", "fault: 429 with Retry-After")
    h.control("reset")


def test_graph_drafts(h, sb):
    """The look-alike's draft path (graph_upload.py): attachments posted
    under 3 MB, upload sessions refused below 3 MB, drafts deleted."""
    print("graph look-alike: drafts")
    tok = h.token(scope="https://graph.microsoft.com/.default")[1]["access_token"]
    auth = {"Authorization": "Bearer " + tok}
    base = sb["graph_url"] + "/v1.0/users/%s/messages" % sb["user"]
    raw = (b"From: %s\r\nTo: graph-draft@example.com\r\nSubject: d\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n"
           b"\r\n--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n--b--\r\n"
           % sb["user"].encode())
    st, body, _ = h.post(base, data=base64.b64encode(raw),
                         headers=dict(auth, **{"Content-Type": "text/plain"}))
    check(st == 201 and body.get("id"), "MIME draft -> 201 with an id")
    message = base + "/" + body["id"]
    item = {"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.bin",
            "contentBytes": base64.b64encode(b"\x00\x01\x02").decode()}
    st, body, _ = h.post(message + "/attachments", js=item, headers=auth)
    check(st == 201 and body.get("size") == 3, "fileAttachment POST -> 201")
    for name, bad in (("no name", dict(item, name="")),
                      ("no contentBytes", {k: v for k, v in item.items()
                                           if k != "contentBytes"}),
                      ("not base64", dict(item, contentBytes="!!!!")),
                      ("no @odata.type", {k: v for k, v in item.items()
                                          if k != "@odata.type"})):
        st, body, _ = h.post(message + "/attachments", js=bad, headers=auth)
        check(st == 400, "fileAttachment with %s -> 400" % name)
    big = dict(item, contentBytes=base64.b64encode(b"x" * (3 * 1024 * 1024 + 1)).decode())
    st, body, _ = h.post(message + "/attachments", js=big, headers=auth)
    check(st == 413, "a fileAttachment over the request limit -> 413")
    session = {"AttachmentItem": {"attachmentType": "file", "name": "s.bin",
                                  "size": 2999999}}
    st, body, _ = h.post(message + "/attachments/createUploadSession",
                         js=session, headers=auth)
    check(st == 400 and body["error"]["code"] ==
          "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
          "an upload session under 3 MB -> 400 "
          "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize")
    session["AttachmentItem"]["size"] = 3000000
    st, body, _ = h.post(message + "/attachments/createUploadSession",
                         js=session, headers=auth)
    check(st == 201 and body.get("uploadUrl", "").startswith("https://"),
          "an upload session of 3 MB -> 201 with an uploadUrl")

    def delete(url):
        return h._do(urllib.request.Request(url, headers=auth,
                                            method="DELETE"), 10)
    st, _, _ = delete(message)
    check(st == 204, "DELETE of the draft -> 204")
    st, body, _ = delete(message)
    check(st == 404 and body["error"]["code"] == "ErrorItemNotFound",
          "DELETE again -> 404 ErrorItemNotFound")
    st, _, _ = h.post(message + "/send", headers=auth)
    check(st == 404, "send of a deleted draft -> 404")
    h.control("reset")


def test_control(h, sb):
    print("control API")
    main = sb["other_clients"]["main"]
    h.control("reset")
    h.token()
    h.token()
    h.token(sb["other_clients"]["no_role"])
    st, stats, _ = h.get(sb["control_url"] + "/stats")
    check(stats["token_requests"] == 3
          and stats["token_requests_by_client"] == {
              main["client_id"]: 2, sb["other_clients"]["no_role"]["client_id"]: 1},
          "stats count token requests per client: %s" % stats)
    st, m, _ = h.control("mode", {"mode": "status"})
    st, body, _ = h.token()
    check(st == 503 and body["error"] == "temporarily_unavailable",
          "mode status -> default Entra 503 temporarily_unavailable")
    h.control("mode", {"mode": "status", "status": 429, "body": "slow down",
                       "content_type": "text/plain", "headers": {"Retry-After": "2"}})
    st, body, hdrs = h.token()
    check(st == 429 and body == b"slow down" and hdrs["Retry-After"] == "2",
          "mode status with status/body/headers")
    h.control("mode", {"mode": "normal", "expires_in_as_string": True})
    st, body, _ = h.token()
    check(body["expires_in"] == "3599", "expires_in_as_string")
    h.control("mode", {"mode": "normal", "expires_in": 7})
    st, body, _ = h.token()
    check(body["expires_in"] == 7, "expires_in override")
    st, body, _ = h.control("mode", {"mode": "bogus"})
    check(st == 400, "bad mode -> 400")

    h.control("mode", {"mode": "close"})
    try:
        h.token()
        check(False, "mode close closes the connection")
    except (OSError, urllib.error.URLError, ConnectionError) as e:
        check(True, "mode close closes the connection (%s)" % type(e).__name__)

    h.control("mode", {"mode": "hang"})
    t = time.monotonic()
    try:
        h.token(timeout=1)
        check(False, "mode hang never answers")
    except (OSError, urllib.error.URLError) as e:
        check(time.monotonic() - t >= 0.9, "mode hang never answers (%s)" % type(e).__name__)
    result = {}
    th = threading.Thread(target=lambda: result.update(r=h.token(timeout=10)))
    th.start()
    time.sleep(0.3)
    h.control("mode", {"mode": "normal"})
    th.join(10)
    check(result.get("r", (0,))[0] == 200, "hung request answered after mode normal")
    st, stats, _ = h.control("reset")
    check(stats["token_requests"] == 0 and stats["mode"] == "normal", "reset")


def test_smtp(h, sb, big):
    print("SMTP (Postfix + Dovecot)")
    main = sb["other_clients"]["main"]
    h.control("reset")
    clear_mail(sb)
    tok = h.token()[1]["access_token"]
    t = time.monotonic()
    s, code, text = smtp_login(sb, "alerts@contoso.test", tok)
    check(code == 235, "STARTTLS + XOAUTH2 with main token -> 235 (%.0f ms)"
          % ((time.monotonic() - t) * 1000))
    msg = (b"From: Alerts <alerts@contoso.test>\r\nTo: ops@contoso.test\r\n"
           b"Bcc: audit@contoso.test\r\nSubject: selftest\r\n\r\nhello\r\n.dot\r\n")
    r = s.sendmail("alerts@contoso.test", ["ops@contoso.test", "audit@contoso.test"], msg)
    check(r == {}, "two recipients accepted")
    s.quit()
    got = wait_mail(sb, 2)
    check(sorted(x[1] for x in got) == ["audit@contoso.test", "ops@contoso.test"]
          and all(x[0] == "alerts@contoso.test" for x in got),
          "both captured with envelope sender/recipient")
    if got:
        eml = got[0][2]
        head = eml.split(b"\n\n")[0]
        check(b"\nBcc: audit@contoso.test" in head, "Bcc header kept by Postfix")
        check(b"\nDate:" not in head and b"\nMessage-ID:" not in head.replace(
            b"Message-Id", b"Message-ID"), "no Date/Message-ID added by Postfix")
        check(eml.startswith(b"Received: "), "Postfix prepends Received:")
        check(eml.endswith(b"\n\nhello\n.dot\n") and b"\r" not in eml,
              "body intact, LF line endings, dot-unstuffed")
    st, stats, _ = h.get(sb["control_url"] + "/stats")
    check(stats["introspections"] == 1, "one introspection per AUTH (%d)" % stats["introspections"])

    s, code, text = smtp_login(sb, "alerts@contoso.test", tok)
    code2 = s.docmd("MAIL", "FROM:<boss@contoso.test>")
    check(code == 235 and code2[0] == 553,
          "MAIL FROM another address refused: %d %s" % (code2[0], code2[1].decode()))
    code3 = s.docmd("MAIL", "FROM:<alerts>")
    check(code3[0] >= 500, "unqualified MAIL FROM refused: %d %s" % (code3[0], code3[1].decode()))
    s.docmd("RSET")
    code4 = s.docmd("MAIL", "FROM:<alerts@contoso.test>")
    code5 = s.docmd("RCPT", "TO:<ops>")
    check(code5[0] >= 500, "unqualified RCPT refused: %d %s" % (code5[0], code5[1].decode()))
    s.quit()

    s, code, text = smtp_login(sb, "other@contoso.test", tok)
    check(code == 535, "user=other@contoso.test -> %d %s" % (code, text))
    s.close()
    nr = h.token(sb["other_clients"]["no_role"])[1]["access_token"]
    s, code, text = smtp_login(sb, "alerts@contoso.test", nr)
    check(code == 535, "no-role token -> %d %s" % (code, text))
    s.close()
    s, code, text = smtp_login(sb, "alerts@contoso.test", "garbage")
    check(code == 535, "garbage token -> %d" % code)
    s.close()
    # Two mailboxes, two applications: each token logs in as its own
    # application's mailbox only, and sends only as that mailbox.
    second = sb["other_clients"]["second"]
    t2 = h.token(second)[1]["access_token"]
    s, code, text = smtp_login(sb, "alerts@contoso.test", t2)
    check(code == 535, "second app's token for the main mailbox -> %d" % code)
    s.close()
    s, code, text = smtp_login(sb, second["user"], tok)
    check(code == 535, "main token for the second mailbox -> %d" % code)
    s.close()
    s, code, text = smtp_login(sb, second["user"], t2)
    code2 = s.docmd("MAIL", "FROM:<alerts@contoso.test>")
    check(code == 235 and code2[0] == 553,
          "second app's token for its own mailbox -> %d, MAIL FROM the main one -> %d"
          % (code, code2[0]))
    s.quit()
    cc = sb["other_clients"]["certificate"]
    st, body, _ = h.post(h.token_url(), {
        "grant_type": "client_credentials", "scope": sb["scope"],
        "client_id": cc["client_id"],
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion(sb, cc)})
    s, code, text = smtp_login(sb, "alerts@contoso.test", body["access_token"])
    check(code == 235, "certificate client's token -> 235")
    s.quit()
    s, code, text = smtp_login(sb, "alerts@contoso.test", tok, implicit=True)
    check(code == 235, "implicit TLS port + XOAUTH2 -> 235")
    s.quit()
    # Before TLS: AUTH not offered.
    s = smtplib.SMTP(sb["smtp_host"], sb["smtp_port"], timeout=10)
    s.ehlo("selftest")
    check(not s.has_extn("auth") and s.has_extn("starttls"),
          "no AUTH before STARTTLS; STARTTLS offered")
    code = s.docmd("AUTH", "XOAUTH2")
    check(code[0] >= 500, "AUTH before TLS: %d %s" % (code[0], code[1].decode()))
    s.close()
    # SASL-IR: a real-size token makes a ~3 KB AUTH line; main.cf raises
    # line_length_limit so it is not cut at Postfix's default 2048 bytes.
    ctx = ssl.create_default_context(cafile=sb["ca_file"])
    s = smtplib.SMTP(sb["smtp_host"], sb["smtp_port"], timeout=10)
    s.ehlo("x"); s.starttls(context=ctx); s.ehlo("x")
    code = s.docmd("AUTH", "XOAUTH2 " + xoauth2("alerts@contoso.test", tok))
    check(code[0] == 235, "single-line AUTH XOAUTH2 <blob> (SASL-IR): %d %s"
          % (code[0], code[1].decode()))
    s.close()
    h.control("revoke")
    s, code, text = smtp_login(sb, "alerts@contoso.test", tok)
    check(code == 535, "revoked token -> 535")
    s.close()
    tok2 = h.token()[1]["access_token"]
    s, code, text = smtp_login(sb, "alerts@contoso.test", tok2)
    check(code == 235, "fresh token after revoke -> 235")
    s.quit()
    h.control("mode", {"mode": "normal", "expires_in": 1})
    short = h.token()[1]["access_token"]
    time.sleep(1.1)
    s, code, text = smtp_login(sb, "alerts@contoso.test", short)
    check(code == 535, "expired token -> 535")
    s.close()
    h.control("reset")
    if big:
        clear_mail(sb)
        body = (b"x" * 998 + b"\r\n") * (25 * 1024 * 1024 // 1000)
        msg = b"From: alerts@contoso.test\r\nTo: ops@contoso.test\r\nSubject: big\r\n\r\n" + body
        s, code, text = smtp_login(sb, "alerts@contoso.test", tok2)
        t = time.monotonic()
        s.sendmail("alerts@contoso.test", ["ops@contoso.test"], msg)
        s.quit()
        got = wait_mail(sb, 1, 60)
        check(len(got) == 1 and len(got[0][2]) > 25 * 1000 * 1000,
              "25 MB message delivered and captured (%.1f s)" % (time.monotonic() - t))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--big", action="store_true")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sandbox-selftest-")   # 0700, like tests
    try:
        return run(tmp, args)
    finally:
        subprocess.run(["rm", "-rf", tmp])


def run(tmp, args):
    d1 = os.path.join(tmp, "one")
    proc, sb, took = start(d1)
    print("sandbox up in %.2f s (reported startup %.2f s)" % (took, sb["startup_seconds"]))
    h = Http(sb)
    try:
        test_token_errors(h, sb)
        test_token_success(h, sb)
        test_control(h, sb)
        test_graph(h, sb)
        test_graph_drafts(h, sb)
        test_smtp(h, sb, args.big)
        print("two sandboxes at once")
        d2 = os.path.join(tmp, "two")
        proc2, sb2, took2 = start(d2)
        check(sb2["smtp_port"] != sb["smtp_port"], "second sandbox up in %.2f s" % took2)
        h2 = Http(sb2)
        s, code, _ = smtp_login(sb2, "alerts@contoso.test", h2.token()[1]["access_token"])
        check(code == 235, "login on the second sandbox")
        s.quit()
        s, code, _ = smtp_login(sb, "alerts@contoso.test", h2.token()[1]["access_token"])
        check(code == 535, "second sandbox's token refused by the first")
        s.close()
        rc2, _ = stop(proc2)
        check(rc2 == 0 and not leftovers(d2), "second sandbox stopped cleanly")
        s, code, _ = smtp_login(sb, "alerts@contoso.test", h.token()[1]["access_token"])
        check(code == 235, "first sandbox unaffected")
        s.quit()
    finally:
        print("teardown")
        rc, took = stop(proc)
        check(rc == 0, "exit 0 after stdin EOF (%.2f s)" % took)
        left = leftovers(d1)
        check(not left, "no process of the sandbox left: %s" % left)
        check(os.path.isdir(os.path.join(d1, "mail")) and
              not os.path.islink(os.path.join(d1, "mail")),
              "DIR/mail is a real directory after stop")
        err = proc.stderr.read().decode()
        check(err == "", "nothing on stderr: %r" % err)
    print("SIGTERM")
    proc, sb, _ = start(d1)
    proc.terminate()
    check(proc.wait(20) == 0 and not leftovers(d1), "SIGTERM: exit 0, nothing left")
    print("SIGKILL (the watchdog cleans up)")
    proc, sb, _ = start(d1)
    pub = os.readlink(sb["mail_dir"]) if os.path.islink(sb["mail_dir"]) else None
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 5
    while leftovers(d1) and time.monotonic() < deadline:
        time.sleep(0.1)
    while os.path.islink(sb["mail_dir"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    check(not leftovers(d1), "SIGKILL: no server process left")
    check(pub is None or not os.path.exists(pub), "SIGKILL: /tmp helper dir removed")
    check(os.path.isdir(sb["mail_dir"]) and not os.path.islink(sb["mail_dir"]),
          "SIGKILL: DIR/mail is a real directory again")
    print("--no-smtp")
    proc, sb, took = start(os.path.join(tmp, "three"), "--no-smtp")
    check(sb["smtp_port"] is None and sb["mail_dir"] is None and
          Http(sb).token()[0] == 200, "token endpoint only (%.2f s)" % took)
    stop(proc)
    print("%d failure(s)" % len(FAILS))
    for f in FAILS:
        print("  FAIL " + f)
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
