"""Numba kernels of the crossbar engine (the two lower tiers of docs/design.md).

Weights: ``gather_tiles`` cuts a layer's weights into slice tiles in the lane order below, once
per (layer, config) (``mvm.PreparedWeights``). Two jitted parallel drivers, ``mvm_tiles`` (ADC,
shift-add, statistics) and ``calibration_tiles`` (calibrate_window's error sums), run ``prange``
over independent (group, output chunk, vector chunk) tasks, each owning a disjoint block of its
output. They share the serial tier: a task's span, a tile's set-up (its weight rows, and a lookup
table of weight-slice sums when enough planes use it) and one plane's partial sums; then the
fused ADC + shift-add pass, or the calibration sums. Groups of a grouped convolution are just
more tasks (block-diagonal: each group's K x N matrix on arrays of its own); narrow grouped layers
(depthwise: K = 9, N = 1) run their groups side by side in one task's lanes instead
(``mvm_group_lanes``, see "groups side by side" below).

Partial sums: the rows of a tile are cut into groups of ``gs`` rows; a group's plane digits form a
pattern of gs*d bits, and ``table[g, pattern]`` holds the sum of digit * slice value over the
group, for every (slice, polarity, output) lane at once ("four Russians" lookup). One input plane
then costs one vectorised integer row add per group: for d = 1, gs = 4 that is R/4 adds of int8
table rows, eight at a time in int8 lanes (32 per AVX2 op) when the table's entries allow it
(2-bit cells: at most 12) and then widened into int16 lanes, else four rows per pass over the
int16 lanes (so each lane is loaded and stored once per four or eight rows), instead of R
multiply-adds per partial sum in a float32 BLAS matmul of stacked bit planes (measured: this is
faster than that matmul alone, see benchmarks/bench_mvm.py; the table of a task is sized to stay
in L2, whose bandwidth bounds it). Integer arithmetic throughout, so the sums are exact; the
accumulator dtype (int16/int32/int64) is chosen by the
caller from Pmax so that no sum overflows. For d > 2 a group would hold one row, so the kernel
multiplies digit * slice row directly, and so does a tile that few planes use (a small batch:
building the table would cost more than it saves).
All-zero planes of a (vector, tile) are skipped outright (SPEC "Counting"), and so are four
groups whose patterns are all zero, which makes sparse ReLU inputs cheaper. The patterns
themselves come from ``plane_patterns_packed`` for 8-bit inputs (a group's bytes read as one word,
a few shift-ors per pattern) and from ``plane_patterns`` (a loop per input and plane) otherwise.

Lanes: column ``j*U + sp*NB + beta`` of a task holds output ``n0 + beta*B + j`` of slice/polarity
``sp`` (U = SP*NB, NB = blocks in the chunk, B = 1 except for bfp), so that the B members of a bfp
block sit U lanes apart and block maxima, windows and rounding vectorise across blocks.

ADC + shift-add: per plane, every lane's q times the plane weight is added into a per-lane
buffer (float32 on the fast path, exact under the bounds noted there; int64 otherwise); once per
(vector, tile) the buffer is multiplied by the signed slice weights and added into ``y`` (int64).

Kernels take arrays and scalars only; the public checks live in ``mvm.py``.
"""

from __future__ import annotations

import numpy as np
from numba import prange
from numba.cpython.unsafe.numbers import leading_zeros

from bfpdse.cim.adc import BFP, IDEAL, RAR
from bfpdse.cim.jit import bits_float, float_bits, njit, njit_parallel

#: layout of a task's row of counters: saturated, rounded_to_zero, window_hist[0..32]
ST_SAT, ST_RZ, ST_HIST = 0, 1, 2
N_WINDOWS = 33
N_STAT = ST_HIST + N_WINDOWS

#: planes whose partial sums are kept for the statistics before they are counted
COUNT_ROWS = 16
#: lanes a narrow layer fills by stacking vectors side by side (see ``_mvm_task``)
STACK_LANES = 512


@njit(inline="always")
def _msb(a: np.int64) -> np.int64:
    """floor(log2 a) for a > 0; -1 for a = 0."""
    return np.int64(63) - np.int64(leading_zeros(np.uint64(a)))


@njit_parallel
def plane_patterns(xu, rows, d, gs, pat, nz):
    """Pack the input planes of every (vector, tile) into group patterns.

    xu: (M, K) int64 non-negative plane source (two's-complement bits for signed inputs).
    pat: (M, T, P, G) uint16 out; pattern of group g = digits of its gs rows, d bits each.
    nz: (M, T, P) uint8 out; 1 if the plane has any nonzero digit over the tile.
    """
    M, K = xu.shape
    _, T, P, G = pat.shape
    mask = (np.int64(1) << d) - 1
    for m in prange(M):
        for t in range(T):
            k0 = t * rows
            rt = min(rows, K - k0)
            for i in range(P):
                for g in range(G):
                    pat[m, t, i, g] = 0
            for r in range(rt):
                v = xu[m, k0 + r]
                if v == 0:
                    continue
                g = r // gs
                sh = (r % gs) * d
                for i in range(P):
                    dig = (v >> (i * d)) & mask
                    if dig:
                        pat[m, t, i, g] = pat[m, t, i, g] | (dig << sh)
            for i in range(P):
                any_nz = 0
                for g in range(G):
                    if pat[m, t, i, g] != 0:
                        any_nz = 1
                        break
                nz[m, t, i] = any_nz


@njit_parallel
def plane_patterns_packed(words, d, P, pat, nz):
    """``plane_patterns`` for 8-bit plane sources and d = 1 or 2, a group's bytes read as one word.

    words: (M, T, G) uint32 (d = 1, four rows per group) or uint16 (d = 2, two rows): byte r of
    a word is the group's row r (little-endian; rows past the tile are zero). The digits of
    plane i sit at bits 8r + i*d; two shift-ors move them to bits r*d of the pattern, so a
    group's pattern costs a few integer operations, vectorised over the groups. Planes whose
    digits are all zero get nz = 0 and their patterns are left unset: the driver never reads them.
    """
    M, T, G = words.shape
    lo = 0x01010101 if d == 1 else 0x0303  # the low digit of every byte
    for m in prange(M):
        for t in range(T):
            seen = np.int64(0)
            for g in range(G):
                seen |= words[m, t, g]
            for i in range(P):
                sh = i * d
                if (seen >> sh) & lo == 0:
                    nz[m, t, i] = 0
                    continue
                nz[m, t, i] = 1
                for g in range(G):
                    v = (np.int64(words[m, t, g]) >> sh) & lo
                    if d == 1:
                        v |= v >> 7  # bits 8, 24 -> 1, 17
                        v |= v >> 14  # bits 16, 17 -> 2, 3
                    else:
                        v |= v >> 6  # bits 8-9 -> 2-3
                    pat[m, t, i, g] = v & 0xF


@njit
def count_live(nz, counts):
    """counts[g, t] += the live planes of tile t over group g's vectors (nz: (groups * M, T, P))."""
    groups, T = counts.shape
    M = nz.shape[0] // max(1, groups)
    P = nz.shape[2]
    for g in range(groups):
        for m in range(g * M, (g + 1) * M):
            for t in range(T):
                c = 0
                for i in range(P):
                    c += nz[m, t, i]
                counts[g, t] += c


