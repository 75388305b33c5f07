"""Non-idealities of the analog side (docs/spec.md, "Noise"): config, draws and the noisy MVM.

``NoiseConfig`` is the ``noise.`` section of a design point. With every term at zero it is
``off`` and callers use the exact ``crossbar_mvm``; ``noisy_mvm`` itself routes there too, so the
numbers of docs/spec.md stay bit for bit. Otherwise each partial sum is converted as an analog
value: the exact sum of the (possibly stuck) cell levels, plus the cells' programming variation,
read noise, the ADC's offset and thermal noise, then each ADC scheme's thresholds (``kind`` of
the registry in ``adc.py``).

Draws: what is fixed once per array instance (stuck cells, programming variation, ADC offsets)
comes from numpy's Philox generator keyed by (seed, trial, layer key, group, term), drawn for
the whole layer at once (``prepare_noisy``); what is new on every conversion (thermal and read
noise) comes from a counter-based hash of (seed, trial, layer key, group, global vector index,
tile, plane, slice, polarity, output) inside the kernel. Neither depends on batch size, on how
the images are split over workers (callers give the global index of their first vector) or on
the thread count.
"""

from __future__ import annotations

import math
import numbers
import zlib
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numba
import numpy as np

from bfpdse.cim import noise_kernels as nk
from bfpdse.cim.adc import BFP, CALIBRATED, IDEAL, LINEAR, RAR, get_scheme, linear_window
from bfpdse.cim.config import CIMConfig
from bfpdse.cim.stats import CIMStats

#: the sigma terms (units in docs/spec.md) and the stuck-cell fractions
SIGMAS = ("adc_sigma", "adc_offset_sigma", "cell_sigma", "read_sigma")
FRACTIONS = ("stuck_off", "stuck_on")
#: largest noise.trials (a guard against typos: every trial is one full network pass)
TRIALS_MAX = 1000
SEED_MAX = (1 << 63) - 1


def _real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}={value!r} must be a number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name}={value!r} must be a finite number")
    return v


def _int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name}={value!r} must be an int in {low} … {high}")
    if not low <= int(value) <= high:
        raise ValueError(f"{name}={value!r} is out of range: allowed {low} … {high}")
    return int(value)


@dataclass(frozen=True)
class NoiseConfig:
    """Analog non-idealities of one design point; all zero (``off``) by default.

    - ``adc_sigma``: input-referred thermal noise of each conversion, Gaussian, in partial-sum
      units (one cell level times one input level).
    - ``adc_offset_sigma``: spread of a fixed offset per ADC, drawn once per array instance,
      in partial-sum units.
    - ``cell_sigma``: programming variation of each cell's level, drawn once per array
      instance, in cell levels.
    - ``read_sigma``: read noise of each cell on each read, in cell levels.
    - ``stuck_off``, ``stuck_on``: fractions of cells stuck at level 0 / at the top level.
    - ``seed``: seed of every draw; ``trials``: independent draws per point (1 … 1000).

    Every value is checked; when every term is zero, ``seed`` and ``trials`` change nothing and
    are set to 0 and 1, so that such points are one point.
    """

    adc_sigma: float = 0.0
    adc_offset_sigma: float = 0.0
    cell_sigma: float = 0.0
    read_sigma: float = 0.0
    stuck_off: float = 0.0
    stuck_on: float = 0.0
    seed: int = 0
    trials: int = 1

    def __post_init__(self) -> None:
        for name in SIGMAS:
            v = _real(name, getattr(self, name))
            if v < 0:
                raise ValueError(
                    f"{name}={v!r} is out of range: allowed >= 0 (a standard deviation)"
                )
            object.__setattr__(self, name, v)
        for name in FRACTIONS:
            v = _real(name, getattr(self, name))
            if not 0.0 <= v <= 1.0:
                raise ValueError(
                    f"{name}={v!r} is out of range: allowed 0 … 1 (a fraction of cells)"
                )
            object.__setattr__(self, name, v)
        if self.stuck_off + self.stuck_on > 1.0:
            raise ValueError(
                f"stuck_off={self.stuck_off!r} and stuck_on={self.stuck_on!r} add up to more "
                "than 1: allowed stuck_off + stuck_on <= 1"
            )
        object.__setattr__(self, "seed", _int("seed", self.seed, 0, SEED_MAX))
        object.__setattr__(self, "trials", _int("trials", self.trials, 1, TRIALS_MAX))
        if self.off:
            object.__setattr__(self, "seed", 0)
            object.__setattr__(self, "trials", 1)

    @property
    def off(self) -> bool:
        """True when every term is zero: the exact arithmetic of docs/spec.md."""
        return all(getattr(self, n) == 0.0 for n in (*SIGMAS, *FRACTIONS))

    @property
    def fixed_cells(self) -> bool:
        """True when the cell levels are the exact integers (no variation, no stuck cells)."""
        return self.cell_sigma == 0.0 and self.stuck_off == 0.0 and self.stuck_on == 0.0


