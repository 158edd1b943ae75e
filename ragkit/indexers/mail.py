"""E-mail: single messages (.eml) and mailboxes (.mbox) with the standard
library's email parser. Each message becomes a section headed by its
subject with From, To and Date lines, then the plain-text body (or the HTML
body's text); attachments are skipped and only their names listed."""

from __future__ import annotations

import contextlib
import email
import email.policy
import mailbox
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from ragkit.errors import DocumentError
from ragkit.indexers.base import BlockWriter, Document, LoadContext, decode_text


def _add_message(writer: BlockWriter, message: EmailMessage) -> None:
    subject = " ".join(str(message.get("subject", "") or "").split()) or "(no subject)"
    writer.reset_headings()
    writer.heading(1, subject)
    header = [f"{name}: {message[name]}" for name in ("From", "To", "Date") if message.get(name)]
    writer.text("\n".join(header))
    body = message.get_body(preferencelist=("plain", "html"))
    if body is not None:
        try:
            content = body.get_content()
        except (LookupError, ValueError, UnicodeError):  # unknown charset, broken encoding
            content = ""
        if not content or not body.get_param("charset") or "\ufffd" in str(content):
            # No declared charset, or a wrong one: detect it from the bytes.
            payload = body.get_payload(decode=True)
            if isinstance(payload, bytes) and payload.strip():
                with contextlib.suppress(DocumentError):
                    content = decode_text(Path("body"), payload)
        if body.get_content_subtype() == "html":
            from ragkit.indexers.html import add_html

            add_html(writer, content, title_heading=False)
        else:
            for paragraph in str(content).replace("\r\n", "\n").split("\n\n"):
                writer.text(paragraph)
    attachments = [part.get_filename() or "unnamed" for part in message.iter_attachments()]
    if attachments:
        writer.text("Attachments (not indexed): " + ", ".join(attachments))


class EmlLoader:
    kind = "email"
    suffixes = frozenset({".eml"})
    version = 1

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        if not data.strip():
            raise DocumentError(str(path), "empty file")
        if b"\x00" in data[:4096] or data.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
            # Saved as UTF-16 (some Windows mail tools), with or without a byte-order mark.
            data = decode_text(path, data).encode("utf-8")
        message = email.message_from_bytes(data, policy=email.policy.default)
        if not message.keys():
            raise DocumentError(str(path), "not an e-mail message (no headers)")
        writer = BlockWriter(path, self.kind)
        _add_message(writer, message)  # type: ignore[arg-type]
        return writer.doc


def _parse_binary(fh: Any) -> Any:
    return email.message_from_binary_file(fh, policy=email.policy.default)


class MboxLoader:
    kind = "mbox"
    suffixes = frozenset({".mbox"})
    version = 1

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        if not data.strip():
            raise DocumentError(str(path), "empty file")
        if not data.startswith(b"From "):
            raise DocumentError(str(path), "not an mbox mailbox (it must start with a 'From ' line)")
        writer = BlockWriter(path, self.kind)
        box: Any = mailbox.mbox(path, factory=_parse_binary)
        try:
            for message in box:
                _add_message(writer, message)
        finally:
            box.close()
        return writer.doc
