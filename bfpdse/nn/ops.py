"""Numpy kernels of the graph ops on NHWC activations (batch first, channels last).

Convolution is im2col + one BLAS matmul per group. :func:`im2col` builds the (M, K) patch matrix
in one jitted pass (parallel over images; numpy strided copies were 2-10x slower for few
channels), K ordered (kh, kw, C): the channel-last unrolling of NHWC accelerators (TFLite,
CMSIS-NN). A crossbar's row tiles therefore hold whole channel vectors of consecutive kernel
positions. Pools loop over the kh * kw kernel offsets with whole-batch strided numpy operations.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from bfpdse.cim.jit import njit_parallel


def out_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """Output length of a window op along one axis (``pad`` = both sides together)."""
    return (size + pad - (kernel - 1) * dilation - 1) // stride + 1


def pad_nhwc(x: np.ndarray, pads: tuple[int, int, int, int], value: float = 0.0) -> np.ndarray:
    """Pad H and W of an NHWC array by (top, left, bottom, right) with ``value``."""
    top, left, bottom, right = pads
    if not (top or left or bottom or right):
        return x
    n, h, w, c = x.shape
    out = np.full((n, h + top + bottom, w + left + right, c), value, dtype=x.dtype)
    out[:, top : top + h, left : left + w, :] = x
    return out


def _offsets(kernel, strides, dilations, ho, wo):
    """Yield (i, j, row slice, col slice) for every kernel offset of a window op."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilations
    for i in range(kh):
        rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
        for j in range(kw):
            yield i, j, rows, slice(j * dw, j * dw + sw * (wo - 1) + 1, sw)


