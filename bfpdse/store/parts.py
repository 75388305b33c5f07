"""Atomic files and part records: one JSON file per finished point.

Every file is written to a temporary name in its final folder, flushed, fsynced and renamed into
place with ``os.replace``, so a reader sees the old file or the new one, never half of one, even
after ``kill -9`` or a power cut. Temporary names start with a dot; readers skip them, and skip any
part that does not parse (a torn write from a crashed disk, a stray file).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

PARTS = "parts"


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()

#: a part's outcome: evaluated, raised, or stopped early by a search's pruner (bfpdse search)
STATUSES = ("ok", "failed", "pruned")

#: the keys every part record has
PART_KEYS = ("point_id", "status", "error", "settings", "metrics", "wall_s", "started", "finished")


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary path beside ``path``, fsync it, rename it in place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are for sharing
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _fsync_dir(folder: Path) -> None:
    # makes the rename itself durable; not every platform can open a folder
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def to_json(data: Any) -> str:
    """JSON text of a record; numpy scalars and arrays become plain numbers and lists."""
    return json.dumps(data, default=_plain, allow_nan=True, indent=1)


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalar or array
        return value.tolist()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def write_part(folder: Path, record: dict[str, Any]) -> Path:
    """Store one point's record as parts/<point_id>.json (replacing an earlier failed one)."""
    missing = [k for k in PART_KEYS if k not in record]
    if missing:
        raise ValueError(f"part record lacks {missing}")
    path = folder / PARTS / f"{record['point_id']}.json"
    atomic_write_text(path, to_json(record))
    return path


#: where damaged parts are moved (inside parts/, so --fresh removes them too)
DAMAGED = "damaged"


def iter_parts(folder: Path) -> Iterator[dict[str, Any]]:
    """Every valid part record under ``folder``; temporary and damaged files are skipped."""
    for _, record, problem in scan_parts(folder):
        if problem is None:
            yield record


def scan_parts(folder: Path) -> Iterator[tuple[Path, dict[str, Any] | None, str | None]]:
    """(path, record, problem) of every part file; problem is None for a valid record."""
    parts = folder / PARTS
    if not parts.is_dir():
        return
    for path in sorted(parts.glob("*.json")):
        if path.name.startswith("."):
            continue
        record, problem = _read_part(path)
        yield path, record, problem


def _read_part(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    from bfpdse.store.schema import check_record

    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"it does not parse as JSON ({type(exc).__name__})"
    if not isinstance(record, dict) or any(k not in record for k in PART_KEYS):
        return None, f"it lacks the keys of a part ({', '.join(PART_KEYS)})"
    if record["point_id"] != path.stem or record["status"] not in STATUSES:
        return None, "its point_id or status does not match a part of this folder"
    problem = check_record(record)
    return (None, problem) if problem else (record, None)


def read_parts(folder: Path) -> dict[str, dict[str, Any]]:
    """point_id -> record of every readable part."""
    return {r["point_id"]: r for r in iter_parts(folder)}
