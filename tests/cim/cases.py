"""Random CIM test cases for hypothesis: a config (as CIMConfig keyword arguments), x, w, window.

Every field of docs/spec.md is drawn over its allowed range, shapes stay small so that the slow
reference (tests/naive.py) keeps up, and the data come in styles that reach the edges: all zero,
the extremes of the ranges, sparse, single bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

SCHEMES = ("ideal", "linear", "calibrated", "rar", "bfp")
MAPPINGS = ("differential", "balanced", "offset")
ROUNDINGS = ("nearest", "floor")
STYLES = ("uniform", "extreme", "sparse", "zero", "small", "bits")

#: upper bound on tiles * planes * slices * polarities, so the reference stays fast
WORK = 320


@dataclass
class Case:
    """One test case: CIMConfig kwargs, inputs, weights and the calibrated window (or None)."""

    cfg: dict[str, Any]
    x: np.ndarray
    w: np.ndarray
    window: int | None

    def describe(self) -> str:
        return f"\ncfg={self.cfg}\nwindow={self.window}\nx={self.x.tolist()}\nw={self.w.tolist()}"


def full_bits(rows: int, cell_bits: int, dac_bits: int) -> int:
    """F of docs/spec.md: bit length of Pmax = R (2^c - 1)(2^d - 1)."""
    return (rows * (2**cell_bits - 1) * (2**dac_bits - 1)).bit_length()


def work_per_tile(cfg: dict[str, Any]) -> int:
    """planes * slices * polarities of one row tile."""
    ab, d, wb, c = cfg["input_bits"], cfg["dac_bits"], cfg["weight_bits"], cfg["cell_bits"]
    planes = ab if cfg["input_signed"] else -(-ab // d)
    if cfg["weight_mapping"] == "offset":
        return planes * -(-wb // c)
    pol = 2 if cfg["weight_mapping"] == "differential" else 1
    return planes * -(-(wb - 1) // c) * pol


def x_range(cfg: dict[str, Any]) -> tuple[int, int]:
    ab = cfg["input_bits"]
    return (-(2 ** (ab - 1)), 2 ** (ab - 1) - 1) if cfg["input_signed"] else (0, 2**ab - 1)


def w_range(cfg: dict[str, Any]) -> tuple[int, int]:
    top = 2 ** (cfg["weight_bits"] - 1) - 1
    return -top, top


def make_array(rng: np.random.Generator, shape, lo: int, hi: int, style: str) -> np.ndarray:
    """Integers in [lo, hi] of one style."""
    if style == "uniform":
        return rng.integers(lo, hi + 1, size=shape)
    if style == "extreme":
        return rng.choice(np.array([lo, hi, 0]), size=shape)
    if style == "sparse":
        return rng.integers(lo, hi + 1, size=shape) * (rng.random(shape) < 0.15)
    if style == "zero":
        return np.zeros(shape, dtype=np.int64)
    if style == "small":
        return np.clip(rng.integers(-2, 3, size=shape), lo, hi)
    if style == "bits":  # one bit set (or zero), with a random sign where allowed
        top = max(abs(lo), hi).bit_length()
        v = np.int64(1) << rng.integers(0, top, size=shape)
        v = np.where(rng.random(shape) < 0.5, -v, v)
        v = np.where(rng.random(shape) < 0.5, v, 0)
        return np.where((v < lo) | (v > hi), 0, v)
    raise ValueError(style)


@st.composite
def configs(
    draw,
    *,
    adc: str | None = None,
    mapping: str | None = None,
    wide_adc: bool = False,
    input_blocks: bool | None = None,
    max_rows: int = 40,
) -> dict[str, Any]:
    """CIMConfig keyword arguments over the allowed ranges (``adc_bits`` may be None = F)."""
    rows = draw(st.integers(1, max_rows))
    cell_bits = draw(st.integers(1, 4))
    weight_bits = draw(st.integers(2, 16))
    signed = draw(st.booleans()) if input_blocks is not True else False
    input_bits = draw(st.integers(1, 16))
    dac_bits = 1 if signed else draw(st.integers(1, input_bits))
    F = full_bits(rows, cell_bits, dac_bits)
    if wide_adc:  # b >= F: every scheme must be exact
        adc_bits = draw(st.one_of(st.none(), st.integers(F, 24))) if F <= 24 else None
    else:
        adc_bits = draw(st.integers(0, min(24, F + 2))) or None  # 0 stands for the default F
    if input_blocks is False or signed:
        mbits = None
    elif input_blocks:
        mbits = draw(st.integers(1, input_bits))
    else:
        mbits = draw(st.one_of(st.none(), st.integers(1, input_bits)))
    return {
        "rows": rows,
        "cols": draw(st.integers(1, 4096)),
        "cell_bits": cell_bits,
        "weight_bits": weight_bits,
        "input_bits": input_bits,
        "dac_bits": dac_bits,
        "input_signed": signed,
        "weight_mapping": mapping or draw(st.sampled_from(MAPPINGS)),
        "adc": adc or draw(st.sampled_from(SCHEMES)),
        "adc_bits": adc_bits,
        "block": draw(st.integers(1, 48)),
        "rounding": draw(st.sampled_from(ROUNDINGS)),
        "input_mantissa_bits": mbits,
    }


def draw_window(draw, cfg: dict[str, Any]) -> int | None:
    """A random valid window 0 .. max(0, F - b) for ``calibrated``, else None."""
    if cfg["adc"] != "calibrated":
        return None
    F = full_bits(cfg["rows"], cfg["cell_bits"], cfg["dac_bits"])
    b = F if cfg["adc_bits"] is None else cfg["adc_bits"]
    return draw(st.integers(0, max(0, F - b)))


@st.composite
def cases(draw, *, max_m: int = 6, max_n: int = 40, max_k: int = 40, **cfg_options) -> Case:
    """A config with x (M, K) and w (K, N) in range; K, N, M small."""
    cfg = draw(configs(**cfg_options))
    tiles = max(1, WORK // work_per_tile(cfg))
    K = draw(st.integers(1, min(max_k, cfg["rows"] * tiles)))
    M = draw(st.integers(1, max_m))
    N = draw(st.integers(1, max_n))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = make_array(rng, (M, K), *x_range(cfg), draw(st.sampled_from(STYLES)))
    w = make_array(rng, (K, N), *w_range(cfg), draw(st.sampled_from(STYLES)))
    return Case(cfg, x.astype(np.int64), w.astype(np.int64), draw_window(draw, cfg))
