"""Microsoft Graph look-alike of the sandbox: sendMail with a MIME body.

Owns: an HTTPS server on 127.0.0.1 (its own port, the sandbox's test CA)
answering `POST /v1.0/users/{mailbox}/sendMail` the way Graph does for a
base64 MIME body (reference: docs/graph.md, shared/reference/graph.md):

- the bearer token is checked as Graph checks it: signed by the sandbox's
  token service and still valid (else 401 InvalidAuthenticationToken),
  audience https://graph.microsoft.com (401), role Mail.Send (403
  ErrorAccessDenied), the mailbox inside the app's RBAC for Applications
  scope (403 ErrorAccessDenied), the mailbox known (404 ErrorInvalidUser)
  and licensed (404 MailboxNotEnabledForRESTAPI), the From allowed (403
  ErrorSendAsDenied), the request body at most MAX_REQUEST octets (413
  ErrorMessageSizeExceeded), the body base64 of a message with recipients
  (400);
- an accepted message answers 202 with a request-id header and is
  "delivered" at once: one <id>.eml + <id>.env per recipient (To, Cc and
  Bcc of the MIME) in DIR/graph-mail, with the Bcc field taken out of
  what the recipients get, as Exchange does. The .env holds the mailbox
  (sender) and the recipient, like the Postfix capture's;
- large messages the way Graph takes them: `POST .../messages` (a draft
  from MIME), `.../attachments` (an attachment under 3 MB in one
  request, contentBytes) or `.../attachments/createUploadSession` (from
  3 MB; a smaller one is refused) and `PUT`s of its bytes to the
  uploadUrl in sequential byte ranges of at most 4 MB (Content-Range
  checked; a bearer token there is refused, the URL is
  pre-authenticated), then `.../messages/{id}/send`, which delivers the
  draft with the attachments added as parts; `DELETE .../messages/{id}`
  removes a draft. Drafts need the Mail.ReadWrite role too (403
  ErrorAccessDenied without); see graph_upload.py;
- faults on demand: POST /_control/graph {"faults": [...]} queues answers
  that the next sendMail requests get instead of the normal one, one each
  (`{"status": 429, "code": "ApplicationThrottled", "headers":
  {"Retry-After": "1"}}`; `"deliver": true` delivers before answering, as
  a 504 after the message was queued does); a fault with `"at"` (one of
  graph_upload.FAULT_STEPS: "draft", "attachment", "session", "upload",
  "send", "delete") strikes the next request of that step of the draft
  path instead; the token endpoint's /_control/reset empties the queue
  and the counters; GET /_control/graph reads the counters.

Every request gets a line in graph.log (never a token).
"""

import base64
import binascii
import datetime
import email.parser
import email.policy
import email.utils
import json
import os
import re
import socket
import ssl
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import entra
import graph_upload
from graph_upload import GraphError

# Graph's request limit: "about 4 MB" (docs/protocol-notes.md).
MAX_REQUEST = 4 * 1024 * 1024
SEND_RE = re.compile(r"/v1\.0/users/([^/]+)/sendMail")
DRAFT_RE = re.compile(r"/v1\.0/users/([^/]+)/messages")
SESSION_RE = re.compile(
    r"/v1\.0/users/([^/]+)/messages/([^/]+)/attachments/createUploadSession")
DRAFT_SEND_RE = re.compile(r"/v1\.0/users/([^/]+)/messages/([^/]+)/send")
ATTACH_RE = re.compile(r"/v1\.0/users/([^/]+)/messages/([^/]+)/attachments")
MESSAGE_RE = re.compile(r"/v1\.0/users/([^/]+)/messages/([^/]+)")
# Mailboxes of the fixture tenant: address -> has an Exchange Online licence.
MAILBOXES = {entra.MAILBOX: True, "other@contoso.test": True,
             "unlicensed@contoso.test": False}


def error_body(code, message, request_id):
    now = datetime.datetime.now(datetime.timezone.utc)
    return {"error": {"code": code, "message": message, "innerError": {
        "date": now.strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id, "client-request-id": request_id}}}


