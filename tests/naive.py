"""Slow reference of the CIM arithmetic, written from docs/spec.md alone (not from bfpdse.cim).

Plain numpy over the independent indices (vectors m, outputs n) and Python loops over the
decomposition (tile t, input plane i, weight slice j, polarity), following docs/spec.md step by
step.
The outputs are accumulated in Python ints, so nothing overflows on the way.

The config is read by its docs/spec.md field names only (``rows``, ``cell_bits``, ...); the derived
quantities F, P, S are computed here from docs/spec.md, not taken from the config object.

Readings chosen where docs/spec.md leaves room (closest to hardware):

- ``offset`` with input blocks on: the digital correction uses the inputs actually applied (x'),
  so that ``ideal`` gives x' @ w exactly (the engine knows x', not x).
- ``saturated`` counts codes with rnd(p, k) > 2^b - 1 (a code equal to 2^b - 1 is not clipped).
- ``wordline_drives``: every row of the tile is driven in each input cycle that is not skipped
  (SPEC: "per input cycle, the rows of that tile"), also rows whose plane bit is 0.
- Zero-plane skipping works per (vector, tile, plane) as a whole: a plane that is not all zero is
  converted for every slice, polarity and output, even where its partial sums happen to be 0; such
  a bfp block is still a block (one exponent search) with k = 0.
- ``adc_bit_cycles`` of ``linear``/``calibrated``/``bfp`` is b per conversion even when b > F, and
  ``ideal`` is F per conversion.
"""

from __future__ import annotations

from typing import Any

import numpy as np

N_WINDOWS = 33  # window_hist length: k = 0 .. 32

STAT_FIELDS = (
    "vectors",
    "macs",
    "input_cycles_dense",
    "input_cycles",
    "wordline_drives_dense",
    "wordline_drives",
    "conversions_dense",
    "conversions",
    "adc_bit_cycles_dense",
    "adc_bit_cycles",
    "blocks_dense",
    "blocks",
    "saturated",
    "rounded_to_zero",
    "window_hist",
)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def derived(cfg: Any) -> dict[str, int]:
    """Pmax, F, b (resolved), P, S and polarities of ``cfg``, from docs/spec.md."""
    R, c, d = int(cfg.rows), int(cfg.cell_bits), int(cfg.dac_bits)
    wb, ab = int(cfg.weight_bits), int(cfg.input_bits)
    pmax = R * (2**c - 1) * (2**d - 1)
    F = pmax.bit_length()
    b = F if cfg.adc_bits is None else int(cfg.adc_bits)
    P = ab if cfg.input_signed else _ceil_div(ab, d)
    S = _ceil_div(wb, c) if cfg.weight_mapping == "offset" else _ceil_div(wb - 1, c)
    pol = 2 if cfg.weight_mapping == "differential" else 1
    return {"pmax": pmax, "F": F, "b": b, "P": P, "S": S, "pol": pol}


def rnd(v: np.ndarray, k: np.ndarray | int, rounding: str) -> np.ndarray:
    """rnd(v, k) of docs/spec.md for v >= 0: v if k = 0, else drop k low bits (nearest: half up)."""
    v = np.asarray(v, dtype=np.int64)
    k = np.broadcast_to(np.asarray(k, dtype=np.int64), v.shape)
    assert (v >= 0).all() and (k >= 0).all()
    out = v.copy()
    sel = k >= 1
    vs, ks = v[sel], k[sel]
    if rounding == "nearest":
        out[sel] = (vs + (np.int64(1) << (ks - 1))) >> ks  # floor((v + 2^(k-1)) / 2^k)
    elif rounding == "floor":
        out[sel] = vs >> ks  # floor(v / 2^k)
    else:
        raise ValueError(f"unknown rounding {rounding!r}")
    return out


def msb(v: np.ndarray) -> np.ndarray:
    """floor(log2 v) for v > 0 (exact: frexp of an int below 2^53 is exact)."""
    v = np.asarray(v, dtype=np.int64)
    assert (v > 0).all() and (v < 2**53).all()
    return (np.frexp(v.astype(np.float64))[1] - 1).astype(np.int64)


def _tiles(K: int, R: int) -> list[tuple[int, int]]:
    """Step 1: T = ceil(K / R) tiles of R consecutive rows, the last may be shorter."""
    return [(s, min(s + R, K)) for s in range(0, K, R)]


def apply_input_blocks(x: np.ndarray, cfg: Any) -> np.ndarray:
    """Step 0: x' of the dynamic BFP input blocks (one block = one row of x within one tile)."""
    m = cfg.input_mantissa_bits
    if m is None:
        return x.copy()
    m = int(m)
    out = np.zeros_like(x)
    for s, e in _tiles(x.shape[1], int(cfg.rows)):
        for r in range(x.shape[0]):
            blk = x[r, s:e]
            top = int(blk.max())
            if top == 0:
                continue  # an all-zero block stays zero
            E = int(msb(np.array([top]))[0])
            kx = max(0, E - m + 1)
            out[r, s:e] = np.minimum(rnd(blk, kx, cfg.rounding), 2**m - 1) << kx
    return out


