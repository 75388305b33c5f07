"""Normalisations: ``bn`` (inference BatchNormalization), ``layernorm`` and ``softmax``.

``bn``: gamma, beta, mean, var, eps (per channel, ONNX axis 1), rank. ``layernorm``: axes (the
normalised ONNX axes: axis .. rank-1), eps, scale and bias (ONNX layout, over those axes).
``softmax``: axes (one axis from opset 13; the axes from ``axis`` on before).
"""

from __future__ import annotations

import math

import numpy as np

from bfpdse.nn import ops
from bfpdse.nn.opset import Op, channels, register
from bfpdse.nn.stats import Stats


def bn_affine(attrs: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (mult, add) of an inference BatchNormalization: y = x * mult + add."""
    mult = attrs["gamma"] / np.sqrt(attrs["var"] + attrs["eps"])
    return mult, attrs["beta"] - attrs["mean"] * mult


def _channel_vector(v: np.ndarray, rank: int) -> np.ndarray:
    """Per-channel values shaped to broadcast along the channel axis of the internal layout."""
    shape = [1] * rank
    shape[1] = v.size
    return ops.internal_constant(v.reshape(shape), rank)


@register
class BatchNorm(Op):
    name = "bn"
    onnx = ("BatchNormalization",)

    def convert(self, imp, node):
        imp.only_first_output(node)
        attrs = imp.attrs(node)
        if attrs.get("training_mode", 0):
            raise imp.error(node, "training_mode=1 is not supported (export in eval mode)")
        x = imp.act(node, 0, rank=(2, 3, 4))
        params = {
            key: np.asarray(imp.const(node, i, key), dtype=np.float64).reshape(-1)
            for i, key in enumerate(("gamma", "beta", "mean", "var"), start=1)
        }
        n_ch = imp.shapes[x][1]
        for key, value in params.items():
            if value.size != n_ch:
                raise imp.error(node, f"{key} has {value.size} values for {n_ch} channels")
        imp.emit(node, self.name, [x], imp.shapes[x], eps=float(attrs.get("epsilon", 1e-5)),
                 rank=len(imp.shapes[x]), **params)  # fmt: skip

    def prepare(self, attrs):
        mult, add = bn_affine(attrs)
        rank = attrs.get("rank", 4)
        mult, add = mult.astype(np.float32), add.astype(np.float32)
        if rank == 3:  # (N, C, L): channels are not the last axis
            return mult[:, None], add[:, None]
        return mult, add

    def run(self, p, ins):
        mult, add = p
        return ins[0] * mult + add

    def bounds(self, node, ins, shapes):
        s, a = ins[0], node.attrs
        mult, add = bn_affine(a)
        lo, hi = s.lo * mult + add, s.hi * mult + add
        return Stats(a["beta"], np.abs(a["gamma"]), np.minimum(lo, hi), np.maximum(lo, hi))


@register
class LayerNorm(Op):
    name = "layernorm"
    onnx = ("LayerNormalization",)

    def convert(self, imp, node):
        imp.only_first_output(node)
        x = imp.act(node, 0)
        shape = imp.shapes[x]
        rank = len(shape)
        attrs = imp.attrs(node)
        axis = int(attrs.get("axis", -1)) % rank
        if axis == 0:
            raise imp.error(node, "normalising over the batch axis is not supported")
        norm_shape = shape[axis:]
        scale = imp.const(node, 1, "scale")
        bias = imp.const(node, 2, "bias")
        scale = np.ones(norm_shape) if scale is None else np.asarray(scale, np.float64)
        bias = np.zeros(norm_shape) if bias is None else np.asarray(bias, np.float64)
        for what, v in (("scale", scale), ("bias", bias)):
            try:
                np.broadcast_to(v, norm_shape)
            except ValueError:
                raise imp.error(node, f"{what} {v.shape} does not fit {norm_shape}") from None
        imp.emit(node, self.name, [x], shape, axes=tuple(range(axis, rank)),
                 eps=float(attrs.get("epsilon", 1e-5)), scale=scale, bias=bias)  # fmt: skip

    def prepare(self, attrs):
        rank = attrs["axes"][-1] + 1
        axes = tuple(ops.internal_axis(a, rank) for a in attrs["axes"])
        scale = ops.internal_constant(attrs["scale"].astype(np.float32), rank)
        bias = ops.internal_constant(attrs["bias"].astype(np.float32), rank)
        return axes, np.float32(attrs["eps"]), scale, bias

    def run(self, p, ins):
        axes, eps, scale, bias = p
        x = ins[0]
        mean = x.mean(axis=axes, keepdims=True, dtype=np.float64)
        centred = x - mean.astype(np.float32)
        var = np.mean(np.square(centred, dtype=np.float64), axis=axes, keepdims=True)
        inv = (1.0 / np.sqrt(var + eps)).astype(np.float32)
        return centred * inv * scale + bias

    def bounds(self, node, ins, shapes):
        # a normalised value lies within sqrt(D - 1) of 0 (D values over the normalised axes)
        shape = shapes[node.output]
        d = int(np.prod([shape[a - 1] for a in node.attrs["axes"]]))
        scale, bias = np.abs(node.attrs["scale"]), node.attrs["bias"]
        reach = math.sqrt(max(d - 1, 1))
        if node.attrs["axes"] == (1,) and len(shape) == 1:  # (N, F): per feature
            g = np.broadcast_to(scale, shape).astype(np.float64)
            b = np.broadcast_to(bias, shape).astype(np.float64)
            return Stats(b, g, b - g * reach, b + g * reach)
        g, b_lo, b_hi = float(scale.max()), float(bias.min()), float(bias.max())
        c = channels(shape)
        full = np.full(c, 1.0)
        return Stats(full * max(abs(b_lo), abs(b_hi)), full * g, full * (b_lo - g * reach),
                     full * (b_hi + g * reach))  # fmt: skip


@register
class Softmax(Op):
    name = "softmax"
    onnx = ("Softmax",)

    def convert(self, imp, node):
        x = imp.act(node, 0)
        rank = len(imp.shapes[x])
        default = -1 if imp.opset >= 13 else 1
        axis = int(imp.attrs(node).get("axis", default)) % rank
        axes = (axis,) if imp.opset >= 13 else tuple(range(axis, rank))
        if 0 in axes:
            raise imp.error(node, "a softmax over the batch axis is not supported")
        imp.emit(node, self.name, [x], imp.shapes[x], axes=axes)

    def run(self, p, ins):
        x = ins[0]
        axes = tuple(ops.internal_axis(a, x.ndim) for a in p["axes"])
        e = np.exp(x - x.max(axis=axes, keepdims=True))
        return e / e.sum(axis=axes, keepdims=True)

    def nonneg(self, attrs, ins):
        return True

    def bounds(self, node, ins, shapes):
        return Stats.interval(0.0, 1.0, channels(shapes[node.output]))
