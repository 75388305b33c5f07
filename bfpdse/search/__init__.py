"""Design search: optuna over design points, evaluated and stored as sweep points are.

``load_search`` reads a search file, ``run_search`` runs its trials into a results folder
(resumable, shareable by several processes), ``bfpdse.search.report`` reads what it found.
Names are imported on first use (optuna is imported only when a search runs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bfpdse._lazy import lazy_exports

_LAZY = {
    "load_search": "bfpdse.search.spec",
    "SearchSpec": "bfpdse.search.spec",
    "run_search": "bfpdse.search.runner",
    "SearchSummary": "bfpdse.search.runner",
}

__all__ = list(_LAZY)

if TYPE_CHECKING:
    from bfpdse.search.runner import SearchSummary, run_search  # noqa: F401
    from bfpdse.search.spec import SearchSpec, load_search  # noqa: F401

__getattr__ = lazy_exports(__name__, _LAZY)