# ----------------------------------------------------------------------------- draws

#: stream ids of the per-array draws (one Philox stream each)
_STREAMS = {"stuck": 1, "cell": 2, "offset": 3}
#: bytes of one task's lookup table to aim for (as in mvm.py: well inside L2)
TABLE_BYTES = 256 * 1024
#: bytes of group patterns per batch chunk (bounds the memory of big batches)
PATTERN_BYTES = 64 * 1024 * 1024


def _normal_table() -> np.ndarray:
    """2^12 equiprobable quantiles of the standard normal, rescaled to unit variance.

    A conversion's noise is sigma times the entry that the low 12 bits of its 16-bit field of
    the hash select (docs/spec.md, "Keys of the draws"):
    a normal truncated at ±3.66 sigma with a step of under 0.001 sigma near the mean.
    """
    n = 1 << nk.NORMAL_BITS
    inv = NormalDist().inv_cdf
    z = np.array([inv((j + 0.5) / n) for j in range(n)])
    return (z / np.sqrt(np.mean(z**2))).astype(np.float32)


NORMAL = _normal_table()
#: its float32 bit patterns, as the kernel reads them
_NORMAL_BITS = NORMAL.view(np.uint32)


def layer_key(name: str) -> int:
    """A stable integer key of a layer name (crc32), for keying its draws."""
    return zlib.crc32(name.encode())


def _rng(
    noise: NoiseConfig, trial: int, layer: int, group: int, stream: str
) -> np.random.Generator:
    seq = np.random.SeedSequence([noise.seed, trial, layer, group, _STREAMS[stream]])
    return np.random.Generator(np.random.Philox(seq))


def cell_levels(w: np.ndarray, cfg: CIMConfig) -> np.ndarray:
    """The integer level of every physical cell: (K, S, cells per slice, N) int64.

    differential and balanced: cell 0 holds slice j of w+ = max(w, 0), cell 1 of w- = max(-w, 0);
    offset: one cell per slice of u = w + 2^(Wb-1).
    """
    c, S = cfg.cell_bits, cfg.n_slices
    shifts = (np.arange(S, dtype=np.int64) * c)[None, :, None, None]
    mask = (1 << c) - 1
    if cfg.weight_mapping == "offset":
        u = (w + (1 << (cfg.weight_bits - 1)))[:, None, None, :]
        return (u >> shifts) & mask
    pair = np.stack([np.maximum(w, 0), np.maximum(-w, 0)], axis=1)[:, None, :, :]
    return (pair >> shifts) & mask


@dataclass
class NoisyLayer:
    """One weight matrix on its array instances for one trial: cell levels, offsets, keys."""

    cfg: CIMConfig
    noise: NoiseConfig
    K: int
    N: int
    levels: np.ndarray  # (K, SP, Np) per lane (signed differences for balanced)
    spw: np.ndarray  # (SP,) signed slice weights
    offsets: np.ndarray  # (T, SP, Np) float64
    key: np.uint64  # key of (seed, trial, layer, group)
    block: int