def im2col(
    x: np.ndarray,
    kernel: tuple[int, int],
    strides: tuple[int, int],
    pads: tuple[int, int, int, int],
    dilations: tuple[int, int],
    groups: int = 1,
    dtype: np.dtype | None = None,
) -> tuple[np.ndarray, int, int]:
    """Patch matrices of an NHWC batch: shape (groups, n * Ho * Wo, kh * kw * C/groups).

    Rows run over (image, output row, output column); columns over (kernel row, kernel column,
    channel) within the group: the channel-last (NHWC) unrolling. Padding reads as 0 of ``x``'s
    dtype (exact for quantized inputs, whose zero point is 0). The patches have ``dtype``
    (default: ``x``'s; integers convert exactly to a wider float). Returns them and (Ho, Wo).
    """
    n, h, w, c = x.shape
    kh, kw = kernel
    ho = out_size(h, kh, strides[0], pads[0] + pads[2], dilations[0])
    wo = out_size(w, kw, strides[1], pads[1] + pads[3], dilations[1])
    cols = np.empty((groups, n * ho * wo, kh * kw * (c // groups)), dtype=dtype or x.dtype)
    _im2col_kernel(
        np.ascontiguousarray(x), kh, kw, strides[0], strides[1], pads[0], pads[1],
        dilations[0], dilations[1], ho, wo, groups, cols,
    )  # fmt: skip
    return cols, ho, wo


@njit_parallel
def _im2col_kernel(x, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, groups, out):  # pragma: no cover
    # one output row (image, oy) per parallel task; padding cells are written as 0
    n, h, w, c = x.shape
    cg = c // groups
    for task in prange(n * ho):
        b = task // ho
        oy = task % ho
        for ox in range(wo):
            row = task * wo + ox
            for g in range(groups):
                dst = out[g, row]
                c0 = g * cg
                for i in range(kh):
                    iy = oy * sh - ph + i * dh
                    for j in range(kw):
                        ix = ox * sw - pw + j * dw
                        base = (i * kw + j) * cg
                        if 0 <= iy < h and 0 <= ix < w:
                            src = x[b, iy, ix]
                            for ch in range(cg):
                                dst[base + ch] = src[c0 + ch]
                        else:
                            for ch in range(cg):
                                dst[base + ch] = 0


def conv_weight_matrix(weight: np.ndarray, groups: int) -> np.ndarray:
    """ONNX conv weight (O, I/g, kh, kw) -> per-group matrices (groups, kh * kw * I/g, O/g).

    Rows follow :func:`im2col`'s (kh, kw, C) order.
    """
    o, cg, kh, kw = weight.shape
    og = o // groups
    w = weight.reshape(groups, og, cg, kh, kw).transpose(0, 3, 4, 2, 1)  # g, kh, kw, cg, og
    return np.ascontiguousarray(w.reshape(groups, kh * kw * cg, og))


def conv_float(x: np.ndarray, attrs: dict, wmat: np.ndarray) -> np.ndarray:
    """Float convolution of NHWC ``x`` with per-group weight matrices ``wmat``; NHWC out."""
    n = x.shape[0]
    groups = attrs["groups"]
    kernel = attrs["weight"].shape[2:]
    cols, ho, wo = im2col(x, kernel, attrs["strides"], attrs["pads"], attrs["dilations"], groups)
    if groups == 1:
        y = cols[0] @ wmat[0]
    elif wmat.shape[2] == 1:  # depthwise-like: one output per group
        y = np.einsum("gmk,gk->mg", cols, wmat[:, :, 0], optimize=True)
    else:
        y = np.matmul(cols, wmat).transpose(1, 0, 2).reshape(cols.shape[1], -1)
    y = y.reshape(n, ho, wo, -1)
    y += attrs["bias"].astype(y.dtype)
    return y


def maxpool(x: np.ndarray, attrs: dict) -> np.ndarray:
    """Max pooling of NHWC ``x`` (padding with -inf, so padded cells never win)."""
    n, h, w, c = x.shape
    kernel, strides, pads, dil = (
        attrs["kernel"],
        attrs["strides"],
        attrs["pads"],
        attrs["dilations"],
    )
    ho = out_size(h, kernel[0], strides[0], pads[0] + pads[2], dil[0])
    wo = out_size(w, kernel[1], strides[1], pads[1] + pads[3], dil[1])
    xp = pad_nhwc(x, pads, -np.inf)
    out = None
    for _, _, rows, cols in _offsets(kernel, strides, dil, ho, wo):
        view = xp[:, rows, cols, :]
        out = view.copy() if out is None else np.maximum(out, view, out=out)
    return out


def avgpool(x: np.ndarray, attrs: dict) -> np.ndarray:
    """Average pooling of NHWC ``x``.

    The divisor counts the window cells inside the input (``count_include_pad`` = 0) or inside the
    explicitly padded input (= 1); cells of the ceil-mode overhang (``extra``) never count.
    """
    n, h, w, c = x.shape
    kernel, strides, pads = attrs["kernel"], attrs["strides"], attrs["pads"]
    dil = attrs.get("dilations", (1, 1))
    eb, er = attrs.get("extra", (0, 0))
    full = (pads[0], pads[1], pads[2] + eb, pads[3] + er)
    ho = out_size(h, kernel[0], strides[0], full[0] + full[2], dil[0])
    wo = out_size(w, kernel[1], strides[1], full[1] + full[3], dil[1])
    xp = pad_nhwc(x, full)
    # which padded cells count in the divisor
    mask = np.zeros((1, h + full[0] + full[2], w + full[1] + full[3], 1), dtype=np.float64)
    if attrs["count_include_pad"]:
        mask[:, : h + pads[0] + pads[2], : w + pads[1] + pads[3]] = 1.0
    else:
        mask[:, pads[0] : pads[0] + h, pads[1] : pads[1] + w] = 1.0
    total = np.zeros((n, ho, wo, c), dtype=x.dtype)
    count = np.zeros((1, ho, wo, 1), dtype=np.float64)
    for _, _, rows, cols in _offsets(kernel, strides, dil, ho, wo):
        total += xp[:, rows, cols, :]
        count += mask[:, rows, cols, :]
    return total / count.astype(x.dtype)


def global_avgpool(x: np.ndarray) -> np.ndarray:
    """Mean over H and W of NHWC ``x``, keeping (n, 1, 1, C)."""
    return x.mean(axis=(1, 2), keepdims=True, dtype=np.float64).astype(x.dtype)


#: internal = ONNX.transpose(NHWC) for 4-D tensors; other ranks are stored in ONNX layout
NHWC = (0, 2, 3, 1)
#: ONNX axis of a 4-D tensor -> its axis in the internal (NHWC) array
_AXIS4 = (0, 3, 1, 2)


def internal_axis(axis: int, rank: int) -> int:
    """The axis of the internal array that holds ONNX axis ``axis`` of a rank-``rank`` tensor."""
    axis = int(axis) % rank
    return _AXIS4[axis] if rank == 4 else axis


def internal_constant(c: np.ndarray, rank: int) -> np.ndarray:
    """An ONNX-layout constant, broadcast as ONNX does to ``rank``, in the internal layout."""
    c = np.asarray(c)
    c = c.reshape((1,) * (rank - c.ndim) + c.shape)
    return c.transpose(NHWC) if rank == 4 else c


def to_onnx_layout(x: np.ndarray) -> np.ndarray:
    """NHWC -> NCHW for 4-D arrays; other ranks are already in ONNX layout."""
    return x.transpose(0, 3, 1, 2) if x.ndim == 4 else x


def from_onnx_layout(x: np.ndarray) -> np.ndarray:
    """NCHW -> NHWC for 4-D arrays (a contiguous copy); other ranks unchanged."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if x.ndim == 4 else x


def reshape(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """ONNX Reshape of an internal-layout array to (n, *shape), back in internal layout."""
    y = np.ascontiguousarray(to_onnx_layout(x)).reshape((x.shape[0], *shape))
    return from_onnx_layout(y)


def rows_last_axis(x: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """An internal-layout array as (M, K) rows over its last ONNX axis, and the ONNX lead shape."""
    onnx_x = to_onnx_layout(x)
    lead = onnx_x.shape[:-1]
    return np.ascontiguousarray(onnx_x).reshape(-1, onnx_x.shape[-1]), lead


def unflatten_rows(y: np.ndarray, lead: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`rows_last_axis` for (M, N) results: back in the internal layout."""
    return from_onnx_layout(y.reshape(*lead, y.shape[-1]))
