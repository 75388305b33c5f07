"""Numba kernels of the noisy crossbar path (docs/spec.md, "Noise"); the checks live in noise.py.

``noisy_tiles`` is the parallel driver: ``prange`` over (output chunk, vector chunk) tasks, each
owning a disjoint block of ``y``, like the exact driver in ``kernels.py`` (which this module does
not touch). Partial sums come from lookup tables of cell levels ("four Russians": the rows of a
tile in groups of ``gs``, one table row per group pattern), in int8 when the levels are the exact
integers and in float when they carry programming variation. Every partial sum is then an analog
value a = sum + ADC offset + sigma * z, with z a standard normal drawn from a counter-based hash
of the conversion's global key, and the ADC scheme acts on a as a converter would.

Determinism: each output is computed inside one task, its float sums in a fixed order, and the
noise of a conversion depends only on its key, so results do not depend on the thread count,
the chunking or the batch. The codes are integers and their sum over planes and slices is exact.

Lanes: column ``j*U + sp*NB + beta`` of a task holds output ``n0 + beta*B + j`` of slice/polarity
``sp`` (U = SP*NB, NB = blocks in the chunk, B = 1 except for bfp), as in ``kernels.py``: the B
members of a bfp block sit U lanes apart. Chunks start at multiples of 4B, so four consecutive
lanes (outputs B apart) form one hash group wherever the chunk boundaries fall.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from bfpdse.cim.adc import BFP, RAR
from bfpdse.cim.jit import bits_float, float_bits, njit, njit_parallel

#: a task's counters: saturated, rounded to zero, conversions, then windows k >= kk (kk = 1 ..)
ST_SAT, ST_RZ, ST_CONV, ST_K = 0, 1, 2, 3
N_STAT = ST_K + 33

#: the standard normal is read from a table of 2^NORMAL_BITS equiprobable quantiles, indexed by
#: the low bits of a lane's 16-bit field of its group's hash
NORMAL_BITS = 12

_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MASK = np.uint64((1 << NORMAL_BITS) - 1)
_S16, _S32, _S48 = np.uint64(16), np.uint64(32), np.uint64(48)


@njit(inline="always")
def mix64(h):
    """MurmurHash3's 64-bit finalizer: a bijection of uint64 with full avalanche."""
    h = np.uint64(h)
    h ^= h >> _S33
    h *= _M1
    h ^= h >> _S33
    h *= _M2
    h ^= h >> _S33
    return h


@njit
def chain(h, v):
    """The key h extended by the integer v (v >= 0)."""
    return mix64(np.uint64(h) ^ (np.uint64(v) * _GOLDEN + np.uint64(1)))


@njit_parallel
def plane_patterns(xp, d, gs, pat, nz, s2):
    """Group patterns of every (vector, tile, plane), and the sum of squared digits per plane.

    xp: (M, T * G * gs) non-negative plane source, each tile zero-padded to G * gs rows.
    pat: (M, T, P, G) out, the pattern of group g being the d-bit digits of its gs rows (row r
    at bits r*d); nz: (M, T, P) uint8 out, 1 if the plane has a nonzero digit over the tile;
    s2: (M, T, P) int64 out, the sum of digit^2 over the tile (read noise's variance).
    """
    M = xp.shape[0]
    _, T, P, G = pat.shape
    mask = (1 << d) - 1
    width = G * gs
    for m in prange(M):
        for t in range(T):
            row = xp[m, t * width : (t + 1) * width]
            for i in range(P):
                sh = i * d
                tot = 0
                for g in range(G):
                    v = 0
                    for r in range(gs):
                        dig = (np.int64(row[g * gs + r]) >> sh) & mask
                        v |= dig << (r * d)
                        tot += dig * dig
                    pat[m, t, i, g] = v
                s2[m, t, i] = tot
                nz[m, t, i] = 1 if tot > 0 else 0


@njit(inline="always")
def _gather(src, k0, n0, nlen, block, out):
    """out[r, j*U + sp*NB + beta] = src[k0 + r, sp, n0 + beta*block + j]; rows past K are zero."""
    K, SP, _ = src.shape
    NB = nlen // block
    U = SP * NB
    for r in range(out.shape[0]):
        k = k0 + r
        for j in range(block):
            for sp in range(SP):
                base = j * U + sp * NB
                for beta in range(NB):
                    out[r, base + beta] = src[k, sp, n0 + beta * block + j] if k < K else 0


