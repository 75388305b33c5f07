"""crossbar_mvm and calibrate_window: the public tier (checks, preparation, statistics).

The arithmetic is docs/spec.md's; the work is done by the kernels in ``kernels.py``. This module
validates the arguments, applies the input blocks (SPEC step 0), cuts the weights into slices,
packs the input planes, picks chunk sizes and the accumulator dtype, runs the driver batch chunk
by batch chunk, and turns the kernel's counters into a ``CIMStats``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numba
import numpy as np

from bfpdse.cim import kernels as kn
from bfpdse.cim.adc import BFP, CALIBRATED, IDEAL, RAR, get_scheme, linear_window
from bfpdse.cim.config import CIMConfig
from bfpdse.cim.stats import CIMStats

#: pattern bits per row group of the lookup tables (16 patterns per group)
GROUP_BITS = 4
#: bytes of one task's lookup table (or weight rows) to aim for: well inside a 512 KiB L2
TABLE_BYTES = 256 * 1024
#: bytes of packed input planes per batch chunk (bounds the memory of big batches)
PATTERN_BYTES = 64 * 1024 * 1024
#: calibrate_window keeps a histogram of |p| when Pmax + 1 <= this, else exact per-window sums
HIST_LIMIT = 1 << 16


# ----------------------------------------------------------------------------- checks


def _check_matrix(name: str, a: Any) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind not in "iu":
        raise ValueError(
            f"{name} must be a 2-D array of integers, got dtype {arr.dtype}: "
            "quantize it to integers first (bool and float are not accepted)"
        )
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {arr.shape}")
    return arr


def _check_range(name: str, arr: np.ndarray, low: int, high: int, what: str) -> None:
    info = np.iinfo(arr.dtype)
    if arr.size == 0 or (info.min >= low and info.max <= high):
        return  # the dtype itself keeps every value in range (uint8 for 8-bit inputs)
    lo, hi = int(arr.min()), int(arr.max())
    if lo < low or hi > high:
        raise ValueError(
            f"{name} has values in {lo} … {hi}, outside what {what} allows: {low} … {high}"
        )


def _window_range(cfg: CIMConfig) -> int:
    return max(0, cfg.full_bits - cfg.adc_bits)


def _check_args(x: Any, w: Any, cfg: CIMConfig) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(cfg, CIMConfig):
        raise TypeError(f"cfg must be a CIMConfig, got {type(cfg).__name__}")
    x = _check_matrix("x", x)
    w = _check_matrix("w", w)
    if x.shape[1] != w.shape[0]:
        raise ValueError(
            f"shapes do not match: x is {x.shape} and w is {w.shape}; "
            "x must be (M, K) and w (K, N) with the same K"
        )
    ab, wb = cfg.input_bits, cfg.weight_bits
    if cfg.input_signed:
        _check_range("x", x, -(1 << (ab - 1)), (1 << (ab - 1)) - 1, f"input_bits={ab} (signed)")
    else:
        _check_range("x", x, 0, (1 << ab) - 1, f"input_bits={ab} (unsigned)")
    wmax = (1 << (wb - 1)) - 1
    _check_range("w", w, -wmax, wmax, f"weight_bits={wb}")
    return x, w.astype(np.int64, copy=False)


def _check_window(window: Any, cfg: CIMConfig) -> int:
    scheme = get_scheme(cfg.adc)
    if not scheme.needs_window:
        if window is not None:
            raise ValueError(
                f"window={window!r} is only used by adc='calibrated' (this config has "
                f"adc={cfg.adc!r}): leave it out"
            )
        return 0
    kmax = _window_range(cfg)
    if window is None:
        raise ValueError(
            "adc='calibrated' needs window=: an int in 0 … "
            f"{kmax}, from calibrate_window(x_cal, w, cfg)"
        )
    if isinstance(window, bool) or not isinstance(window, numbers.Integral):
        raise ValueError(f"window={window!r} must be an int in 0 … {kmax}")
    if not 0 <= int(window) <= kmax:
        raise ValueError(
            f"window={window} is out of range: allowed 0 … {kmax} (max(0, F - b) with "
            f"F={cfg.full_bits}, b={cfg.adc_bits})"
        )
    return int(window)


# ----------------------------------------------------------------------------- preparation


def apply_input_blocks(x: np.ndarray, rows: int, m: int, nearest: bool) -> np.ndarray:
    """SPEC step 0: each (vector, row tile) block keeps the m bits below its largest input's msb.

    x: (M, K) int64, unsigned. Returns x' (M, K) int64 with x' = min(rnd(x, kx), 2^m - 1) * 2^kx.
    """
    M, K = x.shape
    T = -(-K // rows)
    pad = np.zeros((M, T * rows), dtype=np.int64)
    pad[:, :K] = x
    blocks = pad.reshape(M, T, rows)
    top = blocks.max(axis=2, initial=0)
    # msb of the block maximum via frexp (exact for ints below 2^53); all-zero blocks stay zero
    e = np.where(top > 0, np.frexp(top.astype(np.float64))[1] - 1, 0)
    kx = np.maximum(0, e - m + 1)[:, :, None]
    half = ((np.int64(1) << kx) >> 1) if nearest else np.int64(0)
    code = np.minimum((blocks + half) >> kx, (1 << m) - 1)
    return (code << kx).reshape(M, T * rows)[:, :K]


def weight_slices(w: np.ndarray, cfg: CIMConfig, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Cut w (K, N) into slice values (K, SP, N) and their signed weights (SP,) int64.

    differential: sp = 2j + polarity (w+ then w-), weights +2^(jc), -2^(jc).
    balanced: sp = j, the signed value sign(w) * slice_j(|w|), weight 2^(jc).
    offset: sp = j, slices of u = w + 2^(Wb-1), weight 2^(jc).
    """
    c, S = cfg.cell_bits, cfg.n_slices
    cmask = (1 << c) - 1
    shifts = (np.arange(S, dtype=np.int64) * c)[None, :, None]
    scale = np.int64(1) << (np.arange(S, dtype=np.int64) * c)
    if cfg.weight_mapping == "offset":
        u = (w + (1 << (cfg.weight_bits - 1)))[:, None, :]
        return ((u >> shifts) & cmask).astype(dtype), scale
    mag = np.abs(w)[:, None, :]
    sl = (mag >> shifts) & cmask
    if cfg.weight_mapping == "balanced":
        return (sl * np.sign(w)[:, None, :]).astype(dtype), scale
    K, N = w.shape
    out = np.zeros((K, 2 * S, N), dtype=dtype)
    out[:, 0::2] = np.where(w[:, None, :] > 0, sl, 0)
    out[:, 1::2] = np.where(w[:, None, :] < 0, sl, 0)
    return out, np.stack([scale, -scale], axis=1).reshape(-1)


