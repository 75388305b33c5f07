"""prepare_weights, crossbar_mvm and calibrate_window: the public tier (checks, preparation,
statistics).

The arithmetic is docs/spec.md's; the work is done by the kernels in ``kernels.py``. This module
validates the arguments, cuts the weights into slice tiles once per (layer, config)
(``PreparedWeights``), applies the input blocks (SPEC step 0), packs the input planes, picks
chunk sizes, runs the driver batch chunk by batch chunk, and turns the kernel's counters into a
``CIMStats``. Grouped layers run as one pass over all their groups; narrow ones (at most
GROUP_LANES_MAX lanes and GROUP_ROWS_MAX rows per group: depthwise) with the groups side by side
in the lanes of a task (``kernels.mvm_group_lanes``), the same numbers and counts. The ideal
ADC skips the partial sums: its pass is x' @ w, by an exact BLAS matmul (``_execute_ideal``).
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
#: live input planes of a task from which a tile's lookup table pays for its building
TABLE_MIN_PLANES = 12
#: grouped layers with at most this many lanes (slices x outputs) per group and rows per group
#: run their groups side by side (``kernels.mvm_group_lanes``); None: always, 0: never (tests)
GROUP_LANES_MAX: int | None = 64
GROUP_ROWS_MAX = 32
#: lanes of one side-by-side task (the groups of a run fill up to this many)
GROUP_TASK_LANES = 1024


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


def _check_weights(w: Any, cfg: CIMConfig) -> tuple[np.ndarray, bool]:
    """w as (groups, K, N) int64 and whether it came grouped (3-D)."""
    if not isinstance(cfg, CIMConfig):
        raise TypeError(f"cfg must be a CIMConfig, got {type(cfg).__name__}")
    arr = np.asarray(w)
    grouped = arr.ndim == 3
    if grouped:
        if arr.dtype.kind not in "iu":
            _check_matrix("w", arr)  # the dtype message
        if arr.shape[0] < 1:
            raise ValueError(f"grouped weights need at least one group, got shape {arr.shape}")
    else:
        arr = _check_matrix("w", arr)[None]
    wb = cfg.weight_bits
    wmax = (1 << (wb - 1)) - 1
    _check_range("w", arr, -wmax, wmax, f"weight_bits={wb}")
    return arr.astype(np.int64, copy=False), grouped


def _check_inputs(x: Any, prep: PreparedWeights) -> np.ndarray:
    """x as (groups, M, K): (M, K) for plain weights, (groups, M, K) for grouped ones."""
    cfg = prep.cfg
    arr = np.asarray(x)
    if prep.grouped:
        if arr.ndim != 3 or arr.dtype.kind not in "iu":
            raise ValueError(
                f"x must be a 3-D array of integers (groups, M, K) for grouped weights, got "
                f"shape {arr.shape} and dtype {arr.dtype}"
            )
        if arr.shape[0] != prep.groups or arr.shape[2] != prep.K:
            raise ValueError(
                f"shapes do not match: x is {arr.shape} and the weights are "
                f"({prep.groups}, {prep.K}, {prep.N}); x must be (groups, M, K)"
            )
    else:
        arr = _check_matrix("x", arr)
        if arr.shape[1] != prep.K:
            raise ValueError(
                f"shapes do not match: x is {arr.shape} and w is {(prep.K, prep.N)}; "
                "x must be (M, K) and w (K, N) with the same K"
            )
        arr = arr[None]
    ab = cfg.input_bits
    if cfg.input_signed:
        _check_range("x", arr, -(1 << (ab - 1)), (1 << (ab - 1)) - 1, f"input_bits={ab} (signed)")
    else:
        _check_range("x", arr, 0, (1 << ab) - 1, f"input_bits={ab} (unsigned)")
    return arr


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


def _check_windows(window: Any, prep: PreparedWeights) -> np.ndarray:
    """The fixed window of every group (groups,) int64: one int, or one per group if grouped."""
    cfg = prep.cfg
    if prep.grouped and window is not None and not isinstance(window, numbers.Integral):
        ws = list(window) if isinstance(window, list | tuple | np.ndarray) else None
        if ws is None or len(ws) != prep.groups:
            raise ValueError(
                f"window={window!r} must be an int or a sequence of {prep.groups} ints "
                "(one per group)"
            )
    else:
        ws = [window] * prep.groups
    return np.array([_fixed_window(cfg, _check_window(k, cfg)) for k in ws], dtype=np.int64)


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


#: weight mappings as the kernels number them
MAPPING_IDS = {
    "differential": kn.MAP_DIFFERENTIAL,
    "balanced": kn.MAP_BALANCED,
    "offset": kn.MAP_OFFSET,
}


def slice_weights(cfg: CIMConfig) -> np.ndarray:
    """Signed weight of each slice (and polarity) sp, (SP,) int64.

    differential: sp = 2j + polarity (w+ then w-), weights +2^(jc), -2^(jc); balanced and
    offset: sp = j, weight 2^(jc).
    """
    scale = np.int64(1) << (np.arange(cfg.n_slices, dtype=np.int64) * cfg.cell_bits)
    if cfg.weight_mapping == "differential":
        return np.stack([scale, -scale], axis=1).reshape(-1)
    return scale


def plane_weights(cfg: CIMConfig) -> np.ndarray:
    """Weight of each input plane: 2^(i*d); the top plane of signed inputs is -2^(Ab-1)."""
    P, d = cfg.n_planes, cfg.dac_bits
    pw = np.int64(1) << (np.arange(P, dtype=np.int64) * d)
    if cfg.input_signed:
        pw[-1] = -pw[-1]
    return pw


def exact_dtype(bound: int) -> np.dtype:
    """The cheapest dtype whose BLAS matmul of integers is exact when |every sum| <= bound.

    With integer operands every product and every partial sum (in any order the BLAS picks) is
    an integer no larger than ``bound`` in magnitude; float32 represents all of them exactly
    below 2^24 and float64 below 2^53. Larger bounds use int64 (numpy's exact, slower matmul).
    """
    if bound < 2**24:
        return np.dtype(np.float32)
    if bound < 2**53:
        return np.dtype(np.float64)
    return np.dtype(np.int64)


def acc_dtype(pmax: int) -> np.dtype:
    """Narrowest integer dtype that holds every partial sum (and its negative, for balanced)."""
    if pmax < 1 << 15:
        return np.dtype(np.int16)
    if pmax < 1 << 31:
        return np.dtype(np.int32)
    return np.dtype(np.int64)


class PreparedWeights:
    """A layer's weights cut for one CIMConfig, ready for ``crossbar_mvm`` (``prepare_weights``).

    Everything that depends on the weights and the config alone is computed here once: the
    weight slices in the kernel's lane order (``tiles``, int8, one tile per group, output chunk
    and row tile), the slice and plane weights, the chunk sizes and the ADC path. A call then
    pays for its inputs only (and, when enough input planes use a tile, for that tile's lookup
    table). ``groups`` > 1 (or weights given as (groups, K, N)) is a block-diagonal grouped layer:
    each group's K x N matrix on arrays of its own, all converted in one pass.
    """

    def __init__(self, w: np.ndarray, cfg: CIMConfig, grouped: bool) -> None:
        groups, K, N = w.shape
        self.cfg = cfg
        self.grouped = grouped
        self.groups, self.K, self.N = groups, K, N
        self.T = -(-K // cfg.rows) if K else 0
        d = cfg.dac_bits
        # lookup tables pay off when a group holds at least two rows
        self.use_table = d <= GROUP_BITS // 2
        self.gs = GROUP_BITS // d if self.use_table else 1
        # pattern groups per tile: a layer narrower than R (depthwise: K = 9) needs only its own
        self.G = max(1, -(-min(cfg.rows, K) // self.gs))
        npat = 1 << (self.gs * d) if self.use_table else 1
        self.dtype = acc_dtype(cfg.pmax)
        self.proto = np.zeros(1, self.dtype)  # tells the kernels the accumulator dtype
        # bfp blocks: pad N to a multiple of B with zero columns (they never raise a block max);
        # a layer narrower than B is one block of N (depthwise: N = 1), with no padding lanes
        self.block = min(cfg.block, max(1, N)) if get_scheme(cfg.adc).kind == BFP else 1
        self.spw = slice_weights(cfg)
        self.pw = plane_weights(cfg)
        self.SP = self.spw.shape[0]
        self.Np = -(-N // self.block) * self.block
        # float32 ADC path: exact while |p| < 2^22 and the per-lane sum over planes < 2^24
        F = cfg.full_bits
        self.fast = F <= 22 and cfg.input_bits + F + 1 <= 24 and cfg.adc_bits <= 23
        # outputs per task: the task's table (or weight rows) should stay in L2; a multiple of B
        per_n = max(self.G * npat, self.G * self.gs) * self.SP
        nc = max(8, TABLE_BYTES // per_n)
        nc = max(self.block, nc // self.block * self.block)
        self.nc = max(1, min(nc, self.Np))
        self.n_chunks = -(-self.Np // self.nc) if self.Np else 1
        # the statistics' lane counters (accumulator dtype) gain at most P per (vector, tile)
        self.flush_every = max(1, int(np.iinfo(self.dtype).max) // cfg.n_planes)
        # a table costs 2^(gs d) - 1 row adds per group to build, a plane summed without it
        # about gs / 2 (d = 1, half the bits set) instead of 1/4 with it
        self.min_live = TABLE_MIN_PLANES
        # the ideal ADC's pass is x' @ w (``_execute_ideal``): its weights as an exact BLAS
        # operand, held for that scheme only
        self.w_blas: np.ndarray | None = None
        if get_scheme(cfg.adc).kind == IDEAL:
            bound = K * (1 << cfg.input_bits) * (1 << (cfg.weight_bits - 1))
            self.w_blas = w.astype(exact_dtype(bound))
        shape = (groups, self.n_chunks, self.T, self.G * self.gs, self.SP * self.nc)
        self.tiles = np.zeros(shape, dtype=np.int8)
        kn.gather_tiles(
            np.ascontiguousarray(w, dtype=np.int64), MAPPING_IDS[cfg.weight_mapping],
            cfg.cell_bits, 1 << (cfg.weight_bits - 1), cfg.rows, self.nc, self.block, self.tiles,
        )  # fmt: skip

    @property
    def nbytes(self) -> int:
        """Bytes held (the weight tiles and the BLAS weights)."""
        return int(self.tiles.nbytes + (0 if self.w_blas is None else self.w_blas.nbytes))

    def __repr__(self) -> str:
        shape = f"{self.groups} x " if self.grouped else ""
        return (
            f"PreparedWeights({shape}{self.K} x {self.N}, {self.nbytes / 2**20:.1f} MiB, "
            f"cfg={self.cfg!r})"
        )


class _Plan:
    """The per-call part of a run over prepared weights: vectors per task, batch chunks."""

    def __init__(self, w: np.ndarray | PreparedWeights, cfg: CIMConfig, M: int) -> None:
        if not isinstance(w, PreparedWeights):
            w = PreparedWeights(w.reshape(1, *w.shape), cfg, False)
        self.prep = prep = w
        self.cfg = prep.cfg
        threads = numba.get_num_threads()
        per_chunk = prep.groups * prep.n_chunks
        n_mch = max(1, min(-(-M // 16), -(-4 * threads // per_chunk)))
        self.mc = max(1, -(-M // n_mch))
        self.flush_every = prep.flush_every
        per_vec = max(1, prep.groups * prep.T * self.cfg.n_planes * prep.G * 2)
        self.batch = max(self.mc, PATTERN_BYTES // per_vec // self.mc * self.mc)

    def geo(self, M: int) -> tuple[int, ...]:
        """The kernels' shape tuple for M vectors per group (see kernels.py, "the drivers")."""
        p, cfg = self.prep, self.cfg
        return (M, p.K, p.N, cfg.rows, p.gs, cfg.dac_bits, p.nc, p.block, p.min_live)

    def patterns(self, xu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Group patterns (M, T, P, G) and live planes (M, T, P) of the plane source xu."""
        M = xu.shape[0]
        cfg, prep = self.cfg, self.prep
        # a pattern holds gs * d <= 4 bits with tables, else one digit of d <= 16 bits
        ptype = np.uint8 if prep.gs * cfg.dac_bits <= 8 else np.uint16
        pat = np.empty((M, prep.T, cfg.n_planes, prep.G), dtype=ptype)
        nz = np.empty((M, prep.T, cfg.n_planes), dtype=np.uint8)
        if xu.dtype == np.uint8 and prep.use_table and np.little_endian:
            words = self.group_words(xu)
            kn.plane_patterns_packed(words, cfg.dac_bits, cfg.n_planes, pat, nz)
        else:
            xu = xu.astype(np.int64, copy=False)
            kn.plane_patterns(xu, cfg.rows, cfg.dac_bits, prep.gs, pat, nz)
        return pat, nz

    def group_words(self, xu: np.ndarray) -> np.ndarray:
        """(M, T, G) words of a uint8 plane source: the gs bytes of each row group, zero-padded."""
        M, K = xu.shape
        R, T, width = self.cfg.rows, self.prep.T, self.prep.G * self.prep.gs
        if K == T * width and (T == 1 or width == R) and xu.flags.c_contiguous:
            grouped = xu.reshape(M, T, width)
        else:
            grouped = np.zeros((M, T, width), dtype=np.uint8)
            for t in range(T):
                part = xu[:, t * R : (t + 1) * R]
                grouped[:, t, : part.shape[1]] = part
        word = np.uint32 if self.prep.gs == 4 else np.uint16
        return grouped.reshape(M, T * width).view(word).reshape(M, T, self.prep.G)

    def n_tasks(self, M: int) -> int:
        return self.prep.groups * self.prep.n_chunks * (-(-M // self.mc))


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


def _fixed_window(cfg: CIMConfig, window: int) -> int:
    kind = get_scheme(cfg.adc).kind
    if kind == IDEAL or kind in (RAR, BFP):
        return 0
    if kind == CALIBRATED:
        return window
    return linear_window(cfg.full_bits, cfg.adc_bits)


def _collect_stats(
    prep: PreparedWeights, M: int, nz_counts: np.ndarray, kst: np.ndarray, kfix: np.ndarray
) -> CIMStats:
    """CIMStats summed over the groups, from each group's counts of non-skipped planes per tile
    (nz_counts: (groups, T)), kernel counters (kst: (groups, N_STAT)) and fixed window (kfix).

    Every count is a sum over groups, so this equals adding the CIMStats of one call per group.
    """
    cfg = prep.cfg
    groups, K, N, T, P, SP = prep.groups, prep.K, prep.N, prep.T, cfg.n_planes, prep.SP
    rows_t = np.minimum(cfg.rows, K - np.arange(T) * cfg.rows)
    cycles_g = nz_counts.sum(axis=1)
    cycles = int(cycles_g.sum())
    conv_dense = groups * M * T * P * SP * N
    conv = cycles * SP * N
    kind = get_scheme(cfg.adc).kind
    F, b = cfg.full_bits, cfg.adc_bits
    hist = np.zeros(kn.N_WINDOWS, dtype=np.int64)
    blocks = blocks_dense = 0
    if kind in (RAR, BFP):
        hist[:] = kst[:, kn.ST_HIST :].sum(axis=0)
        if kind == RAR:
            ksum = int((np.arange(kn.N_WINDOWS) * hist).sum())
            bits, bits_dense = F * conv - ksum, F * conv_dense - ksum
        else:
            bits, bits_dense = b * conv, b * conv_dense
            nblk = SP * (-(-N // cfg.block))
            blocks, blocks_dense = cycles * nblk, groups * M * T * P * nblk
    else:
        np.add.at(hist, kfix, cycles_g * (SP * N))
        per = F if kind == IDEAL else b
        bits, bits_dense = per * conv, per * conv_dense
    return CIMStats(
        vectors=groups * M,
        macs=groups * M * K * N,
        input_cycles_dense=groups * M * T * P,
        input_cycles=cycles,
        wordline_drives_dense=groups * M * P * K,
        wordline_drives=int((nz_counts * rows_t).sum()),
        conversions_dense=conv_dense,
        conversions=conv,
        adc_bit_cycles_dense=bits_dense,
        adc_bit_cycles=bits,
        blocks_dense=blocks_dense,
        blocks=blocks,
        saturated=int(kst[:, kn.ST_SAT].sum()),
        rounded_to_zero=int(kst[:, kn.ST_RZ].sum()),
        window_hist=hist,
    )


def _batch_rows(x: np.ndarray, m0: int, m1: int, cfg: CIMConfig) -> np.ndarray:
    """Plane source of vectors m0 .. m1 of every group: (groups * (m1 - m0), K), group-major."""
    groups, _, K = x.shape
    return _plane_source(x[:, m0:m1].reshape(groups * (m1 - m0), K), cfg)


def _live_planes(xs: np.ndarray, prep: PreparedWeights) -> tuple[np.ndarray, np.ndarray]:
    """(plane bits xu, live planes nz (rows, T, P) uint8) of a batch's plane source xs."""
    cfg = prep.cfg
    xu = _unsigned_planes(xs, cfg)
    if xu.dtype != np.uint8:
        xu = xu.astype(np.int64, copy=False)
    nz = np.empty((xs.shape[0], prep.T, cfg.n_planes), dtype=np.uint8)
    kn.plane_nonzero(xu, cfg.rows, cfg.dac_bits, nz)
    return xu, nz


def _side_by_side(prep: PreparedWeights) -> bool:
    """Whether a grouped layer runs its groups side by side (``kernels.mvm_group_lanes``)."""
    if prep.groups < 2 or prep.n_chunks != 1:
        return False
    if GROUP_LANES_MAX is None:
        return True
    return prep.SP * prep.Np <= GROUP_LANES_MAX and prep.K <= GROUP_ROWS_MAX


def _group_runs(prep: PreparedWeights, kfix: np.ndarray, M: int) -> tuple[np.ndarray, int]:
    """(first group, groups) of each side-by-side task, and vectors per task.

    A run holds groups of one fixed window (the ADC of a pass has one), at most
    GROUP_TASK_LANES lanes, split evenly; vector chunks make at least 4 tasks per thread.
    """
    per = max(1, GROUP_TASK_LANES // max(1, prep.SP * prep.Np))
    runs = []
    g = 0
    while g < prep.groups:
        e = g + 1
        while e < prep.groups and kfix[e] == kfix[g]:
            e += 1
        n = -(-(e - g) // per)  # split a run of equal windows evenly
        for i in range(n):
            a, b = g + (e - g) * i // n, g + (e - g) * (i + 1) // n
            runs.append((a, b - a))
        g = e
    gtasks = np.array(runs, dtype=np.int64).reshape(-1, 2)
    threads = numba.get_num_threads()
    n_mch = max(1, min(M, -(-4 * threads // len(runs))))
    return gtasks, max(1, -(-M // n_mch))


def _finish_batch(
    prep: PreparedWeights, xs: np.ndarray, nz: np.ndarray, yb: np.ndarray, nz_counts: np.ndarray
) -> None:
    """After a batch's kernel call: count its live planes per (group, tile) into ``nz_counts``
    and, for the offset mapping, take the offset's share out of its outputs ``yb``."""
    cfg = prep.cfg
    groups, mb = nz_counts.shape[0], yb.shape[0]
    kn.count_live(nz, nz_counts)  # numpy's sum over axes (1, 3) took 10x longer
    if cfg.weight_mapping == "offset":
        # u = w + 2^(Wb-1): subtract 2^(Wb-1) * sum_k x'[m, k], exactly, in int64
        sums = xs.reshape(groups, mb, prep.K).sum(axis=2, dtype=np.int64)
        yb.reshape(mb, groups, prep.N)[:] -= (sums.T << (cfg.weight_bits - 1))[:, :, None]


def _execute_side_by_side(
    x: np.ndarray, prep: PreparedWeights, kfix: np.ndarray, want_stats: bool
) -> tuple[np.ndarray, CIMStats | None]:
    """``_execute`` with the groups side by side in the lanes (narrow grouped layers)."""
    cfg = prep.cfg
    groups, M = x.shape[0], x.shape[1]
    y = np.zeros((M, groups * prep.N), dtype=np.int64)
    kst = np.zeros((groups, kn.N_STAT), dtype=np.int64)
    nz_counts = np.zeros((groups, prep.T), dtype=np.int64)
    kind = get_scheme(cfg.adc).kind
    adc = (kind, cfg.adc_bits, int(cfg.rounding == "nearest"), cfg.pmax)
    plan = _Plan(prep, cfg, M)
    for m0 in range(0, M, plan.batch):
        m1 = min(M, m0 + plan.batch)
        mb = m1 - m0
        xs = _batch_rows(x, m0, m1, cfg)
        xu, nz = _live_planes(xs, prep)
        gtasks, mc = _group_runs(prep, kfix, mb)
        run = (mc, prep.flush_every, prep.fast, want_stats)
        stats = np.zeros((len(gtasks) * -(-mb // mc), kn.N_STAT), dtype=np.int64)
        yb = y[m0:m1]
        kn.mvm_group_lanes(xu, nz, prep.tiles, gtasks, prep.spw, prep.pw, kfix, plan.geo(mb),
                           adc, run, prep.proto, yb, stats)  # fmt: skip
        kst[0] += stats.sum(axis=0)  # _collect_stats sums the counters over the groups
        _finish_batch(prep, xs, nz, yb, nz_counts)
    if not want_stats:
        return y, None
    return y, _collect_stats(prep, M, nz_counts, kst, kfix)


def _execute_ideal(
    x: np.ndarray, prep: PreparedWeights, kfix: np.ndarray, want_stats: bool
) -> tuple[np.ndarray, CIMStats | None]:
    """``_execute`` for the ideal ADC: y = x' @ w exactly, by BLAS, without the partial sums.

    An ideal ADC returns every partial sum as it is, so the shift-add gives x' @ w (SPEC:
    "ideal: q = p"); its counters are all zero and its window is 0, so the statistics need
    the live planes alone. Every sum of the matmul is an integer below the dtype's exact
    bound (``PreparedWeights.w_blas``), so the result is exact, 5-10x faster than the kernel.
    """
    cfg = prep.cfg
    groups, M = x.shape[0], x.shape[1]
    plan = _Plan(prep, cfg, M)
    y = np.empty((M, groups * prep.N), dtype=np.int64)
    nz_counts = np.zeros((groups, prep.T), dtype=np.int64)
    wb = prep.w_blas
    for m0 in range(0, M, plan.batch):
        m1 = min(M, m0 + plan.batch)
        xs = _batch_rows(x, m0, m1, cfg)
        if want_stats:
            kn.count_live(_live_planes(xs, prep)[1], nz_counts)
        prod = np.matmul(xs.reshape(groups, m1 - m0, prep.K).astype(wb.dtype), wb)
        y[m0:m1] = prod.transpose(1, 0, 2).reshape(m1 - m0, -1)
    if not want_stats:
        return y, None
    kst = np.zeros((groups, kn.N_STAT), dtype=np.int64)
    return y, _collect_stats(prep, M, nz_counts, kst, kfix)


def _execute(
    x: np.ndarray, prep: PreparedWeights, kfix: np.ndarray, want_stats: bool
) -> tuple[np.ndarray, CIMStats | None]:
    """y (M, groups * N) int64 of x (groups, M, K), and the statistics if asked for."""
    if get_scheme(prep.cfg.adc).kind == IDEAL:
        return _execute_ideal(x, prep, kfix, want_stats)
    if _side_by_side(prep):
        return _execute_side_by_side(x, prep, kfix, want_stats)
    cfg = prep.cfg
    groups, M = x.shape[0], x.shape[1]
    plan = _Plan(prep, cfg, M)
    y = np.zeros((M, groups * prep.N), dtype=np.int64)
    kst = np.zeros((groups, kn.N_STAT), dtype=np.int64)
    nz_counts = np.zeros((groups, prep.T), dtype=np.int64)
    kind = get_scheme(cfg.adc).kind
    adc = (kind, cfg.adc_bits, int(cfg.rounding == "nearest"), cfg.pmax)
    run = (plan.mc, prep.flush_every, prep.fast, want_stats)
    for m0 in range(0, M, plan.batch):
        m1 = min(M, m0 + plan.batch)
        mb = m1 - m0
        xs = _batch_rows(x, m0, m1, cfg)
        pat, nz = plan.patterns(_unsigned_planes(xs, cfg))
        stats = np.zeros((plan.n_tasks(mb), kn.N_STAT), dtype=np.int64)
        yb = y[m0:m1]
        kn.mvm_tiles(pat, nz, prep.tiles, prep.spw, prep.pw, kfix, plan.geo(mb), adc, run,
                     prep.proto, yb, stats)  # fmt: skip
        kst += stats.reshape(groups, -1, kn.N_STAT).sum(axis=1)
        _finish_batch(prep, xs, nz, yb, nz_counts)
    if not want_stats:
        return y, None
    return y, _collect_stats(prep, M, nz_counts, kst, kfix)


def _calibration_errors(x: np.ndarray, prep: PreparedWeights) -> list[int]:
    """Exact sum of squared errors of every window k = 0 .. max(0, F - b), Python ints."""
    cfg = prep.cfg
    M = x.shape[0]
    kmax = _window_range(cfg)
    use_hist = cfg.pmax + 1 <= HIST_LIMIT
    plan = _Plan(prep, cfg, M)
    if not use_hist:
        # each task's int64 error sums take < 2^34 per partial sum: keep a task < 2^28 sums
        per_vec = max(1, prep.T * cfg.n_planes * prep.SP * prep.Np)
        plan.mc = max(1, min(plan.mc, (1 << 28) // per_vec))
        plan.batch = max(plan.mc, plan.batch // plan.mc * plan.mc)
    hist = np.zeros(cfg.pmax + 1 if use_hist else 1, dtype=np.int64)
    err = [0] * (kmax + 1)
    nearest = int(cfg.rounding == "nearest")
    for m0 in range(0, M, plan.batch):
        xs = _plane_source(x[m0 : m0 + plan.batch], cfg)
        mb = xs.shape[0]
        pat, nz = plan.patterns(_unsigned_planes(xs, cfg))
        tasks = plan.n_tasks(mb)
        th = np.zeros((tasks, cfg.pmax + 1) if use_hist else (1, 1), np.int64)
        te = np.zeros((1, 1, 3) if use_hist else (tasks, kmax + 1, 3), np.int64)
        kn.calibration_tiles(pat, nz, prep.tiles, plan.geo(mb), cfg.adc_bits, nearest, plan.mc,
                             prep.proto, th, te, use_hist)  # fmt: skip
        if use_hist:
            hist += th.sum(axis=0)
            continue
        e = te.sum(axis=0)
        for k in range(kmax + 1):  # e^2 = eh^2 * 2^32 + 2 eh el * 2^16 + el^2, in Python ints
            err[k] += (int(e[k, 0]) << 32) + (int(e[k, 1]) << 17) + int(e[k, 2])
    return _errors_from_hist(hist, cfg, kmax) if use_hist else err


# ----------------------------------------------------------------------------- public


def prepare_weights(w: Any, cfg: CIMConfig) -> PreparedWeights:
    """Cut the weights of one layer for ``cfg`` once; ``crossbar_mvm`` accepts the result.

    w: (K, N) signed integer weights with |w| <= 2^(weight_bits-1) - 1, or (groups, K, N) for a
    grouped (or depthwise) layer mapped block-diagonally: group g computes x[g] @ w[g] on arrays
    of its own, and one call runs every group. Reusing the result across calls (batches,
    images) skips all weight-side work; the numbers are those of ``crossbar_mvm(x, w, cfg)``.
    Raises ValueError on a bad shape, dtype or value range, TypeError if cfg is no CIMConfig.
    """
    arr, grouped = _check_weights(w, cfg)
    return PreparedWeights(arr, cfg, grouped)


def _prepared(w: Any, cfg: CIMConfig | None) -> PreparedWeights:
    if isinstance(w, PreparedWeights):
        if cfg is not None and cfg != w.cfg:
            raise ValueError(
                "cfg differs from the config the weights were prepared for: leave cfg out, or "
                "prepare the weights again with prepare_weights(w, cfg)"
            )
        return w
    if cfg is None:
        raise TypeError("crossbar_mvm needs cfg (a CIMConfig) unless w comes from prepare_weights")
    return prepare_weights(w, cfg)


def crossbar_mvm(
    x: Any,
    w: Any,
    cfg: CIMConfig | None = None,
    *,
    window: Any = None,
    return_stats: bool = False,
) -> np.ndarray | tuple[np.ndarray, CIMStats]:
    """y = x @ w as the crossbar computes it (docs/spec.md), in int64.

    x: (M, K) integer inputs within cfg.input_bits; w: (K, N) signed integer weights with
    |w| <= 2^(weight_bits-1) - 1, or the ``PreparedWeights`` of ``prepare_weights(w, cfg)``
    (then cfg may be left out). Grouped weights ((groups, K, N), or prepared from them) take x
    as (groups, M, K) and give y as (groups, M, N). ``window`` is required for adc='calibrated'
    (from ``calibrate_window``; grouped: one int for all groups or one per group). With
    ``return_stats=True`` returns (y, CIMStats) with the event counts of the call (summed over
    the groups). Raises ValueError on a bad shape, dtype, value range or window.
    """
    prep = _prepared(w, cfg)
    x3 = _check_inputs(x, prep)
    kfix = _check_windows(window, prep)
    y, stats = _execute(x3, prep, kfix, bool(return_stats))
    if prep.grouped:
        y = y.reshape(y.shape[0], prep.groups, prep.N).transpose(1, 0, 2)
    return (y, stats) if return_stats else y


def calibrate_window(x_cal: Any, w: Any, cfg: CIMConfig | None = None) -> int:
    """The window k in 0 … max(0, F - b) of the calibrated ADC for this layer (docs/spec.md).

    Minimises the exact sum of (q - p)^2 over every partial sum that ``x_cal`` produces (after
    the input blocks; over |p| for balanced), q = min(rnd(p, k), 2^b - 1) * 2^k; ties go to the
    larger k. x_cal: (M, K) inputs, w: (K, N) weights (or their ``prepare_weights``), checked
    like crossbar_mvm's. A grouped layer has one window per group: call this per group.
    """
    prep = _prepared(w, cfg)
    if prep.grouped:
        raise ValueError("calibrate_window takes one group's (K, N) weights: call it per group")
    x = _check_inputs(x_cal, prep)[0]
    err = _calibration_errors(x, prep)
    best = 0
    for k in range(len(err)):
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
