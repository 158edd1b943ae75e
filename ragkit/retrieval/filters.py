"""`Where`: which indexed files a search may draw from, by path glob, file
type and modification date. It is resolved against the manifest to a set
of file paths, which both retrievers (Chroma and BM25) then accept, so the
two sides always filter alike."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath

from ragkit.errors import ConfigError

_RELATIVE = re.compile(r"^(\d+)\s*([hdwmy])$")
_UNIT_DAYS = {"h": 1 / 24, "d": 1, "w": 7, "m": 30, "y": 365}
WHERE_KEYS = ("path", "type", "after", "before")
_WHERE_HINT = "use path=GLOB, type=pdf, after=2024-01-31 or after=30d, before=DATE"


@dataclass(frozen=True)
class Where:
    """Every condition given must hold; within `paths` or `types` any one may match.

    >>> Where(paths=("docs/**/*.md",), types=("md", "pdf"), modified_after=datetime(2024, 1, 1))
    """

    paths: tuple[str, ...] = ()
    """Globs: `*.md` matches by file name, `docs/*.md` any path ending that way,
    `/home/me/notes/**` from the root; `**` spans folders."""
    types: tuple[str, ...] = ()
    """File suffixes (`md`, `.pdf`) or ragkit's format names (`markdown`, `code`, `pptx`)."""
    modified_after: datetime | None = None
    modified_before: datetime | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.paths or self.types or self.modified_after or self.modified_before)

    @classmethod
    def parse(cls, expressions: Iterable[str], now: datetime | None = None) -> Where:
        """From `--where` strings: `path=GLOB`, `type=pdf` (comma-separated for
        several), `after=2024-05-01`, `before=2024-06-01T12:00`, `after=30d`
        (h, d, w, m, y ago)."""
        paths: list[str] = []
        types: list[str] = []
        after: datetime | None = None
        before: datetime | None = None
        for expression in expressions:
            key, sep, value = expression.partition("=")
            key, value = key.strip().lower(), value.strip()
            if not sep or not value or key not in WHERE_KEYS:
                raise ConfigError(f"cannot read --where {expression!r}", _WHERE_HINT)
            if key == "path":
                paths.append(value)
            elif key == "type":
                types.extend(t.strip() for t in value.split(",") if t.strip())
            elif key == "after":
                after = _parse_date(value, now)
            else:
                before = _parse_date(value, now)
        return cls(tuple(paths), tuple(types), after, before)

    def matches(self, path: str, kind: str, mtime_ns: int) -> bool:
        if self.types and not _type_matches(path, kind, self.types):
            return False
        if self.paths and not any(glob_matches(pattern, path) for pattern in self.paths):
            return False
        seconds = mtime_ns / 1e9
        if self.modified_after and seconds < self.modified_after.timestamp():
            return False
        return not (self.modified_before and seconds >= self.modified_before.timestamp())

    def describe(self) -> str:
        parts = [f"path={p}" for p in self.paths]
        if self.types:
            parts.append("type=" + ",".join(self.types))
        if self.modified_after:
            parts.append(f"after={self.modified_after:%Y-%m-%d %H:%M}")
        if self.modified_before:
            parts.append(f"before={self.modified_before:%Y-%m-%d %H:%M}")
        return " ".join(parts)


def _parse_date(value: str, now: datetime | None) -> datetime:
    relative = _RELATIVE.match(value.lower())
    if relative:
        days = int(relative.group(1)) * _UNIT_DAYS[relative.group(2)]
        return (now or datetime.now()) - timedelta(days=days)
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        hint = "use YYYY-MM-DD, YYYY-MM-DDTHH:MM, or 30d / 12h / 2w ago"
        raise ConfigError(f"cannot read the date {value!r}", hint) from None


def _type_matches(path: str, kind: str, types: tuple[str, ...]) -> bool:
    suffix = Path(path).suffix.lower().lstrip(".")
    return any(t.lower().lstrip(".") in (suffix, kind) for t in types)


def glob_matches(pattern: str, path: str) -> bool:
    """gitignore-like: a pattern without a slash matches the file's name or
    a folder's on its path; a relative pattern with one matches the end of
    the path at a folder boundary; an absolute one (or `~/...`) matches
    from the root. A folder matches everything under it."""
    posix = PurePosixPath(Path(path).as_posix())
    if pattern.startswith("~"):
        pattern = str(Path(pattern).expanduser())
    pattern = pattern.replace("\\", "/").rstrip("/")
    if "/" not in pattern:
        regex = _glob_regex(pattern)
        return any(regex.fullmatch(part) for part in posix.parts)
    if not pattern.startswith("/"):
        pattern = "**/" + pattern
    text = str(posix)
    return _glob_regex(pattern).fullmatch(text) is not None or _glob_regex(pattern + "/**").fullmatch(text) is not None


@functools.lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """`**` spans folders (and `**/` may match nothing), `*` and `?` stay in one, `[...]` is a class."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (end := pattern.find("]", i + 1)) > i:
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out))
