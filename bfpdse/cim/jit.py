"""The one place that sets numba's options for the package.

``cache=True`` keeps compiled kernels on disk between runs, ``nogil=True`` lets threads of a
process pool run kernels side by side, and ``fastmath=False`` keeps integer and float semantics
strict (the engine is exact, so no reassociation tricks).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba

_OPTIONS: dict[str, Any] = {"cache": True, "nogil": True, "fastmath": False}


def njit(func: Callable | None = None, **options: Any) -> Any:
    """``numba.njit`` with the package options; use as ``@njit`` or ``@njit(boundscheck=...)``."""
    opts = {**_OPTIONS, **options}
    if func is None:
        return numba.njit(**opts)
    return numba.njit(**opts)(func)


def njit_parallel(func: Callable | None = None, **options: Any) -> Any:
    """Like :func:`njit` with ``parallel=True`` (for drivers that use ``numba.prange``)."""
    return njit(func, parallel=True, **options)
