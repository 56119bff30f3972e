"""Identities without a secret, for the sandbox's Entra look-alike.

Owns:
- the *federated issuer*: a stand-in for another identity provider (a
  Kubernetes cluster, GitHub OIDC) that signs assertions with a per-run key
  the token endpoint trusts, the way Entra trusts an issuer's published
  keys; `mint()` makes assertions (the control API hands them to tests);
- the *federated identity credential* of the fixture client "federated"
  (issuer, subject, audience api://AzureADTokenExchange), and the check of
  a presented assertion against it, with Entra's AADSTS70021 (no matching
  record), 700024 (outside its valid time range) and 700027 (signature);
- the IMDS look-alike (Azure instance metadata service: GET with
  `Metadata: true`, `resource=`, optional `client_id=`) and the Arc
  look-alike (401 with `WWW-Authenticate: Basic realm=<key file>`, then the
  file's contents as Basic credentials; the key file is mode 0640, owner
  root, group `himds` when it exists, else `nogroup`), both plain HTTP on
  127.0.0.1, as the real ones are plain HTTP on link-local / localhost;
- the tenant's OpenID configuration (its region scope is part of the mode).

Tokens are minted by entra.TokenService.issue for fixture clients whose
mailbox and SMTP.SendAsApp role the sandbox's Dovecot checks on
introspection, so every kind of identity delivers through Postfix.
Reply shapes follow docs/protocol-notes.md ("Credentials without a secret").
"""

import base64
import grp
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import entra
import pki

ISSUER = "https://federated-issuer.sandbox.test"
SUBJECT = "system:serviceaccount:mail:oauth2-sendmail"
AUDIENCE = "api://AzureADTokenExchange"
IMDS_PATH = "/metadata/identity/oauth2/token"
MANAGED_LIFETIME = 86399       # managed-identity tokens live about a day


def make_clients():
    """The fixture clients of this module: a federated app and three
    managed identities (system- and user-assigned on the 'VM', and the Arc
    server's)."""
    def client(name, client_id):
        return entra.Client(name, client_id, entra.MAILBOX, [entra.SMTP_ROLE])
    return {
        "federated": client("federated", "4e8b7a6c-bf5b-4c23-9ea0-9b6f5c4d7e8b"),
        "managed": client("managed", "5f9c8b7d-c06c-4d34-afb1-ac7a6d5e8f9c"),
        "managed_user": client("managed_user", "6a0d9c8e-d17d-4e45-b0c2-bd8b7e6f9a0d"),
        "arc": client("arc", "7b1e0d9f-e28e-4f56-81d3-ce9c8f7a0b1e"),
    }