@njit(inline="always")
def _build_table(wt, gs, d, L, table):
    """table[g, pat, :L] = sum over the group's rows r of digit_r(pat) * wt[g*gs + r, :L]."""
    G, npat, _ = table.shape
    mask = (1 << d) - 1
    for g in range(G):
        for q in range(L):
            table[g, 0, q] = 0
        for pt in range(1, npat):
            r = 0
            while ((pt >> (r * d)) & mask) == 0:
                r += 1
            src = pt - (1 << (r * d))
            row = g * gs + r
            for q in range(L):
                table[g, pt, q] = table[g, src, q] + wt[row, q]


@njit(inline="always")
def _sum_table(table, pg, L, acc):
    """acc[:L] = sum over groups g of table[g, pg[g], :L], four groups per pass, fixed order."""
    G = pg.shape[0]
    for q in range(L):
        acc[q] = 0
    for g in range(0, G - G % 4, 4):
        p0, p1, p2, p3 = pg[g], pg[g + 1], pg[g + 2], pg[g + 3]
        if p0 | p1 | p2 | p3:
            # rows taken first, so the loop vectorises (as in kernels.py)
            t0, t1, t2, t3 = table[g, p0], table[g + 1, p1], table[g + 2, p2], table[g + 3, p3]
            for q in range(L):
                acc[q] += (t0[q] + t1[q]) + (t2[q] + t3[q])
    for g in range(G - G % 4, G):
        pt = pg[g]
        if pt != 0:
            row = table[g, pt]
            for q in range(L):
                acc[q] += row[q]


@njit(inline="always")
def _sum_direct(wt, pg, L, acc):
    """acc[:L] = sum over rows r of digit_r * wt[r, :L] (one row per group, large dac_bits)."""
    for q in range(L):
        acc[q] = 0
    for r in range(pg.shape[0]):
        v = pg[r]
        if v != 0:
            for q in range(L):
                acc[q] += v * wt[r, q]


