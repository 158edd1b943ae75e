"""Mutants of valid documents for ingest fuzzing: truncated, bit-flipped,
spliced, and zip containers with members shuffled, dropped or cut. Shared by
the test suite (a few hundred) and bench/fuzz_ingest.py (thousands)."""

from __future__ import annotations

import io
import random
import zipfile
from collections.abc import Callable
from pathlib import Path

from tests import docgen, msggen

FACT = docgen.FACT


def seed_documents(folder: Path, *, legacy: bool = False, ocr: bool = True) -> dict[str, Path]:
    """One valid file of every supported format, by format name. `legacy` adds .doc/.ppt/.xls
    (LibreOffice writes them); `ocr` adds an image and a scanned PDF."""
    folder.mkdir(parents=True, exist_ok=True)
    text = f"# Backups\n\n{FACT}\n\n## Keys\n\nKeys are rotated every 45 days.\n"
    simple = {
        "md": ("notes.md", text), "txt": ("notes.txt", text), "rst": ("notes.rst", "Backups\n=======\n\n" + FACT),
        "org": ("notes.org", f"* Backups\n{FACT}\n"), "adoc": ("notes.adoc", f"= Backups\n\n{FACT}\n"),
        "py": ("vault.py", f'def unlock():\n    """{FACT}"""\n    return 42\n'),
        "json": ("config.json", '{"vault": {"passphrase": "orange-falcon-42", "ports": [1, 2]}}'),
        "jsonl": ("events.jsonl", '{"a": 1}\n{"b": "orange-falcon-42"}\n'),
        "csv": ("hosts.csv", "host,role\nalpha,database\nbeta,backup vault\n"),
    }  # fmt: skip
    seeds: dict[str, Path] = {}
    for kind, (name, content) in simple.items():
        seeds[kind] = folder / name
        seeds[kind].write_text(content)
    makers: dict[str, Callable[[Path], Path]] = {
        "html": lambda p: docgen.html(p / "wiki.html"),
        "pdf": lambda p: docgen.pdf(p / "manual.pdf", ["Introduction.", FACT]),
        "docx": lambda p: docgen.docx(p / "handbook.docx"),
        "pptx": lambda p: docgen.pptx(p / "review.pptx"),
        "xlsx": lambda p: docgen.xlsx(p / "inventory.xlsx"),
        "epub": lambda p: docgen.epub(p / "book.epub"),
        "ipynb": lambda p: docgen.notebook(p / "analysis.ipynb"),
        "eml": lambda p: docgen.eml(p / "vault.eml"),
        "mbox": lambda p: docgen.mbox(p / "inbox.mbox"),
        "xml": lambda p: docgen.xml(p / "config.xml"),
        "rtf": lambda p: docgen.rtf(p / "memo.rtf"),
        "odt": lambda p: docgen.odt(p / "handbook.odt"),
        "ods": lambda p: docgen.ods(p / "inventory.ods"),
        "odp": lambda p: docgen.odp(p / "review.odp"),
        "msg": lambda p: msggen.msg(p / "vault.msg", subject="Vault", body=FACT, sender="Grace <g@example.com>",
                                    to="ops@example.com", date="Tue, 03 Nov 2026 10:00:00 +0000",
                                    attachments={"a.png": b"\x89PNG"}),
    }  # fmt: skip
    if ocr:
        makers["png"] = lambda p: docgen.text_image(p / "whiteboard.png", [FACT], dpi=100, size=(7, 1))
        makers["scan"] = lambda p: docgen.scanned_pdf(p / "scan.pdf", [[FACT]], dpi=100)
    if legacy:
        makers["xls"] = lambda p: docgen.libreoffice(docgen.xlsx(p / "legacy.xlsx"), "xls")
        makers["doc"] = lambda p: docgen.libreoffice(docgen.docx(p / "legacy.docx"), "doc")
        makers["ppt"] = lambda p: docgen.libreoffice(docgen.pptx(p / "legacy.pptx"), "ppt")
    for kind, make in makers.items():
        seeds[kind] = make(folder)
    return seeds


def _truncate(data: bytes, rng: random.Random, _other: bytes) -> bytes:
    return data[: rng.randrange(0, max(1, len(data)))]


def _flip(data: bytes, rng: random.Random, _other: bytes) -> bytes:
    mutated = bytearray(data)
    for _ in range(rng.choice((1, 4, 32))):
        if mutated:
            mutated[rng.randrange(len(mutated))] ^= 1 << rng.randrange(8)
    return bytes(mutated)


def _splice(data: bytes, rng: random.Random, other: bytes) -> bytes:
    if not data or not other:
        return data + other
    at, length = rng.randrange(len(data)), rng.randrange(1, 512)
    start = rng.randrange(len(other))
    return data[:at] + other[start : start + length] + data[at + length :]


def _rezip(data: bytes, rng: random.Random, _other: bytes) -> bytes:
    """Shuffle a zip's members, then drop one or cut one short."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as source:
            members = [(info.filename, source.read(info)) for info in source.infolist()]
    except (zipfile.BadZipFile, OSError, KeyError, ValueError):
        return _flip(data, rng, b"")
    rng.shuffle(members)
    action = rng.choice(("shuffle", "drop", "cut"))
    if action == "drop" and members:
        members.pop(rng.randrange(len(members)))
    elif action == "cut" and members:
        i = rng.randrange(len(members))
        name, content = members[i]
        members[i] = (name, content[: rng.randrange(0, max(1, len(content)))])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name, content in members:
            target.writestr(name, content)
    return out.getvalue()


MUTATORS = {"truncate": _truncate, "flip": _flip, "splice": _splice, "rezip": _rezip}


def mutants(seeds: dict[str, Path], folder: Path, per_format: int, seed: int = 11) -> dict[Path, str]:
    """`per_format` mutants of each seed written to `folder`; returns path -> format."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    datas = {kind: path.read_bytes() for kind, path in seeds.items()}
    kinds = sorted(datas)
    written: dict[Path, str] = {}
    for kind in kinds:
        data = datas[kind]
        is_zip = data.startswith(b"PK\x03\x04")
        for n in range(per_format):
            names = list(MUTATORS) if is_zip else [m for m in MUTATORS if m != "rezip"]
            name = names[n % len(names)]
            other = datas[rng.choice(kinds)]
            mutated = MUTATORS[name](data, rng, other)
            path = folder / f"{kind}-{n:04d}-{name}{seeds[kind].suffix}"
            path.write_bytes(mutated)
            written[path] = kind
    return written
