"""Outlook messages (.msg) with extract-msg: subject, from, to, date and the
body (plain text, else the HTML body's text); attachments are named, not read."""

from __future__ import annotations

import functools
import operator
from pathlib import Path
from typing import Any

from ragkit.errors import DocumentError
from ragkit.indexers.base import BlockWriter, Document, LoadContext
from ragkit.indexers.optional import require


def _attachment_name(attachment: Any) -> str:
    for name in ("longFilename", "shortFilename", "displayName", "name"):
        value = getattr(attachment, name, None)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return "unnamed"


class MsgLoader:
    kind = "msg"
    suffixes = frozenset({".msg"})
    version = 1

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        require("extract_msg", "Outlook (.msg)", "outlook")
        import extract_msg

        if not data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
            raise DocumentError(str(path), "not an Outlook .msg file (no OLE header): re-save it from Outlook")
        tolerant = functools.reduce(operator.or_, extract_msg.enums.ErrorBehavior)  # read what can be read
        try:
            message: Any = extract_msg.openMsg(data, delayAttachments=True, errorBehavior=tolerant)
        except Exception as exc:  # olefile and extract-msg raise many kinds for damaged files
            raise DocumentError(str(path), f"corrupt or not an Outlook message ({exc.__class__.__name__})") from None
        try:
            writer = BlockWriter(path, self.kind)
            subject = " ".join(str(getattr(message, "subject", "") or "").split()) or "(no subject)"
            writer.heading(1, subject)
            header = []
            headers = getattr(message, "header", None) or {}
            for label, attr in (("From", "sender"), ("To", "to"), ("Cc", "cc"), ("Date", "date")):
                # The MAPI property, else the transport header (a message that was never sent has neither).
                value = getattr(message, attr, None) or headers.get(label)
                if value:
                    header.append(f"{label}: {value}")
            writer.text("\n".join(header))
            body = getattr(message, "body", None)
            if isinstance(body, bytes):
                body = body.decode("utf-8", errors="replace")
            if body and str(body).strip():
                for paragraph in str(body).replace("\r\n", "\n").split("\n\n"):
                    writer.text(paragraph)
            else:
                html = getattr(message, "htmlBody", None)
                if html:
                    from ragkit.indexers.html import add_html

                    add_html(writer, html, title_heading=False)
            attachments = [_attachment_name(a) for a in getattr(message, "attachments", []) or []]
            if attachments:
                writer.text("Attachments (not indexed): " + ", ".join(attachments))
        finally:
            close = getattr(message, "close", None)
            if close is not None:
                close()
        return writer.doc
