"""HTTPS front of the sandbox's Entra look-alike (logic in entra.py).

Owns: the server on 127.0.0.1 (one thread per connection; TLS is set up in
that thread so a silent client cannot stall the accept loop; TCP_NODELAY),
URL routing, form and Basic-auth parsing, the token path
/{tenant}/oauth2/v2.0/token, /introspect, the /_control API, the
status/hang/close modes, and token.log lines (never a secret or a token).
"""

import base64
import json
import re
import socket
import ssl
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import entra
import identity
from entra import EntraError, entra_error_body

TOKEN_PATH_RE = re.compile(r"/([^/]+)/oauth2/v2\.0/token")
OPENID_PATH_RE = re.compile(r"/([^/]+)/v2\.0/\.well-known/openid-configuration")
MAX_BODY = 1 << 20


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"    # keep-alive, like the real endpoint
    timeout = 30                     # idle keep-alive connections end

    @property
    def service(self):
        return self.server.service

    def version_string(self):
        return "sandbox-entra"

    def log_message(self, fmt, *args):
        # BaseHTTPRequestHandler writes to stderr; the sandbox's stderr may
        # be a pipe nobody reads. Our own log is token.log.
        pass

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(n)

    def _send(self, status, body, content_type="application/json; charset=utf-8",
              headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store, no-cache")
        self.send_header("Pragma", "no-cache")
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/_control/stats":
            self._send(200, self.service.stats())
        elif path == "/_control/mode":
            self._send(200, self.service.current_mode())
        elif OPENID_PATH_RE.fullmatch(path):
            tenant = urllib.parse.unquote(OPENID_PATH_RE.fullmatch(path).group(1))
            try:
                doc = identity.openid_configuration(
                    tenant, self.service.port, self.service.current_mode())
            except EntraError as e:
                self._send(e.status, entra_error_body(e.error, e.code, e.message))
                return
            self.service.log("GET %s -> 200" % path)
            self._send(200, doc)
        elif TOKEN_PATH_RE.fullmatch(path):
            e = EntraError(400, "invalid_request", 900561,
                           "The endpoint only accepts POST, OPTIONS requests."
                           " Received a GET request.")
            self.service.log("GET %s -> %d AADSTS%d" % (path, e.status, e.code))
            self._send(e.status, entra_error_body(e.error, e.code, e.message))
        else:
            self._send(404, {"error": "not_found", "path": path})

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        try:
            body = self._read_body()
        except ValueError as e:
            self._send(400, {"error": "invalid_request", "detail": str(e)})
            return
        m = TOKEN_PATH_RE.fullmatch(path)
        if m:
            self._token(urllib.parse.unquote(m.group(1)), path, body)
        elif path == "/introspect":
            form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"),
                                               keep_blank_values=True))
            answer, reason = self.service.introspect(form.get("token", ""))
            self.service.log("POST /introspect -> %s" % reason)
            self._send(200, answer)
        elif path.startswith("/_control/"):
            self._control(path, body)
        else:
            self._send(404, {"error": "not_found", "path": path})

    def _control(self, path, body):
        svc = self.service
        if path == "/_control/reset":
            svc.reset()
            svc.log("control: reset")
            self._send(200, svc.stats())
        elif path == "/_control/revoke":
            n = svc.revoke_all()
            svc.log("control: revoke (%d tokens revoked in total)" % n)
            self._send(200, {"revoked": n})
        elif path == "/_control/mode":
            try:
                mode = svc.set_mode(json.loads(body or b"{}"))
            except ValueError as e:
                self._send(400, {"error": str(e)})
                return
            svc.log("control: mode %s" % json.dumps(mode))
            self._send(200, mode)
        elif path == "/_control/stats":
            self._send(200, svc.stats())
        elif path == "/_control/federated_assertion" and svc.federated:
            try:
                req = json.loads(body or b"{}")
            except ValueError:
                self._send(400, {"error": "body must be JSON"})
                return
            svc.log("control: federated assertion minted")
            self._send(200, svc.federated.mint(req))
        else:
            self._send(404, {"error": "not_found", "path": path})

    def _basic_auth(self):
        auth = self.headers.get("Authorization", "")
        if not auth.lower().startswith("basic "):
            return None
        try:
            raw = base64.b64decode(auth[6:].strip()).decode()
            cid, _, secret = raw.partition(":")
            # RFC 6749 2.3.1: both parts are form-urlencoded first.
            return urllib.parse.unquote_plus(cid), urllib.parse.unquote_plus(secret)
        except (ValueError, UnicodeDecodeError):
            return None

    def _token(self, tenant_raw, path, body):
        svc = self.service
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        form = {}
        if ctype == "application/x-www-form-urlencoded":
            # First value wins for repeated fields; '+' decodes to a space,
            # which is what a server does with an unencoded '+' in a secret.
            for k, v in urllib.parse.parse_qsl(
                    body.decode("utf-8", "replace"), keep_blank_values=True):
                form.setdefault(k, v)
        basic = self._basic_auth()
        client_id = form.get("client_id") or (basic and basic[0]) or ""
        if not client_id and "client_assertion" in form:
            try:
                client_id = str(json.loads(entra.b64url_decode(
                    form["client_assertion"].split(".")[1])).get("iss", ""))
            except (ValueError, IndexError, AttributeError):
                pass
        svc.count_token_request(client_id)
        who = "POST %s client_id=%s" % (path, client_id or "-")

        mode = svc.current_mode()
        if mode["mode"] == "hang":
            svc.log(who + " -> hang (no answer while mode is hang)")
            if not svc.wait_while_hanging():
                self.close_connection = True
                return
            mode = svc.current_mode()
            svc.log(who + " -> released from hang, mode now " + mode["mode"])
        if mode["mode"] == "close":
            svc.log(who + " -> connection closed without answer (mode close)")
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        correlation = self.headers.get("client-request-id")
        if mode["mode"] == "status":
            body = mode["body"]
            if body is None:
                body = entra_error_body(
                    "temporarily_unavailable", 90006,
                    "The service is temporarily unavailable. Please try "
                    "again later.", correlation)
            svc.log(who + " -> %d (mode status)" % mode["status"])
            self._send(mode["status"], body, mode["content_type"],
                       mode["headers"])
            return
        try:
            client, answer = svc.grant(tenant_raw, form, basic)
        except EntraError as e:
            err = entra_error_body(e.error, e.code, e.message, correlation)
            svc.log(who + " -> %d %s AADSTS%d" % (e.status, e.error, e.code))
            self._send(e.status, err, headers=self._ms_headers(err))
            return
        uti = answer.pop("_uti")
        svc.log(who + " -> 200 token issued to %s (appidacr=%s, roles=%s, "
                "expires_in=%r, uti=%s)" % (
                    client.name, "2" if client.cert_file else "1",
                    ",".join(client.roles) or "none", answer["expires_in"], uti))
        self._send(200, answer, headers=self._ms_headers(None))

    def _ms_headers(self, err):
        h = {"x-ms-request-id": err["trace_id"] if err else str(uuid.uuid4()),
             "X-Content-Type-Options": "nosniff"}
        if self.headers.get("client-request-id"):
            h["client-request-id"] = self.headers["client-request-id"]
        return h


