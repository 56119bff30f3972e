"""The Entra ID look-alike itself, without HTTP: what the sandbox's token
endpoint decides and remembers.

Owns: the fixture tenant and its fixture clients, the client-credentials
grant (secrets and certificate assertions), Entra-shaped error answers,
token minting, RFC 7662 introspection for Dovecot, and the counters and
mode the control API reads and sets. token_endpoint.py puts it on HTTPS.

Faithfulness: the request and answer shapes follow
Microsoft's documented client-credentials flow (AADSTS codes 7000215,
7000222, 700016, 90002, 900023, 9001023, 1002012, 70011, 900144, 700027,
700024, 7000218 as documented or observed there). Codes for rarer assertion
faults (50027 malformed, 700021/50048 iss mismatch, 700023 audience) are
plausible stand-ins: key tests on the ones above.

Tokens are JWTs signed HS256 with a per-run random key. Real Exchange tokens
are RS256, but clients must treat tokens as opaque; only this service
validates them (at introspection).
"""

import base64
import datetime
import hashlib
import hmac
import json
import re
import secrets
import string
import threading
import time
import uuid

import pki

TENANT_DOMAIN = "contoso.onmicrosoft.com"
# Other verified domains of the same tenant: Entra accepts any of them in
# the URL path, like the GUID.
TENANT_ALIASES = ("contoso.test",)
TENANT_ID = "6f2d8c1a-3b4e-4f5a-9c7d-0e1f2a3b4c5d"
TENANT_NAME = "Contoso (sandbox)"
MAILBOX = "alerts@contoso.test"
# The second application's own mailbox (several accounts, issue 15): its
# token logs in as this mailbox only, and the main app's never does.
SECOND_MAILBOX = "shop@contoso.test"
SCOPE = "https://outlook.office365.com/.default"
# Exchange resources of the US government clouds, by tenant_region_sub_scope.
CLOUD_RESOURCES = {"DODCON": "https://outlook.office365.us",
                   "DOD": "https://outlook-dod.office365.us"}
RESOURCE = "https://outlook.office365.com"
EXO_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
SMTP_ROLE = "SMTP.SendAsApp"
# Microsoft Graph (graph.py): its resource, first-party app id and the
# application permissions the fixture clients hold there.
GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_SEND = "Mail.Send"
GRAPH_READWRITE = "Mail.ReadWrite"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_MAX_LIFETIME = 600   # docs/protocol-notes.md: "5-10 minutes after nbf"
ASSERTION_CLOCK_SKEW = 300
DEFAULT_EXPIRES_IN = 3599
TOKEN_TARGET_LENGTH = 2200     # real tokens are 1.5-3 KB

GUID_RE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
DNS_LABEL_RE = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)", re.I)


# --------------------------------------------------------------------------
# Fixture tenant and clients


class Client:
    """One app registration (+ service principal) in the fixture tenant."""

    def __init__(self, name, client_id, mailbox, roles, secret=None,
                 secret_expired=False, cert_file=None, key_file=None,
                 pubkey_file=None):
        self.name = name
        self.client_id = client_id
        self.mailbox = mailbox
        self.roles = list(roles)
        self.secret = secret
        self.secret_expired = secret_expired
        self.cert_file = cert_file
        self.key_file = key_file
        self.pubkey_file = pubkey_file
        self.x5t_s256 = self.x5t = None
        if cert_file:
            self.x5t_s256, self.x5t = pki.thumbprints(cert_file)
        # Service principal object id: stable per client id, like Entra.
        self.object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "sp:" + client_id))
        # Graph application permissions, and the mailboxes RBAC for
        # Applications scopes them to (graph.py checks both).
        self.graph_roles = []
        self.graph_mailboxes = [mailbox]

    def contract(self):
        """This client's entry in sandbox.json other_clients."""
        d = {"client_id": self.client_id, "user": self.mailbox,
             "roles": self.roles, "object_id": self.object_id,
             "graph_roles": self.graph_roles,
             "graph_mailboxes": self.graph_mailboxes}
        if self.secret is not None:
            d["client_secret"] = self.secret
            d["secret_expired"] = self.secret_expired
        if self.cert_file:
            d["certificate_file"] = self.cert_file
            d["private_key_file"] = self.key_file
            d["x5t#S256"] = self.x5t_s256
            d["x5t"] = self.x5t
        return d


