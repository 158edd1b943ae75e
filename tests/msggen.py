"""Write Outlook .msg files for tests: a minimal Compound File Binary (OLE2,
version 3) writer and the MAPI property streams Outlook stores a message in
([MS-CFB], [MS-OXMSG]). No library writes .msg files, so the tests make
their own from this spec rather than copying a file someone else wrote."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

_SECTOR = 512
_MINI = 64
_FREE, _END, _FAT_SECTOR = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
_NOSTREAM = 0xFFFFFFFF


@dataclass
class _Entry:
    name: str
    kind: int  # 1 storage, 2 stream, 5 root
    data: bytes = b""
    children: list[_Entry] = field(default_factory=list)
    sid: int = 0
    start: int = _END


def _stream(name: str, data: bytes) -> _Entry:
    return _Entry(name, 2, data)


def _storage(name: str, children: list[_Entry]) -> _Entry:
    return _Entry(name, 1, children=children)


def _sort_key(entry: _Entry) -> tuple[int, str]:
    return (len(entry.name), entry.name.upper())


def _compound_file(children: list[_Entry]) -> bytes:
    root = _Entry("Root Entry", 5, children=children)
    entries: list[_Entry] = []

    def number(entry: _Entry) -> None:
        entry.sid = len(entries)
        entries.append(entry)
        for child in sorted(entry.children, key=_sort_key):
            number(child)

    number(root)
    # Every stream here is under the 4096-byte cutoff: it lives in the mini stream.
    mini = bytearray()
    mini_fat: list[int] = []
    for entry in entries:
        if entry.kind != 2 or not entry.data:
            continue
        entry.start = len(mini) // _MINI
        count = -(-len(entry.data) // _MINI)
        mini_fat += [entry.start + i + 1 for i in range(count - 1)] + [_END]
        mini += entry.data + b"\0" * (count * _MINI - len(entry.data))
        assert len(entry.data) < 4096
    dir_sectors = -(-len(entries) * 128 // _SECTOR)
    minifat_sectors = -(-len(mini_fat) * 4 // _SECTOR)
    mini_sectors = -(-len(mini) // _SECTOR)
    fat_sectors = 1
    while fat_sectors * 128 < fat_sectors + dir_sectors + minifat_sectors + mini_sectors:
        fat_sectors += 1
    first_dir = fat_sectors
    first_minifat = first_dir + dir_sectors
    first_mini = first_minifat + minifat_sectors
    fat = [_FAT_SECTOR] * fat_sectors

    def chain(first: int, count: int) -> None:
        fat.extend([first + i + 1 for i in range(count - 1)] + [_END] if count else [])

    chain(first_dir, dir_sectors)
    chain(first_minifat, minifat_sectors)
    chain(first_mini, mini_sectors)
    fat += [_FREE] * (fat_sectors * 128 - len(fat))
    root.start, root.data = (first_mini if mini else _END), bytes(mini)

    def siblings(items: list[_Entry]) -> int:
        """Children as a chain of right siblings in CFB order (valid, if not balanced)."""
        ordered = sorted(items, key=_sort_key)
        for left, right in zip(ordered, ordered[1:]):
            left_right[left.sid] = right.sid
        return ordered[0].sid if ordered else _NOSTREAM

    left_right: dict[int, int] = {}
    child_of = {entry.sid: siblings(entry.children) for entry in entries}
    directory = bytearray()
    for entry in entries:
        name = entry.name.encode("utf-16-le")
        size = len(entry.data)
        directory += struct.pack(
            "<64sHBBIII16sIQQIII", name.ljust(64, b"\0"), len(name) + 2, entry.kind, 1, _NOSTREAM,
            left_right.get(entry.sid, _NOSTREAM), child_of[entry.sid], b"\0" * 16, 0, 0, 0,
            entry.start if (size or entry.kind == 5) else _END, size, 0,
        )  # fmt: skip
    directory += (b"\0" * 64 + struct.pack("<HBBIII", 0, 0, 0, _NOSTREAM, _NOSTREAM, _NOSTREAM)).ljust(128, b"\0") * (
        dir_sectors * 4 - len(entries)
    )
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\0" * 16, 0x3E, 3, 0xFFFE, 9, 6,
        b"\0" * 6, 0, fat_sectors, first_dir, 0, 4096, first_minifat if mini_fat else _END, minifat_sectors, _END, 0,
    )  # fmt: skip
    difat = list(range(fat_sectors)) + [_FREE] * (109 - fat_sectors)
    header += struct.pack("<109I", *difat)
    body = struct.pack(f"<{len(fat)}I", *fat) + bytes(directory)
    minifat = struct.pack(f"<{len(mini_fat)}I", *mini_fat)
    body += minifat + b"\xff" * (minifat_sectors * _SECTOR - len(minifat))
    body += bytes(mini) + b"\0" * (mini_sectors * _SECTOR - len(mini))
    return header + body


def _text(prop_id: int, value: str) -> _Entry:
    return _stream(f"__substg1.0_{prop_id:04X}001F", value.encode("utf-16-le"))


def _properties(header: bytes, longs: dict[int, int]) -> _Entry:
    entries = b"".join(struct.pack("<IIQ", (pid << 16) | 0x0003, 6, value) for pid, value in longs.items())
    return _stream("__properties_version1.0", header + entries)


def msg(path: Path, *, subject: str, body: str, sender: str, to: str, date: str, attachments: dict[str, bytes]) -> Path:
    headers = f"From: {sender}\r\nTo: {to}\r\nDate: {date}\r\nSubject: {subject}\r\n\r\n"
    streams = [
        _text(0x001A, "IPM.Note"), _text(0x0037, subject), _text(0x1000, body), _text(0x0C1A, sender),
        _text(0x0E04, to), _text(0x007D, headers),
        _properties(struct.pack("<8sIIII8s", b"", 0, len(attachments), 0, len(attachments), b""), {}),
        _storage("__nameid_version1.0", [_stream(f"__substg1.0_{n:04X}0102", b"") for n in (2, 3, 4)]),
    ]  # fmt: skip
    for index, (name, data) in enumerate(attachments.items()):
        streams.append(_storage(f"__attach_version1.0_#{index:08X}", [
            _text(0x3707, name), _text(0x3704, name[:8]), _stream("__substg1.0_37010102", data),
            _properties(b"\0" * 8, {0x3705: 1}),
        ]))  # fmt: skip
    path.write_bytes(_compound_file(streams))
    return path