@njit(inline="always")
def _normals(L, hb, gkey4, nbits, z64, hs):
    """z[q] = a standard normal per lane from the hash of (plane key hb, lane group gkey4).

    Lanes 4r … 4r + 3 are outputs n … n + 3 (n a multiple of 4) of one slice and share one
    64-bit hash hs[r] = mix64(hb + gkey4[r]), lane 4r + j reading its 16-bit field j (bits
    16j …) and the low NORMAL_BITS of it: one hash per four conversions. The hashes are computed
    first (a loop the compiler vectorises), then looked up in the table (nbits: its float32 bit
    patterns), two lanes per 64-bit store into z64, z viewed as uint64 (little-endian: lane 2u
    in the low half); the stores, not the hashes, bound this loop.
    """
    for r in range(L // 4):
        hs[r] = mix64(hb + gkey4[r])
    for r in range(L // 4):
        h = hs[r]
        lo = np.uint64(nbits[h & _MASK]) | (np.uint64(nbits[(h >> _S16) & _MASK]) << _S32)
        hi = np.uint64(nbits[(h >> _S32) & _MASK]) | (np.uint64(nbits[(h >> _S48) & _MASK]) << _S32)
        z64[2 * r] = lo
        z64[2 * r + 1] = hi


@njit(inline="always")
def _adc_fixed(acc, offl, z, sc, L, signed, keep, kf, h, cmax, pwi, ybuf, mag):
    """ideal / linear / calibrated on a = acc + offset + sc * z: code min(floor(|a| / 2^k + h),
    cmax), with the sign of a (balanced) or from max(a, 0); adds pwi * q into ybuf.
    """
    step = bits_float(np.int32((127 + kf) << 23))
    inv = bits_float(np.int32((127 - kf) << 23))
    for q in range(L):
        a = np.float32(acc[q]) + offl[q] + sc * z[q]
        m = abs(a) if signed else max(a, np.float32(0.0))
        if keep:
            mag[q] = m
        c = min(np.floor(m * inv + h), cmax) * step
        ybuf[q] += pwi * (-c if a < 0 else c)


#: float32 bit patterns: the exponent field, 2^0, and 2^127 (so that 2^-k = bits(TWO127 - e(2^k)))
_EXP = np.int32(0x7F800000)
_ONE = np.int32(0x3F800000)
_INV = np.int32(0x7F000000)


@njit(inline="always")
def _adc_rar(acc, offl, z, sc, L, signed, keep, s, emax, h, cmax, pwi, ybuf, mag):
    """rar on the analog value: its window from the leading one of |a|, read off the float
    exponent of |a| * s (s = 2^(1 - b)) as the bit pattern e of 2^k, floored at 2^0 and capped at
    emax = the pattern of 2^kmax (kmax = F - b); 2^-k is the pattern _INV - e. Then the rounded
    code min(floor(|a| * 2^-k + h), cmax) * 2^k.
    """
    for q in range(L):
        a = np.float32(acc[q]) + offl[q] + sc * z[q]
        m = abs(a) if signed else max(a, np.float32(0.0))
        if keep:
            mag[q] = m
        e = np.int32(min(max(np.int32(float_bits(m * s) & _EXP), _ONE), emax))
        c = min(np.floor(m * bits_float(np.int32(_INV - e)) + h), cmax) * bits_float(e)
        ybuf[q] += pwi * (-c if a < 0 else c)


@njit(inline="always")
def _adc_bfp(acc, offl, z, sc, L, signed, s, emax, block, h, cmax, pwi, ybuf, mag,
             neg, eb):  # fmt: skip
    """bfp on the analog values: block u (lanes u, u + U, ...) takes the window of its largest
    |a| (padding lanes read 0): eb[u], the pattern of 2^k as in ``_adc_rar``; then every
    member's rounded code.
    """
    U = L // block
    for q in range(L):
        a = np.float32(acc[q]) + offl[q] + sc * z[q]
        mag[q] = abs(a) if signed else max(a, np.float32(0.0))
        neg[q] = a < 0
    for u in range(U):
        eb[u] = _ONE
    for j in range(block):
        off = j * U
        for u in range(U):
            eb[u] = max(eb[u], np.int32(float_bits(mag[off + u] * s) & _EXP))
    for u in range(U):
        eb[u] = min(eb[u], emax)
    for j in range(block):
        off = j * U
        for u in range(U):
            e = eb[u]
            q = off + u
            c = min(np.floor(mag[q] * bits_float(np.int32(_INV - e)) + h), cmax) * bits_float(e)
            ybuf[q] += pwi * (-c if neg[q] else c)


@njit
def _count(mag, kl, eb, L, kind, block, kf, s, emax, h, cmax, valid, kmax, st):
    """Saturated codes (fixed windows), |a| >= 1/2 read as 0, and the windows k >= kk.

    rar's windows are read again from mag, bfp's from the block patterns eb (into kl).
    """
    sat = 0
    rz = 0
    if kind != RAR and kind != BFP:
        inv = bits_float(np.int32((127 - kf) << 23))
        for q in range(L):
            raw = np.floor(mag[q] * inv + h)
            sat += raw > cmax
            rz += (raw == 0.0) & (mag[q] >= 0.5)
    else:
        if kind == RAR:
            for q in range(L):
                e = np.int32(min(max(np.int32(float_bits(mag[q] * s) & _EXP), _ONE), emax))
                kl[q] = (e >> 23) - 127
        else:
            U = L // block
            for j in range(block):
                for u in range(U):
                    kl[j * U + u] = (eb[u] >> 23) - 127
        for q in range(L):
            raw = np.floor(mag[q] * bits_float(np.int32((127 - kl[q]) << 23)) + h)
            rz += (raw == 0.0) & (mag[q] >= 0.5)
        for kk in range(1, kmax + 1):
            c = 0
            for q in range(L):
                c += (kl[q] >= kk) & (valid[q] > 0)
            st[ST_K + kk - 1] += c
    st[ST_SAT] += sat
    st[ST_RZ] += rz


@njit(inline="always")
def _flush(ybuf, block, SP, NB, spw, y, m, n0, N):
    """y[m, n0 + beta*B + j] += sum over slices of spw[sp] * ybuf[j*U + sp*NB + beta]."""
    U = SP * NB
    for j in range(block):
        for beta in range(NB):
            n = n0 + beta * block + j
            if n < N:
                tot = 0.0
                for sp in range(SP):
                    tot += np.float64(spw[sp]) * ybuf[j * U + sp * NB + beta]
                y[m, n] += np.int64(tot)


@njit_parallel
def noisy_tiles(
    pat, nz, s2, wsl, acc0, ybuf0, spw, pw, off, rows, gs, d, use_table, kind, kf, b, kmax,
    cmax, block, nearest, signed, var_adc, var_read, key, row0, normal, nc, mc, want_stats, y,
    stats,
):  # fmt: skip
    """Parallel driver over (output chunk, vector chunk) tasks; see the module docstring.

    pat, nz, s2: from ``plane_patterns``. wsl: (K, SP, Np) cell levels per row, lane and output
    (int8 exact levels or float with variation; signed differences for balanced), Np = N rounded
    up to a multiple of ``block``; acc0, ybuf0: empty arrays of the dtypes of the sums and of the
    per-lane sums over planes (float32 where exact, see noise.py). spw, pw: slice and
    plane weights. off: (T, SP, Np) ADC offsets. kind: the scheme; kf: its fixed window (-1 for
    rar, bfp); cmax: the largest code. var_adc, var_read: the thermal variance and the read
    variance per unit of s2. key: the layer's uint64 key; row0: the global index of vector 0.
    normal: the float32 bit patterns (uint32) of the table of standard normal quantiles.
    y (M, N) int64 accumulates; stats (tasks, N_STAT) int64 with want_stats.
    """
    M, T, P, G = pat.shape
    K, SP, Np = wsl.shape
    N = y.shape[1]
    NqB = (Np + 4 * block - 1) // (4 * block) * block  # hash groups per slice
    n_nch = (Np + nc - 1) // nc
    n_mch = (M + mc - 1) // mc
    npat = (1 << (gs * d)) if use_table else 1
    h = np.float32(0.5) if nearest else np.float32(0.0)
    s_b = np.float32(1.0) / np.float32(np.int64(1) << (b - 1))  # 2^(1 - b)
    emax = np.int32((127 + kmax) << 23)  # the bit pattern of 2^kmax
    cm = np.float32(cmax)
    for task in prange(n_nch * n_mch):
        nci = task % n_nch
        mci = task // n_nch
        n0 = nci * nc
        nlen = min(nc, Np - n0)
        NB = nlen // block
        U = SP * NB
        L = SP * nlen
        wt = np.zeros((G * gs, SP * nc), wsl.dtype)
        table = np.zeros((G if use_table else 1, npat, SP * nc), wsl.dtype)
        acc = np.zeros(SP * nc, acc0.dtype)
        offl = np.zeros((1, SP * nc), np.float32)
        z = np.zeros(SP * nc + 4, np.float32)  # (even length: viewed as uint64)
        mag = np.zeros(SP * nc, np.float32)
        kl = np.zeros(SP * nc, np.int64)
        neg = np.zeros(SP * nc, np.bool_)
        eb = np.zeros(SP * nc, np.int32)
        ybuf = np.zeros(SP * nc, ybuf0.dtype)
        gkey4 = np.zeros(SP * nc // 4 + 1, np.uint64)
        hs = np.zeros(SP * nc // 4 + 1, np.uint64)
        z64 = z.view(np.uint64)
        valid = np.zeros(SP * nc, np.float32)
        st = np.zeros(N_STAT, np.int64)
        real = 0
        pads = np.zeros(SP * nc, np.int64)  # the lanes of padding outputs (n >= N)
        npad = 0
        for j in range(block):
            for sp in range(SP):
                for beta in range(NB):
                    n = n0 + beta * block + j
                    lane = j * U + sp * NB + beta
                    # four lanes beta = 4r .. 4r + 3 (outputs B apart) share one hash
                    if lane % 4 == 0:
                        gkey4[lane // 4] = np.uint64(sp * NqB + (n // (4 * block)) * block + j)
                    valid[lane] = 1.0 if n < N else 0.0
                    real += n < N
                    if n >= N:
                        pads[npad] = lane
                        npad += 1
        for t in range(T):
            _gather(wsl, t * rows, n0, nlen, block, wt)
            if use_table:
                _build_table(wt, gs, d, L, table)
            _gather(off, t, n0, nlen, block, offl)
            kt = chain(key, t)
            for m in range(mci * mc, min(M, mci * mc + mc)):
                if nz[m, t].sum() == 0:
                    continue
                ybuf[:L] = 0.0
                km = chain(kt, row0 + m)
                for i in range(P):
                    if nz[m, t, i] == 0:
                        continue  # an all-zero plane: skipped, no conversions
                    if use_table:
                        _sum_table(table, pat[m, t, i], L, acc)
                    else:
                        _sum_direct(wt, pat[m, t, i], L, acc)
                    sc = np.float32(math.sqrt(var_adc + var_read * s2[m, t, i]))
                    if sc > 0:
                        _normals(L, chain(km, i), gkey4, normal, z64, hs)
                        for u in range(npad):  # padding lanes (no output): a = 0 exactly
                            z[pads[u]] = 0.0
                    pwi = np.float32(pw[i])  # a power of two: pwi * code * 2^k is exact
                    if kind == BFP:
                        _adc_bfp(acc, offl[0], z, sc, L, signed, s_b, emax, block, h, cm,
                                 pwi, ybuf, mag, neg, eb)  # fmt: skip
                    elif kind == RAR:
                        _adc_rar(acc, offl[0], z, sc, L, signed, want_stats, s_b, emax, h, cm, pwi,
                                 ybuf, mag)  # fmt: skip
                    else:
                        _adc_fixed(acc, offl[0], z, sc, L, signed, want_stats, kf, h, cm, pwi,
                                   ybuf, mag)  # fmt: skip
                    if want_stats:
                        _count(mag, kl, eb, L, kind, block, kf, s_b, emax, h, cm, valid, kmax,
                               st)  # fmt: skip
                        st[ST_CONV] += real
                _flush(ybuf, block, SP, NB, spw, y, m, n0, N)
        for s in range(N_STAT):
            stats[task, s] = st[s]
