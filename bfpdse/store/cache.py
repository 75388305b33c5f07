"""A content-addressed cache of work that many design points share, in a folder on disk.

```
<cache>/<kind>/<id>.json   one entry: its kind, its key, its value and a sha256 of the three
<cache>/<kind>/<id>.lock   held while one process computes the entry (others wait, then read)
```

An entry's ``id`` is the first 16 hex digits of the sha256 of its key (canonical JSON): the key
lists everything the value depends on, so equal keys mean equal values, whichever sweep, process
or machine computed them. Entries are written atomically (temporary file, fsync, rename). An entry
is trusted only if it parses, its checksum matches, its stored key equals the key asked for and
the caller's ``decode`` accepts it; anything else is damaged: it is recomputed and replaced, never
used. The cache only saves time: when its folder cannot be written, values are computed and used
all the same (with one warning).

Deleting the folder (or any entry) is always safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock

from bfpdse.store.parts import atomic_write_text

#: version of the entry file layout (a new layout makes old entries unreadable: recomputed)
FORMAT = 1


def canonical(data: Any) -> str:
    """Canonical JSON text: sorted keys, no spaces; floats as Python writes them (exact)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=True, default=str)


def entry_id(key: Any) -> str:
    """The id of the entry for ``key``: 16 hex digits of the sha256 of its canonical JSON."""
    return hashlib.sha256(canonical(key).encode()).hexdigest()[:16]


def _checksum(kind: str, key: Any, value: Any) -> str:
    return hashlib.sha256(canonical([FORMAT, kind, key, value]).encode()).hexdigest()


class Damaged(ValueError):
    """An entry that cannot be trusted (the message says why)."""


class Cache:
    """The cache in folder ``root`` (created on the first write)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._warned = False

    def path(self, kind: str, id_: str) -> Path:
        return self.root / kind / f"{id_}.json"

    def read(self, kind: str, key: Any) -> Any:
        """The stored value of ``key``; None if there is none; Damaged if it is not trustworthy."""
        path = self.path(kind, entry_id(key))
        try:
            text = path.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise Damaged(f"cannot read it ({exc.strerror or exc})") from None
        try:
            entry = json.loads(text)
        except ValueError as exc:
            raise Damaged(f"not JSON ({exc})") from None
        if not isinstance(entry, dict) or entry.get("format") != FORMAT:
            raise Damaged("not an entry of this cache format")
        if entry.get("kind") != kind or "value" not in entry:
            raise Damaged("not an entry of this kind")
        if canonical(entry.get("key")) != canonical(json.loads(canonical(key))):
            raise Damaged("its key differs from the one asked for")
        if entry.get("sha256") != _checksum(kind, entry["key"], entry["value"]):
            raise Damaged("its checksum does not match its contents")
        return entry["value"]

    def write(self, kind: str, key: Any, value: Any) -> None:
        """Store ``value`` under ``key`` atomically (a folder that cannot be written: a warning)."""
        stored_key = json.loads(canonical(key))
        value = json.loads(canonical(value))
        entry = {
            "format": FORMAT,
            "kind": kind,
            "key": stored_key,
            "value": value,
            "sha256": _checksum(kind, stored_key, value),
        }
        try:
            atomic_write_text(self.path(kind, entry_id(key)), canonical(entry))
        except OSError as exc:
            self._warn(f"cannot write to the cache {self.root} ({exc.strerror or exc})")

    def get_or_compute[T](
        self,
        kind: str,
        key: Any,
        compute: Callable[[], T],
        encode: Callable[[T], Any],
        decode: Callable[[Any], T],
    ) -> tuple[str, T, bool]:
        """(id, value, reused): the stored value of ``key`` or, if none is trusted, a new one.

        While one process computes an entry, the others asking for it wait on its lock file and
        then read it, instead of computing it again. ``decode`` turns stored JSON into the value
        and raises (ValueError, KeyError, TypeError) if it does not fit; ``encode`` the inverse.
        """
        id_ = entry_id(key)
        found = self._lookup(kind, key, decode)
        if found is not None:
            return id_, found, True
        with self._lock(kind, id_):
            found = self._lookup(kind, key, decode)
            if found is not None:
                return id_, found, True
            value = compute()
            self.write(kind, key, encode(value))
        return id_, value, False

    def _lookup[T](self, kind: str, key: Any, decode: Callable[[Any], T]) -> T | None:
        try:
            stored = self.read(kind, key)
            return None if stored is None else decode(stored)
        except (Damaged, ValueError, KeyError, TypeError, AttributeError) as exc:
            path = self.path(kind, entry_id(key))
            warnings.warn(
                f"cache entry {path} is damaged ({exc}); computing it again", stacklevel=3
            )
            return None

    def _lock(self, kind: str, id_: str) -> Any:
        folder = self.root / kind
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not os.access(folder, os.W_OK):
                raise PermissionError(13, "not writable")
        except OSError as exc:
            self._warn(f"cannot write to the cache {self.root} ({exc.strerror or exc})")
            return _NoLock()
        return FileLock(folder / f"{id_}.lock")

    def _warn(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(f"{message}; computing without it", stacklevel=4)


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
