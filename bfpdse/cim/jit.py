"""The one place that sets numba's options for the package.

``cache=True`` keeps compiled kernels on disk between runs, ``nogil=True`` lets threads of a
process pool run kernels side by side, and ``fastmath=False`` keeps integer and float semantics
strict (the engine is exact, so no reassociation tricks). ``float_bits`` and ``bits_float``
reinterpret a float32 as its int32 bit pattern and back inside jitted loops (numba has no
scalar bitcast; a round trip through an array and its view costs a store and a load per value
and splits the loop).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
from numba import types
from numba.extending import intrinsic

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


def _bitcast(src: types.Type, dst: types.Type) -> Callable:
    """An intrinsic that reinterprets a ``src`` scalar as a ``dst`` scalar of the same width."""

    def typer(typingctx: Any, x: types.Type) -> Any:
        if x != src:
            return None

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            return builder.bitcast(args[0], context.get_value_type(dst))

        return dst(src), codegen

    typer.__name__ = typer.__qualname__ = f"bitcast_{src}_{dst}"
    return intrinsic(typer)


#: float_bits(x): the int32 bit pattern of a float32 (jitted code only)
float_bits = _bitcast(types.float32, types.int32)
#: bits_float(i): the float32 whose bit pattern is the int32 i (jitted code only)
bits_float = _bitcast(types.int32, types.float32)