class GraphService:
    """Decisions and state of the look-alike, HTTP-free."""

    def __init__(self, tokens, mail_dir, log_path):
        self.tokens = tokens            # entra.TokenService
        self.mail_dir = mail_dir
        os.makedirs(mail_dir, exist_ok=True)
        self._lock = threading.Lock()
        self._log = open(log_path, "a", buffering=1)
        self._seq = 0
        self.reset()
        tokens.reset_hooks.append(self.reset)

    def log(self, line):
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        with self._lock:
            if not self._log.closed:
                self._log.write("%s %s\n" % (stamp, line))

    def reset(self):
        with self._lock:
            self.faults = []
            self.requests = 0
            self.accepted = 0
            self.drafts = {}            # id -> {"mailbox", "raw", "attachments"}
            self.sessions = {}          # id -> {"draft", "item", "data"}
            self.uploads = 0            # PUT requests
            self.posted = 0             # attachments added in one request
            self.deleted = 0            # drafts deleted

    def stats(self):
        with self._lock:
            return {"requests": self.requests, "accepted": self.accepted,
                    "faults_pending": len(self.faults),
                    "drafts": len(self.drafts), "uploads": self.uploads,
                    "posted": self.posted, "deleted": self.deleted}

    def set_faults(self, req):
        faults = req.get("faults") if isinstance(req, dict) else None
        if not isinstance(faults, list) or not all(
                isinstance(f, dict) and isinstance(f.get("status"), int)
                and f.get("at", "sendMail") in graph_upload.FAULT_STEPS
                for f in faults):
            raise ValueError('body must be {"faults": [{"status": N, ...}]}'
                             ' ("at" one of %s)'
                             % ", ".join(graph_upload.FAULT_STEPS))
        with self._lock:
            self.faults = list(faults)

    def next_fault(self, at="sendMail"):
        """The first queued fault for the step `at`, taken off the queue."""
        with self._lock:
            if at == "sendMail":
                self.requests += 1
            for i, fault in enumerate(self.faults):
                if fault.get("at", "sendMail") == at:
                    return self.faults.pop(i)
            return None

    def raise_fault(self, at):
        """Raises the first queued fault for the step `at`, if any."""
        fault = self.next_fault(at)
        if fault is not None:
            raise GraphError(fault["status"], fault.get("code", "Fault"),
                             fault.get("message", "Injected fault."),
                             fault.get("headers"))

    def stop(self):
        with self._lock:
            self._log.close()

    # ---- the checks Graph makes -------------------------------------------

    def authorize(self, authorization, mailbox):
        """The token's claims and client; GraphError when Graph would refuse."""
        if not authorization.lower().startswith("bearer "):
            raise GraphError(401, "InvalidAuthenticationToken",
                             "Access token is empty.")
        try:
            claims = self.tokens.verify(authorization[7:].strip())
        except ValueError as e:
            raise GraphError(401, "InvalidAuthenticationToken",
                             "Access token validation failure (%s)." % e)
        if claims.get("aud") not in (entra.GRAPH_RESOURCE, entra.GRAPH_APP_ID):
            raise GraphError(401, "InvalidAuthenticationToken",
                             "Access token validation failure. Invalid "
                             "audience.")
        client = self.tokens.by_id.get(str(claims.get("appid", "")).lower())
        if client is None or entra.GRAPH_SEND not in claims.get("roles", []):
            raise GraphError(403, "ErrorAccessDenied",
                             "Access is denied. Check credentials and try "
                             "again.")
        box = mailbox.lower()
        if box not in MAILBOXES:
            raise GraphError(404, "ErrorInvalidUser",
                             "The requested user '%s' is invalid." % mailbox)
        if box not in [m.lower() for m in client.graph_mailboxes]:
            # RBAC for Applications: outside the management scope.
            raise GraphError(403, "ErrorAccessDenied",
                             "Access to OData is disabled: the application "
                             "is not allowed to access this mailbox.")
        if not MAILBOXES[box]:
            raise GraphError(404, "MailboxNotEnabledForRESTAPI",
                             "The mailbox is either inactive, soft-deleted, "
                             "or is hosted on-premise.")
        return claims, client

    @staticmethod
    def parse_mime(body):
        """The decoded message and its header (email.message.Message)."""
        if not body.strip():
            raise GraphError(400, "ErrorMimeContentInvalid",
                             "The MIME content is empty.")
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise GraphError(400, "ErrorMimeContentInvalidBase64String",
                             "Invalid base64 string for MIME content.")
        header = email.parser.BytesHeaderParser(
            policy=email.policy.compat32).parsebytes(raw)
        return raw, header

    def deliver(self, mailbox, raw, header, request_id):
        """Checks From and recipients like Exchange and delivers; returns
        the recipient list."""
        froms = [a for _, a in email.utils.getaddresses(header.get_all("From", []))]
        if not froms or any(a.lower() != mailbox.lower() for a in froms):
            raise GraphError(403, "ErrorSendAsDenied",
                             "The user account which was used to submit "
                             "this request does not have the right to send "
                             "mail on behalf of the specified sending "
                             "account., Cannot submit message.")
        recipients = []
        for name in ("To", "Cc", "Bcc"):
            for _, addr in email.utils.getaddresses(header.get_all(name, [])):
                if addr and "@" in addr and addr.lower() not in (
                        r.lower() for r in recipients):
                    recipients.append(addr)
        if not recipients:
            raise GraphError(400, "ErrorInvalidRecipients",
                             "At least one recipient isn't valid., A "
                             "message can't be sent because it contains no "
                             "recipients.")
        seen = strip_bcc(raw)
        for rcpt in recipients:
            with self._lock:
                self._seq += 1
                mid = "%s-%d" % (request_id[:8], self._seq)
            path = os.path.join(self.mail_dir, mid)
            with open(path + ".eml.tmp", "wb") as f:
                f.write(seen)
            os.rename(path + ".eml.tmp", path + ".eml")
            with open(path + ".env.tmp", "w") as f:
                f.write("%s\n%s\n" % (mailbox, rcpt))
            os.rename(path + ".env.tmp", path + ".env")
        with self._lock:
            self.accepted += 1
        return recipients


