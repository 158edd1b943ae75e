"""Helpers for Lantern's note cache."""

import time

CACHE_TTL_SECONDS = 900  # notes are cached for 15 minutes


class NoteCache:
    """A small in-memory cache of rendered notes, keyed by note id."""

    def __init__(self, ttl: float = CACHE_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._items: dict[str, tuple[float, str]] = {}

    def get(self, note_id: str) -> str | None:
        found = self._items.get(note_id)
        if found is None or time.monotonic() - found[0] > self.ttl:
            return None
        return found[1]

    def put(self, note_id: str, html: str) -> None:
        self._items[note_id] = (time.monotonic(), html)


def purge_cache(cache: NoteCache) -> int:
    """Drop every cached note; returns how many were dropped."""
    count = len(cache._items)
    cache._items.clear()
    return count