def make_secret():
    """An Entra-style 40-character secret value that is guaranteed to hold
    ~ + / = . so clients must form-encode it properly ('+' decodes to a
    space if sent raw)."""
    alnum = string.ascii_letters + string.digits

    def r(n):
        return "".join(secrets.choice(alnum) for _ in range(n))
    return r(3) + "8Q~" + r(8) + "+" + r(7) + "/" + r(6) + "=" + r(5) + "." + r(6)


def make_secret_clients():
    """The fixture clients that use secrets. Client ids are fixed; secrets
    are new each run."""
    clients = [
        Client("main", "0a4f3c2e-7b1d-4e8f-9a6c-5d2b1e0f3a47", MAILBOX,
               [SMTP_ROLE], secret=make_secret()),
        Client("no_role", "1b5e4d3f-8c2e-4f90-ab7d-6e3c2f1a4b58", MAILBOX,
               [], secret=make_secret()),
        Client("expired_secret", "2c6f5e4a-9d3f-4a01-bc8e-7f4d3a2b5c69",
               MAILBOX, [SMTP_ROLE], secret=make_secret(),
               secret_expired=True),
        # Graph Mail.Send without Mail.ReadWrite: small messages only.
        Client("graph_send_only", "4e8b7a6c-bf5b-4c23-9e0a-9b6f5c4d7e8b",
               MAILBOX, [], secret=make_secret()),
        Client("second", "4e8b7a6c-bf5b-4c23-9eaf-9b6f5c4d7e8b",
               SECOND_MAILBOX, [SMTP_ROLE], secret=make_secret()),
    ]
    by_name = {c.name: c for c in clients}
    by_name["main"].graph_roles = [GRAPH_SEND, GRAPH_READWRITE]
    # The main app's RBAC scope holds a mailbox without an Exchange Online
    # licence too (404 MailboxNotEnabledForRESTAPI).
    by_name["main"].graph_mailboxes = [MAILBOX, "unlicensed@contoso.test"]
    by_name["expired_secret"].graph_roles = [GRAPH_SEND]
    by_name["graph_send_only"].graph_roles = [GRAPH_SEND]
    return by_name


def make_certificate_client(cert_client_files):
    """The certificate-credential client; (cert, key, pubkey) PEM paths."""
    cert, key, pub = cert_client_files
    return Client("certificate", "3d7a6f5b-ae4a-4b12-8d9f-8a5e4b3c6d7a",
                  MAILBOX, [SMTP_ROLE], cert_file=cert, key_file=key,
                  pubkey_file=pub)


# --------------------------------------------------------------------------
# Entra-shaped errors


class EntraError(Exception):
    """An answer in Entra's error format: HTTP status, OAuth `error`,
    AADSTS number and the text after 'AADSTSnnnn: '."""

    def __init__(self, status, error, code, message):
        super().__init__("%d %s AADSTS%d" % (status, error, code))
        self.status, self.error, self.code, self.message = (
            status, error, code, message)