def input_planes(x: np.ndarray, cfg: Any) -> list[tuple[np.ndarray, int]]:
    """Step 2: (plane values, plane weight) for every input plane i."""
    ab, d = int(cfg.input_bits), int(cfg.dac_bits)
    if cfg.input_signed:
        assert d == 1
        # two's-complement bits: numpy's >> on int64 is arithmetic, so bit i of a negative x
        # is that of its two's complement; the top plane weighs -2^(Ab-1)
        return [((x >> i) & 1, -(2**i) if i == ab - 1 else 2**i) for i in range(ab)]
    P = _ceil_div(ab, d)
    return [((x >> (i * d)) & (2**d - 1), 2 ** (i * d)) for i in range(P)]


def weight_slices(w: np.ndarray, cfg: Any) -> list[list[tuple[np.ndarray, int]]]:
    """Step 3: per slice j, its columns as (unsigned slice values, signed slice weight).

    differential: two entries (w+ with +2^(jc), w- with -2^(jc)), converted separately.
    balanced: two entries too, but they are subtracted before the ADC (see naive_mvm).
    offset: one entry of u = w + 2^(Wb-1).
    """
    c, wb = int(cfg.cell_bits), int(cfg.weight_bits)
    mask = 2**c - 1
    if cfg.weight_mapping == "offset":
        u = w + 2 ** (wb - 1)
        S = _ceil_div(wb, c)
        return [[((u >> (j * c)) & mask, 2 ** (j * c))] for j in range(S)]
    wp, wn = np.maximum(w, 0), np.maximum(-w, 0)
    S = _ceil_div(wb - 1, c)
    return [
        [((wp >> (j * c)) & mask, 2 ** (j * c)), ((wn >> (j * c)) & mask, -(2 ** (j * c)))]
        for j in range(S)
    ]


def partial_sums(x: np.ndarray, w: np.ndarray, cfg: Any):
    """Step 4: yield ((t, i), tile length, plane weight, active rows, conversion weight, p).

    One item per tile t, plane i, slice j and conversion (polarity). ``p`` is (M, N): unsigned
    for differential and offset, the signed p+ - p- for balanced. ``active[m]`` is False where the
    plane is all zero over the input block (vector m, tile t): those conversions are skipped.
    """
    slices = weight_slices(w, cfg)
    for t, (s, e) in enumerate(_tiles(x.shape[1], int(cfg.rows))):
        for i, (plane, pw) in enumerate(input_planes(x[:, s:e], cfg)):
            active = plane.any(axis=1)
            for cols in slices:
                if cfg.weight_mapping == "balanced":
                    (sp, sw), (sn, _) = cols
                    p = plane @ sp[s:e] - plane @ sn[s:e]
                    yield (t, i), e - s, pw, active, sw, p
                else:
                    for sl, sw in cols:
                        yield (t, i), e - s, pw, active, sw, plane @ sl[s:e]


def adc(a: np.ndarray, cfg: Any, F: int, b: int, window: int | None):
    """Step 5 on magnitudes a >= 0 (M, N): (code, k, saturated mask), q = code * 2^k."""
    scheme = cfg.adc
    a = np.asarray(a, dtype=np.int64)
    sat = np.zeros(a.shape, dtype=bool)
    if scheme == "ideal":
        return a.copy(), np.zeros_like(a), sat
    if scheme in ("linear", "calibrated"):
        kk = max(0, F - b) if scheme == "linear" else int(window)
        k = np.full_like(a, kk)
        r = rnd(a, k, cfg.rounding)
        sat = r > 2**b - 1
        return np.minimum(r, 2**b - 1), k, sat
    if scheme == "rar":
        k = np.zeros_like(a)
        nz = a > 0
        k[nz] = np.maximum(0, msb(a[nz]) - b + 1)  # p = 0 gives k = 0 (q = 0)
        return rnd(a, k, cfg.rounding), k, sat
    if scheme == "bfp":
        B = int(cfg.block)
        k = np.zeros_like(a)
        for s in range(0, a.shape[1], B):  # B consecutive outputs; the last block may be shorter
            top = a[:, s : s + B].max(axis=1)
            kb = np.zeros_like(top)
            nz = top > 0
            kb[nz] = np.maximum(0, msb(top[nz]) - b + 1)  # an all-zero block gives k = 0
            k[:, s : s + B] = kb[:, None]
        return rnd(a, k, cfg.rounding), k, sat
    raise ValueError(f"unknown adc {scheme!r}")


