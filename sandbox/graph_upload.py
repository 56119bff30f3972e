"""The large-message half of the Graph look-alike (graph.py): drafts
created from MIME, attachment upload sessions and their PUTs, and sending
a draft, as Outlook's API takes them (docs/graph.md):

- `POST .../messages` with base64 MIME creates a draft (201 {"id"});
- `POST .../messages/{id}/attachments/createUploadSession` with
  `{"AttachmentItem": {attachmentType: file, name, size, contentType}}`
  answers an `uploadUrl` on this server;
- `PUT uploadUrl` takes the bytes in sequential ranges of at most
  MAX_CHUNK octets with `Content-Range: bytes a-b/size`; the URL is
  pre-authenticated, so a bearer token there is refused (401);
- `POST .../messages/{id}/send` delivers the draft with the attachments
  added as parts of its top-level multipart.

These need Mail.ReadWrite besides Mail.Send (checked in graph.py).
"""

import base64
import email.parser
import email.policy
import json
import re
import urllib.parse
import uuid

# Outlook's upload sessions: byte ranges of at most 4 MB each.
MAX_CHUNK = 4 * 1024 * 1024
UPLOAD_RE = re.compile(r"/upload/([0-9a-f]+)")
CONTENT_RANGE_RE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


class GraphError(Exception):
    """An answer in Graph's error format."""

    def __init__(self, status, code, message, headers=None):
        super().__init__("%d %s" % (status, code))
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}



def with_attachments(raw, attachments):
    """The draft's MIME with the uploaded attachments added as parts of its
    top-level multipart (what Exchange does in its own words; the bytes of
    each attachment are what matters here)."""
    header = email.parser.BytesHeaderParser(
        policy=email.policy.compat32).parsebytes(raw)
    boundary = header.get_boundary()
    if not attachments:
        return raw
    if boundary is None:
        raise GraphError(400, "ErrorInvalidRequest",
                         "This sandbox adds attachments to multipart drafts only.")
    closing = ("--%s--" % boundary).encode()
    at = raw.rfind(closing)
    if at < 0:
        raise GraphError(400, "ErrorMimeContentInvalid",
                         "The draft's multipart has no closing boundary.")
    parts = []
    for item, data in attachments:
        name = item.get("name", "attachment")
        lines = [("--%s" % boundary),
                 "Content-Type: %s; name=\"%s\"" % (
                     item.get("contentType", "application/octet-stream"), name),
                 "Content-Disposition: %s; filename=\"%s\"" % (
                     "inline" if item.get("isInline") else "attachment", name),
                 "Content-Transfer-Encoding: base64"]
        if item.get("contentId"):
            lines.append("Content-ID: <%s>" % item["contentId"])
        encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
        parts.append(("\r\n".join(lines) + "\r\n\r\n").encode() + encoded)
    return raw[:at] + b"".join(parts) + raw[at:]



