"""ADC schemes: a registry from name to scheme, each owning its traits (docs/spec.md).

Every scheme picks a window k and outputs q = code * 2^k. A registered ``ADCScheme`` is the one
place that knows, for its name: the id the numba kernels switch on, whether it needs a window
calibrated on data, whether ``adc_bits`` and ``block`` mean anything to it (the sweep collapse
rules ask this), whether its outputs pass through leading-one logic, the converter it implies
(``converter``: bits, cycles, window search; priced by ``bfpdse.energy``), and a small numpy
reference of its arithmetic (used by ``quantize`` and by tests; the kernels in ``kernels.py`` give
the same numbers bit for bit). Other modules ask the scheme instead of comparing names; adding a
scheme is a ``register`` call here plus, for new arithmetic, a kernel branch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # hints only: a scheme reads CIMConfig's fields and properties
    from bfpdse.cim.config import CIMConfig
    from bfpdse.cim.stats import CIMStats

# Kernel ids (plain ints: numba kernels take arrays and scalars only).
IDEAL, LINEAR, CALIBRATED, RAR, BFP = 0, 1, 2, 3, 4

#: quantize(p, b, full_bits, block, nearest, window) -> (q, k), p >= 0 int64, k per value
Quantizer = Callable[[np.ndarray, int, int, int, bool, int], tuple[np.ndarray, np.ndarray]]

#: how a range-aware converter finds its window (energy.rar_search, energy.bfp_search):
#: sequential = comparator cycles from the top of the range, binary = binary search over the
#: window, flash = one cycle of parallel comparators (a leading-one detector)
SEARCHES = ("sequential", "binary", "flash")


@dataclass(frozen=True)
class ConverterUse:
    """What one scheme asks of its ADC at one config and window-search architecture.

    ``bits``: resolution of the converter that does the member conversions. ``early_stop``: an
    F-bit SAR deciding from the top that stops after F - k cycles (k = the value's window),
    which finds the window as it converts; otherwise every conversion is a full ``bits``-bit one.
    A separate window search (``search`` not None) runs once per ``search_per`` ("block" or
    "conversion") and takes ``search_cycles`` comparator cycles, on ``comparators`` comparators
    of its own per ADC (flash) or on the ADC's own (0).
    """

    bits: int
    early_stop: bool = False
    search: str | None = None
    search_per: str = "block"
    search_cycles: int = 0
    comparators: int = 0

    def searches(self, stats: CIMStats) -> int:
        """Window searches in ``stats``: one per block or per conversion (0 without a search)."""
        if self.search is None or self.search_cycles == 0:
            return 0
        return stats.blocks if self.search_per == "block" else stats.conversions

    @property
    def counted(self) -> bool:
        """True if crossbar_mvm's ``adc_bit_cycles`` are this converter's member cycles.

        They are for every scheme but a range-aware one whose window is searched per conversion
        before a b-bit conversion: crossbar_mvm counts F - k cycles for it (the early stop).
        """
        return self.early_stop or self.search_per != "conversion" or self.search is None

    def member_cycles(self, stats: CIMStats) -> int:
        """Bit cycles of the member conversions (sampling phases not counted)."""
        return stats.adc_bit_cycles if self.counted else stats.conversions * self.bits

    def member_cycles_dense(self, stats: CIMStats) -> int:
        """``member_cycles`` if no input plane were skipped."""
        return stats.adc_bit_cycles_dense if self.counted else stats.conversions_dense * self.bits

    def searches_dense(self, stats: CIMStats) -> int:
        """``searches`` if no input plane were skipped."""
        if self.search is None or self.search_cycles == 0:
            return 0
        return stats.blocks_dense if self.search_per == "block" else stats.conversions_dense


def search_cycles(search: str, windows: int) -> int:
    """Comparator cycles to pick one of ``windows`` windows k = 0 .. windows - 1.

    sequential: windows - 1 decisions from the top (F - b); binary: ceil(log2(windows));
    flash: one cycle of windows - 1 parallel comparators. One window needs no search.
    """
    if search not in SEARCHES:
        raise ValueError(f"search={search!r} is unknown: allowed {', '.join(SEARCHES)}")
    if windows <= 1:
        return 0
    if search == "sequential":
        return windows - 1
    if search == "binary":
        return math.ceil(math.log2(windows))
    return 1


@dataclass(frozen=True)
class ADCScheme:
    """One registered ADC scheme and its traits (module docstring)."""

    name: str
    kind: int  # the id the kernels switch on
    reference: Quantizer  # numpy reference on one row of non-negative partial sums
    doc: str
    needs_window: bool = False  # True if crossbar_mvm needs window= (from calibrate_window)
    uses_bits: bool = True  # False if adc_bits does not change its numbers (ideal)
    uses_block: bool = False  # True if its outputs share windows in blocks of ``block``
    range_aware: bool = False  # True if its outputs pass leading-one / shift / exponent logic
    #: "block" or "conversion": what one window search serves; None if the window is fixed
    search_per: str | None = None
    #: the state-of-the-art baseline gains are reported against (calibrated)
    baseline: bool = False

    @property
    def exact(self) -> bool:
        """True for the reference converter that keeps every bit (ideal)."""
        return not self.uses_bits

    @property
    def search_key(self) -> str | None:
        """The ``energy`` setting that picks this scheme's window search (rar_search, ...)."""
        return f"{self.name}_search" if self.search_per else None

    def block(self, cfg: CIMConfig) -> int:
        """Outputs that share one window: cfg.block if the scheme uses blocks, else 1."""
        return cfg.block if self.uses_block else 1

    def bits(self, cfg: CIMConfig) -> int:
        """Resolution b of its codes: F without adc_bits, else min(adc_bits, F)."""
        return cfg.full_bits if not self.uses_bits else min(cfg.adc_bits, cfg.full_bits)

    def converter(self, cfg: CIMConfig, search: str = "sequential") -> ConverterUse:
        """The converter this scheme implies at ``cfg`` with window search ``search``.

        Without a search the converter is a b-bit one (F bits for ideal). A per-conversion
        search with ``sequential`` is the F-bit SAR deciding from the top and stopping after
        F - k cycles (today's rar). Otherwise the window (one of F - b + 1) is searched, then
        a b-bit conversion runs in it.
        """
        f, b = cfg.full_bits, self.bits(cfg)
        if self.search_per is None:
            return ConverterUse(bits=b)
        if self.search_per == "conversion" and search == "sequential":
            return ConverterUse(bits=f, early_stop=True)
        windows = f - b + 1
        return ConverterUse(
            bits=b,
            search=search,
            search_per=self.search_per,
            search_cycles=search_cycles(search, windows),
            comparators=windows - 1 if search == "flash" else 0,
        )

    def dense_cycles(self, cfg: CIMConfig) -> tuple[int, int, int]:
        """Cycles per conversion and window k as counted on data with no zero plane, and the
        cycles a skipped conversion would count (shapes-only pricing, ``dense_stats``).

        A fixed-window scheme counts b cycles at window F - b (ideal: F at 0); a range-aware
        one is taken at its best case, every leading one at the top: F - k = b cycles. A skipped
        conversion converts p = 0, which the early-stopping SAR takes F cycles to find.
        """
        f = cfg.full_bits
        if not self.uses_bits:
            return f, 0, f
        b = cfg.adc_bits
        k = max(0, f - b)
        skipped = f if self.search_per == "conversion" else b
        return (min(b, f) if self.search_per == "conversion" else b), k, skipped


ADC_SCHEMES: dict[str, ADCScheme] = {}


def register(name: str, kind: int, **traits: object) -> Callable[[Quantizer], Quantizer]:
    """Decorator: register the numpy reference quantizer of scheme ``name`` with its traits."""

    def deco(func: Quantizer) -> Quantizer:
        if name in ADC_SCHEMES:
            raise ValueError(f"ADC scheme {name!r} is registered twice")
        doc = (func.__doc__ or "").strip()
        ADC_SCHEMES[name] = ADCScheme(name, kind, func, doc, **traits)  # type: ignore[arg-type]
        return func

    return deco


def unregister(name: str) -> None:
    """Remove scheme ``name`` (tests that register a toy scheme clean up with this)."""
    del ADC_SCHEMES[name]


def scheme_names() -> tuple[str, ...]:
    """The valid values of ``CIMConfig.adc``, in registration order."""
    return tuple(ADC_SCHEMES)


def schemes_where(trait: Callable[[ADCScheme], bool]) -> frozenset[str]:
    """Names of the registered schemes for which ``trait(scheme)`` holds."""
    return frozenset(s.name for s in ADC_SCHEMES.values() if trait(s))


def baseline_scheme() -> str:
    """The scheme that gains are reported against (the registered baseline)."""
    return next(s.name for s in ADC_SCHEMES.values() if s.baseline)


def reference_scheme() -> str:
    """The exact scheme that accuracy drops are measured against (ideal)."""
    return next(s.name for s in ADC_SCHEMES.values() if s.exact)


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


@register("ideal", IDEAL, uses_bits=False)
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


@register("calibrated", CALIBRATED, needs_window=True, baseline=True)
def _calibrated(p, b, full_bits, block, nearest, window):
    """One window k per call (from calibrate_window); code = min(rnd(p, k), 2^b - 1)."""
    return _clipped(p, int(window), b, nearest)


@register("rar", RAR, range_aware=True, search_per="conversion")
def _rar(p, b, full_bits, block, nearest, window):
    """Range-aware: per value k = max(0, msb(p) - b + 1); code = rnd(p, k); p = 0 gives 0."""
    p = np.asarray(p, dtype=np.int64)
    k = np.maximum(0, msb(p) - b + 1)
    return rnd(p, k, nearest) << k, k


@register("bfp", BFP, uses_block=True, range_aware=True, search_per="block")
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