def prepare_noisy(
    w: Any, cfg: CIMConfig, noise: NoiseConfig, *, trial: int = 0, layer: int = 0, group: int = 0
) -> NoisyLayer:
    """Draw the per-array-instance terms of one weight matrix w (K, N) for one trial.

    Stuck cells and programming variation are drawn per physical cell (K, S, cells, N), ADC
    offsets per converted column (T, lanes, N); each from its own Philox stream keyed by
    (noise.seed, trial, layer, group), so they do not depend on the batch.
    """
    w = np.asarray(w, dtype=np.int64)
    K, N = w.shape
    S, c = cfg.n_slices, cfg.cell_bits
    lv = cell_levels(w, cfg)
    if noise.stuck_off or noise.stuck_on:
        u = _rng(noise, trial, layer, group, "stuck").random(lv.shape)
        lv = np.where(u < noise.stuck_off, 0, lv)
        lv = np.where((u >= noise.stuck_off) & (u < noise.stuck_off + noise.stuck_on),
                      (1 << c) - 1, lv)  # fmt: skip
    if noise.cell_sigma:
        # float32 sums keep an ulp below 2^-9 levels while Pmax < 2^14, else float64
        ftype = np.float32 if cfg.full_bits <= 14 else np.float64
        delta = _rng(noise, trial, layer, group, "cell").standard_normal(lv.shape)
        g = (lv + noise.cell_sigma * delta).astype(ftype)
    else:
        g = lv.astype(np.int8)
    scale = np.int64(1) << (np.arange(S, dtype=np.int64) * c)
    if cfg.weight_mapping == "differential":
        lanes = g.reshape(K, 2 * S, N)
        spw = np.stack([scale, -scale], axis=1).reshape(-1)
    elif cfg.weight_mapping == "balanced":
        lanes = g[:, :, 0] - g[:, :, 1]
        spw = scale
    else:
        lanes = g[:, :, 0]
        spw = scale
    block = cfg.block if get_scheme(cfg.adc).kind == BFP else 1
    # outputs padded (zero cells, masked in the kernel) to whole groups of 4 bfp blocks
    Np = -(-N // (4 * block)) * 4 * block
    SP = lanes.shape[1]
    levels = np.zeros((K, SP, Np), dtype=lanes.dtype)
    levels[:, :, :N] = lanes
    T = -(-K // cfg.rows) if K else 0
    offsets = np.zeros((T, SP, Np))
    if noise.adc_offset_sigma:
        rng = _rng(noise, trial, layer, group, "offset")
        offsets[:, :, :N] = noise.adc_offset_sigma * rng.standard_normal((T, SP, N))
    key = np.uint64(nk.mix64(np.uint64(noise.seed)))
    for v in (trial, layer, group):
        key = np.uint64(nk.chain(key, np.uint64(v)))
    return NoisyLayer(cfg, noise, K, N, levels, spw, offsets, key, block)


# ----------------------------------------------------------------------------- the noisy MVM


def _acc_dtype(levels: np.ndarray, pmax: int) -> np.dtype:
    if levels.dtype.kind == "f":
        return levels.dtype
    return np.dtype(np.int16 if pmax < 1 << 15 else np.int32 if pmax < 1 << 31 else np.int64)


def _adc_params(cfg: CIMConfig, window: int) -> tuple[int, int, int, float]:
    """(kind, fixed window or -1, kmax, largest code) of the converter (docs/spec.md, "Noise")."""
    kind = get_scheme(cfg.adc).kind
    F, b = cfg.full_bits, cfg.adc_bits
    kmax = max(0, F - b)
    if kind == IDEAL:
        return kind, 0, 0, float((1 << F) - 1)
    if kind in (RAR, BFP):
        return kind, -1, kmax, float(1 << b)  # the carry code 2^b, as rnd's rounding up
    kf = window if kind == CALIBRATED else linear_window(F, b)
    assert kind in (LINEAR, CALIBRATED)
    return kind, kf, kmax, float((1 << b) - 1)


def _planes(xs: np.ndarray, cfg: CIMConfig) -> np.ndarray:
    """The bits the planes are cut from: x' itself or its two's complement."""
    if cfg.input_signed:
        return xs.astype(np.int64) & ((1 << cfg.input_bits) - 1)
    return xs


def _int_matrix(name: str, a: Any, low: int, high: int, what: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind not in "iu" or arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of integers, got shape {arr.shape} and dtype {arr.dtype}"
        )
    if arr.size and (int(arr.min()) < low or int(arr.max()) > high):
        raise ValueError(
            f"{name} has values in {int(arr.min())} … {int(arr.max())}, outside what {what} "
            f"allows: {low} … {high}"
        )
    return arr


def _check_args(x: Any, w: Any, cfg: CIMConfig) -> tuple[np.ndarray, np.ndarray]:
    """x (M, K) in its own integer dtype and w (K, N) as int64, checked as crossbar_mvm checks
    them (docs/spec.md)."""
    if not isinstance(cfg, CIMConfig):
        raise TypeError(f"cfg must be a CIMConfig, got {type(cfg).__name__}")
    ab, wb = cfg.input_bits, cfg.weight_bits
    if cfg.input_signed:
        x = _int_matrix("x", x, -(1 << (ab - 1)), (1 << (ab - 1)) - 1, f"input_bits={ab} (signed)")
    else:
        x = _int_matrix("x", x, 0, (1 << ab) - 1, f"input_bits={ab} (unsigned)")
    wmax = (1 << (wb - 1)) - 1
    w = _int_matrix("w", w, -wmax, wmax, f"weight_bits={wb}").astype(np.int64, copy=False)
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"shapes do not match: x is {x.shape} and w is {w.shape}")
    return x, w


def _check_window(window: Any, cfg: CIMConfig) -> int:
    kmax = max(0, cfg.full_bits - cfg.adc_bits)
    if not get_scheme(cfg.adc).needs_window:
        if window is not None:
            raise ValueError(f"window={window!r} is only used by adc='calibrated': leave it out")
        return 0
    if isinstance(window, bool) or not isinstance(window, numbers.Integral):
        raise ValueError(f"adc='calibrated' needs window=: an int in 0 … {kmax}, got {window!r}")
    if not 0 <= int(window) <= kmax:
        raise ValueError(f"window={window} is out of range: allowed 0 … {kmax}")
    return int(window)


def noisy_mvm(
    x: Any,
    w: Any,
    cfg: CIMConfig,
    noise: NoiseConfig,
    *,
    window: int | None = None,
    trial: int = 0,
    layer: int = 0,
    group: int = 0,
    row0: int = 0,
    prepared: NoisyLayer | None = None,
    return_stats: bool = False,
) -> np.ndarray | tuple[np.ndarray, CIMStats]:
    """y = x @ w as a crossbar with the non-idealities of ``noise`` computes it, in int64.

    Arguments as ``crossbar_mvm``'s, plus the keys of the draws: ``trial``, ``layer`` (an int,
    e.g. ``layer_key(name)``), ``group`` and ``row0``, the global index of x's first row (so a
    batch or shard that starts at vector r0 draws what a single call over every vector would).
    ``prepared`` (from ``prepare_noisy`` with the same w, cfg, noise and keys) saves drawing the
    per-array terms again on every batch. With ``noise.off`` this is ``crossbar_mvm`` exactly.
    """
    from bfpdse.cim.mvm import apply_input_blocks, crossbar_mvm

    if noise.off:
        return crossbar_mvm(x, w, cfg, window=window, return_stats=return_stats)
    x, w = _check_args(x, w, cfg)
    window = _check_window(window, cfg)
    if prepared is None:
        prepared = prepare_noisy(w, cfg, noise, trial=trial, layer=layer, group=group)
    elif (prepared.K, prepared.N) != w.shape or prepared.cfg != cfg or prepared.noise != noise:
        raise ValueError("prepared= was drawn for another weight matrix, config or noise")
    M = x.shape[0]
    kind, kf, kmax, cmax = _adc_params(cfg, window)
    run = _Run(prepared, M)
    y = np.zeros((M, prepared.N), dtype=np.int64)
    stats = np.zeros(nk.N_STAT, dtype=np.int64)
    nz_tiles = np.zeros(run.T, dtype=np.int64)
    for m0 in range(0, M, run.batch):
        xs = x[m0 : m0 + run.batch]
        if cfg.input_mantissa_bits is not None:
            xs = apply_input_blocks(xs.astype(np.int64), cfg.rows, cfg.input_mantissa_bits,
                                    cfg.rounding == "nearest")  # fmt: skip
        pat, nz, s2 = run.patterns(_planes(xs, cfg))
        yc = y[m0 : m0 + run.batch]
        st = np.zeros((run.n_tasks(xs.shape[0]), nk.N_STAT), dtype=np.int64)
        nk.noisy_tiles(
            pat, nz, s2, prepared.levels, run.acc0, run.ybuf0, prepared.spw, run.pw,
            prepared.offsets, cfg.rows, run.gs, cfg.dac_bits, run.use_table, kind, kf,
            cfg.adc_bits, kmax, cmax, prepared.block, cfg.rounding == "nearest",
            cfg.weight_mapping == "balanced", noise.adc_sigma**2, run.read_var, prepared.key,
            np.int64(row0 + m0), _NORMAL_BITS, run.nc, run.mc, bool(return_stats), yc, st,
        )  # fmt: skip
        stats += st.sum(axis=0)
        nz_tiles += nz.sum(axis=(0, 2), dtype=np.int64)
        if cfg.weight_mapping == "offset":
            # u = w + 2^(Wb-1): the digital side subtracts 2^(Wb-1) * sum_k x'[m, k], exactly
            yc -= xs.sum(axis=1, dtype=np.int64, keepdims=True) << (cfg.weight_bits - 1)
    if not return_stats:
        return y
    return y, _stats(cfg, prepared, M, nz_tiles, stats, kind, kf)


class _Run:
    """Grouping, chunk sizes and the plane weights of one noisy_mvm call."""

    def __init__(self, prep: NoisyLayer, M: int) -> None:
        cfg = prep.cfg
        d = cfg.dac_bits
        self.T = prep.offsets.shape[0]
        self.use_table = d <= 2
        self.gs = 4 // d if self.use_table else 1
        self.G = -(-cfg.rows // self.gs)
        npat = 1 << (self.gs * d) if self.use_table else 1
        self.acc0 = np.zeros(0, dtype=_acc_dtype(prep.levels, cfg.pmax))
        # a lane's sum over planes of pw * code * 2^k: |.| < 2^(Ab + F + 1), exact in float32
        # up to 2^24
        exact32 = cfg.input_bits + cfg.full_bits + 1 <= 24
        self.ybuf0 = np.zeros(0, dtype=np.float32 if exact32 else np.float64)
        SP, Np = prep.levels.shape[1:]
        per_n = max(self.G * npat, self.G * self.gs) * SP * prep.levels.dtype.itemsize
        align = 4 * prep.block
        nc = max(8, TABLE_BYTES // per_n)
        self.nc = max(1, min(max(align, nc // align * align), Np))
        self.n_nch = -(-Np // self.nc) if Np else 1
        threads = numba.get_num_threads()
        n_mch = max(1, min(-(-M // 16), -(-4 * threads // self.n_nch)))
        self.mc = max(1, -(-M // n_mch))
        per_vec = max(1, self.T * cfg.n_planes * (self.G * 2 + 9))
        self.batch = max(self.mc, PATTERN_BYTES // per_vec // self.mc * self.mc)
        pw = np.int64(1) << (np.arange(cfg.n_planes, dtype=np.int64) * d)
        if cfg.input_signed:
            pw[-1] = -pw[-1]
        self.pw = pw
        # read noise: every active row adds digit^2 * read_sigma^2 per cell on the bit line
        cells = 2 if cfg.weight_mapping == "balanced" else 1
        self.read_var = cells * prep.noise.read_sigma**2
        self.cfg = cfg

    def patterns(self, xu: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        M = xu.shape[0]
        cfg = self.cfg
        ptype = np.uint8 if self.gs * cfg.dac_bits <= 8 else np.uint16
        pat = np.empty((M, self.T, cfg.n_planes, self.G), dtype=ptype)
        nz = np.empty((M, self.T, cfg.n_planes), dtype=np.uint8)
        s2 = np.empty((M, self.T, cfg.n_planes), dtype=np.int64)
        # each tile zero-padded to whole groups, in the narrowest dtype of the inputs
        width = self.G * self.gs
        xp = np.zeros((M, self.T, width), dtype=np.uint8 if cfg.input_bits <= 8 else np.int64)
        for t in range(self.T):
            part = xu[:, t * cfg.rows : (t + 1) * cfg.rows]
            xp[:, t, : part.shape[1]] = part
        nk.plane_patterns(xp.reshape(M, -1), cfg.dac_bits, self.gs, pat, nz, s2)
        return pat, nz, s2

    def n_tasks(self, M: int) -> int:
        return self.n_nch * (-(-M // self.mc))


def _stats(
    cfg: CIMConfig, prep: NoisyLayer, M: int, nz_tiles: np.ndarray, st: np.ndarray, kind: int,
    kf: int,
) -> CIMStats:  # fmt: skip
    """CIMStats of a noisy call: counts as crossbar_mvm's, windows and clips of the noisy values."""
    K, N, T, P = prep.K, prep.N, prep.offsets.shape[0], cfg.n_planes
    SP = prep.levels.shape[1]
    rows_t = np.minimum(cfg.rows, K - np.arange(T) * cfg.rows)
    cycles = int(nz_tiles.sum())
    conv_dense = M * T * P * SP * N
    conv = int(st[nk.ST_CONV])
    F, b = cfg.full_bits, cfg.adc_bits
    hist = np.zeros(33, dtype=np.int64)
    blocks = blocks_dense = 0
    if kind in (RAR, BFP):
        kmax = max(0, F - b)
        at_least = np.zeros(kmax + 2, dtype=np.int64)
        at_least[0] = conv
        at_least[1 : kmax + 1] = st[nk.ST_K : nk.ST_K + kmax]
        hist[: kmax + 1] = at_least[:-1] - at_least[1:]
        ksum = int((np.arange(33) * hist).sum())
        if kind == RAR:
            bits, bits_dense = F * conv - ksum, F * conv_dense - ksum
        else:
            bits, bits_dense = b * conv, b * conv_dense
            nblk = SP * (-(-N // cfg.block))
            blocks, blocks_dense = cycles * nblk, M * T * P * nblk
    else:
        hist[kf] = conv
        per = F if kind == IDEAL else b
        bits, bits_dense = per * conv, per * conv_dense
    return CIMStats(
        vectors=M,
        macs=M * K * N,
        input_cycles_dense=M * T * P,
        input_cycles=cycles,
        wordline_drives_dense=M * P * K,
        wordline_drives=int((nz_tiles * rows_t).sum()),
        conversions_dense=conv_dense,
        conversions=conv,
        adc_bit_cycles_dense=bits_dense,
        adc_bit_cycles=bits,
        blocks_dense=blocks_dense,
        blocks=blocks,
        saturated=int(st[nk.ST_SAT]),
        rounded_to_zero=int(st[nk.ST_RZ]),
        window_hist=hist,
    )


class NoisyLayers:
    """The noisy MVM of a network's layers for one trial: each layer's array instances are
    drawn once (on its first call) and reused by every batch; a layer's key is its name."""

    def __init__(self, noise: NoiseConfig, trial: int = 0) -> None:
        self.noise = noise
        self.trial = trial
        self._prepared: dict[tuple[str, int], NoisyLayer] = {}

    def mvm(
        self,
        name: str,
        x: np.ndarray,
        w: np.ndarray,
        cfg: CIMConfig,
        window: Any,
        row0: int,
        return_stats: bool,
    ) -> np.ndarray | tuple[np.ndarray, CIMStats]:
        """As ``crossbar_mvm(x, w, cfg, window=...)`` with this noise: x (M, K) with w (1, K, N)
        gives (M, N); grouped x (groups, M, K) with w (groups, K, N) gives (groups, M, N) and
        one window per group. row0: the global index of x's first row (vector)."""
        grouped = x.ndim == 3
        xs = x if grouped else x[None]
        windows = window if grouped and window is not None else [window] * len(xs)
        ys, total = [], CIMStats()
        for g, xg in enumerate(xs):
            prep = self._prepared.get((name, g))
            if prep is None:
                prep = prepare_noisy(w[g], cfg, self.noise, trial=self.trial,
                                     layer=layer_key(name), group=g)  # fmt: skip
                self._prepared[name, g] = prep
            out = noisy_mvm(xg, w[g], cfg, self.noise, window=windows[g], row0=row0,
                            prepared=prep, return_stats=return_stats)  # fmt: skip
            ys.append(out[0] if return_stats else out)
            if return_stats:
                total = total + out[1]
        y = np.stack(ys) if grouped else ys[0]
        return (y, total) if return_stats else y
