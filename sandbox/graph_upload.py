"""The large-message half of the Graph look-alike (graph.py): drafts
created from MIME, attachments added to them, and sending or deleting a
draft, as Outlook's API takes them (docs/graph.md, docs/protocol-notes.md):

- `POST .../messages` with base64 MIME creates a draft (201 {"id"});
- `POST .../messages/{id}/attachments` with a fileAttachment
  (`@odata.type` #microsoft.graph.fileAttachment, `name`, `contentBytes`
  in base64; `contentType`, `isInline`, `contentId` optional) adds an
  attachment in one request (201), the way Graph takes those under 3 MB;
  the request size limit (4 MiB, graph.py) is what bounds it;
- `POST .../messages/{id}/attachments/createUploadSession` with
  `{"AttachmentItem": {attachmentType: file, name, size, contentType}}`
  answers an `uploadUrl` on this server, for a size from MIN_SESSION on;
  a smaller one is refused (400
  ErrorAttachmentSizeShouldNotBeLessThanMinimumSize: Graph documents the
  code; the status is ours, Graph's is not documented);
- `PUT uploadUrl` takes the bytes in sequential ranges of at most
  MAX_CHUNK octets with `Content-Range: bytes a-b/size`; the URL is
  pre-authenticated, so a bearer token there is refused (401);
- `POST .../messages/{id}/send` delivers the draft with the attachments
  added as parts of its top-level multipart;
- `DELETE .../messages/{id}` removes a draft (204; 404 ErrorItemNotFound
  for one that is not there).

These need Mail.ReadWrite besides Mail.Send (checked in graph.py). Each
step can be made to fail on demand: a fault with "at" (FAULT_STEPS).
"""

import base64
import binascii
import email.parser
import email.policy
import json
import re
import urllib.parse
import uuid

# Outlook's upload sessions: byte ranges of at most 4 MB each.
MAX_CHUNK = 4 * 1024 * 1024
# Graph documents upload sessions for attachments from 3 MB (to 150 MB);
# smaller ones go in one POST with contentBytes.
MIN_SESSION = 3 * 1000 * 1000
FILE_ATTACHMENT = "#microsoft.graph.fileAttachment"
# Where a queued fault can strike ("at"; graph.py's sendMail by default).
FAULT_STEPS = ("sendMail", "draft", "attachment", "session", "upload",
               "send", "delete")
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
        if size < MIN_SESSION:
            raise GraphError(400,
                             "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
                             "Attachment size must be greater than the "
                             "minimum size: attach a file under 3 MB with a "
                             "POST on the attachments of the message.")
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

    def _add_attachment(self, mailbox, groups, body, request_id, who):
        """A fileAttachment in one request, its bytes in contentBytes."""
        draft = self._draft(mailbox, groups[0])
        try:
            item = json.loads(body)
            if not isinstance(item, dict):
                raise ValueError
        except ValueError:
            raise GraphError(400, "RequestBodyRead",
                             "The request body is not a JSON object.")
        if item.get("@odata.type") != FILE_ATTACHMENT:
            raise GraphError(400, "ErrorInvalidRequest",
                             "This sandbox takes @odata.type %s only."
                             % FILE_ATTACHMENT)
        name, content = item.get("name"), item.get("contentBytes")
        if not isinstance(name, str) or not name or \
                not isinstance(content, str):
            raise GraphError(400, "ErrorInvalidRequest",
                             "A fileAttachment needs name and contentBytes.")
        try:
            data = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise GraphError(400, "ErrorInvalidRequest",
                             "contentBytes is not valid base64.")
        aid = "AAMkAtt" + uuid.uuid4().hex
        kept = {k: item[k] for k in ("name", "contentType", "isInline",
                                     "contentId") if k in item}
        with self.graph._lock:
            draft["attachments"].append((kept, data))
            self.graph.posted += 1
        self.graph.log("%s -> 201 attachment %s (%d octets)" % (
            who, name, len(data)))
        self._send(201, {"@odata.type": FILE_ATTACHMENT, "id": aid,
                         "name": name, "size": len(data),
                         "contentType": item.get("contentType"),
                         "isInline": bool(item.get("isInline"))},
                   {"request-id": request_id})

    def _delete_draft(self, mailbox, groups, _, request_id, who):
        self._draft(mailbox, groups[0])
        with self.graph._lock:
            draft = self.graph.drafts.pop(groups[0], None)
            for sid, session in list(self.graph.sessions.items()):
                if session["draft"] is draft:
                    del self.graph.sessions[sid]
            self.graph.deleted += 1
        self.graph.log("%s -> 204 deleted draft %s" % (who, groups[0][:12]))
        self._send(204, b"", {"request-id": request_id})

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
            self.graph.raise_fault("upload")
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