#: weight mappings as the kernels number them
MAP_DIFFERENTIAL, MAP_BALANCED, MAP_OFFSET = 0, 1, 2


@njit
def _slice_value(v, sp, mapping, c, cmask, offset):
    """Slice (and polarity) ``sp`` of the weight v, as docs/spec.md step 3 cuts it.

    differential: sp = 2j + polarity (w+ then w-); balanced: sign(v) * slice_j(|v|); offset:
    slice_j(v + offset).
    """
    if mapping == MAP_OFFSET:
        return ((v + offset) >> (sp * c)) & cmask
    if mapping == MAP_BALANCED:
        s = (abs(v) >> (sp * c)) & cmask
        return s if v >= 0 else -s
    s = (abs(v) >> ((sp >> 1) * c)) & cmask
    pol = sp & 1
    return s if (v > 0 and pol == 0) or (v < 0 and pol == 1) else 0


@njit_parallel
def gather_tiles(w, mapping, c, offset, rows, nc, block, tiles):
    """Cut w (groups, K, N) into the kernel's weight tiles, once per layer and config.

    tiles: (groups, n_chunks, T, RG, SP * nc) int8, zero on entry; tile t of output chunk ci
    holds, in row r and lane j*U + sp*NB + beta, slice sp of w[g, t*rows + r, n0 + beta*B + j]
    (n0 = ci * nc, B = block, NB = blocks in the chunk, U = SP * NB). The column order puts
    member j of every block (of every slice) in one contiguous run of U lanes, so that block
    maxima and per-block windows vectorise over the lanes. Rows past K and outputs past N (bfp
    padding) stay zero. A slice value is at most 2^c - 1 <= 15 in magnitude: int8.
    """
    groups, K, N = w.shape
    _, n_nch, T, RG, _ = tiles.shape
    SP = tiles.shape[4] // nc
    Np = (N + block - 1) // block * block
    cmask = (np.int64(1) << c) - 1
    for job in prange(groups * n_nch * T):
        g = job // (n_nch * T)
        ci = (job // T) % n_nch
        t = job % T
        n0 = ci * nc
        NB = min(nc, Np - n0) // block
        U = SP * NB
        wt = tiles[g, ci, t]
        for r in range(min(rows, K - t * rows)):  # RG >= the rows of every tile
            src = w[g, t * rows + r]
            for j in range(block):
                for beta in range(NB):
                    n = n0 + beta * block + j
                    if n >= N:
                        continue
                    v = src[n]
                    for sp in range(SP):
                        wt[r, j * U + sp * NB + beta] = _slice_value(v, sp, mapping, c, cmask,
                                                                     offset)  # fmt: skip


@njit
def _build_table(wt, gs, d, Gt, L, table):
    """table[g, pat, :L] = sum over group g's rows r of digit_r(pat) * wt[g*gs + r, :L], g < Gt.

    Returns how many table rows may be added in int8 without overflow (127 // the largest
    |entry|, at least 1): ``_sum_table`` sums that many groups in int8 before it widens.
    """
    npat = table.shape[1]
    mask = (1 << d) - 1
    top = np.int64(1)
    for g in range(Gt):
        for q in range(L):
            table[g, 0, q] = 0
        for pt in range(1, npat):
            r = 0
            while ((pt >> (r * d)) & mask) == 0:
                r += 1
            src = pt - (1 << (r * d))
            row = g * gs + r
            m = np.int64(0)
            for q in range(L):
                v = table[g, src, q] + wt[row, q]
                table[g, pt, q] = v
                m = max(m, abs(v))
            top = max(top, m)
    return max(np.int64(1), np.int64(127) // top)


@njit(inline="always")
def _sum_table8(table, pg, g, L, acc, s8):
    """acc[:L] += the rows table[g + j, pg[g + j]] for j < 8, summed in int8 first (s8).

    The caller guarantees that eight rows cannot overflow int8 (``_build_table``'s bound): the
    int8 sums then vectorise 32 lanes wide into the scratch s8, and acc (int16 or wider) gains
    them in a second pass. Eight zero patterns skip the pass.
    """
    p0, p1, p2, p3 = pg[g], pg[g + 1], pg[g + 2], pg[g + 3]
    p4, p5, p6, p7 = pg[g + 4], pg[g + 5], pg[g + 6], pg[g + 7]
    if (p0 | p1 | p2 | p3) | (p4 | p5 | p6 | p7):
        t0, t1, t2, t3 = table[g, p0], table[g + 1, p1], table[g + 2, p2], table[g + 3, p3]
        t4, t5, t6, t7 = table[g + 4, p4], table[g + 5, p5], table[g + 6, p6], table[g + 7, p7]
        for q in range(L):
            s8[q] = ((t0[q] + t1[q]) + (t2[q] + t3[q])) + ((t4[q] + t5[q]) + (t6[q] + t7[q]))
        for q in range(L):
            acc[q] += s8[q]


@njit(inline="always")
def _sum_table(table, pg, Gt, L, acc, chunk):
    """acc[:L] = sum over groups g < Gt of table[g, pg[g], :L] (pg: one plane's patterns).

    chunk (from ``_build_table``): rows that int8 holds; with chunk >= 8 (and a spare group
    past the tile's in the table, used as int8 scratch), eight groups at a time are summed in
    int8 lanes (2-bit cells, d = 1: entries <= 12; measured 1.5x for this function alone on
    512 lanes). Otherwise (and for the rest) four groups per pass over acc (a zero pattern
    reads the all-zero row 0 of its table), so acc is loaded and stored once per four table
    rows; four zero patterns skip their pass.
    """
    for q in range(L):
        acc[q] = 0
    g0 = 0
    if chunk >= 8 and table.shape[0] > Gt:
        g0 = Gt - Gt % 8
        s8 = table[table.shape[0] - 1, 0]  # the spare group past the tile's: scratch
        for g in range(0, g0, 8):
            _sum_table8(table, pg, g, L, acc, s8)
    for g in range(g0, Gt - (Gt - g0) % 4, 4):
        p0, p1, p2, p3 = pg[g], pg[g + 1], pg[g + 2], pg[g + 3]
        if p0 | p1 | p2 | p3:
            # rows taken first: the loop then vectorises without per-pass index arithmetic
            # (measured 1.6x on 128 lanes, 1.2x on 512)
            t0, t1, t2, t3 = table[g, p0], table[g + 1, p1], table[g + 2, p2], table[g + 3, p3]
            for q in range(L):
                acc[q] += (t0[q] + t1[q]) + (t2[q] + t3[q])
    for g in range(Gt - (Gt - g0) % 4, Gt):
        pt = pg[g]
        if pt != 0:
            row = table[g, pt]
            for q in range(L):
                acc[q] += row[q]


@njit(inline="always")
def _sum_rows(wt, pg, Gt, gs, d, L, acc):
    """acc[:L] = sum over the rows r of digit_r * wt[r, :L], straight from the group patterns.

    Cheaper than a lookup table when few planes use the tile (a table costs 2^(gs*d) - 1 row
    adds per group to build); gs = 1 (d > 2) always takes this path.
    """
    for q in range(L):
        acc[q] = 0
    mask = (1 << d) - 1
    for g in range(Gt):
        pt = np.int64(pg[g])
        if pt == 0:
            continue
        for r in range(gs):
            dig = (pt >> (r * d)) & mask
            if dig == 0:
                continue
            row = wt[g * gs + r]
            if dig == 1:
                for q in range(L):
                    acc[q] += row[q]
            else:
                for q in range(L):
                    acc[q] += dig * row[q]


@njit(inline="always")
def _plane_sums(use_table, table, wt, pg, Gt, gs, d, L, acc):
    """The partial sums acc[:L] of one input plane (patterns pg) on one tile."""
    if use_table:  # the table's int8 chunk (``_build_table``); 0: no table
        _sum_table(table, pg, Gt, L, acc, use_table)
    else:
        _sum_rows(wt, pg, Gt, gs, d, L, acc)


@njit(inline="always")
def _adc_fixed(acc, L, wv, i, k, half, cmax, ybuf):
    """ideal / linear / calibrated: one window k; code = min(rnd(|p|, k), cmax).

    Adds wv[i, q] * q to ybuf[q].
    """
    for q in range(L):
        p = np.int64(acc[q])
        c = min((abs(p) + half) >> k, cmax)
        v = c << k
        ybuf[q] += wv[i, q] * (v if p >= 0 else -v)


@njit(inline="always")
def _adc_rar(acc, L, wv, i, b, nearest, ybuf):
    """rar: per value k = max(0, msb(|p|) - b + 1); code = rnd(|p|, k) (p = 0 gives 0)."""
    for q in range(L):
        p = np.int64(acc[q])
        a = abs(p)
        k = max(np.int64(0), _msb(a) - b + 1)
        half = ((np.int64(1) << k) >> 1) * nearest
        v = ((a + half) >> k) << k
        ybuf[q] += wv[i, q] * (v if p >= 0 else -v)


@njit(inline="always")
def _block_windows(acc, block, U, b, kb):
    """bfp: kb[u] = max(0, msb(max |p|) - b + 1) over the block's lanes u, u + U, ...

    An all-zero block has msb = -1 and gets k = 0.
    """
    for u in range(U):
        kb[u] = 0
    for j in range(block):  # kb holds the block maximum first
        off = j * U
        for u in range(U):
            kb[u] = max(kb[u], abs(np.int64(acc[off + u])))
    for u in range(U):
        kb[u] = max(np.int64(0), _msb(kb[u]) - b + 1)


@njit(inline="always")
def _adc_bfp(acc, block, U, wv, i, nearest, kb, ybuf):
    """bfp with the block windows kb[:U] (from ``_block_windows``): code = rnd(|p|, k_block)."""
    for j in range(block):
        off = j * U
        for u in range(U):
            p = np.int64(acc[off + u])
            k = kb[u]
            half = ((np.int64(1) << k) >> 1) * nearest
            v = ((abs(p) + half) >> k) << k
            ybuf[off + u] += wv[i, off + u] * (v if p >= 0 else -v)


# ---- float32 fast path of the ADC (exact under the bounds checked by the caller) ----------------
# Every value below is an integer (or an integer + 1/2) of at most 24 significant bits, so float32
# arithmetic on it is exact: |p| <= Pmax < 2^22, q <= 2^(F+1), and the per-lane sum over planes
# |sum_i pw_i q_i| < 2^(Ab + F + 1) <= 2^24. Float32 lanes are twice as wide as int64 ones, and
# AVX2 has float min/floor/blend but no 64-bit integer min or arithmetic shift (numba widens
# every integer operation to int64). Windows are applied as multiplies by exact powers of two (a
# division would not vectorise). rnd(a, k) = floor((a + h) * 2^-k) with h = 2^(k-1) (nearest) or
# 0 (floor); for k = 0 and nearest h = 1/2 gives floor(a + 1/2) = a, so h = 2^k / 2 serves every k.


@njit(inline="always")
def _adcf_fixed(acc, L, pwf, sc, inv, hf, cm, ybuf):
    """ideal / linear / calibrated in float32: sc = 2^k, inv = 2^-k, hf = h, cm = 2^b - 1."""
    for q in range(L):
        p = np.float32(acc[q])
        v = min(np.floor((abs(p) + hf) * inv), cm) * sc
        ybuf[q] += pwf * (v if p >= 0 else -v)


@njit(inline="always")
def _adcf_rar(acc, L, pwf, s, nearest, ybuf):
    """rar in float32: 2^k is read off the float exponent of |p| * 2^(1-b), s = 2^(1-b).

    The exponent field of t = |p| * s, floored at 2^0, is the bit pattern of
    2^k = 2^max(0, msb - b + 1), and 2^-k has the mirrored exponent.
    """
    half = np.float32(0.5) if nearest else np.float32(0.0)
    for q in range(L):
        p = np.float32(acc[q])
        a = abs(p)
        e = np.int32(max(float_bits(a * s) & 0x7F800000, 0x3F800000))
        sc = bits_float(e)
        v = np.floor((a + half * sc) * bits_float(np.int32(0x7F000000 - e))) * sc
        ybuf[q] += pwf * (v if p >= 0 else -v)


@njit(inline="always")
def _adcf_bfp(acc, block, U, pwf, nearest, kb, scf, invf, ybuf):
    """bfp in float32 with the block windows kb[:U] (lanes u, u + U, ... form a block).

    scf, invf: float32 scratch for the blocks' 2^k and 2^-k.
    """
    for u in range(U):
        scf[u] = bits_float(np.int32((127 + kb[u]) << 23))  # exact powers of two
        invf[u] = bits_float(np.int32((127 - kb[u]) << 23))
    half = np.float32(0.5) if nearest else np.float32(0.0)
    for j in range(block):
        off = j * U
        for u in range(U):
            p = np.float32(acc[off + u])
            sc = scf[u]
            v = np.floor((abs(p) + half * sc) * invf[u]) * sc
            ybuf[off + u] += pwf * (v if p >= 0 else -v)


# ---- statistics: threshold counts in the accumulator's own dtype --------------------------------
# Every counter is a count of partial sums by |p| against a threshold: saturated (|p| >= t_sat),
# rounded to zero (0 < |p| < t_rz, counted as |p| >= 1 minus |p| >= t_rz, t_rz = 2^k - h), rar
# windows (k >= kk <=> |p| >= 2^(b-1+kk)), bfp windows (a block's k >= kk). The partial sums of
# the converted planes stay in the rows of a count buffer ``accB`` (bfp's block windows in
# ``kbB``, their zero thresholds in ``tbB``), across (vector, tile) pairs, and are counted when it
# is full, all its planes and four thresholds per pass: compares and sums of their results in the
# accumulator dtype (int16 when Pmax < 2^15) vectorise 16 lanes wide, and each counter is loaded
# and stored once per COUNT_ROWS planes instead of once per plane (bench_mvm.py: "stats +%");
# a full buffer also keeps narrow layers' (few lanes) passes long. A counter gains at most one per
# plane, so the driver empties the counters into the int64 statistics every ``flush_every``
# (vector, tile) pairs, before they could overflow, and at the end of every task.


@njit
def _count_at_least4(rows_b, L, thr, row, cnt):
    """cnt[row + j, q] += how many rows of the buffer have |p_q| >= thr[row + j], j = 0..3."""
    t0, t1, t2, t3 = thr[row], thr[row + 1], thr[row + 2], thr[row + 3]
    for q in range(L):
        c0 = c1 = c2 = c3 = 0
        for r in range(COUNT_ROWS):  # a constant count: unrolled, so q vectorises
            x = abs(rows_b[r, q])
            c0 += x >= t0
            c1 += x >= t1
            c2 += x >= t2
            c3 += x >= t3
        cnt[row, q] += c0
        cnt[row + 1, q] += c1
        cnt[row + 2, q] += c2
        cnt[row + 3, q] += c3


@njit
def _count_at_least2(rows_b, L, thr, row, cnt):
    """``_count_at_least4`` for the two thresholds thr[row], thr[row + 1]."""
    t0, t1 = thr[row], thr[row + 1]
    for q in range(L):
        c0 = c1 = 0
        for r in range(COUNT_ROWS):
            x = abs(rows_b[r, q])
            c0 += x >= t0
            c1 += x >= t1
        cnt[row, q] += c0
        cnt[row + 1, q] += c1


@njit
def _count_zeros_blocks(rows_b, tb, block, U, row, cnt):
    """cnt[row, lane] += how many rows of the buffer have 0 < |p| < tb[r, u] (lanes of block u).

    tb: every row's per-block zero thresholds (lanes u, u + U, ... form block u).
    """
    for j in range(block):
        off = j * U
        for u in range(U):
            q = off + u
            z = 0
            for r in range(COUNT_ROWS):
                x = abs(rows_b[r, q])
                z += (x != 0) & (x < tb[r, u])
            cnt[row, q] += z


@njit
def _count_rows(rows_b, L, thr, n_thr, cnt):
    """Threshold counts over the buffer's rows: thresholds in fours and a last pair (n_thr is
    even; a spare threshold's row is counted but never read).
    """
    for row in range(0, n_thr - 3, 4):
        _count_at_least4(rows_b, L, thr, row, cnt)
    if n_thr % 4:
        _count_at_least2(rows_b, L, thr, n_thr - 2, cnt)


@njit
def _count_buffer(kind, accB, kbB, tbB, n, L, U, block, thr, n_thr, cnt):
    """Count the n buffered planes: their windows (rar, bfp) or saturation and zeros (fixed).

    Rows n.. are cleared first: a zero partial sum (or window) reaches no threshold, as every
    threshold that is read is >= 1, and is not a nonzero value rounded to zero.
    """
    if n == 0:
        return
    accB[n:, :L] = 0
    if kind != BFP:
        _count_rows(accB, L, thr, n_thr, cnt)
        return
    kbB[n:, :U] = 0
    _count_rows(kbB, U, thr, n_thr, cnt)
    _count_zeros_blocks(accB, tbB, block, U, cnt.shape[0] - 1, cnt)  # rounded to zero


@njit
def _zero_below(k, nearest):
    """2^k - h: rnd(a, k) = floor((a + h) / 2^k) is 0 exactly when the integer a < 2^k - h."""
    one = np.int64(1) << k
    return one - (one >> 1) * nearest


@njit(inline="always")
def _rz_thresholds(kb, U, nearest, thr):
    """thr[u] = _zero_below of block u's window k = kb[u]."""
    for u in range(U):
        thr[u] = _zero_below(kb[u], nearest)


@njit
def _row_total(cnt, row, L, weight):
    """sum over lanes of cnt[row, q] * weight[q]; clears the row."""
    tot = np.int64(0)
    for q in range(L):
        tot += np.int64(cnt[row, q]) * weight[q]
        cnt[row, q] = 0
    return tot


@njit
def _flush_counts(cnt, ones, members, L, U, kind, kmax, count_sat, conv, stats, task):
    """Add the lane counters into the task's int64 statistics and clear them.

    Rows of cnt by kind: linear/calibrated 0: |p| >= 1, 1: |p| >= t_rz, 2: |p| >= t_sat;
    rar: row kk - 1 counts windows k >= kk; bfp: the same per block (U lanes, a block counted
    once and weighted by its real members), and its last row the values rounded to zero.
    conv: conversions since the last flush (those with k >= 0). ones: L ones (int64).
    """
    if kind == RAR or kind == BFP:
        weight = members if kind == BFP else ones
        width = U if kind == BFP else L
        c = np.zeros(kmax + 2, np.int64)
        c[0] = conv
        for kk in range(1, kmax + 1):
            c[kk] = _row_total(cnt, kk - 1, width, weight)
        for kk in range(kmax + 1):
            stats[task, ST_HIST + kk] += c[kk] - c[kk + 1]
        if kind == BFP:
            stats[task, ST_RZ] += _row_total(cnt, cnt.shape[0] - 1, L, ones)
    else:
        stats[task, ST_RZ] += _row_total(cnt, 0, L, ones) - _row_total(cnt, 1, L, ones)
        if count_sat:
            stats[task, ST_SAT] += _row_total(cnt, 2, L, ones)


@njit
def _member_outputs(N, n0, j, block, NB):
    """How many of the task's NB blocks have a real output (n < N) as member j."""
    return min(NB, max(0, -(-(N - n0 - j) // block)))


@njit(inline="always")
def _flushf(ybuf, block, SP, NB, UV, voff, spw, yrow, n0, N, tf):
    """yrow[n] += sum over slices of spw[sp] * ybuf[lane], summed in float64 first (tf: scratch).

    The vector's lanes: j*UV + voff + sp*NB + beta (UV: lanes per member run, see ``_mvm_task``).

    Exact: the float32 lanes hold integers |v| < 2^24 and |spw| <= 2^15, so with at most 32
    slices the sum stays below 2^44, well inside float64's 53 bits. Float64 multiplies
    vectorise; int64 ones do not on AVX2, and a per-slice pass over y costs a load and store.
    """
    for j in range(block):
        nb = _member_outputs(N, n0, j, block, NB)
        for beta in range(nb):
            tf[beta] = 0.0
        for sp in range(SP):
            base = j * UV + voff + sp * NB
            wgt = np.float64(spw[sp])
            for beta in range(nb):
                tf[beta] += wgt * np.float64(ybuf[base + beta])
        yr = yrow[n0 + j : n0 + j + nb * block : block]
        for beta in range(nb):
            yr[beta] += np.int64(tf[beta])


@njit
def _cal_hist(acc, L, hist, task):
    """Histogram of |p| (calibration, small Pmax)."""
    for q in range(L):
        hist[task, abs(np.int64(acc[q]))] += 1


@njit
def _cal_err(acc, L, b, nearest, errs, task):
    """Exact squared error of the calibrated ADC for every window k (calibration, large Pmax).

    errs[task, k] holds three partial sums of e^2 split at 2^16 (e = |q - p| < 2^32, so e^2
    could overflow int64): sum eh^2, sum eh*el and sum el^2 with e = eh * 2^16 + el.
    """
    nk = errs.shape[1]
    cmax = (np.int64(1) << b) - 1
    for q in range(L):
        a = abs(np.int64(acc[q]))
        if a == 0:
            continue
        for k in range(nk):
            half = ((np.int64(1) << k) >> 1) * nearest
            e = abs((min((a + half) >> k, cmax) << k) - a)
            eh = e >> 16
            el = e & 0xFFFF
            errs[task, k, 0] += eh * eh
            errs[task, k, 1] += eh * el
            errs[task, k, 2] += el * el


@njit(inline="always")
def _flush(ybuf, block, SP, NB, UV, voff, yrow, n0, N):
    """yrow[n0 + beta*B + j] += sum over slices of ybuf[j*UV + voff + sp*NB + beta] (n < N)."""
    for j in range(block):
        nb = _member_outputs(N, n0, j, block, NB)
        yr = yrow[n0 + j : n0 + j + nb * block : block]
        for sp in range(SP):
            base = j * UV + voff + sp * NB
            for beta in range(nb):
                yr[beta] += ybuf[base + beta]


@njit
def _thresholds(kind, k_fixed, half_fixed, nearest, cmax, b, kmax, Pmax, thr):
    """The thresholds thr (accumulator dtype) of the counter rows, see ``_flush_counts``.

    linear/calibrated: 1, t_rz, t_sat; rar: 2^(b - 1 + kk) for kk = 1 .. kmax; bfp: kk.
    Returns (n_thr, count_sat): the rows to count, rounded up to an even number (0 when nothing
    can be counted: ideal, or a fixed window that can neither round a nonzero value to zero,
    t_rz = 1, nor saturate, t_sat > Pmax), and whether row 2 counts saturation.
    """
    if kind == RAR or kind == BFP:
        for kk in range(1, kmax + 1):
            thr[kk - 1] = (np.int64(1) << (b - 1 + kk)) if kind == RAR else kk
        return kmax + kmax % 2, False
    t_sat = ((cmax + 1) << k_fixed) - half_fixed
    t_rz = _zero_below(k_fixed, nearest)
    count_sat = kind != IDEAL and t_sat <= Pmax
    thr[0] = 1
    thr[1] = t_rz
    thr[2] = t_sat if count_sat else 0
    if kind == IDEAL or not (count_sat or t_rz > 1):
        return 0, count_sat
    return (4 if count_sat else 2), count_sat


@njit(inline="always")
def _adc_setup(kind, k_fixed, b, nearest, Pmax, proto):
    """A task's ADC constants and counter thresholds (both drivers).

    Returns (consts, thr, n_thr, count_sat, kmax): consts = (k_fixed, half_fixed, cmax, and the
    float32 path's sc, inv, hf, cm, s_rar: exact powers of two, no pow() in the loops).
    """
    half_fixed = ((np.int64(1) << k_fixed) >> 1) * nearest
    cmax = (np.int64(1) << b) - 1 if kind != IDEAL else np.int64(1) << 62
    kmax = max(0, 64 - leading_zeros(np.uint64(max(1, Pmax))) - b)  # largest rar window F - b
    thr = np.zeros(max(4, -(-kmax // 4) * 4), proto.dtype)
    n_thr, count_sat = _thresholds(kind, k_fixed, half_fixed, nearest, cmax, b, kmax, Pmax, thr)
    sc_f = np.float32(np.int64(1) << k_fixed)
    inv_f = np.float32(1.0) / sc_f
    hf_f = np.float32(0.5) * sc_f if nearest else np.float32(0.0)
    s_rar = np.float32(1.0) / np.float32(np.int64(1) << (b - 1))
    consts = (k_fixed, half_fixed, cmax, sc_f, inv_f, hf_f, np.float32(cmax), s_rar)
    return consts, thr, n_thr, count_sat, kmax


@njit(inline="always")
def _convert_plane(adc, consts, run, i, nb, accB, kbB, tbB, scf, invf, ybuf, ybuf_f, cnt, pw, wv,
                   block, UV, QV, thr, n_thr):  # fmt: skip
    """ADC of plane i's partial sums accB[slot] (QV lanes) into ybuf (ybuf_f: float32 path).

    bufs = (accB, kbB, tbB, scf, invf, ybuf, ybuf_f, cnt), a task's buffers. With statistics
    the plane stays in row nb of the count buffer, which is counted when full. Returns the
    buffer rows in use (both drivers' per-plane step).
    """
    kind, b, nearest = adc[0], adc[1], adc[2]
    fast, stats_on = run[2], run[3]
    k_fixed, half_fixed, cmax, sc_f, inv_f, hf_f, cm_f, s_rar = consts
    slot = nb if stats_on else 0
    acc = accB[slot]
    pwf = np.float32(pw[i])
    if kind == BFP:
        kb = kbB[slot]
        _block_windows(acc, block, UV, b, kb)
        if stats_on:
            _rz_thresholds(kb, UV, nearest, tbB[slot])
        if fast:
            _adcf_bfp(acc, block, UV, pwf, nearest, kb, scf, invf, ybuf_f)
        else:
            _adc_bfp(acc, block, UV, wv, i, nearest, kb, ybuf)
    elif kind == RAR and fast:
        _adcf_rar(acc, QV, pwf, s_rar, nearest, ybuf_f)
    elif kind == RAR:
        _adc_rar(acc, QV, wv, i, b, nearest, ybuf)
    elif fast:
        _adcf_fixed(acc, QV, pwf, sc_f, inv_f, hf_f, cm_f, ybuf_f)
    else:
        _adc_fixed(acc, QV, wv, i, k_fixed, half_fixed, cmax, ybuf)
    if not stats_on:
        return nb
    nb += 1
    if nb == COUNT_ROWS:
        _count_buffer(kind, accB, kbB, tbB, nb, QV, UV, block, thr, n_thr, cnt)
        nb = 0
    return nb


# ---- the drivers ------------------------------------------------------------------------------
# Both drivers run prange over tasks (group, output chunk, vector chunk), each owning a disjoint
# block of the output, and share the serial tier below: a task's span, a tile's set-up (its weight
# rows from the prepared tiles, and a lookup table when enough planes use the tile) and one
# plane's partial sums. ``geo`` is the shape tuple (M, K, N, rows, gs, d, nc, block, min_live):
# vectors per group in this call, rows and outputs of one group's matrix, rows per tile, rows per
# pattern group, dac bits, outputs per task (a multiple of block), the bfp block (1 otherwise),
# and the fewest live planes for which a tile builds its lookup table. Patterns and live planes
# come as (groups * M, T, P, ...): group g's vector m is row g * M + m.


@njit
def _task_span(task, geo, mc, n_nch):
    """(group, first output, first vector, end vector) of a task; tasks run g, vector chunk, ci."""
    M, nc = geo[0], geo[6]
    n_mch = (M + mc - 1) // mc
    g = task // (n_mch * n_nch)
    mci = (task // n_nch) % n_mch
    m0 = mci * mc
    return g, (task % n_nch) * nc, m0, min(M, m0 + mc)


@njit
def _tile_setup(tiles, g, ci, t, nz, r0, m1, geo, L, table):
    """Tile t of a task: (live planes over rows r0 .. m1 of nz, weight rows, groups, table?).

    The table (built here when it is used) costs 2^(gs*d) - 1 row adds per group: it pays when
    at least ``min_live`` planes of the task read the tile; fewer sum the weight rows directly.
    """
    K, rows, gs, d, min_live = geo[1], geo[3], geo[4], geo[5], geo[8]
    live = 0
    for m in range(r0, m1):
        for i in range(nz.shape[2]):
            live += nz[m, t, i]
    wt = tiles[g, ci, t]
    Gt = (min(rows, K - t * rows) + gs - 1) // gs
    use_table = 0  # else the table's int8 chunk (``_build_table``)
    if gs > 1 and live >= min_live and live > 0:
        use_table = _build_table(wt, gs, d, Gt, L, table)
    return live, wt, Gt, use_table


@njit
def _lane_weights(pw, spw, block, NB, V, N, n0):
    """wv[i, lane]: plane weight * signed slice weight; members[lane]: real outputs of its block.

    Lanes of V stacked vectors: j*UV + v*U + sp*NB + beta (U = SP*NB, UV = V*U).
    """
    P, SP = pw.shape[0], spw.shape[0]
    U = SP * NB
    UV = V * U
    wv = np.empty((P, UV * block), np.int64)
    members = np.zeros(UV * block, np.int64)
    for i in range(P):
        for j in range(block):
            for v in range(V):
                for sp in range(SP):
                    for beta in range(NB):
                        wv[i, j * UV + v * U + sp * NB + beta] = pw[i] * spw[sp]
    for v in range(V):
        for sp in range(SP):
            for beta in range(NB):
                members[v * U + sp * NB + beta] = max(0, min(block, N - (n0 + beta * block)))
    return wv, members


@njit(inline="always")
def _place(tmp, acc, block, U, UV, voff):
    """acc[j*UV + voff + u] = tmp[j*U + u]: one vector's sums into its stacked lanes."""
    for j in range(block):
        a = acc[j * UV + voff : j * UV + voff + U]
        t = tmp[j * U : (j + 1) * U]
        for u in range(U):
            a[u] = t[u]


@njit(inline="always")
def _clear(acc, block, U, UV, voff):
    """Zero one vector's stacked lanes (a plane it does not use)."""
    for j in range(block):
        a = acc[j * UV + voff : j * UV + voff + U]
        for u in range(U):
            a[u] = 0


@njit
def _mvm_task(task, pat, nz, tiles, spw, pw, kfix, geo, adc, run, proto, y, stats):
    """One task of ``mvm_tiles``: ADC and shift-add into y, counters into stats[task].

    Narrow layers stack V vectors side by side in the lanes (lane j*UV + v*U + u, UV = V*U), so
    that the ADC and the counters run over V * L lanes per plane: one pass instead of V short
    ones. A vector that does not use a plane has zero sums in its lanes there: they convert to
    0 and reach no counter (every threshold is >= 1), and conversions are counted from the
    live planes only, so the numbers and counts are those of one vector at a time.
    """
    M, K, N, rows, gs, d, nc, block, min_live = geo
    kind, b, nearest, Pmax = adc
    mc, flush_every, fast, stats_on = run
    n_nch, T = tiles.shape[1], tiles.shape[2]
    P, SP = nz.shape[2], spw.shape[0]
    g, n0, m0, m1 = _task_span(task, geo, mc, n_nch)
    nlen = min(nc, (N + block - 1) // block * block - n0)
    NB = nlen // block
    U = SP * NB
    L = SP * nlen
    V = max(1, min(STACK_LANES // max(1, L), m1 - m0))
    UV = V * U
    QV = V * L  # lanes of a stacked pass
    r0 = g * M
    npat = (1 << (gs * d)) if gs > 1 else 1
    consts, thr, n_thr, count_sat, kmax = _adc_setup(kind, kfix[g], b, nearest, Pmax, proto)
    n_rows = thr.shape[0] + 1  # the threshold rows, then bfp's rounded-to-zero row
    # int8 table entries: a group sums at most gs * (2^d - 1) * (2^c - 1) <= 90 (d <= 2,
    # gs * d = 4, c <= 4), which halves the bytes read per partial sum (the table is read from L2);
    # one spare group past the tile's is ``_sum_table``'s int8 scratch
    table = np.empty((tiles.shape[3] // gs + 1 if gs > 1 else 1, npat, SP * nc), np.int8)
    tmp = np.zeros(SP * nc, proto.dtype)  # one vector's sums before they are placed (bfp)
    # the count buffer: partial sums of converted planes, counted when full
    accB = np.zeros((COUNT_ROWS, QV), proto.dtype)
    nb = 0  # rows of the buffer in use
    ybuf = np.zeros(QV, np.int64)
    ybuf_f = np.zeros(QV, np.float32)
    tf = np.zeros(nc, np.float64)
    scf = np.zeros(QV, np.float32)
    invf = np.zeros(QV, np.float32)
    cnt = np.zeros((n_rows, QV), proto.dtype)
    ones = np.ones(QV, np.int64)
    since = 0  # vector groups counted since the last flush of cnt
    conv = 0  # conversions since the last flush of cnt
    # bfp: the block windows of the buffered planes and their zero thresholds (rows as accB)
    kbB = np.zeros((COUNT_ROWS, QV) if kind == BFP else (1, 1), proto.dtype)
    tbB = np.zeros((COUNT_ROWS, QV) if kind == BFP else (1, 1), proto.dtype)
    wv, members = _lane_weights(pw, spw, block, NB, V, N, n0)
    real = members[:U].sum()  # conversions per plane: bfp's padding lanes convert nothing
    for t in range(T):
        live, wt, Gt, use_table = _tile_setup(tiles, g, n0 // nc, t, nz, r0 + m0, r0 + m1, geo,
                                              L, table)  # fmt: skip
        if live == 0:
            continue
        for v0 in range(r0 + m0, r0 + m1, V):
            nv = min(V, r0 + m1 - v0)  # vectors of this group (the rest of the lanes idle)
            live = 0
            for mm in range(v0, v0 + nv):
                for i in range(P):
                    live += nz[mm, t, i]
            if live == 0:
                continue
            if fast:
                ybuf_f[:QV] = 0
            else:
                ybuf[:QV] = 0
            for i in range(P):
                used = 0
                for mm in range(v0, v0 + nv):
                    used += nz[mm, t, i]
                if used == 0:
                    continue  # an all-zero plane of every vector: skipped, no conversions
                slot = nb if stats_on else 0
                acc = accB[slot]
                for v in range(V):
                    mm = v0 + v
                    if v >= nv or nz[mm, t, i] == 0:
                        _clear(acc, block, U, UV, v * U)
                    elif block == 1 or V == 1:  # lanes as _place would put them
                        _plane_sums(use_table, table, wt, pat[mm, t, i], Gt, gs, d, L,
                                    acc[v * L : (v + 1) * L])  # fmt: skip
                    else:
                        _plane_sums(use_table, table, wt, pat[mm, t, i], Gt, gs, d, L, tmp)
                        _place(tmp, acc, block, U, UV, v * U)
                nb = _convert_plane(adc, consts, run, i, nb, accB, kbB, tbB, scf, invf, ybuf,
                                    ybuf_f, cnt, pw, wv, block, UV, QV, thr, n_thr)  # fmt: skip
            if stats_on:
                conv += (real if kind == BFP else L) * live
            for v in range(nv):
                m = v0 + v - r0
                yrow = y[m, g * N : (g + 1) * N]
                if fast:
                    _flushf(ybuf_f, block, SP, NB, UV, v * U, spw, yrow, n0, N, tf)
                else:
                    _flush(ybuf, block, SP, NB, UV, v * U, yrow, n0, N)
            since += 1
            if stats_on and since == flush_every:
                _count_buffer(kind, accB, kbB, tbB, nb, QV, UV, block, thr, n_thr, cnt)
                nb = 0
                _flush_counts(cnt, ones, members, QV, UV, kind, kmax, count_sat, conv, stats,
                              task)  # fmt: skip
                since = 0
                conv = 0
    if stats_on:
        _count_buffer(kind, accB, kbB, tbB, nb, QV, UV, block, thr, n_thr, cnt)
        _flush_counts(cnt, ones, members, QV, UV, kind, kmax, count_sat, conv, stats, task)


@njit_parallel
def mvm_tiles(pat, nz, tiles, spw, pw, kfix, geo, adc, run, proto, y, stats):
    """The crossbar MVM of one batch chunk: one ``_mvm_task`` per row of ``stats``.

    pat, nz: from ``plane_patterns`` (rows g * M + m); tiles: from ``gather_tiles``; spw: (SP,)
    int64 signed slice weights; pw: (P,) int64 plane weights; kfix: (groups,) int64 fixed
    window per group (ideal, linear, calibrated; unused by rar and bfp). geo: see above.
    adc = (kind, b, nearest, Pmax); run = (mc, flush_every, fast, stats_on): vectors per task,
    (vector, tile) pairs after which the lane counters are emptied, the float32 ADC path (only
    when its bounds hold, see above), whether to count. proto: any array of the accumulator
    dtype. y: (M, groups * N) int64, accumulated into; stats: (tasks, N_STAT) int64.
    """
    for task in prange(stats.shape[0]):
        _mvm_task(task, pat, nz, tiles, spw, pw, kfix, geo, adc, run, proto, y, stats)


@njit
def _calibration_task(task, pat, nz, tiles, geo, b, nearest, mc, proto, hist, errs, use_hist):
    """One task of ``calibration_tiles``: every partial sum into hist[task] or errs[task]."""
    M, K, N, rows, gs, d, nc, block, min_live = geo
    n_nch, T = tiles.shape[1], tiles.shape[2]
    P = nz.shape[2]
    SP = tiles.shape[4] // nc
    g, n0, m0, m1 = _task_span(task, geo, mc, n_nch)
    L = SP * min(nc, (N + block - 1) // block * block - n0)
    r0 = g * M
    npat = (1 << (gs * d)) if gs > 1 else 1
    table = np.empty((tiles.shape[3] // gs + 1 if gs > 1 else 1, npat, SP * nc), np.int8)
    acc = np.zeros(SP * nc, proto.dtype)
    for t in range(T):
        live, wt, Gt, use_table = _tile_setup(tiles, g, n0 // nc, t, nz, r0 + m0, r0 + m1, geo,
                                              L, table)  # fmt: skip
        if live == 0:
            continue
        for mm in range(r0 + m0, r0 + m1):
            for i in range(P):
                if nz[mm, t, i] == 0:
                    continue
                _plane_sums(use_table, table, wt, pat[mm, t, i], Gt, gs, d, L, acc)
                if use_hist:
                    _cal_hist(acc, L, hist, task)
                else:
                    _cal_err(acc, L, b, nearest, errs, task)


@njit_parallel
def calibration_tiles(pat, nz, tiles, geo, b, nearest, mc, proto, hist, errs, use_hist):
    """calibrate_window's pass: a histogram of |p| (hist: (tasks, Pmax + 1)) or, for large
    Pmax, the exact squared errors of every window (errs: (tasks, nk, 3), see ``_cal_err``).
    Arguments as ``mvm_tiles``'s; the task count is the first axis of the array in use.
    """
    tasks = hist.shape[0] if use_hist else errs.shape[0]
    for task in prange(tasks):
        _calibration_task(task, pat, nz, tiles, geo, b, nearest, mc, proto, hist, errs, use_hist)


# ---- groups side by side: narrow grouped layers (depthwise) ------------------------------------
# A depthwise layer has K = 9 rows and N = 1 output per group: SP lanes per group, too few for a
# vector pass of their own. Here a task takes V groups (of one fixed window) and one vector at a
# time, and interleaves the groups' lanes: lane j*UV + u*V + v of the task is lane j*U + u of
# group g0 + v (UV = U*V), so that a bfp block's members still sit UV lanes apart and the ADC and
# the counters of ``_mvm_task`` run unchanged over V * L lanes. The mapping is unchanged: each
# group's K x N matrix sits on arrays of its own, and each lane's partial sum is that of its own
# group's rows and input; only the order of the work differs. The partial sums are taken row by
# row, vectorised over the V groups (one digit per group and row, times the gathered weights).


@njit_parallel
def plane_nonzero(xu, rows, d, nz):
    """nz[m, t, i] = 1 if plane i of vector m has a nonzero digit over tile t (xu: (M, K)).

    A digit is nonzero exactly when its bits are set in the OR of the tile's inputs.
    """
    M, K = xu.shape
    T, P = nz.shape[1], nz.shape[2]
    mask = (np.int64(1) << d) - 1
    for m in prange(M):
        for t in range(T):
            acc = np.int64(0)
            for r in range(t * rows, min(K, (t + 1) * rows)):
                acc |= np.int64(xu[m, r])
            for i in range(P):
                nz[m, t, i] = 1 if (acc >> (i * d)) & mask else 0


@njit
def _group_lane_weights(pw, spw, block, NB, V, N):
    """``_lane_weights`` for V interleaved groups: lane j*UV + (sp*NB + beta)*V + v."""
    P, SP = pw.shape[0], spw.shape[0]
    U = SP * NB
    UV = U * V
    wv = np.empty((P, UV * block), np.int64)
    members = np.zeros(UV * block, np.int64)
    for i in range(P):
        for j in range(block):
            for u in range(U):
                for v in range(V):
                    wv[i, j * UV + u * V + v] = pw[i] * spw[u // NB]
    for u in range(U):
        for v in range(V):
            members[u * V + v] = max(0, min(block, N - (u % NB) * block))
    return wv, members


@njit(inline="always")
def _group_row_sums(xg, we, rt, sh, mask, LB, V, dv, acc):
    """acc[u*V + v] = sum over rows r < rt of digit_r of group v times we[r, u*V + v].

    dv: scratch of V digits, in the accumulator's dtype (every product fits it: <= Pmax).
    """
    for q in range(LB * V):
        acc[q] = 0
    for r in range(rt):
        xr = xg[r]
        wr = we[r]
        for v in range(V):
            dv[v] = (xr[v] >> sh) & mask
        for u in range(LB):  # slices: the loop over v then vectorises (measured 3x)
            a = acc[u * V : (u + 1) * V]
            w = wr[u * V : (u + 1) * V]
            for v in range(V):
                a[v] += dv[v] * w[v]


@njit(inline="always")
def _group_flush(ybuf, fast, block, SP, NB, UV, V, spw, y, m, g0, N, tf):
    """y[m, (g0 + v)*N + n] += the sum over slices of the lanes of output n of group g0 + v.

    fast: ybuf holds float32 codes times plane weights, summed with the slice weights in
    float64 (exact, see ``_flushf``); else int64 lanes already weighted (see ``_flush``).
    """
    for j in range(block):
        for beta in range(NB):
            n = beta * block + j
            if n >= N:
                continue
            for v in range(V):
                tf[v] = 0.0
            for sp in range(SP):
                base = j * UV + (sp * NB + beta) * V
                wgt = np.float64(spw[sp]) if fast else np.float64(1.0)
                if fast:
                    for v in range(V):
                        tf[v] += wgt * np.float64(ybuf[base + v])
                else:
                    for v in range(V):
                        y[m, (g0 + v) * N + n] += np.int64(ybuf[base + v])
            if fast:
                for v in range(V):
                    y[m, (g0 + v) * N + n] += np.int64(tf[v])


@njit
def _mvm_task_groups(task, xu, nz, tiles, gtasks, spw, pw, kfix, geo, adc, run, proto, y, stats):
    """One task of ``mvm_group_lanes``: groups gtasks[.] interleaved, vectors one at a time.

    The ADC, shift-add and counters are ``_mvm_task``'s over V * L lanes; a group that does not
    use a plane has zero sums in its lanes there, which convert to 0 and reach no counter, and
    conversions are counted from the live planes only.
    """
    M, K, N, rows, gs, d, nc, block, min_live = geo
    kind, b, nearest, Pmax = adc
    mc, flush_every, fast, stats_on = run
    T = tiles.shape[2]
    P, SP = nz.shape[2], spw.shape[0]
    n_mch = (M + mc - 1) // mc
    gt = task // n_mch
    m0 = (task % n_mch) * mc
    m1 = min(M, m0 + mc)
    g0, V = gtasks[gt, 0], gtasks[gt, 1]
    nlen = (N + block - 1) // block * block  # one output chunk: the caller checks
    NB = nlen // block
    U = SP * NB
    L = SP * nlen
    UV = V * U
    QV = V * L
    # the fixed window is equal over the task's groups: the caller checks
    consts, thr, n_thr, count_sat, kmax = _adc_setup(kind, kfix[g0], b, nearest, Pmax, proto)
    n_rows = thr.shape[0] + 1
    mask = (np.int64(1) << d) - 1
    RG = tiles.shape[3]
    we = np.zeros((RG, QV), np.int8)  # the task's weight rows, groups interleaved
    xg = np.zeros((RG, V), xu.dtype)  # one vector's inputs: row r of group g0 + v
    dv = np.zeros(V, proto.dtype)  # the accumulator's dtype (not int64): 3x faster sums
    accB = np.zeros((COUNT_ROWS, QV), proto.dtype)
    nb = 0
    ybuf = np.zeros(QV, np.int64)
    ybuf_f = np.zeros(QV, np.float32)
    tf = np.zeros(V, np.float64)
    scf = np.zeros(QV, np.float32)
    invf = np.zeros(QV, np.float32)
    cnt = np.zeros((n_rows, QV), proto.dtype)
    ones = np.ones(QV, np.int64)
    used = np.zeros(P, np.int64)
    since = 0
    conv = 0
    kbB = np.zeros((COUNT_ROWS, QV) if kind == BFP else (1, 1), proto.dtype)
    tbB = np.zeros((COUNT_ROWS, QV) if kind == BFP else (1, 1), proto.dtype)
    wv, members = _group_lane_weights(pw, spw, block, NB, V, N)
    real = 0  # conversions per plane of one group: bfp's padding lanes convert nothing
    for u in range(U):
        real += members[u * V]
    for t in range(T):
        k0 = t * rows
        rt = min(rows, K - k0)
        for v in range(V):
            wt = tiles[g0 + v, 0, t]
            for r in range(rt):
                for q in range(block * U):
                    we[r, q * V + v] = wt[r, q]
        for m in range(m0, m1):
            live = 0
            for i in range(P):
                used[i] = 0
            for v in range(V):
                row = (g0 + v) * M + m
                for i in range(P):
                    used[i] += nz[row, t, i]
            for i in range(P):
                live += used[i]
            if live == 0:
                continue
            for v in range(V):
                src = xu[(g0 + v) * M + m]
                for r in range(rt):
                    xg[r, v] = src[k0 + r]
            if fast:
                ybuf_f[:QV] = 0
            else:
                ybuf[:QV] = 0
            for i in range(P):
                if used[i] == 0:
                    continue  # an all-zero plane of every group: skipped, no conversions
                slot = nb if stats_on else 0
                acc = accB[slot]
                _group_row_sums(xg, we, rt, i * d, mask, block * U, V, dv, acc)
                nb = _convert_plane(adc, consts, run, i, nb, accB, kbB, tbB, scf, invf, ybuf,
                                    ybuf_f, cnt, pw, wv, block, UV, QV, thr, n_thr)  # fmt: skip
            if stats_on:
                conv += (real if kind == BFP else L) * live
            if fast:
                _group_flush(ybuf_f, True, block, SP, NB, UV, V, spw, y, m, g0, N, tf)
            else:
                _group_flush(ybuf, False, block, SP, NB, UV, V, spw, y, m, g0, N, tf)
            since += 1
            if stats_on and since == flush_every:
                _count_buffer(kind, accB, kbB, tbB, nb, QV, UV, block, thr, n_thr, cnt)
                nb = 0
                _flush_counts(cnt, ones, members, QV, UV, kind, kmax, count_sat, conv, stats,
                              task)  # fmt: skip
                since = 0
                conv = 0
    if stats_on:
        _count_buffer(kind, accB, kbB, tbB, nb, QV, UV, block, thr, n_thr, cnt)
        _flush_counts(cnt, ones, members, QV, UV, kind, kmax, count_sat, conv, stats, task)


@njit_parallel
def mvm_group_lanes(xu, nz, tiles, gtasks, spw, pw, kfix, geo, adc, run, proto, y, stats):
    """``mvm_tiles`` for narrow grouped layers (one output chunk), groups interleaved.

    xu: (groups * M, K) plane source (rows g * M + m); nz: its live planes (``plane_nonzero``);
    gtasks: (n, 2) int64 (first group, groups) of each run of groups, equal fixed windows in a
    run; tasks run (group run, vector chunk of mc). Other arguments as ``mvm_tiles``'s.
    """
    for task in prange(stats.shape[0]):
        _mvm_task_groups(task, xu, nz, tiles, gtasks, spw, pw, kfix, geo, adc, run, proto, y,
                         stats)  # fmt: skip
