"""Pooling and reductions: ``maxpool``, ``avgpool``, ``gap`` and ``reduce`` (mean, max, sum).

``maxpool``: kernel, strides, pads (ceil mode already turned into extra bottom/right padding
with -inf), dilations. ``avgpool``: kernel, strides, pads, count_include_pad, extra (the
ceil-mode overhang, never counted). ``reduce``: kind, axes (ONNX axes, batch excluded),
keepdims.
"""

from __future__ import annotations

import numpy as np

from bfpdse.nn import ops
from bfpdse.nn.opset import Op, channels, register
from bfpdse.nn.opset.mvm import explicit_pads


class _Pool(Op):
    def convert(self, imp, node):
        imp.only_first_output(node)
        attrs = imp.attrs(node)
        x = imp.act(node, 0, rank=(4,))
        _, c, h, w = imp.shapes[x]
        kernel = tuple(attrs["kernel_shape"])
        if len(kernel) != 2:
            raise imp.error(node, f"only 2-D pooling is supported (kernel {kernel})")
        strides = tuple(attrs.get("strides", (1, 1)))
        dil = tuple(attrs.get("dilations", (1, 1)))
        pads = explicit_pads(imp, node, attrs, (h, w), kernel, strides, dil)
        extra = [0, 0]
        outs = []
        for a, n in enumerate((h, w)):
            span = n + pads[a] + pads[a + 2]
            eff = (kernel[a] - 1) * dil[a] + 1
            if attrs.get("ceil_mode", 0):
                o = -(-(span - eff) // strides[a]) + 1
                # the last window must start inside the input or its leading pad
                if (o - 1) * strides[a] >= n + pads[a]:
                    o -= 1
                extra[a] = max(0, (o - 1) * strides[a] + eff - span)
            else:
                o = (span - eff) // strides[a] + 1
            outs.append(o)
        if min(outs) <= 0:
            raise imp.error(node, f"output size {outs[0]}x{outs[1]} is empty")
        self.emit(imp, node, x, (imp.batch, c, *outs), kernel, strides, pads, dil, extra, attrs)

    def nonneg(self, attrs, ins):
        return ins[0]


@register
class MaxPool(_Pool):
    name = "maxpool"
    onnx = ("MaxPool",)

    def emit(self, imp, node, x, shape, kernel, strides, pads, dil, extra, attrs):
        full = (pads[0], pads[1], pads[2] + extra[0], pads[3] + extra[1])
        imp.emit(node, self.name, [x], shape, kernel=kernel, strides=strides, pads=full,
                 dilations=dil)  # fmt: skip

    def run(self, p, ins):
        return ops.maxpool(ins[0], p)

    def bounds(self, node, ins, shapes):
        return ins[0]  # the range of the values cannot grow


@register
class AvgPool(_Pool):
    name = "avgpool"
    onnx = ("AveragePool",)

    def emit(self, imp, node, x, shape, kernel, strides, pads, dil, extra, attrs):
        imp.emit(
            node, self.name, [x], shape, kernel=kernel, strides=strides, pads=pads, dilations=dil,
            extra=tuple(extra), count_include_pad=int(attrs.get("count_include_pad", 0)),
        )  # fmt: skip

    def run(self, p, ins):
        return ops.avgpool(ins[0], p)

    def bounds(self, node, ins, shapes):
        # zero padding that counts in the divisor pulls averages towards 0
        return ins[0].widen_to_zero() if any(node.attrs["pads"]) else ins[0]


@register
class GlobalAvgPool(Op):
    name = "gap"
    onnx = ("GlobalAveragePool",)

    def convert(self, imp, node):
        x = imp.act(node, 0, rank=(4,))
        imp.emit(node, self.name, [x], (*imp.shapes[x][:2], 1, 1))

    def run(self, p, ins):
        return ops.global_avgpool(ins[0])

    def nonneg(self, attrs, ins):
        return ins[0]

    def bounds(self, node, ins, shapes):
        return ins[0]


_REDUCE = {"ReduceMean": "mean", "ReduceMax": "max", "ReduceSum": "sum", "GlobalMaxPool": "max"}


@register
class Reduce(Op):
    """ReduceMean/Max/Sum over non-batch axes, and GlobalMaxPool (max over H and W)."""

    name = "reduce"
    onnx = tuple(_REDUCE)

    def convert(self, imp, node):
        x = imp.act(node, 0)
        shape = imp.shapes[x]
        rank = len(shape)
        attrs = imp.attrs(node)
        if node.op_type == "GlobalMaxPool":
            axes, keep = tuple(range(2, rank)), 1
        else:
            keep = int(attrs.get("keepdims", 1))
            given = imp.const(node, 1, "axes") if len(node.input) > 1 else attrs.get("axes")
            if given is None or np.size(given) == 0:
                if attrs.get("noop_with_empty_axes", 0):
                    imp.alias[node.output[0]] = x
                    return
                given = range(rank)
            axes = tuple(sorted({int(a) % rank for a in np.asarray(given).reshape(-1)}))
        if 0 in axes:
            raise imp.error(node, "reducing over the batch axis is not supported")
        out = tuple(1 if i in axes else d for i, d in enumerate(shape))
        if not keep:
            out = tuple(d for i, d in enumerate(shape) if i not in axes)
        imp.emit(node, self.name, [x], out, kind=_REDUCE[node.op_type], axes=axes, keepdims=keep)

    def run(self, p, ins):
        x = ins[0]
        rank = x.ndim
        axes = tuple(ops.internal_axis(a, rank) for a in p["axes"])
        if p["kind"] == "mean":
            y = x.mean(axis=axes, keepdims=True, dtype=np.float64).astype(x.dtype)
        elif p["kind"] == "sum":
            y = x.sum(axis=axes, keepdims=True, dtype=np.float64).astype(x.dtype)
        else:
            y = x.max(axis=axes, keepdims=True)
        if p["keepdims"]:
            return y
        onnx_y = np.squeeze(ops.to_onnx_layout(y), axis=tuple(p["axes"]))
        return ops.from_onnx_layout(onnx_y)

    def nonneg(self, attrs, ins):
        return ins[0]

    def bounds(self, node, ins, shapes):
        s = ins[0]
        in_shape = shapes[node.inputs[0]]
        axes = node.attrs["axes"]
        if 1 in axes:  # channels mixed: every output gets the worst
            s = s.worst(channels(shapes[node.output]))
        if node.attrs["kind"] != "sum":
            return s
        n = float(np.prod([in_shape[a - 1] for a in axes]))
        return type(s)(s.mu * n, s.sd * np.sqrt(n), s.lo * n, s.hi * n)
