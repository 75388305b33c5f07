"""Data movement: ``reshape``, ``transpose``, ``concat``, ``slice``, ``pad``; Identity/Dropout.

``reshape``: shape (the output shape without batch). ``transpose``: perm (ONNX, batch first).
``concat``: axis (ONNX). ``slice``: index (per ONNX axis, batch excluded: (start, stop, step)).
``pad``: pads (per ONNX axis: (before, after)), mode, value. The batch axis never moves.
"""

from __future__ import annotations

import numpy as np

from bfpdse.errors import ModelError
from bfpdse.nn import ops
from bfpdse.nn.opset import Op, channels, register
from bfpdse.nn.stats import Stats, same_channels

#: how to re-export a model whose graph fixes the batch size
REEXPORT_HINT = (
    "re-export the model with a dynamic batch: torch.onnx.export(..., dynamo=False, "
    "dynamic_axes={'input': {0: 'N'}}) or, with dynamo=True, dynamic_shapes=({0: "
    "torch.export.Dim('N')},)"
)


def resolve_target(shape: tuple[int, ...], target, allowzero: int = 0) -> tuple[int, ...]:
    """A Reshape target (0 = copy unless allowzero, -1 = infer) resolved against ``shape``."""
    out = [int(t) for t in np.asarray(target).reshape(-1)]
    if not allowzero:
        out = [shape[i] if t == 0 else t for i, t in enumerate(out)]
    if out.count(-1) > 1:
        raise ModelError(f"Reshape target {out} has more than one -1")
    total = int(np.prod(shape, dtype=np.int64))
    if -1 in out:
        known = int(np.prod([d for d in out if d != -1], dtype=np.int64))
        if known == 0 or total % known:
            raise ModelError(f"cannot reshape {list(shape)} to {out}")
        out[out.index(-1)] = total // known
    if int(np.prod(out, dtype=np.int64)) != total:
        raise ModelError(f"cannot reshape {list(shape)} to {out}")
    return tuple(out)