def entra_error_body(error, code, message, correlation_id=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    ts = now.strftime("%Y-%m-%d %H:%M:%SZ")
    trace_id = str(uuid.uuid4())
    correlation_id = correlation_id or str(uuid.uuid4())
    return {
        "error": error,
        "error_description": "AADSTS%d: %s\r\nTrace ID: %s\r\n"
        "Correlation ID: %s\r\nTimestamp: %s"
        % (code, message, trace_id, correlation_id, ts),
        "error_codes": [code],
        "timestamp": ts,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": "https://login.microsoftonline.com/error?code=%d" % code,
    }


def _missing(param):
    return EntraError(400, "invalid_request", 900144,
                      "The request body must contain the following "
                      "parameter: '%s'." % param)


def b64url_decode(s):
    s = s.strip()
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _b64url_json(obj):
    return pki.b64url(json.dumps(obj, separators=(",", ":")).encode())


def _iso(t):
    return datetime.datetime.fromtimestamp(
        t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


# --------------------------------------------------------------------------
# The service: grant logic, introspection, control state


class TokenService:
    """All state of the endpoint; thread-safe. HTTP-free so that the grant
    rules read as one function."""

    def __init__(self, clients, log_path):
        self.clients = dict(clients)
        self.by_id = {c.client_id.lower(): c for c in clients.values()}
        self.key = secrets.token_bytes(32)
        self.port = None                 # set once the server is bound
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._log = open(log_path, "a", buffering=1)
        self.stopping = False
        self._reset_locked()
        self._issued = {}                # uti -> exp
        self._revoked = set()
        self.federated = None            # identity.FederatedIssuer, if any
        self.graph_scopes = {GRAPH_RESOURCE + "/.default",
                             GRAPH_APP_ID + "/.default"}
        self.reset_hooks = []            # graph.py's reset

    def add_client(self, client):
        """Register a client after start (the certificate client's RSA key
        is generated while the mail servers start)."""
        with self._lock:
            self.clients[client.name] = client
            self.by_id[client.client_id.lower()] = client

    # ---- bookkeeping -----------------------------------------------------

    def log(self, line):
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        with self._lock:
            if not self._log.closed:
                self._log.write("%s %s\n" % (stamp, line))

    def _reset_locked(self):
        self.token_requests = 0
        self.by_client = {}
        self.introspections = 0
        self.introspections_active = 0
        self.tokens_issued = 0
        self.mode = self._default_mode()

    @staticmethod
    def _default_mode():
        return {"mode": "normal", "status": 503, "body": None,
                "content_type": "application/json; charset=utf-8",
                "headers": {}, "expires_in": DEFAULT_EXPIRES_IN,
                "expires_in_as_string": False,
                # The tenant's cloud, as its OpenID configuration says.
                "tenant_region_scope": "NA", "tenant_region_sub_scope": None}

    def count_token_request(self, client_id):
        with self._lock:
            self.token_requests += 1
            if client_id:
                self.by_client[client_id] = self.by_client.get(client_id, 0) + 1

    def stats(self):
        with self._lock:
            return {"token_requests": self.token_requests,
                    "token_requests_by_client": dict(self.by_client),
                    "introspections": self.introspections,
                    "introspections_active": self.introspections_active,
                    "tokens_issued": self.tokens_issued,
                    "tokens_revoked": len(self._revoked),
                    "mode": self.mode["mode"]}

    def reset(self):
        with self._cond:
            self._reset_locked()
            self._cond.notify_all()
        for hook in self.reset_hooks:
            hook()

    def is_graph_scope(self, scope):
        """Graph's scope: its resource or app id + /.default, or the
        sandbox Graph's own URL + /.default (graph.url in a test's
        configuration); all three mint Graph-audience tokens."""
        return scope.strip() in self.graph_scopes

    def set_mode(self, req):
        """Replace the mode with defaults + the fields given (so each call
        says the whole behaviour). Raises ValueError on bad input."""
        if not isinstance(req, dict):
            raise ValueError("body must be a JSON object")
        mode = self._default_mode()
        known = set(mode)
        for k, v in req.items():
            if k not in known:
                raise ValueError("unknown field %r" % k)
            mode[k] = v
        if mode["mode"] not in ("normal", "status", "hang", "close"):
            raise ValueError("mode must be normal, status, hang or close")
        if not isinstance(mode["status"], int) or not 100 <= mode["status"] <= 599:
            raise ValueError("status must be an HTTP status code")
        if not isinstance(mode["expires_in"], int):
            raise ValueError("expires_in must be an integer")
        if mode["body"] is not None and not isinstance(mode["body"], (str, dict)):
            raise ValueError("body must be a string or a JSON object")
        if not isinstance(mode["headers"], dict):
            raise ValueError("headers must be an object")
        with self._cond:
            self.mode = mode
            self._cond.notify_all()
        return mode

    def current_mode(self):
        with self._lock:
            return dict(self.mode)

    def wait_while_hanging(self):
        """Block a token request while mode is 'hang'; returns when the
        mode changes or the server stops."""
        with self._cond:
            while self.mode["mode"] == "hang" and not self.stopping:
                self._cond.wait()
            return not self.stopping

    def revoke_all(self):
        with self._lock:
            self._revoked.update(self._issued)
            return len(self._revoked)

    def stop(self):
        with self._cond:
            self.stopping = True
            self._cond.notify_all()
            self._log.close()

    # ---- the grant -------------------------------------------------------

    def _tenant(self, raw):
        """Validate the {tenant} path segment the way Entra does."""
        t = raw.lower()
        if t in ("common", "consumers", "organizations"):
            raise EntraError(400, "invalid_request", 9001023,
                             "The grant type is not supported over the "
                             "/common or /consumers endpoints. Please use "
                             "the /organizations or tenant-specific endpoint.")
        if GUID_RE.fullmatch(t):
            ok = t == TENANT_ID
        else:
            labels = t.split(".")
            if len(labels) < 2 or not all(DNS_LABEL_RE.fullmatch(l) for l in labels):
                raise EntraError(400, "invalid_request", 900023,
                                 "Specified tenant identifier '%s' is neither"
                                 " a valid DNS name, nor a valid external "
                                 "domain." % raw)
            ok = t in (TENANT_DOMAIN,) + TENANT_ALIASES
        if not ok:
            raise EntraError(400, "invalid_request", 90002,
                             "Tenant '%s' not found. Check to make sure you "
                             "have the correct tenant ID and are signing into"
                             " the correct cloud. Check with your "
                             "subscription administrator, this may happen if"
                             " there are no active subscriptions for the "
                             "tenant." % raw)

    def _client(self, client_id):
        c = self.by_id.get(client_id.lower())
        if c is None:
            raise EntraError(400, "unauthorized_client", 700016,
                             "Application with identifier '%s' was not found"
                             " in the directory '%s'. This can happen if the "
                             "application has not been installed by the "
                             "administrator of the tenant or consented to by"
                             " any user in the tenant. You may have sent "
                             "your authentication request to the wrong "
                             "tenant." % (client_id, TENANT_NAME))
        return c

    def _check_secret(self, client, secret):
        if client.secret is None or not hmac.compare_digest(
                client.secret.encode(), secret.encode()):
            raise EntraError(401, "invalid_client", 7000215,
                             "Invalid client secret provided. Ensure the "
                             "secret being sent in the request is the client"
                             " secret value, not the client secret ID, for a"
                             " secret added to app '%s'." % client.client_id)
        if client.secret_expired:
            raise EntraError(401, "invalid_client", 7000222,
                             "The provided client secret keys for app '%s' "
                             "are expired. Visit the Azure portal to create "
                             "new keys for your app: "
                             "https://aka.ms/NewClientSecret, or consider "
                             "using certificate credentials for added "
                             "security: https://aka.ms/certCreds."
                             % client.client_id)

    def resource(self):
        """The Exchange resource of the tenant's cloud (the mode's region
        sub-scope makes the sandbox tenant a GCC High or DoD one)."""
        sub = (self.current_mode().get("tenant_region_sub_scope") or "").upper()
        return CLOUD_RESOURCES.get(sub, RESOURCE)

    def _check_scope(self, scope):
        items = scope.split()
        own = self.resource()
        if len(items) == 1 and items[0] != own + "/.default" and \
                items[0] in [r + "/.default" for r in CLOUD_RESOURCES.values()
                             ] + [SCOPE, "https://partner.outlook.cn/.default"]:
            raise EntraError(400, "invalid_request", 900382,
                             "Confidential Client is not supported in Cross "
                             "Cloud request.")
        if own != RESOURCE:
            if items != [own + "/.default"]:
                raise EntraError(400, "invalid_scope", 70011,
                                 "The provided value for the input parameter"
                                 " 'scope' is not valid. The scope %s is not "
                                 "valid." % scope)
            return
        if any(not i.endswith("/.default") for i in items):
            raise EntraError(400, "invalid_scope", 1002012,
                             "The provided value for scope %s is not valid. "
                             "Client credential flows must have a scope value"
                             " with /.default suffixed to the resource "
                             "identifier (application ID URI)." % scope)
        if items not in ([SCOPE], [EXO_APP_ID + "/.default"]) and \
                not self.is_graph_scope(scope):
            raise EntraError(400, "invalid_scope", 70011,
                             "The provided request must include a 'scope' "
                             "input parameter. The provided value for the "
                             "input parameter 'scope' is not valid. The scope"
                             " %s is not valid." % scope)

    def _check_assertion(self, form, tenant_raw):
        """Validate a certificate client assertion; returns the client."""
        atype = form.get("client_assertion_type")
        if not atype:
            raise _missing("client_assertion_type")
        if atype != ASSERTION_TYPE:
            raise EntraError(400, "invalid_request", 50027,
                             "Invalid client_assertion_type '%s'." % atype)
        assertion = form["client_assertion"]
        try:
            h64, p64, s64 = assertion.split(".")
            header = json.loads(b64url_decode(h64))
            claims = json.loads(b64url_decode(p64))
            signature = b64url_decode(s64)
            if not isinstance(header, dict) or not isinstance(claims, dict):
                raise ValueError
        except ValueError:
            raise EntraError(400, "invalid_request", 50027,
                             "JWT token is invalid or malformed.")
        iss, sub = claims.get("iss"), claims.get("sub")
        form_id = form.get("client_id")
        if form_id and iss and form_id.lower() != str(iss).lower():
            raise EntraError(401, "invalid_client", 700021,
                             "Client assertion application identifier "
                             "doesn't match 'client_id' parameter.")
        if iss != sub:
            raise EntraError(401, "invalid_client", 50048,
                             "Subject mismatches Issuer claim in the client "
                             "assertion.")
        if not isinstance(iss, str):
            raise EntraError(400, "invalid_request", 50027,
                             "JWT token is invalid or malformed.")
        client = self._client(iss)
        # Thumbprint: x5t#S256 (SHA-256) is current; x5t (SHA-1) still
        # accepted. Padding tolerated (email-oauth2-proxy sends it padded).
        used = header.get("x5t#S256") or header.get("x5t") or ""
        try:
            used_hex = b64url_decode(used).hex().upper()
        except ValueError:
            used_hex = used
        match = (header.get("x5t#S256") and client.x5t_s256
                 and header["x5t#S256"].rstrip("=") == client.x5t_s256) or (
                 not header.get("x5t#S256") and header.get("x5t")
                 and client.x5t and header["x5t"].rstrip("=") == client.x5t)
        if not match:
            raise EntraError(401, "invalid_client", 700027,
                             "Client assertion contains an invalid signature."
                             " [Reason - The key was not found., Thumbprint "
                             "of key used by client: '%s', Please visit the "
                             "Azure Portal, Graph Explorer or directly use "
                             "MS Graph to see configured keys for app Id "
                             "'%s'. Review the documentation at "
                             "https://docs.microsoft.com/en-us/graph/"
                             "deployments if necessary.]"
                             % (used_hex, client.client_id))
        alg = header.get("alg")
        if alg not in ("PS256", "RS256") or not pki.verify_rsa_signature(
                client.pubkey_file, alg, (h64 + "." + p64).encode(), signature):
            raise EntraError(401, "invalid_client", 700027,
                             "Client assertion contains an invalid signature."
                             " [Reason - The provided signature value did not"
                             " match the expected signature value., "
                             "Thumbprint of key used by client: '%s', "
                             "alg: '%s']" % (used_hex, alg))
        aud = str(claims.get("aud", ""))
        allowed = {"https://%s:%d/%s/oauth2/v2.0/token" % (h, self.port, t)
                   for h in ("127.0.0.1", "localhost")
                   for t in (TENANT_ID, TENANT_DOMAIN) + TENANT_ALIASES}
        if aud.lower() not in allowed:
            raise EntraError(401, "invalid_client", 700023,
                             "Client assertion audience claim does not match"
                             " Realm issuer. Audience '%s', expected the "
                             "token endpoint URL, e.g. 'https://127.0.0.1:%d"
                             "/%s/oauth2/v2.0/token'." % (aud, self.port, tenant_raw))
        now = time.time()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, (int, float)) or not isinstance(nbf, (int, float)):
            raise EntraError(400, "invalid_request", 50027,
                             "JWT token is invalid or malformed: 'exp' and "
                             "'nbf' are required numeric claims.")
        if exp <= now or nbf > now + ASSERTION_CLOCK_SKEW or \
                exp - nbf > ASSERTION_MAX_LIFETIME:
            raise EntraError(401, "invalid_client", 700024,
                             "Client assertion is not within its valid time "
                             "range. Current time: %s, assertion valid from "
                             "%s, expiry time of assertion %s. Review the "
                             "documentation at https://docs.microsoft.com/"
                             "en-us/azure/active-directory/develop/"
                             "active-directory-certificate-credentials ."
                             % (_iso(now), _iso(nbf), _iso(exp)))
        if not claims.get("jti"):
            raise EntraError(400, "invalid_request", 50027,
                             "JWT token is invalid or malformed: the 'jti' "
                             "claim is required.")
        return client

    def grant(self, tenant_raw, form, basic):
        """Run the client-credentials grant. Returns (client, answer dict);
        raises EntraError. `basic` = (id, secret) from HTTP Basic or None."""
        self._tenant(tenant_raw)
        grant_type = form.get("grant_type")
        if not grant_type:
            raise _missing("grant_type")
        if grant_type != "client_credentials":
            raise EntraError(400, "unsupported_grant_type", 70003,
                             "The app requested an unsupported grant type "
                             "'%s'." % grant_type)
        if "client_assertion" in form and self.federated is not None \
                and self.federated.presented(form):
            # Workload identity federation: another issuer's token, the
            # app named by client_id (identity.py).
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                raise _missing("client_assertion_type")
            if not form.get("client_id"):
                raise _missing("client_id")
            client = self._client(form["client_id"])
            self.federated.verify(form["client_assertion"], client)
            acr = "2"
        elif "client_assertion" in form:
            client = self._check_assertion(form, tenant_raw)
            acr = "2"
        else:
            client_id = form.get("client_id") or (basic and basic[0])
            if not client_id:
                raise _missing("client_id")
            client = self._client(client_id)
            secret = form.get("client_secret")
            if secret is None and basic:
                secret = basic[1]
            if secret is None:
                raise EntraError(401, "invalid_client", 7000218,
                                 "The request body must contain the "
                                 "following parameter: 'client_assertion' "
                                 "or 'client_secret'.")
            self._check_secret(client, secret)
            acr = "1"
        if "scope" not in form:
            raise _missing("scope")
        self._check_scope(form["scope"])
        return client, self.issue(client, acr,
                                  graph=self.is_graph_scope(form["scope"]))

    def issue(self, client, appidacr, graph=False):
        """Mint a token for `client` (appidacr "1" secret, "2" certificate)
        under the current mode; returns the success answer + "_uti".
        `graph`: for Microsoft Graph (its audience and roles)."""
        mode = self.current_mode()
        lifetime = mode["expires_in"]
        now = int(time.time())
        uti = pki.b64url(secrets.token_bytes(16))
        kid = pki.b64url(secrets.token_bytes(20))
        header = {"typ": "JWT", "alg": "HS256", "x5t": kid, "kid": kid}
        claims = {
            "aud": GRAPH_RESOURCE if graph else self.resource(),
            "iss": "https://sts.windows.net/%s/" % TENANT_ID,
            "iat": now, "nbf": now, "exp": now + lifetime,
            "aio": pki.b64url(secrets.token_bytes(60)),
            "app_displayname": "oauth2-sendmail sandbox (%s)" % client.name,
            "appid": client.client_id,
            "appidacr": appidacr,
            "idp": "https://sts.windows.net/%s/" % TENANT_ID,
            "idtyp": "app",
            "oid": client.object_id,
            "rh": "0.A" + pki.b64url(secrets.token_bytes(54)) + ".",
            "sid": str(uuid.uuid4()),
            "sub": client.object_id,
            "tid": TENANT_ID,
            "uti": uti,
            "ver": "1.0",
            "wids": ["0997a1d0-0d1d-4acb-b408-d5ca73121e90"],
            "xms_ftd": pki.b64url(secrets.token_bytes(48)),
            "xms_idrel": "7 %d" % secrets.choice(range(4, 30)),
            "xms_tcdt": 1600000000 + secrets.randbelow(80000000),
        }
        roles = client.graph_roles if graph else client.roles
        if roles:
            claims["roles"] = roles
        # Pad with an opaque claim to the size of a real token, so clients
        # meet real line-length problems (SASL-IR, 12 KB limits) here too.
        base = len(_b64url_json(header)) + len(_b64url_json(claims)) + 45
        pad = max(0, (TOKEN_TARGET_LENGTH - base) * 3 // 4 - 12)
        claims["xms_rd"] = pki.b64url(secrets.token_bytes(pad))[:pad]
        signing_input = _b64url_json(header) + "." + _b64url_json(claims)
        sig = hmac.new(self.key, signing_input.encode(), hashlib.sha256).digest()
        token = signing_input + "." + pki.b64url(sig)
        with self._lock:
            self._issued[uti] = claims["exp"]
            self.tokens_issued += 1
        expires = str(lifetime) if mode["expires_in_as_string"] else lifetime
        return {"token_type": "Bearer", "expires_in": expires,
                "ext_expires_in": expires, "access_token": token,
                "_uti": uti}

    # ---- verification for the Graph look-alike ----------------------------

    def verify(self, token):
        """The claims of a token this service issued and still honours;
        ValueError(reason) otherwise (bad signature, unknown, revoked,
        expired). Audience and roles are the caller's to check."""
        try:
            signing_input, sig = token.rsplit(".", 1)
            want = hmac.new(self.key, signing_input.encode(),
                            hashlib.sha256).digest()
            good = hmac.compare_digest(want, b64url_decode(sig))
            claims = json.loads(b64url_decode(signing_input.split(".")[1]))
        except (ValueError, IndexError):
            raise ValueError("not a token of ours")
        if not good or not isinstance(claims, dict):
            raise ValueError("bad signature")
        uti = claims.get("uti")
        with self._lock:
            known, revoked = uti in self._issued, uti in self._revoked
        if not known:
            raise ValueError("unknown token uti=%s" % uti)
        if revoked:
            raise ValueError("revoked uti=%s" % uti)
        if claims.get("exp", 0) <= time.time():
            raise ValueError("expired uti=%s" % uti)
        return claims

    # ---- introspection (RFC 7662, called by Dovecot) ---------------------

    def introspect(self, token):
        """Returns (answer, reason-for-log)."""
        with self._lock:
            self.introspections += 1
        try:
            signing_input, sig = token.rsplit(".", 1)
            want = hmac.new(self.key, signing_input.encode(),
                            hashlib.sha256).digest()
            if not hmac.compare_digest(want, b64url_decode(sig)):
                return {"active": False}, "bad signature"
            claims = json.loads(b64url_decode(signing_input.split(".")[1]))
        except (ValueError, IndexError):
            return {"active": False}, "not a token of ours"
        uti = claims.get("uti")
        with self._lock:
            known, revoked = uti in self._issued, uti in self._revoked
        client = self.by_id.get(str(claims.get("appid", "")).lower())
        if not known or client is None:
            return {"active": False}, "unknown token uti=%s" % uti
        if revoked:
            return {"active": False}, "revoked uti=%s" % uti
        if claims.get("exp", 0) <= time.time():
            return {"active": False}, "expired uti=%s" % uti
        # Exchange's audience in any cloud (identity's national-cloud
        # tenants), never Graph's: a Graph token does not log in to SMTP.
        if claims.get("aud") not in {RESOURCE, *CLOUD_RESOURCES.values()}:
            return {"active": False}, "audience %s uti=%s" % (claims.get("aud"), uti)
        if SMTP_ROLE not in claims.get("roles", []):
            return {"active": False}, "no %s role uti=%s" % (SMTP_ROLE, uti)
        with self._lock:
            self.introspections_active += 1
        return ({"active": True, "username": client.mailbox,
                 "client_id": client.client_id, "token_type": "Bearer",
                 "scope": SMTP_ROLE, "sub": claims.get("sub"),
                 "aud": claims.get("aud"), "iss": claims.get("iss"),
                 "iat": claims.get("iat"), "exp": claims.get("exp")},
                "active uti=%s username=%s" % (uti, client.mailbox))
