"""Legacy binary Office files (.doc, .ppt) have no well-kept pure-Python
parser, so they are converted to their OOXML successors by LibreOffice in
headless mode, when it is installed, and read by the .docx/.pptx loaders."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from ragkit.errors import DocumentError

SOFFICE_NAMES = ("soffice", "libreoffice")
INSTALL_HINT = "install LibreOffice (Debian/Ubuntu: apt install libreoffice-writer-nogui libreoffice-impress-nogui)"
# A conversion longer than this is stopped; the parser's own time limit is the backstop.
CONVERT_SECONDS = 90.0


def find_soffice() -> str | None:
    for name in SOFFICE_NAMES:
        found = shutil.which(name)
        if found:
            return found
    for candidate in ("/usr/lib/libreoffice/program/soffice", "/Applications/LibreOffice.app/Contents/MacOS/soffice"):
        if os.path.exists(candidate):
            return candidate
    return None


class OfficeConverter:
    """Converts with a private LibreOffice profile (a user's open LibreOffice
    is not disturbed, and conversions in other parser processes do not share
    a profile lock), in its own process group so a stuck conversion is
    stopped whole."""

    def __init__(self, soffice: str | None = None) -> None:
        self.soffice = soffice or find_soffice()
        self._profile = Path(tempfile.mkdtemp(prefix="ragkit-lo-profile-"))

    def convert(self, path: Path, data: bytes, target: str, what: str) -> bytes:
        """`data` (a file named like `path`) converted to the `target` suffix ("docx", "pptx")."""
        if self.soffice is None:
            raise DocumentError(str(path), f"{what} files need LibreOffice to be read: {INSTALL_HINT}")
        with tempfile.TemporaryDirectory(prefix="ragkit-convert-") as work:
            source = Path(work) / f"in{path.suffix.lower()}"
            source.write_bytes(data)
            out_dir = Path(work) / "out"
            command = [
                self.soffice, f"-env:UserInstallation={self._profile.as_uri()}", "--headless", "--norestore",
                "--nolockcheck", "--convert-to", target, "--outdir", str(out_dir), str(source),
            ]  # fmt: skip
            process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, cwd=work
            )
            try:
                _, stderr = process.communicate(timeout=CONVERT_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise DocumentError(
                    str(path), f"LibreOffice took longer than {CONVERT_SECONDS:.0f} s to convert it"
                ) from None
            converted = out_dir / f"in.{target}"
            if process.returncode != 0 or not converted.is_file():
                lines = stderr.decode(errors="replace").splitlines()
                detail = " ".join(" ".join(line for line in lines if "javaldx" not in line).split())[:160]
                raise DocumentError(
                    str(path),
                    f"LibreOffice could not convert this {what} file (corrupt?){': ' + detail if detail else ''}",
                )
            return converted.read_bytes()

    def close(self) -> None:
        shutil.rmtree(self._profile, ignore_errors=True)