class TokenServer(ThreadingHTTPServer):
    """HTTPS on 127.0.0.1:0. TLS is set up per connection in the worker
    thread; TCP_NODELAY avoids Nagle/delayed-ACK stalls on small answers."""

    daemon_threads = True
    allow_reuse_address = False
    request_queue_size = 128      # parallel tests open many connections

    def __init__(self, service, cert, key):
        super().__init__(("127.0.0.1", 0), Handler)
        self.service = service
        self.ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ssl_ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self.ssl_ctx.load_cert_chain(cert, key)
        self.port = self.server_address[1]
        service.port = self.port

    def get_request(self):
        conn, addr = self.socket.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr

    def finish_request(self, request, client_address):
        request.settimeout(10)
        try:
            tls = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.service.log("TLS handshake from %s:%d failed: %s"
                             % (client_address + (e,)))
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (OSError, ValueError):
            pass   # client went away mid-request
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        pass   # never print tracebacks to the sandbox's stderr


class TokenEndpoint:
    """The running endpoint: start() binds and serves in a thread."""

    def __init__(self, clients, cert, key, log_path):
        self.service = entra.TokenService(clients, log_path)
        self.server = TokenServer(self.service, cert, key)
        self.port = self.server.port
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.2},
                                       name="token-endpoint", daemon=True)

    def start(self):
        self.thread.start()
        self.service.log("listening on https://127.0.0.1:%d" % self.port)

    def stop(self):
        # Wake hung requests first so no worker holds its connection open.
        self.service.log("stopping")
        self.service.stop()
        self.server.shutdown()
        self.server.server_close()
