"""A search's results folder: a sweep folder (spec copy, parts, table, provenance) plus the study.

```
<out>/<name>/
  spec.yaml, spec.json, provenance.json, parts/, results.parquet, results.csv   as for a sweep
  study/journal.log     the optuna study (JournalStorage); study/owners/: heartbeats of runs
  best.yaml             the best design (or the Pareto front) as a sweep file
  figures/              where bfpdse plot draws by default
```

Unlike a sweep, a search holds the folder's lock only for moments (writing a part, the table,
provenance), so that several processes can run one search; a part is one design point, written
once by whichever trial evaluated it first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bfpdse.search.signals import shielded
from bfpdse.search.study import STUDY_DIR
from bfpdse.store.folder import OURS, SweepFolder
from bfpdse.store.parts import PARTS, STATUSES

BEST = "best.yaml"
#: how long a search waits for another process's moment under the lock (s)
LOCK_WAIT_S = 120.0


class SearchFolder(SweepFolder):
    ours = OURS | {STUDY_DIR, BEST}

    @contextmanager
    def lock(self, wait_s: float = LOCK_WAIT_S) -> Iterator[SearchFolder]:  # type: ignore[override]
        """The folder's lock, waiting up to ``wait_s`` for another process; signals wait too."""
        with shielded(), super().lock(wait_s) as folder:
            yield folder

    def part(self, point_id: str) -> dict[str, Any] | None:
        """The stored record of one point (written by any process), or None."""
        try:
            record = json.loads((self.root / PARTS / f"{point_id}.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None
        ok = isinstance(record, dict) and record.get("status") in STATUSES
        return record if ok and record.get("point_id") == point_id else None

    @property
    def study_dir(self) -> Path:
        return self.root / STUDY_DIR
