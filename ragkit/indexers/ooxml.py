"""What the OOXML loaders (.docx, .pptx, .xlsx) share: password-protected
files, which Office stores as an OLE container holding an encrypted package,
are named as such; macro-enabled and template variants (.docm, .dotx, .pptm,
.ppsx, ...) are read by relabelling their main part, which python-docx and
python-pptx otherwise refuse for its content type alone."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from ragkit.errors import DocumentError

OLE_HEADER = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MAIN_TYPES = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
}
_VARIANTS = {
    "docx": re.compile(
        rb"application/vnd\.(?:ms-word\.(?:document|template)\.macroEnabled(?:Template)?\.main\+xml"
        rb"|openxmlformats-officedocument\.wordprocessingml\.template\.main\+xml)"
    ),
    "pptx": re.compile(
        rb"application/vnd\.(?:ms-powerpoint\.(?:presentation|slideshow|template)\.macroEnabled\.main\+xml"
        rb"|openxmlformats-officedocument\.presentationml\.(?:slideshow|template)\.main\+xml)"
    ),
    "xlsx": re.compile(
        rb"application/vnd\.(?:ms-excel\.(?:sheet|template)\.macroEnabled\.main\+xml"
        rb"|openxmlformats-officedocument\.spreadsheetml\.template\.main\+xml)"
    ),
}


_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")


def is_encrypted_package(data: bytes) -> bool:
    return data.startswith(OLE_HEADER) and _ENCRYPTED_PACKAGE in data


def check_not_encrypted(path: Path, data: bytes, what: str) -> None:
    if is_encrypted_package(data):
        raise DocumentError(str(path), f"password-protected {what} file: save an unprotected copy to index it")


def as_plain(data: bytes, kind: str) -> bytes:
    """The package with a macro-enabled or template main part relabelled as a plain document's."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            types = package.read("[Content_Types].xml")
            if not _VARIANTS[kind].search(types):
                return data
            members = [(info, package.read(info)) for info in package.infolist()]
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError, NotImplementedError):
        return data  # the loader reports the damage
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        for info, content in members:
            if info.filename == "[Content_Types].xml":
                content = _VARIANTS[kind].sub(_MAIN_TYPES[kind].encode(), content)
            package.writestr(info, content)
    return out.getvalue()