class FederatedIssuer:
    """Signs assertions (HS256 with a per-run key; a real issuer signs RS256
    and publishes its keys, but only the token endpoint verifies here)."""

    def __init__(self):
        self.key = secrets.token_bytes(32)

    def mint(self, req):
        """An assertion for the control API. Fields (all optional):
        subject, audience, issuer, lifetime (s), expired (bool),
        not_yet (bool: valid from an hour on), wrong_key (bool)."""
        now = int(time.time())
        lifetime = int(req.get("lifetime", 3600))
        start = now
        if req.get("expired"):
            start = now - lifetime - 60
        elif req.get("not_yet"):
            start = now + 3600
        claims = {"iss": req.get("issuer", ISSUER),
                  "sub": req.get("subject", SUBJECT),
                  "aud": [req.get("audience", AUDIENCE)],
                  "iat": start, "nbf": start, "exp": start + lifetime,
                  "jti": str(uuid.uuid4())}
        header = {"alg": "HS256", "typ": "JWT", "kid": "sandbox-issuer"}
        signing_input = (_b64(json.dumps(header)) + "." +
                         _b64(json.dumps(claims)))
        key = secrets.token_bytes(32) if req.get("wrong_key") else self.key
        sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
        return {"assertion": signing_input + "." + pki.b64url(sig),
                "exp": claims["exp"]}

    @staticmethod
    def presented(form):
        """Whether the assertion in `form` comes from another issuer (its
        iss is not a client ID, as in a certificate assertion)."""
        try:
            claims = json.loads(entra.b64url_decode(
                form["client_assertion"].split(".")[1]))
            return not entra.GUID_RE.fullmatch(str(claims.get("iss", "")))
        except (ValueError, IndexError, AttributeError, KeyError):
            return False

    def verify(self, assertion, client):
        """Entra's checks of a federated assertion presented by `client`
        (which has the one federated credential ISSUER/SUBJECT/AUDIENCE).
        Raises entra.EntraError."""
        try:
            h64, p64, s64 = assertion.split(".")
            claims = json.loads(entra.b64url_decode(p64))
            sig = entra.b64url_decode(s64)
            if not isinstance(claims, dict):
                raise ValueError
        except ValueError:
            raise entra.EntraError(400, "invalid_request", 50027,
                                   "JWT token is invalid or malformed.")
        aud = claims.get("aud")
        aud = aud[0] if isinstance(aud, list) and aud else aud
        if (client.name != "federated" or claims.get("iss") != ISSUER
                or claims.get("sub") != SUBJECT or aud != AUDIENCE):
            raise entra.EntraError(
                400, "invalid_client", 70021,
                "No matching federated identity record found for presented "
                "assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'. "
                "Assertion Audience: '%s'. https://learn.microsoft.com/"
                "entra/workload-id/workload-identity-federation"
                % (claims.get("iss"), claims.get("sub"), aud))
        want = hmac.new(self.key, (h64 + "." + p64).encode(),
                        hashlib.sha256).digest()
        if not hmac.compare_digest(want, sig):
            raise entra.EntraError(
                401, "invalid_client", 700027,
                "Client assertion failed signature validation. Trace ID: "
                "%s" % uuid.uuid4())
        now = time.time()
        exp, nbf = claims.get("exp"), claims.get("nbf", 0)
        if not isinstance(exp, (int, float)) or exp <= now or \
                nbf > now + entra.ASSERTION_CLOCK_SKEW:
            raise entra.EntraError(
                400, "invalid_client", 700024,
                "Client assertion is not within its valid time range. "
                "Current time: %s, assertion valid from %s, expiry time of "
                "assertion %s." % (entra._iso(now), entra._iso(nbf),
                                   entra._iso(exp or 0)))


def _b64(text):
    return pki.b64url(text.encode())


def openid_configuration(tenant_raw, port, mode):
    """The tenant's OpenID configuration (v2.0), or an EntraError."""
    t = tenant_raw.lower()
    if t not in (entra.TENANT_ID, entra.TENANT_DOMAIN) + entra.TENANT_ALIASES:
        raise entra.EntraError(400, "invalid_tenant", 90002,
                               "Tenant '%s' not found." % tenant_raw)
    base = "https://127.0.0.1:%d/%s" % (port, entra.TENANT_ID)
    doc = {
        "token_endpoint": base + "/oauth2/v2.0/token",
        "issuer": "https://login.microsoftonline.com/%s/v2.0" % entra.TENANT_ID,
        "authorization_endpoint": base + "/oauth2/v2.0/authorize",
        "jwks_uri": base + "/discovery/v2.0/keys",
        "tenant_region_scope": mode.get("tenant_region_scope") or "NA",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
    }
    if mode.get("tenant_region_sub_scope"):
        doc["tenant_region_sub_scope"] = mode["tenant_region_sub_scope"]
    return doc


# --------------------------------------------------------------------------
# IMDS and Arc look-alikes


class ManagedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, fmt, *args):
        pass

    def version_string(self):
        return "sandbox-" + self.server.kind

    def _send(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        srv = self.server
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        who = "%s GET %s client_id=%s" % (srv.kind, url.path,
                                          q.get("client_id", "-"))
        if url.path != IMDS_PATH:
            self._send(404, {"error": "not_found"})
            return
        if self.headers.get("Metadata") != "true":
            srv.service.log(who + " -> 400 no Metadata header")
            self._send(400, {"error": "invalid_request",
                             "error_description":
                             "Required metadata header not specified"})
            return
        version = srv.api_version
        if q.get("api-version") != version:
            self._send(400, {"error": "invalid_request",
                             "error_description":
                             "Invalid or missing api-version: use %s" % version})
            return
        if srv.kind == "arc" and not self._arc_authorized(who):
            return
        resource = q.get("resource", "")
        if resource.rstrip("/") != srv.service.resource():
            srv.service.log(who + " -> 400 invalid_resource")
            self._send(400, {"error": "invalid_resource",
                             "error_description":
                             "AADSTS500011: The resource principal named %s "
                             "was not found in the tenant named %s."
                             % (resource, entra.TENANT_NAME)})
            return
        client = srv.identities.get(q.get("client_id", "") or "")
        if client is None:
            srv.service.log(who + " -> 400 identity not found")
            self._send(400, {"error": "invalid_request",
                             "error_description": "Identity not found"})
            return
        srv.service.count_token_request(client.client_id)
        answer = srv.service.issue(client, "2")
        uti = answer.pop("_uti")
        lifetime = answer["expires_in"]
        srv.service.log(who + " -> 200 token issued to %s (uti=%s)"
                        % (client.name, uti))
        now = int(time.time())
        self._send(200, {"access_token": answer["access_token"],
                         "client_id": client.client_id,
                         "expires_in": str(lifetime),
                         "expires_on": str(now + int(lifetime)),
                         "ext_expires_in": str(lifetime),
                         "not_before": str(now),
                         "resource": resource, "token_type": "Bearer"})

    def _arc_authorized(self, who):
        srv = self.server
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            presented = auth[6:].strip()
            with srv.lock:
                ok = srv.arc_secret is not None and hmac.compare_digest(
                    presented.encode(), srv.arc_secret.encode())
            if ok:
                return True
            srv.service.log(who + " -> 401 wrong key")
            self._send(401, {"error": "unauthorized",
                             "error_description": "Invalid Authorization"})
            return False
        # A fresh key file per challenge, as the agent does.
        secret = base64.b64encode(secrets.token_bytes(32)).decode()
        path = os.path.join(srv.key_dir, "%s.key" % uuid.uuid4().hex)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with os.fdopen(fd, "w") as f:
            f.write(secret)
        if os.geteuid() == 0:
            os.chown(path, 0, srv.key_gid)
        with srv.lock:
            old, srv.arc_secret, srv.arc_file = srv.arc_file, secret, path
        if old:
            try:
                os.unlink(old)
            except OSError:
                pass
        srv.service.log(who + " -> 401 challenge")
        self._send(401, {"error": "unauthorized"},
                   {"WWW-Authenticate": "Basic realm=%s" % path})
        return False


class ManagedServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, kind, service, identities, key_dir=None):
        super().__init__(("127.0.0.1", 0), ManagedHandler)
        self.kind = kind
        self.api_version = "2018-02-01" if kind == "imds" else "2020-06-01"
        self.service = service
        self.identities = identities
        self.key_dir = key_dir
        self.key_gid = _himds_gid()
        self.lock = threading.Lock()
        self.arc_secret = self.arc_file = None
        self.port = self.server_address[1]
        self.url = "http://127.0.0.1:%d%s" % (self.port, IMDS_PATH)
        self.thread = threading.Thread(target=self.serve_forever,
                                       kwargs={"poll_interval": 0.2},
                                       name="sandbox-" + kind, daemon=True)

    def handle_error(self, request, client_address):
        pass


def _himds_gid():
    for name in ("himds", "nogroup"):
        try:
            return grp.getgrnam(name).gr_gid
        except KeyError:
            continue
    return 0


class Managed:
    """Both look-alikes, started and stopped together."""

    def __init__(self, service, clients, directory):
        self.key_dir = os.path.join(directory, "arc-tokens")
        os.makedirs(self.key_dir, mode=0o750, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(self.key_dir, 0, _himds_gid())
        os.chmod(self.key_dir, 0o750)
        self.imds = ManagedServer("imds", service, {
            "": clients["managed"],
            clients["managed_user"].client_id: clients["managed_user"]})
        self.arc = ManagedServer("arc", service, {"": clients["arc"]},
                                 self.key_dir)

    def start(self):
        for s in (self.imds, self.arc):
            s.thread.start()

    def stop(self):
        for s in (self.imds, self.arc):
            s.shutdown()
            s.server_close()

    def contract(self, clients):
        return {"imds_url": self.imds.url, "arc_url": self.arc.url,
                "arc_key_dir": self.key_dir,
                "system_client_id": clients["managed"].client_id,
                "user_client_id": clients["managed_user"].client_id,
                "arc_client_id": clients["arc"].client_id}