def strip_bcc(raw):
    """The message without its Bcc fields (name, value, folded lines)."""
    end = raw.find(b"\r\n\r\n")
    sep = 4
    lf = raw.find(b"\n\n")
    if end < 0 or (0 <= lf < end):
        end, sep = lf, 2
    if end < 0:
        end, sep = len(raw), 0
    lines = raw[:end].splitlines(keepends=True)
    out, skipping = [], False
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                out.append(line)
            continue
        skipping = line.lower().startswith(b"bcc:")
        if not skipping:
            out.append(line)
    head = b"".join(out)
    if lines and not lines[-1].endswith(b"\n") and head.endswith(b"\n"):
        head = head.rstrip(b"\r\n")
    return head + raw[end:end + sep] + raw[end + sep:]


class Handler(graph_upload.UploadMixin, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30

    @property
    def graph(self):
        return self.server.graph

    def version_string(self):
        return "sandbox-graph"

    def log_message(self, fmt, *args):
        pass

    def _read_body(self, limit):
        """The body, or None when it is longer than `limit`. An over-long
        body is still read (and dropped) so that the client, still
        writing, gets the 413 rather than a reset connection."""
        chunks, total = [], 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                data = self.rfile.read(size)
                if total <= limit:
                    chunks.append(data)
                self.rfile.readline()
        else:
            n = int(self.headers.get("Content-Length") or 0)
            total = n
            while n > 0:
                data = self.rfile.read(min(n, 1 << 16))
                if not data:
                    break
                n -= len(data)
                if total <= limit:
                    chunks.append(data)
        return b"".join(chunks) if total <= limit else None

    def _send(self, status, body=b"", headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(status)
        if body:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _error(self, e, request_id, who):
        self.graph.log("%s -> %d %s" % (who, e.status, e.code))
        headers = {"request-id": request_id, "client-request-id": request_id}
        headers.update(e.headers)
        self._send(e.status, error_body(e.code, e.message, request_id), headers)

    def do_HEAD(self):
        # The client's warm-up while it fetches a token: answered like
        # Graph answers a request without a token, connection kept.
        self.graph.log("HEAD %s client-port=%d -> 401 (no token)"
                       % (self.path, self.client_address[1]))
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/_control/graph":
            self._send(200, self.graph.stats())
        else:
            self._send(404, error_body("ResourceNotFound", "Unsupported "
                                       "request.", str(uuid.uuid4())))

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        request_id = str(uuid.uuid4())
        if path == "/_control/graph":
            try:
                self.graph.set_faults(json.loads(self._read_body(1 << 20) or b"{}"))
            except ValueError as e:
                self._send(400, {"error": str(e)})
                return
            self.graph.log("control: faults %s" % json.dumps(self.graph.faults))
            self._send(200, self.graph.stats())
            return
        for regex, step, handler in (
                (SESSION_RE, "session", self._create_session),
                (ATTACH_RE, "attachment", self._add_attachment),
                (DRAFT_SEND_RE, "send", self._send_draft),
                (DRAFT_RE, "draft", self._create_draft)):
            d = regex.fullmatch(path)
            if d:
                body = self._read_body(MAX_REQUEST)
                self._on_draft("POST", d, step, handler, body, request_id)
                return
        m = SEND_RE.fullmatch(path)
        if not m:
            self._read_body(MAX_REQUEST)
            self._error(GraphError(400, "BadRequest", "Resource not found for "
                                   "the segment '%s'." % path), request_id,
                        "POST %s" % path)
            return
        self._send_mail(urllib.parse.unquote(m.group(1)), request_id)

    def do_DELETE(self):
        path = urllib.parse.urlsplit(self.path).path
        request_id = str(uuid.uuid4())
        self._read_body(MAX_REQUEST)
        d = MESSAGE_RE.fullmatch(path)
        if not d:
            self._error(GraphError(400, "BadRequest", "Resource not found for "
                                   "the segment '%s'." % path), request_id,
                        "DELETE %s" % path)
            return
        self._on_draft("DELETE", d, "delete", self._delete_draft, b"",
                       request_id)

    def _on_draft(self, method, d, step, handler, body, request_id):
        """A request of the draft path: its queued fault, the token with
        Mail.ReadWrite, the size, then `handler`."""
        who = "%s %s request-id=%s" % (method, d.group(0), request_id)
        mailbox = urllib.parse.unquote(d.group(1))
        try:
            self.graph.raise_fault(step)
            claims, _ = self.graph.authorize(
                self.headers.get("Authorization", ""), mailbox)
            if entra.GRAPH_READWRITE not in claims.get("roles", []):
                raise GraphError(403, "ErrorAccessDenied",
                                 "Access is denied. Check credentials "
                                 "and try again.")
            if body is None:
                raise GraphError(413, "ErrorMessageSizeExceeded",
                                 "The request is too large.")
            handler(mailbox, d.groups()[1:], body, request_id, who)
        except GraphError as e:
            self._error(e, request_id, who)

    def _send_mail(self, mailbox, request_id):
        who = "POST sendMail mailbox=%s client-port=%d request-id=%s" % (
            mailbox, self.client_address[1], request_id)
        fault = self.graph.next_fault()
        body = self._read_body(MAX_REQUEST)
        try:
            if fault is not None and not fault.get("deliver"):
                raise GraphError(fault["status"], fault.get("code", "Fault"),
                                 fault.get("message", "Injected fault."),
                                 fault.get("headers"))
            claims, _ = self.graph.authorize(
                self.headers.get("Authorization", ""), mailbox)
            if body is None:
                raise GraphError(413, "ErrorMessageSizeExceeded",
                                 "The message exceeds the maximum supported "
                                 "size., Cannot save changes made to an item "
                                 "to store.")
            ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
            if ctype.lower() != "text/plain":
                raise GraphError(400, "ErrorInvalidRequest",
                                 "This sandbox takes MIME sendMail only "
                                 "(Content-Type text/plain), not %r." % ctype)
            raw, header = self.graph.parse_mime(body)
            recipients = self.graph.deliver(mailbox, raw, header, request_id)
            if fault is not None:
                raise GraphError(fault["status"], fault.get("code", "Fault"),
                                 fault.get("message", "Injected fault after "
                                           "the message was queued."),
                                 fault.get("headers"))
        except GraphError as e:
            self._error(e, request_id, who)
            return
        self.graph.log("%s -> 202 accepted %d octets for %s (appid=%s)" % (
            who, len(raw), ",".join(recipients), claims.get("appid")))
        self._send(202, b"", {"request-id": request_id,
                              "client-request-id": self.headers.get(
                                  "client-request-id", request_id)})


class GraphServer(ThreadingHTTPServer):
    """HTTPS on 127.0.0.1:0, TLS set up per connection in the worker."""

    daemon_threads = True
    allow_reuse_address = False
    request_queue_size = 128

    def __init__(self, graph, cert, key):
        super().__init__(("127.0.0.1", 0), Handler)
        self.graph = graph
        self.url = "https://127.0.0.1:%d" % self.server_address[1]
        self.ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ssl_ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self.ssl_ctx.load_cert_chain(cert, key)
        self.port = self.server_address[1]

    def get_request(self):
        conn, addr = self.socket.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr

    def finish_request(self, request, client_address):
        request.settimeout(30)
        try:
            tls = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.graph.log("TLS handshake failed: %s" % e)
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (OSError, ValueError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        pass


class Graph:
    """The running look-alike: start() serves in a thread."""

    def __init__(self, tokens, cert, key, mail_dir, log_path):
        self.service = GraphService(tokens, mail_dir, log_path)
        self.server = GraphServer(self.service, cert, key)
        self.port = self.server.port
        self.url = "https://127.0.0.1:%d" % self.port
        # The configured graph.url + /.default mints Graph tokens too.
        tokens.graph_scopes.add(self.url + "/.default")
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.2},
                                       name="graph", daemon=True)

    def start(self):
        self.thread.start()
        self.service.log("listening on %s" % self.url)

    def stop(self):
        self.service.log("stopping")
        self.server.shutdown()
        self.server.server_close()
        self.service.stop()
