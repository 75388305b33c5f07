"""The crossbar ops: ``conv`` (Conv) and ``linear`` (Gemm, MatMul with a constant weight).

Attributes: ``conv``: weight (O, I/g, kh, kw), bias (O,), strides, pads (top, left, bottom,
right), dilations, groups. ``linear``: weight (K, N) (x @ weight over the last ONNX axis of x;
leading axes are independent vectors), bias (N,).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bfpdse.nn import ops
from bfpdse.nn.opset import Op, channels, register
from bfpdse.nn.stats import Stats


def explicit_pads(imp, node, attrs, size, kernel, strides, dil) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) pads of a 2-D window op from ``pads`` or ``auto_pad``."""
    auto = attrs.get("auto_pad", "NOTSET")
    if auto in ("NOTSET", ""):
        p = tuple(int(v) for v in attrs.get("pads", (0, 0, 0, 0)))
        if len(p) != 4:
            raise imp.error(node, f"pads {p} must have 4 values (2-D ops only)")
        return p[0], p[1], p[2], p[3]
    if auto == "VALID":
        return 0, 0, 0, 0
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise imp.error(node, f"auto_pad={auto!r} is not supported")
    begin, end = [], []
    for n, k, s, d in zip(size, kernel, strides, dil, strict=True):
        total = max(0, (-(-n // s) - 1) * s + (k - 1) * d + 1 - n)
        small, big = total // 2, total - total // 2
        begin.append(small if auto == "SAME_UPPER" else big)
        end.append(big if auto == "SAME_UPPER" else small)
    return begin[0], begin[1], end[0], end[1]


def layer_matrix(node: Any) -> tuple[np.ndarray, int]:
    """(groups, K, N/groups) float64 weight matrices of a conv/linear node."""
    w = np.asarray(node.attrs["weight"], dtype=np.float64)
    if node.op == "conv":
        return ops.conv_weight_matrix(w, node.attrs["groups"]), node.attrs["groups"]
    return w[None], 1


def _mvm_stats(node: Any, s: Stats, k_channels: int) -> Stats:
    """Output stats of a folded conv/linear: BN statistics if it had a BN, else propagated."""
    wmat, groups = layer_matrix(node)  # (g, K, Ng)
    if s.channels != k_channels:
        s = s.expand(k_channels) if s.channels == 1 else s.worst(k_channels)
    if node.op == "conv":
        if any(node.attrs["pads"]):
            s = s.widen_to_zero()
        kk = int(np.prod(node.attrs["weight"].shape[2:]))
        cg = wmat.shape[1] // kk
        # per-row stats: rows of a group run over (kh, kw, channel of the group)
        rows = [np.tile(v.reshape(groups, cg), (1, kk)) for v in s.arrays()]
    else:
        rows = [v[None, :] for v in s.arrays()]
    mu, sd, lo, hi = (r[:, :, None] for r in rows)  # (g, K, 1)
    bias = np.asarray(node.attrs["bias"], dtype=np.float64)
    hard_lo = (np.minimum(wmat * lo, wmat * hi)).sum(axis=1).reshape(-1) + bias
    hard_hi = (np.maximum(wmat * lo, wmat * hi)).sum(axis=1).reshape(-1) + bias
    if "bn" in node.attrs:
        out_mu = np.asarray(node.attrs["bn"]["beta"], dtype=np.float64)
        out_sd = np.abs(np.asarray(node.attrs["bn"]["gamma"], dtype=np.float64))
    else:
        out_mu = (wmat * mu).sum(axis=1).reshape(-1) + bias
        out_sd = np.sqrt((wmat * wmat * sd * sd).sum(axis=1).reshape(-1))
    return Stats(out_mu, out_sd, hard_lo, hard_hi)


@register
class Conv(Op):
    name = "conv"
    onnx = ("Conv",)
    mvm = True

    def convert(self, imp, node) -> None:
        attrs = imp.attrs(node)
        x = imp.act(node, 0, rank=(4,))
        w = np.asarray(imp.const(node, 1, "weight"), dtype=np.float32)
        b = imp.const(node, 2, "bias")
        if w.ndim != 4:
            raise imp.error(node, f"only 2-D convolutions are supported (weight shape {w.shape})")
        _, c, h, wd = imp.shapes[x]
        groups = int(attrs.get("group", 1))
        o, cg, kh, kw = w.shape
        if cg * groups != c or o % groups:
            raise imp.error(
                node, f"weight {w.shape} with group={groups} does not fit {c} input channels"
            )
        strides = tuple(attrs.get("strides", (1, 1)))
        dil = tuple(attrs.get("dilations", (1, 1)))
        pads = explicit_pads(imp, node, attrs, (h, wd), (kh, kw), strides, dil)
        ho = ops.out_size(h, kh, strides[0], pads[0] + pads[2], dil[0])
        wo = ops.out_size(wd, kw, strides[1], pads[1] + pads[3], dil[1])
        if ho <= 0 or wo <= 0:
            raise imp.error(node, f"output size {ho}x{wo} is empty")
        bias = np.zeros(o, np.float32) if b is None else np.asarray(b, np.float32).reshape(-1)
        imp.emit(
            node, "conv", [x], (imp.batch, o, ho, wo),
            weight=w, bias=bias, strides=strides, pads=pads, dilations=dil, groups=groups,
        )  # fmt: skip

    def prepare(self, attrs):
        w32 = ops.conv_weight_matrix(np.asarray(attrs["weight"], np.float32), attrs["groups"])
        return attrs, w32

    def run(self, p, ins):
        attrs, w32 = p
        return ops.conv_float(ins[0], attrs, w32)

    def bounds(self, node, ins, shapes):
        return _mvm_stats(node, ins[0], channels(shapes[node.inputs[0]]))


@register
class Linear(Op):
    name = "linear"
    onnx = ("Gemm", "MatMul")
    mvm = True

    def convert(self, imp, node) -> None:
        if node.op_type == "Gemm":
            self._gemm(imp, node)
            return
        x = imp.act(node, 0)
        if len(imp.shapes[x]) < 2:
            raise imp.error(node, "the activation must have a feature axis (rank >= 2)")
        w = imp.const(node, 1, "weight (the second input; products of two activations "
                      "do not map to a crossbar)")  # fmt: skip
        w = np.asarray(w, dtype=np.float64)
        self.emit(imp, node, x, w, np.zeros(w.shape[-1]))

    def _gemm(self, imp, node) -> None:
        attrs = imp.attrs(node)
        if attrs.get("transA", 0):
            raise imp.error(
                node, "transA=1 (a transposed activation, batch not first) is not supported"
            )
        x = imp.act(node, 0, rank=(2,))
        b = np.asarray(imp.const(node, 1, "weight B"), dtype=np.float64)
        w = b.T if attrs.get("transB", 0) else b
        w = w * attrs.get("alpha", 1.0)
        c = imp.const(node, 2, "bias C")
        n = w.shape[1] if w.ndim == 2 else 0
        bias = np.zeros(n)
        if c is not None:
            c = np.asarray(c, dtype=np.float64) * attrs.get("beta", 1.0)
            if c.size not in (1, n) or (c.ndim == 2 and c.shape[0] != 1):
                raise imp.error(node, f"bias C of shape {c.shape} must broadcast to ({n},)")
            bias = np.broadcast_to(c.reshape(-1), (n,)).copy()
        self.emit(imp, node, x, w, bias)

    @staticmethod
    def emit(imp, node, x: str, weight: np.ndarray, bias: np.ndarray) -> None:
        k = imp.shapes[x][-1]
        if weight.ndim != 2 or weight.shape[0] != k:
            raise imp.error(node, f"weight of shape {weight.shape} does not fit {k} input features")
        imp.emit(
            node, "linear", [x], (*imp.shapes[x][:-1], weight.shape[1]),
            weight=np.asarray(weight, np.float32), bias=np.asarray(bias, np.float32),
        )  # fmt: skip

    def prepare(self, attrs):
        w32 = np.ascontiguousarray(attrs["weight"], dtype=np.float32)
        return w32, np.asarray(attrs["bias"]).astype(np.float32)

    def run(self, p, ins):
        w32, b32 = p
        x = ins[0]
        if x.ndim == 2:
            return x @ w32 + b32
        flat, lead = ops.rows_last_axis(x)
        return ops.unflatten_rows(flat @ w32 + b32, lead)

    def bounds(self, node, ins, shapes):
        in_shape, out_shape = shapes[node.inputs[0]], shapes[node.output]
        k = node.attrs["weight"].shape[0]
        s = ins[0]
        if len(in_shape) != 1:  # N-D: the features are not the channel axis
            s = s.worst(k)
        out = _mvm_stats(node, s, k)
        return out if len(out_shape) == 1 else out.worst(channels(out_shape))