class UploadMixin:
    """Request handlers of graph.Handler for drafts and upload sessions."""

    def _create_draft(self, mailbox, _, body, request_id, who):
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
        if ctype.lower() != "text/plain":
            raise GraphError(400, "ErrorInvalidRequest",
                             "This sandbox takes MIME drafts only.")
        raw, _ = self.graph.parse_mime(body)
        mid = "AAMk" + uuid.uuid4().hex
        with self.graph._lock:
            self.graph.drafts[mid] = {"mailbox": mailbox, "raw": raw,
                                      "attachments": []}
        self.graph.log("%s -> 201 draft %s (%d octets)" % (who, mid[:12], len(raw)))
        self._send(201, {"id": mid, "isDraft": True},
                   {"request-id": request_id})

    def _draft(self, mailbox, mid):
        with self.graph._lock:
            draft = self.graph.drafts.get(mid)
        if draft is None or draft["mailbox"].lower() != mailbox.lower():
            raise GraphError(404, "ErrorItemNotFound",
                             "The specified object was not found in the store.")
        return draft

    def _create_session(self, mailbox, groups, body, request_id, who):
        draft = self._draft(mailbox, groups[0])
        try:
            item = json.loads(body)["AttachmentItem"]
            size = item["size"]
            if item.get("attachmentType") != "file" or not isinstance(size, int) \
                    or size <= 0 or not item.get("name"):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise GraphError(400, "ErrorInvalidRequest",
                             "AttachmentItem needs attachmentType file, name "
                             "and size.")
        sid = uuid.uuid4().hex
        with self.graph._lock:
            self.graph.sessions[sid] = {"draft": draft, "item": item,
                                        "data": bytearray()}
        url = "%s/upload/%s" % (self.server.url, sid)
        self.graph.log("%s -> 201 upload session for %s (%d octets)" % (
            who, item["name"], size))
        self._send(201, {"uploadUrl": url, "nextExpectedRanges": ["0-"],
                         "expirationDateTime": "2099-01-01T00:00:00Z"},
                   {"request-id": request_id})

    def _send_draft(self, mailbox, groups, body, request_id, who):
        draft = self._draft(mailbox, groups[0])
        raw = with_attachments(draft["raw"], draft["attachments"])
        header = email.parser.BytesHeaderParser(
            policy=email.policy.compat32).parsebytes(raw)
        recipients = self.graph.deliver(mailbox, raw, header, request_id)
        with self.graph._lock:
            self.graph.drafts.pop(groups[0], None)
        self.graph.log("%s -> 202 sent draft %s (%d octets) for %s" % (
            who, groups[0][:12], len(raw), ",".join(recipients)))
        self._send(202, b"", {"request-id": request_id})

    def do_PUT(self):
        path = urllib.parse.urlsplit(self.path).path
        request_id = str(uuid.uuid4())
        who = "PUT upload request-id=%s" % request_id
        m = UPLOAD_RE.fullmatch(path)
        body = self._read_body(MAX_CHUNK)
        try:
            with self.graph._lock:
                self.graph.uploads += 1
                session = self.graph.sessions.get(m.group(1)) if m else None
            if session is None:
                raise GraphError(404, "ErrorItemNotFound",
                                 "The upload session does not exist.")
            if self.headers.get("Authorization"):
                # The uploadUrl is pre-authenticated; Outlook refuses a
                # bearer token on it.
                raise GraphError(401, "InvalidAuthenticationToken",
                                 "Do not send an Authorization header to "
                                 "the uploadUrl.")
            if body is None:
                raise GraphError(413, "ErrorRequestEntityTooLarge",
                                 "A byte range may hold at most 4 MB.")
            r = CONTENT_RANGE_RE.fullmatch(
                self.headers.get("Content-Range", "").strip())
            size = session["item"]["size"]
            data = session["data"]
            if not r:
                raise GraphError(400, "InvalidContentRange",
                                 "Content-Range must be bytes a-b/size.")
            first, last, total = (int(x) for x in r.groups())
            if total != size or first != len(data) or last < first or \
                    last - first + 1 != len(body) or last >= size:
                raise GraphError(416, "InvalidRange",
                                 "Expected the range starting at %d of %d "
                                 "(got %s for %d octets)." % (
                                     len(data), size,
                                     self.headers.get("Content-Range"),
                                     len(body)))
        except GraphError as e:
            self._error(e, request_id, who)
            return
        data.extend(body)
        if len(data) < size:
            self._send(200, {"nextExpectedRanges": ["%d-" % len(data)],
                             "expirationDateTime": "2099-01-01T00:00:00Z"})
            return
        with self.graph._lock:
            self.graph.sessions.pop(m.group(1), None)
            session["draft"]["attachments"].append(
                (session["item"], bytes(data)))
        self.graph.log("%s -> 201 %s complete (%d octets)" % (
            who, session["item"]["name"], size))
        self._send(201, b"", {"Location": "attachment"})