def _bit_cycles(k: np.ndarray, scheme: str, F: int, b: int) -> np.ndarray:
    """SAR bit-cycles per conversion: b (linear, calibrated, bfp), F (ideal), F - k (rar)."""
    if scheme == "ideal":
        return np.full_like(k, F)
    if scheme == "rar":
        return F - k
    return np.full_like(k, b)


def naive_mvm(
    x: np.ndarray, w: np.ndarray, cfg: Any, window: int | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """y (M, N) int64 and the statistics (CIMStats field names; window_hist as a list)."""
    x = np.asarray(x, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    M, K = x.shape
    N = w.shape[1]
    assert w.shape[0] == K
    dv = derived(cfg)
    F, b, P, S, pol = dv["F"], dv["b"], dv["P"], dv["S"], dv["pol"]
    scheme = cfg.adc
    if scheme == "calibrated" and window is None:
        raise ValueError("adc='calibrated' needs a window")
    T = len(_tiles(K, int(cfg.rows)))
    nblk = _ceil_div(N, int(cfg.block))

    xq = apply_input_blocks(x, cfg)
    y = np.zeros((M, N), dtype=object)
    st: dict[str, Any] = {f: 0 for f in STAT_FIELDS}
    hist = np.zeros(N_WINDOWS, dtype=np.int64)
    zero_cost = F if scheme in ("ideal", "rar") else b  # bit-cycles of converting p = 0
    seen_planes: set[tuple[int, int]] = set()
    for ti, n_rows, pw, active, sw, p in partial_sums(xq, w, cfg):
        code, k, sat = adc(np.abs(p), cfg, F, b, window)
        q = np.sign(p) * code * (np.int64(1) << k)  # sign-magnitude for balanced
        y += (pw * sw) * q.astype(object)

        na = int(active.sum())
        act = active[:, None] & np.ones((1, N), dtype=bool)
        cost = _bit_cycles(k, scheme, F, b)
        st["conversions"] += na * N
        st["conversions_dense"] += M * N
        st["adc_bit_cycles"] += int(cost[act].sum())
        st["adc_bit_cycles_dense"] += int(cost[act].sum()) + (M - na) * N * zero_cost
        if scheme == "bfp":
            st["blocks"] += na * nblk
            st["blocks_dense"] += M * nblk
        st["saturated"] += int(sat[act].sum())
        st["rounded_to_zero"] += int(((p != 0) & (code == 0) & act).sum())
        hist += np.bincount(k[act].ravel(), minlength=N_WINDOWS)[:N_WINDOWS]
        # input cycles: once per (tile, plane), not per slice/polarity
        if ti not in seen_planes:
            seen_planes.add(ti)
            st["input_cycles"] += na
            st["wordline_drives"] += na * n_rows
            st["wordline_drives_dense"] += M * n_rows

    if cfg.weight_mapping == "offset":
        corr = np.array([int(v) for v in xq.sum(axis=1)], dtype=object)  # digital, exact
        y -= (2 ** (int(cfg.weight_bits) - 1)) * corr[:, None]

    st["vectors"] = M
    st["macs"] = M * K * N
    st["input_cycles_dense"] = M * T * P
    st["window_hist"] = [int(v) for v in hist]
    assert st["conversions_dense"] == M * T * P * S * pol * N
    return np.array(y.tolist(), dtype=np.int64).reshape(M, N), st


def naive_partial_magnitudes(x: np.ndarray, w: np.ndarray, cfg: Any) -> np.ndarray:
    """Every |p| that x produces (all tiles, planes, slices, polarities, after step 0)."""
    x = np.asarray(x, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    xq = apply_input_blocks(x, cfg)
    parts = [np.abs(p).ravel() for *_, p in partial_sums(xq, w, cfg)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def window_error(mags: np.ndarray, k: int, b: int, rounding: str) -> int:
    """Sum of (q - p)^2 over the magnitudes with the fixed window k (a Python int)."""
    vals, counts = np.unique(mags, return_counts=True)
    q = np.minimum(rnd(vals, k, rounding), 2**b - 1) * (np.int64(1) << k)
    diff = (q - vals).astype(object)
    return int(sum(int(c) * int(e) * int(e) for c, e in zip(counts, diff, strict=True)))


def naive_calibrate_window(x_cal: np.ndarray, w: np.ndarray, cfg: Any) -> int:
    """The k in 0 .. max(0, F - b) with least squared error; on a tie the larger k."""
    dv = derived(cfg)
    F, b = dv["F"], dv["b"]
    mags = naive_partial_magnitudes(x_cal, w, cfg)
    best_k, best_err = 0, None
    for k in range(max(0, F - b) + 1):
        err = window_error(mags, k, b, cfg.rounding)
        if best_err is None or err <= best_err:  # <= : a tie goes to the larger k
            best_k, best_err = k, err
    return best_k
