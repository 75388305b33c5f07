"""ADC schemes: an explicit registry from name to scheme (docs/spec.md, "ADC schemes").

Every scheme picks a window k and outputs q = code * 2^k. The registry holds, per name, the id
that the numba kernels switch on, whether the scheme needs a calibrated window, and a small numpy
reference of its arithmetic on one row of partial sums (used by ``quantize`` and by tests; the
kernels in ``kernels.py`` give the same numbers bit for bit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# Kernel ids (plain ints: numba kernels take arrays and scalars only).
IDEAL, LINEAR, CALIBRATED, RAR, BFP = 0, 1, 2, 3, 4

#: quantize(p, b, full_bits, block, nearest, window) -> (q, k), p >= 0 int64, k per value
Quantizer = Callable[[np.ndarray, int, int, int, bool, int], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class ADCScheme:
    """One registered ADC scheme."""

    name: str
    kind: int  # the id the kernels switch on
    needs_window: bool  # True if crossbar_mvm needs window= (from calibrate_window)
    reference: Quantizer  # numpy reference on one row of non-negative partial sums
    doc: str


ADC_SCHEMES: dict[str, ADCScheme] = {}


def register(name: str, kind: int, *, needs_window: bool = False) -> Callable:
    """Decorator: add a numpy reference quantizer to the registry under ``name``."""

    def deco(func: Quantizer) -> Quantizer:
        if name in ADC_SCHEMES:
            raise ValueError(f"ADC scheme {name!r} is registered twice")
        ADC_SCHEMES[name] = ADCScheme(name, kind, needs_window, func, (func.__doc__ or "").strip())
        return func

    return deco


def scheme_names() -> tuple[str, ...]:
    """The valid values of ``CIMConfig.adc``."""
    return tuple(ADC_SCHEMES)


def get_scheme(name: str) -> ADCScheme:
    """The scheme called ``name``; an unknown name raises ValueError listing the valid ones."""
    try:
        return ADC_SCHEMES[name]
    except KeyError:
        raise ValueError(f"adc={name!r} is unknown: allowed {', '.join(ADC_SCHEMES)}") from None


def rnd(v: np.ndarray, k: np.ndarray | int, nearest: bool) -> np.ndarray:
    """rnd(v, k): drop k low bits of v >= 0; nearest = half up, floor((v + 2^(k-1)) / 2^k)."""
    v = np.asarray(v, dtype=np.int64)
    k = np.asarray(k, dtype=np.int64)
    half = ((np.int64(1) << k) >> 1) if nearest else np.int64(0)
    return (v + half) >> k


def msb(v: np.ndarray) -> np.ndarray:
    """floor(log2 v) for v > 0, and -1 for v = 0 (int64)."""
    v = np.asarray(v, dtype=np.int64)
    out = np.full(v.shape, -1, dtype=np.int64)
    nz = v > 0
    # frexp is exact for integers below 2^53: v = f * 2^e with 0.5 <= f < 1
    out[nz] = np.frexp(v[nz].astype(np.float64))[1] - 1
    return out


def linear_window(full_bits: int, adc_bits: int) -> int:
    """The fixed window of ``linear``: max(0, F - b), the top b bits of the full range."""
    return max(0, full_bits - adc_bits)


@register("ideal", IDEAL)
def _ideal(p, b, full_bits, block, nearest, window):
    """Exact: q = p, k = 0."""
    p = np.asarray(p, dtype=np.int64)
    return p.copy(), np.zeros(p.shape, np.int64)


def _clipped(p: np.ndarray, k: int, b: int, nearest: bool) -> tuple[np.ndarray, np.ndarray]:
    code = np.minimum(rnd(p, k, nearest), (1 << b) - 1)
    return code << k, np.full(np.shape(p), k, np.int64)


@register("linear", LINEAR)
def _linear(p, b, full_bits, block, nearest, window):
    """Fixed window k = max(0, F - b); code = min(rnd(p, k), 2^b - 1)."""
    return _clipped(p, linear_window(full_bits, b), b, nearest)


@register("calibrated", CALIBRATED, needs_window=True)
def _calibrated(p, b, full_bits, block, nearest, window):
    """One window k per call (from calibrate_window); code = min(rnd(p, k), 2^b - 1)."""
    return _clipped(p, int(window), b, nearest)


@register("rar", RAR)
def _rar(p, b, full_bits, block, nearest, window):
    """Range-aware: per value k = max(0, msb(p) - b + 1); code = rnd(p, k); p = 0 gives 0."""
    p = np.asarray(p, dtype=np.int64)
    k = np.maximum(0, msb(p) - b + 1)
    return rnd(p, k, nearest) << k, k


@register("bfp", BFP)
def _bfp(p, b, full_bits, block, nearest, window):
    """Block floating point: B consecutive values share k = max(0, msb(max) - b + 1)."""
    p = np.asarray(p, dtype=np.int64)
    n = p.shape[-1]
    starts = np.arange(0, n, block)
    bmax = np.maximum.reduceat(p, starts, axis=-1) if n else p
    kb = np.maximum(0, msb(bmax) - b + 1)
    k = np.repeat(kb, np.diff(np.append(starts, n)), axis=-1)
    return rnd(p, k, nearest) << k, k


def quantize(
    p: np.ndarray,
    adc: str,
    b: int,
    full_bits: int,
    block: int = 8,
    rounding: str = "nearest",
    window: int = 0,
    signed: bool = False,
) -> np.ndarray:
    """Reference ADC on the last axis of ``p`` (one row of outputs n), numpy, for small checks.

    ``signed=True`` is the balanced mapping's sign-magnitude converter: q = sign(p) * Q(|p|).
    """
    p = np.asarray(p, dtype=np.int64)
    scheme = get_scheme(adc)
    a = np.abs(p) if signed else p
    if (a < 0).any():
        raise ValueError("negative partial sums need signed=True (balanced mapping)")
    q, _ = scheme.reference(a, b, full_bits, block, rounding == "nearest", window)
    return np.where(p < 0, -q, q) if signed else q
