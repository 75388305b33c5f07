"""A sweep's results folder: <out>/<name>/ with its lock, spec copy, parts, table and provenance.

```
<out>/<name>/
  spec.yaml          the sweep file as given (--set items in a header comment)
  spec.json          the canonical spec and its hash: the folder holds the points of this spec
  provenance.json    bfpdse version, git commit, packages, host; one entry per run (start, end)
  parts/<id>.json    one record per finished point (ok or failed), written atomically
  parts/damaged/     parts that failed to parse or validate, set aside (their points rerun)
  results.parquet    the consolidated table (results.csv: the same rows)
  figures/           bfpdse plot's default output (not written by the sweep; --fresh deletes it)
  .lock              held while a sweep writes here (a second sweep gets a StoreError)
```
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout

from bfpdse.errors import StoreError
from bfpdse.store.parts import (
    DAMAGED,
    PARTS,
    atomic_write_text,
    read_parts,
    scan_parts,
    to_json,
    write_part,
)
from bfpdse.store.provenance import environment, now

if TYPE_CHECKING:
    import pandas as pd

    from bfpdse.spec.schema import Spec

SPEC_YAML = "spec.yaml"
SPEC_JSON = "spec.json"
PROVENANCE = "provenance.json"
LOCK = ".lock"
LOCK_OWNER = ".lock.owner"
#: where ``bfpdse plot FOLDER`` writes its figures by default: derived from the table, so a
#: sweep resumes beside it and --fresh deletes it with the results
FIGURES = "figures"
#: what a sweep folder may hold; --fresh removes these and nothing else
OURS = frozenset(
    {SPEC_YAML, SPEC_JSON, PROVENANCE, PARTS, "results.parquet", "results.csv", FIGURES}
)


class SweepFolder:
    """The results folder of one sweep. Writing methods need ``lock()`` held."""

    #: the names this kind of folder writes (a subclass adds its own); --fresh removes these
    ours: frozenset[str] = OURS

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._locked = False

    # -- lock ---------------------------------------------------------------------------------

    @contextmanager
    def lock(self, wait_s: float = 0.0) -> Iterator[SweepFolder]:
        """Hold the folder's lock; if another process holds it for more than ``wait_s`` seconds
        (0: at once), raise StoreError."""
        with _io(self.root):
            self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.root / LOCK, timeout=wait_s, blocking=wait_s > 0)
        try:
            with _io(self.root / LOCK):
                lock.acquire()
        except Timeout:
            raise StoreError(
                f"{self.root} is in use by another sweep ({self._owner()}); wait for it to "
                "finish, or write elsewhere with --out"
            ) from None
        try:
            owner = {"pid": os.getpid(), "host": socket.gethostname(), "since": now()}
            atomic_write_text(self.root / LOCK_OWNER, json.dumps(owner))
            self._locked = True
            yield self
        finally:
            self._locked = False
            (self.root / LOCK_OWNER).unlink(missing_ok=True)
            lock.release()

    def _owner(self) -> str:
        try:
            owner = json.loads((self.root / LOCK_OWNER).read_text())
            return f"pid {owner['pid']} on {owner['host']}, since {owner['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "another process"

    def _need_lock(self) -> None:
        if not self._locked:
            raise RuntimeError("SweepFolder: hold lock() before writing")

    # -- spec ---------------------------------------------------------------------------------

    def stored_hash(self) -> str | None:
        """The spec hash this folder holds results of, or None if it holds none."""
        try:
            return json.loads((self.root / SPEC_JSON).read_text())["hash"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def prepare(self, spec: Spec, fresh: bool = False) -> None:
        """Make the folder hold ``spec``: refuse a different spec unless ``fresh`` (then clear)."""
        self._need_lock()
        foreign = sorted(p.name for p in self.root.iterdir() if _foreign(p.name, self.ours))
        if foreign:
            raise StoreError(
                f"{self.root} holds files that are not bfpdse results ({', '.join(foreign[:3])});"
                " choose another --out or sweep name"
            )
        stored = self.stored_hash()
        has_results = any((self.root / n).exists() for n in self.ours if n != FIGURES)
        if fresh:
            self.clear()
        elif stored is not None and stored != spec.spec_hash:
            raise StoreError(
                f"{self.root} holds results of a different spec (see {self.root / SPEC_YAML}); "
                "rerun with --fresh to delete them, or give the sweep another name or --out"
            )
        elif stored is None and has_results:
            raise StoreError(
                f"{self.root} holds results without a {SPEC_JSON}; rerun with --fresh to "
                "delete them, or choose another --out"
            )
        if self.stored_hash() is None:
            self._write_spec(spec)
        self._check_spec_copy()

    def _check_spec_copy(self) -> None:
        """The folder's spec.yaml is the file its results were computed from (if recorded)."""
        try:
            recorded = json.loads((self.root / SPEC_JSON).read_text()).get("yaml_sha256")
            text = (self.root / SPEC_YAML).read_text(encoding="utf-8")
        except (OSError, ValueError, AttributeError):
            return
        if recorded and _sha256(text) != recorded:
            raise StoreError(
                f"{self.root / SPEC_YAML} was edited after the sweep wrote it, so it no longer "
                f"describes these results (they follow {self.root / SPEC_JSON}); restore it, or "
                "run the edited file as a sweep of its own (another name or --out)"
            )

    def clear(self) -> None:
        """Delete everything a sweep wrote here (not the lock)."""
        self._need_lock()
        for name in self.ours:
            path = self.root / name
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)

    def _write_spec(self, spec: Spec) -> None:
        header = ""
        if spec.overrides:
            header = "".join(f"# --set {item}\n" for item in spec.overrides)
            header = f"# bfpdse sweep was given:\n{header}"
        atomic_write_text(self.root / SPEC_YAML, header + spec.text)
        data = {"hash": spec.spec_hash, "overrides": list(spec.overrides), **spec.canonical()}
        data["yaml_sha256"] = _sha256(header + spec.text)
        data["points"] = len(spec.points)
        atomic_write_text(self.root / SPEC_JSON, to_json(data))

    # -- parts --------------------------------------------------------------------------------

    def write_part(self, record: dict[str, Any]) -> Path:
        self._need_lock()
        with _io(self.root / PARTS):
            return write_part(self.root, record)

    def parts(self) -> dict[str, dict[str, Any]]:
        """point_id -> record of every readable part (no lock needed)."""
        return read_parts(self.root)

    def set_aside_damaged(self) -> list[str]:
        """Move every part that fails to parse or validate to parts/damaged/; their names.

        Their points then count as not done and run again; nothing else reads them.
        """
        self._need_lock()
        moved = []
        for path, _, problem in scan_parts(self.root):
            if problem is None:
                continue
            target = self.root / PARTS / DAMAGED / path.name
            target.parent.mkdir(exist_ok=True)
            os.replace(path, target)
            moved.append(f"{path.name} ({problem})")
        return moved

    def finished_ids(self) -> set[str]:
        """Ids of the points that finished ok; resume runs every other point of the spec."""
        return {pid for pid, r in self.parts().items() if r["status"] == "ok"}

    # -- table --------------------------------------------------------------------------------

    def consolidate(self, spec: Spec) -> pd.DataFrame:
        """Merge the spec's parts into results.parquet and results.csv (spec order)."""
        from bfpdse.spec.point import known_keys
        from bfpdse.store.table import build_table, write_table

        self._need_lock()
        wanted = spec.point_ids
        parts = self.parts()
        records = [parts[pid] for pid in wanted if pid in parts]
        settings = list(spec.points[0].settings()) if spec.points else known_keys()
        df = build_table(records, settings, wanted)
        with _io(self.root):
            write_table(self.root, df)
        return df

    # -- provenance ---------------------------------------------------------------------------

    def start_run(self, info: dict[str, Any]) -> dict[str, Any]:
        """Add a run entry to provenance.json (kept across resumes); returns the entry.

        The top level describes the environment of the latest run; each run entry keeps its own
        start and end time, host, pid, bfpdse version and git commit.
        """
        self._need_lock()
        env = environment()
        prov = {**self._provenance(), **env}
        run = {
            "started": now(),
            "finished": None,
            "host": env["host"],
            "pid": os.getpid(),
            "bfpdse_version": env["bfpdse_version"],
            "git": env["git"],
            **info,
        }
        prov.setdefault("runs", []).append(run)
        self._write_provenance(prov)
        return run

    def finish_run(self, run: dict[str, Any], **info: Any) -> None:
        """Record the end of ``run`` (its finish time and counts) in provenance.json."""
        self._need_lock()
        prov = self._provenance()
        runs = prov.setdefault("runs", [])
        run.update(finished=now(), **info)
        for i, entry in enumerate(runs):
            if entry.get("started") == run["started"] and entry.get("pid") == run["pid"]:
                runs[i] = run
                break
        else:
            runs.append(run)
        self._write_provenance(prov)

    def _provenance(self) -> dict[str, Any]:
        try:
            prov = json.loads((self.root / PROVENANCE).read_text())
        except (OSError, ValueError):
            return {}
        return prov if isinstance(prov, dict) else {}

    def _write_provenance(self, prov: dict[str, Any]) -> None:
        with _io(self.root / PROVENANCE):
            atomic_write_text(self.root / PROVENANCE, to_json(prov))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@contextmanager
def _io(path: Path) -> Iterator[None]:
    """An OS error writing results (not a folder, read-only, disk full) as one StoreError line."""
    try:
        yield
    except Timeout:  # the lock is held: lock() says by whom
        raise
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise StoreError(
            f"{path}: cannot write results there ({reason}); free space, fix the permissions "
            "or choose another --out"
        ) from None


def _foreign(name: str, ours: frozenset[str] = OURS) -> bool:
    return name not in ours and not name.startswith(".")