def plane_weights(cfg: CIMConfig) -> np.ndarray:
    """Weight of each input plane: 2^(i*d); the top plane of signed inputs is -2^(Ab-1)."""
    P, d = cfg.n_planes, cfg.dac_bits
    pw = np.int64(1) << (np.arange(P, dtype=np.int64) * d)
    if cfg.input_signed:
        pw[-1] = -pw[-1]
    return pw


def acc_dtype(pmax: int) -> np.dtype:
    """Narrowest integer dtype that holds every partial sum (and its negative, for balanced)."""
    if pmax < 1 << 15:
        return np.dtype(np.int16)
    if pmax < 1 << 31:
        return np.dtype(np.int32)
    return np.dtype(np.int64)


class _Plan:
    """Everything the driver needs besides the batch chunk: slices, grouping, chunk sizes."""

    def __init__(self, w: np.ndarray, cfg: CIMConfig, M: int) -> None:
        K, N = w.shape
        self.cfg = cfg
        self.K, self.N = K, N
        self.T = -(-K // cfg.rows) if K else 0
        d = cfg.dac_bits
        # lookup tables pay off when a group holds at least two rows
        self.use_table = d <= GROUP_BITS // 2
        self.gs = GROUP_BITS // d if self.use_table else 1
        self.G = -(-cfg.rows // self.gs)
        npat = 1 << (self.gs * d) if self.use_table else 1
        self.dtype = acc_dtype(cfg.pmax)
        # bfp blocks: pad N to a multiple of B with zero columns (they never raise a block max)
        self.block = get_scheme(cfg.adc).block(cfg)
        wsl, self.spw = weight_slices(w, cfg, self.dtype)
        self.SP = wsl.shape[1]
        Np = -(-N // self.block) * self.block
        self.wsl = np.zeros((K, self.SP, Np), dtype=self.dtype)
        self.wsl[:, :, :N] = wsl
        self.pw = plane_weights(cfg)
        # float32 ADC path: exact while |p| < 2^22 and the per-lane sum over planes < 2^24
        F = cfg.full_bits
        self.fast = F <= 22 and cfg.input_bits + F + 1 <= 24 and cfg.adc_bits <= 23
        # outputs per task: the task's table (or weight rows) should stay in L2; a multiple of B
        per_n = max(self.G * npat, self.G * self.gs * self.dtype.itemsize) * self.SP
        nc = max(8, TABLE_BYTES // per_n)
        nc = max(self.block, nc // self.block * self.block)
        self.nc = max(1, min(nc, Np))
        n_nch = -(-Np // self.nc) if Np else 1
        threads = numba.get_num_threads()
        n_mch = max(1, min(-(-M // 16), -(-4 * threads // n_nch)))
        self.mc = max(1, -(-M // n_mch))
        # the statistics' lane counters (accumulator dtype) gain at most P per (vector, tile)
        self.flush_every = max(1, int(np.iinfo(self.dtype).max) // cfg.n_planes)
        per_vec = max(1, self.T * cfg.n_planes * self.G * 2)
        self.batch = max(self.mc, PATTERN_BYTES // per_vec // self.mc * self.mc)

    def patterns(self, xu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Group patterns (M, T, P, G) and live planes (M, T, P) of the plane source xu."""
        M = xu.shape[0]
        cfg = self.cfg
        # a pattern holds gs * d <= 4 bits with tables, else one digit of d <= 16 bits
        ptype = np.uint8 if self.gs * cfg.dac_bits <= 8 else np.uint16
        pat = np.empty((M, self.T, cfg.n_planes, self.G), dtype=ptype)
        nz = np.empty((M, self.T, cfg.n_planes), dtype=np.uint8)
        if xu.dtype == np.uint8 and self.use_table and np.little_endian:
            words = self.group_words(xu)
            kn.plane_patterns_packed(words, cfg.dac_bits, cfg.n_planes, pat, nz)
        else:
            xu = xu.astype(np.int64, copy=False)
            kn.plane_patterns(xu, cfg.rows, cfg.dac_bits, self.gs, pat, nz)
        return pat, nz

    def group_words(self, xu: np.ndarray) -> np.ndarray:
        """(M, T, G) words of a uint8 plane source: the gs bytes of each row group, zero-padded."""
        M, K = xu.shape
        R, T, width = self.cfg.rows, self.T, self.G * self.gs
        if K == T * R and width == R and xu.flags.c_contiguous:
            grouped = xu.reshape(M, T, width)
        else:
            grouped = np.zeros((M, T, width), dtype=np.uint8)
            for t in range(T):
                part = xu[:, t * R : (t + 1) * R]
                grouped[:, t, : part.shape[1]] = part
        word = np.uint32 if self.gs == 4 else np.uint16
        return grouped.reshape(M, T * width).view(word).reshape(M, T, self.G)

    def n_tasks(self, M: int) -> int:
        return (-(-self.wsl.shape[2] // self.nc)) * (-(-M // self.mc))


def _plane_source(x: np.ndarray, cfg: CIMConfig) -> np.ndarray:
    """x' after input blocks (SPEC step 0): int8/uint8 for inputs of up to 8 bits, else int64.

    The narrow dtype is what the packed-pattern kernel reads, and moves 1 byte per value.
    """
    if cfg.input_mantissa_bits is not None:
        x = x.astype(np.int64, copy=False)
        x = apply_input_blocks(x, cfg.rows, cfg.input_mantissa_bits, cfg.rounding == "nearest")
    if cfg.input_bits <= 8:
        return x.astype(np.int8 if cfg.input_signed else np.uint8, copy=False)
    return x.astype(np.int64, copy=False)


def _unsigned_planes(xs: np.ndarray, cfg: CIMConfig) -> np.ndarray:
    """The bits the planes are cut from: x' itself, or its two's complement for signed inputs."""
    if not cfg.input_signed:
        return np.ascontiguousarray(xs)
    mask = (1 << cfg.input_bits) - 1
    if xs.dtype == np.int8:
        return xs.view(np.uint8) & np.uint8(mask)
    return xs & mask


def _run(
    plan: _Plan, xs: np.ndarray, mode: int, k_fixed: int, want_stats: bool, out: dict
) -> np.ndarray:
    """Run the driver over one batch chunk xs (x' values); returns nz (M, T, P)."""
    cfg = plan.cfg
    M = xs.shape[0]
    pat, nz = plan.patterns(_unsigned_planes(xs, cfg))
    tasks = plan.n_tasks(M)
    scheme = get_scheme(cfg.adc)
    stats = np.zeros((tasks, kn.N_STAT), dtype=np.int64)
    hist = np.zeros((tasks, cfg.pmax + 1) if mode == kn.MODE_CAL_HIST else (1, 1), np.int64)
    nk = _window_range(cfg) + 1
    errs = np.zeros((tasks, nk, 3) if mode == kn.MODE_CAL_ERR else (1, 1, 3), np.int64)
    kn.mvm_tiles(
        pat, nz, plan.wsl, plan.spw, plan.pw, cfg.rows, cfg.pmax, plan.gs, cfg.dac_bits,
        plan.use_table, scheme.kind, k_fixed, cfg.adc_bits, plan.block, cfg.rounding == "nearest",
        want_stats, plan.flush_every, mode, plan.fast, plan.nc, plan.mc, out["y"], stats, hist,
        errs,
    )  # fmt: skip
    out["stats"] += stats.sum(axis=0)
    if mode == kn.MODE_CAL_HIST:
        out["hist"] += hist.sum(axis=0)
    elif mode == kn.MODE_CAL_ERR:
        e = errs.sum(axis=0)
        for k in range(nk):  # e^2 = eh^2 * 2^32 + 2 eh el * 2^16 + el^2, in Python ints
            out["err"][k] += (int(e[k, 0]) << 32) + (int(e[k, 1]) << 17) + int(e[k, 2])
    return nz


def _fixed_window(cfg: CIMConfig, window: int) -> int:
    kind = get_scheme(cfg.adc).kind
    if kind == IDEAL or kind in (RAR, BFP):
        return 0
    if kind == CALIBRATED:
        return window
    return linear_window(cfg.full_bits, cfg.adc_bits)


def _collect_stats(
    cfg: CIMConfig, plan: _Plan, M: int, nz_counts: np.ndarray, kst: np.ndarray, k_fixed: int
) -> CIMStats:
    """CIMStats from the per-tile counts of non-skipped planes and the kernel counters."""
    K, N, T, P, SP = plan.K, plan.N, plan.T, cfg.n_planes, plan.SP
    rows_t = np.minimum(cfg.rows, K - np.arange(T) * cfg.rows)
    cycles = int(nz_counts.sum())
    conv_dense = M * T * P * SP * N
    conv = cycles * SP * N
    kind = get_scheme(cfg.adc).kind
    F, b = cfg.full_bits, cfg.adc_bits
    hist = np.zeros(kn.N_WINDOWS, dtype=np.int64)
    blocks = blocks_dense = 0
    if kind in (RAR, BFP):
        hist[:] = kst[kn.ST_HIST :]
        if kind == RAR:
            ksum = int((np.arange(kn.N_WINDOWS) * hist).sum())
            bits, bits_dense = F * conv - ksum, F * conv_dense - ksum
        else:
            bits, bits_dense = b * conv, b * conv_dense
            nblk = SP * (-(-N // cfg.block))
            blocks, blocks_dense = cycles * nblk, M * T * P * nblk
    else:
        hist[k_fixed] = conv
        per = F if kind == IDEAL else b
        bits, bits_dense = per * conv, per * conv_dense
    return CIMStats(
        vectors=M,
        macs=M * K * N,
        input_cycles_dense=M * T * P,
        input_cycles=cycles,
        wordline_drives_dense=M * P * K,
        wordline_drives=int((nz_counts * rows_t).sum()),
        conversions_dense=conv_dense,
        conversions=conv,
        adc_bit_cycles_dense=bits_dense,
        adc_bit_cycles=bits,
        blocks_dense=blocks_dense,
        blocks=blocks,
        saturated=int(kst[kn.ST_SAT]),
        rounded_to_zero=int(kst[kn.ST_RZ]),
        window_hist=hist,
    )


def _execute(x: np.ndarray, w: np.ndarray, cfg: CIMConfig, mode: int, k_fixed: int, stats: bool):
    M = x.shape[0]
    plan = _Plan(w, cfg, M)
    y = np.zeros((M, plan.N), dtype=np.int64)
    out: dict[str, Any] = {
        "stats": np.zeros(kn.N_STAT, dtype=np.int64),
        "hist": np.zeros(cfg.pmax + 1 if mode == kn.MODE_CAL_HIST else 1, dtype=np.int64),
        "err": [0] * (_window_range(cfg) + 1),
    }
    if mode == kn.MODE_CAL_ERR:
        # each task's int64 error sums take < 2^34 per partial sum: keep a task < 2^28 sums
        per_vec = max(1, plan.T * cfg.n_planes * plan.wsl.shape[1] * plan.wsl.shape[2])
        plan.mc = max(1, min(plan.mc, (1 << 28) // per_vec))
        plan.batch = max(plan.mc, plan.batch // plan.mc * plan.mc)
    nz_counts = np.zeros(plan.T, dtype=np.int64)
    for m0 in range(0, M, plan.batch):
        xs = _plane_source(x[m0 : m0 + plan.batch], cfg)
        out["y"] = y[m0 : m0 + plan.batch]
        nz = _run(plan, xs, mode, k_fixed, stats, out)
        nz_counts += nz.sum(axis=(0, 2), dtype=np.int64)
        if cfg.weight_mapping == "offset" and mode == kn.MODE_MVM:
            # u = w + 2^(Wb-1): subtract 2^(Wb-1) * sum_k x'[m, k], exactly, in int64
            out["y"] -= xs.sum(axis=1, dtype=np.int64, keepdims=True) << (cfg.weight_bits - 1)
    return y, out, plan, nz_counts


# ----------------------------------------------------------------------------- public


def crossbar_mvm(
    x: Any, w: Any, cfg: CIMConfig, *, window: int | None = None, return_stats: bool = False
) -> np.ndarray | tuple[np.ndarray, CIMStats]:
    """y = x @ w as the crossbar computes it (docs/spec.md), in int64.

    x: (M, K) integer inputs within cfg.input_bits; w: (K, N) signed integer weights with
    |w| <= 2^(weight_bits-1) - 1. ``window`` is required for adc='calibrated' (from
    ``calibrate_window``). With ``return_stats=True`` returns (y, CIMStats) with the event
    counts of the call. Raises ValueError on a bad shape, dtype, value range or window.
    """
    x, w = _check_args(x, w, cfg)
    k = _fixed_window(cfg, _check_window(window, cfg))
    y, out, plan, nz_counts = _execute(x, w, cfg, kn.MODE_MVM, k, bool(return_stats))
    if not return_stats:
        return y
    return y, _collect_stats(cfg, plan, x.shape[0], nz_counts, out["stats"], k)


def calibrate_window(x_cal: Any, w: Any, cfg: CIMConfig) -> int:
    """The window k in 0 … max(0, F - b) of the calibrated ADC for this layer (docs/spec.md).

    Minimises the exact sum of (q - p)^2 over every partial sum that ``x_cal`` produces (after
    the input blocks; over |p| for balanced), q = min(rnd(p, k), 2^b - 1) * 2^k; ties go to the
    larger k. x_cal: (M, K) inputs, w: (K, N) weights, checked like crossbar_mvm's.
    """
    x, w = _check_args(x_cal, w, cfg)
    kmax = _window_range(cfg)
    mode = kn.MODE_CAL_HIST if cfg.pmax + 1 <= HIST_LIMIT else kn.MODE_CAL_ERR
    _, out, _, _ = _execute(x, w, cfg, mode, 0, False)
    if mode == kn.MODE_CAL_HIST:
        err = _errors_from_hist(out["hist"], cfg, kmax)
    else:
        err = out["err"]
    best = 0
    for k in range(kmax + 1):
        if err[k] <= err[best]:
            best = k
    return best


def _errors_from_hist(hist: np.ndarray, cfg: CIMConfig, kmax: int) -> list[int]:
    """Exact sum of squared errors per window from the |p| histogram (Python ints at the end)."""
    vals = np.nonzero(hist)[0].astype(np.int64)
    counts = hist[vals]
    cmax = (1 << cfg.adc_bits) - 1
    nearest = cfg.rounding == "nearest"
    errs = []
    for k in range(kmax + 1):
        half = ((1 << k) >> 1) if nearest else 0
        e2 = ((np.minimum((vals + half) >> k, cmax) << k) - vals) ** 2  # < 2^36, fits int64
        # counts * e2 may overflow int64: split e2 at 2^18 and add the halves as Python ints
        hi, lo = e2 >> 18, e2 & ((1 << 18) - 1)
        errs.append((int((counts * hi).sum()) << 18) + int((counts * lo).sum()))
    return errs