def _reshape_stats(s: Stats, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> Stats:
    channels_in = in_shape[0] if in_shape else 1
    if len(out_shape) == 1 and len(in_shape) >= 1 and s.channels == channels_in:
        # flatten of (C, H, W): each channel's stats repeat over its H * W positions
        per = int(np.prod(in_shape[1:], dtype=np.int64))
        if channels_in * per == out_shape[0]:
            return Stats(*(np.repeat(v, per) for v in s.arrays()))
    if len(out_shape) >= 1 and out_shape[0] == channels_in:
        return s
    # any other reshape: every output channel gets the worst input channel
    return s.worst(out_shape[0] if out_shape else 1)


@register
class Identity(Op):
    """No-ops: the output is another name for the input (never a graph node)."""

    name = "identity"
    onnx = ("Identity", "Dropout")

    def convert(self, imp, node):
        imp.only_first_output(node)
        imp.alias[node.output[0]] = imp.act(node, 0)

    def run(self, p, ins):
        return ins[0]

    def nonneg(self, attrs, ins):
        return ins[0]

    def bounds(self, node, ins, shapes):
        return ins[0]


@register
class Reshape(Op):
    name = "reshape"
    onnx = ("Reshape", "Flatten", "Squeeze", "Unsqueeze")

    def convert(self, imp, node):
        x = imp.act(node, 0)
        shape = imp.shapes[x]
        attrs = imp.attrs(node)
        op = node.op_type
        if op == "Reshape":
            target = np.asarray(imp.const(node, 1, "target shape"), dtype=np.int64).reshape(-1)
            if imp.static_batch is not None and target.size and target[0] == imp.static_batch:
                # a graph exported at a fixed batch: its leading dim is the batch
                target = target.copy()
                target[0] = imp.batch
            try:
                out = resolve_target(shape, target, attrs.get("allowzero", 0))
            except ModelError as exc:
                out = self._per_image(imp, shape, target, attrs)
                if out is None:
                    raise imp.error(node, str(exc).replace(str(imp.batch), "N")) from None
            if out[0] != imp.batch:
                out = self._per_image(imp, shape, target, attrs) or out
        elif op == "Flatten":
            axis = attrs.get("axis", 1) % len(shape) if shape else 0
            first = int(np.prod(shape[:axis], dtype=np.int64)) if axis else 1
            out = (first, int(np.prod(shape, dtype=np.int64)) // first)
        else:
            out = self._squeeze(imp, node, shape, attrs)
        if out[0] != imp.batch or any(d % imp.batch == 0 for d in out[1:]):
            raise imp.error(
                node, "the batch dimension must stay first and unchanged (got a reshape that "
                f"mixes it with other dimensions); if the graph fixes the batch size, "
                f"{REEXPORT_HINT}",
            )  # fmt: skip
        imp.emit(node, self.name, [x], out, shape=out[1:])

    @staticmethod
    def _per_image(imp, shape, target, attrs) -> tuple[int, ...] | None:
        """In a graph exported at batch 1, a target without the batch reshapes each image.

        The dynamo exporter writes adaptive pooling as ``Reshape(x, [-1])`` and a Gather of
        flat indices (``as_strided``); at batch 1 that is a per-image flatten, and the output
        is marked batch-merged for the Gather that follows.
        """
        if imp.static_batch != 1:
            return None
        try:
            out = (imp.batch, *resolve_target(shape[1:], target, attrs.get("allowzero", 0)))
        except ModelError:
            return None
        imp.batch_merged.add(imp.node_output)
        return out

    @staticmethod
    def _squeeze(imp, node, shape, attrs) -> tuple[int, ...]:
        given = imp.const(node, 1, "axes") if len(node.input) > 1 else attrs.get("axes")
        if node.op_type == "Unsqueeze":
            rank = len(shape) + len(given)
            axes = sorted(int(a) % rank for a in np.asarray(given).reshape(-1))
            out = list(shape)
            for a in axes:
                out.insert(a, 1)
            return tuple(out)
        if given is None:
            return tuple(d for i, d in enumerate(shape) if d != 1 or i == 0)
        axes = {int(a) % len(shape) for a in np.asarray(given).reshape(-1)}
        if any(shape[a] != 1 for a in axes):
            raise imp.error(
                node, f"cannot squeeze axes {sorted(axes)} of {imp.shape_text(node.input[0])}"
            )
        return tuple(d for i, d in enumerate(shape) if i not in axes)

    def run(self, p, ins):
        return ops.reshape(ins[0], p["shape"])

    def nonneg(self, attrs, ins):
        return ins[0]

    def bounds(self, node, ins, shapes):
        return _reshape_stats(ins[0], shapes[node.inputs[0]], shapes[node.output])


@register
class Gather(Op):
    """Gather of constant indices from an activation (along a non-batch axis).

    ``axis`` (ONNX), ``indices`` (int64). A batch-merged (N, F) tensor of a batch-1 graph (see
    ``Reshape._per_image``) gathered on axis 0 with indices of shape (1, ...) picks per image.
    """

    name = "gather"
    onnx = ("Gather",)

    def convert(self, imp, node):
        x = imp.act(node, 0)
        shape = imp.shapes[x]
        indices = np.asarray(imp.const(node, 1, "indices"), dtype=np.int64)
        axis = int(imp.attrs(node).get("axis", 0)) % len(shape)
        if axis == 0:
            if x not in imp.batch_merged or indices.ndim < 1 or indices.shape[0] != 1:
                raise imp.error(node, "gathering along the batch axis is not supported")
            axis, indices = 1, indices[0]
            if len(shape) != 2:
                raise imp.error(node, "a per-image gather needs a flattened (N, F) input")
        if np.any(indices < -shape[axis]) or np.any(indices >= shape[axis]):
            raise imp.error(node, f"indices outside 0 … {shape[axis] - 1} on axis {axis}")
        indices = np.where(indices < 0, indices + shape[axis], indices)
        out = (*shape[:axis], *indices.shape, *shape[axis + 1 :])
        imp.emit(node, self.name, [x], out, axis=axis, indices=indices)

    def run(self, p, ins):
        x = ops.to_onnx_layout(ins[0])
        return ops.from_onnx_layout(np.take(x, p["indices"], axis=p["axis"]))

    def nonneg(self, attrs, ins):
        return ins[0]

    def bounds(self, node, ins, shapes):
        return ins[0].worst(channels(shapes[node.output]))


def _inverse(perm) -> list[int]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


@register
class Transpose(Op):
    name = "transpose"
    onnx = ("Transpose",)

    def convert(self, imp, node):
        x = imp.act(node, 0)
        shape = imp.shapes[x]
        perm = imp.attrs(node).get("perm")
        perm = list(range(len(shape)))[::-1] if perm is None else [int(p) for p in perm]
        if sorted(perm) != list(range(len(shape))) or perm[0] != 0:
            raise imp.error(node, f"perm {perm} must keep the batch axis first")
        imp.emit(node, self.name, [x], tuple(shape[p] for p in perm), perm=tuple(perm))

    def prepare(self, attrs):
        # internal -> ONNX -> permuted ONNX -> internal, as one transpose of the internal array
        rank = len(attrs["perm"])
        layout = ops.NHWC if rank == 4 else tuple(range(rank))
        first = _inverse(layout)  # internal -> ONNX
        onnx_perm = [first[i] for i in attrs["perm"]]
        return tuple(onnx_perm[i] for i in layout)

    def run(self, p, ins):
        return np.ascontiguousarray(ins[0].transpose(p))

    def nonneg(self, attrs, ins):
        return ins[0]

    def bounds(self, node, ins, shapes):
        if node.attrs["perm"][1] == 1:
            return ins[0]
        return ins[0].worst(channels(shapes[node.output]))


def _worst_of(stats: list[Stats]) -> Stats:
    out = stats[0]
    for s in stats[1:]:
        a, b = same_channels(out, s)
        out = Stats(np.maximum(a.mu, b.mu), np.maximum(a.sd, b.sd),
                    np.minimum(a.lo, b.lo), np.maximum(a.hi, b.hi))  # fmt: skip
    return out


@register
class Concat(Op):
    name = "concat"
    onnx = ("Concat",)

    def convert(self, imp, node):
        names = [imp.act(node, i) for i in range(len(node.input))]
        shapes = [imp.shapes[n] for n in names]
        rank = len(shapes[0])
        axis = int(imp.attrs(node)["axis"]) % rank
        if axis == 0:
            raise imp.error(node, "concatenating along the batch axis is not supported")
        for s in shapes[1:]:
            if len(s) != rank or any(
                a != b for i, (a, b) in enumerate(zip(s, shapes[0], strict=True)) if i != axis
            ):
                raise imp.error(
                    node, f"inputs of shapes {shapes} do not concatenate on axis {axis}"
                )
        out = list(shapes[0])
        out[axis] = sum(s[axis] for s in shapes)
        imp.emit(node, self.name, names, out, axis=axis)

    def run(self, p, ins):
        return np.concatenate(ins, axis=ops.internal_axis(p["axis"], ins[0].ndim))

    def nonneg(self, attrs, ins):
        return all(ins)

    def bounds(self, node, ins, shapes):
        if node.attrs["axis"] == 1:
            parts = [s.expand(channels(shapes[name])) if s.channels == 1 else s
                     for s, name in zip(ins, node.inputs, strict=True)]  # fmt: skip
            if all(
                p.channels == channels(shapes[n]) for p, n in zip(parts, node.inputs, strict=True)
            ):
                columns = zip(*(p.arrays() for p in parts), strict=True)
                return Stats(*(np.concatenate(v) for v in columns))
        return _worst_of(ins).worst(channels(shapes[node.output]))


@register
class Slice(Op):
    """Slice and Split on activations (one slice node per Split output)."""

    name = "slice"
    onnx = ("Slice", "Split")

    def convert(self, imp, node):
        x = imp.act(node, 0)
        shape = imp.shapes[x]
        if node.op_type == "Slice":
            index = self._slice_index(imp, node, shape)
            self._emit(imp, node, x, node.output[0], shape, index)
            return
        attrs = imp.attrs(node)
        axis = int(attrs.get("axis", 0)) % len(shape)
        if axis == 0:
            raise imp.error(node, "splitting along the batch axis is not supported")
        sizes = imp.const(node, 1, "split") if len(node.input) > 1 else attrs.get("split")
        n_out = len(node.output)
        if sizes is None:
            step = -(-shape[axis] // n_out)
            sizes = [min(step, shape[axis] - i * step) for i in range(n_out)]
        sizes = [int(s) for s in np.asarray(sizes).reshape(-1)]
        if sum(sizes) != shape[axis] or len(sizes) != n_out:
            raise imp.error(node, f"split sizes {sizes} do not fit {shape[axis]} on axis {axis}")
        start = 0
        for out, size in zip(node.output, sizes, strict=True):
            index = [(0, d, 1) for d in shape]
            index[axis] = (start, start + size, 1)
            start += size
            if out:
                self._emit(imp, node, x, out, shape, index)

    def _slice_index(self, imp, node, shape):
        if imp.opset < 10:
            attrs = imp.attrs(node)
            starts, ends, axes, steps = attrs["starts"], attrs["ends"], attrs.get("axes"), None
        else:
            starts, ends = imp.const(node, 1, "starts"), imp.const(node, 2, "ends")
            axes = imp.const(node, 3, "axes")
            steps = imp.const(node, 4, "steps")
        rank = len(shape)
        starts = [int(v) for v in np.asarray(starts).reshape(-1)]
        axes = range(len(starts)) if axes is None else [int(a) % rank for a in np.reshape(axes, -1)]
        steps = [1] * len(starts) if steps is None else [int(v) for v in np.reshape(steps, -1)]
        ends = [int(v) for v in np.asarray(ends).reshape(-1)]
        index = [(0, d, 1) for d in shape]
        for a, s, e, st in zip(axes, starts, ends, steps, strict=True):
            if a == 0:
                if (s, st) == (0, 1) and e >= 2**31 - 1:
                    continue  # the whole batch
                raise imp.error(node, "slicing the batch axis is not supported")
            index[a] = slice(s, e, st).indices(shape[a])
        return index

    @staticmethod
    def _emit(imp, node, x, out, shape, index):
        index = [(0, imp.batch, 1), *index[1:]]
        out_shape = [len(range(*t)) for t in index]
        if min(out_shape) <= 0:
            raise imp.error(node, f"the slice {index[1:]} of {imp.shape_text(x)} is empty")
        out_shape[0] = imp.batch
        imp.emit(node, "slice", [x], out_shape, output=out, index=tuple(index[1:]))

    def prepare(self, attrs):
        rank = len(attrs["index"]) + 1
        index = [slice(None)] * rank
        for a, (s, e, st) in enumerate(attrs["index"], start=1):
            index[ops.internal_axis(a, rank)] = slice(s, e if e >= 0 else None, st)
        return tuple(index)

    def run(self, p, ins):
        return np.ascontiguousarray(ins[0][p])

    def nonneg(self, attrs, ins):
        return ins[0]

    def bounds(self, node, ins, shapes):
        s = ins[0]
        first = node.attrs["index"][0]
        if s.channels > 1:
            keep = slice(first[0], first[1] if first[1] >= 0 else None, first[2])
            return Stats(*(v[keep] for v in s.arrays()))
        return s


@register
class Pad(Op):
    name = "pad"
    onnx = ("Pad",)

    def convert(self, imp, node):
        x = imp.act(node, 0)
        shape = imp.shapes[x]
        rank = len(shape)
        attrs = imp.attrs(node)
        mode = attrs.get("mode", "constant")
        if mode not in ("constant", "reflect", "edge"):
            raise imp.error(node, f"mode={mode!r} is unknown: allowed constant, reflect, edge")
        if imp.opset < 11:
            pads, value, axes = attrs["pads"], attrs.get("value", 0.0), None
        else:
            pads = imp.const(node, 1, "pads")
            value = imp.const(node, 2, "constant_value")
            axes = imp.const(node, 3, "axes")
        pads = [int(v) for v in np.asarray(pads).reshape(-1)]
        axes = list(range(rank)) if axes is None else [int(a) % rank for a in np.reshape(axes, -1)]
        if len(pads) != 2 * len(axes):
            raise imp.error(node, f"pads {pads} need 2 values per padded axis")
        widths = [(0, 0)] * rank
        for i, a in enumerate(axes):
            widths[a] = (pads[i], pads[i + len(axes)])
        if widths[0] != (0, 0) or any(b < 0 or e < 0 for b, e in widths):
            raise imp.error(node, f"pads {pads}: only non-negative pads of non-batch axes")
        out = [d + b + e for d, (b, e) in zip(shape, widths, strict=True)]
        value = 0.0 if value is None or np.size(value) == 0 else float(np.reshape(value, -1)[0])
        imp.emit(node, self.name, [x], out, widths=tuple(widths), mode=mode, value=value)

    def prepare(self, attrs):
        widths = attrs["widths"]
        rank = len(widths)
        internal = [(0, 0)] * rank
        for a, w in enumerate(widths):
            internal[ops.internal_axis(a, rank)] = w
        return internal, attrs["mode"], attrs["value"]

    def run(self, p, ins):
        widths, mode, value = p
        if mode == "constant":
            return np.pad(ins[0], widths, mode="constant", constant_values=value)
        return np.pad(ins[0], widths, mode=mode)

    def nonneg(self, attrs, ins):
        return ins[0] and (attrs["mode"] != "constant" or attrs["value"] >= 0)

    def bounds(self, node, ins, shapes):
        s = ins[0]
        if node.attrs["widths"][1] != (0, 0):  # channels added: their values are the pad's
            s = s.worst(channels(shapes[node.output]))
        return s.widen_to(node.attrs["value"]) if node.attrs["mode"] == "constant" else s
