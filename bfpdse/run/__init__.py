"""Running sweeps: resume, local process pool, Dask.

Names are imported on first use: worker processes import ``bfpdse.run.local`` and should not pay
for the store (pandas) or the progress bar.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bfpdse._lazy import lazy_exports

_LAZY = {
    "run_sweep": "bfpdse.run.runner",
    "SweepSummary": "bfpdse.run.runner",
    "load_spec": "bfpdse.spec.load",
}

__all__ = list(_LAZY)

if TYPE_CHECKING:
    from bfpdse.run.runner import SweepSummary, run_sweep  # noqa: F401
    from bfpdse.spec.load import load_spec  # noqa: F401


__getattr__ = lazy_exports(__name__, _LAZY)
