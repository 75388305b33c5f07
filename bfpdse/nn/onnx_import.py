"""ONNX -> :class:`bfpdse.nn.graph.Graph`.

Supported ops are converted node by node in the file's (topological) order. Nodes whose inputs
are all constant are evaluated at load time: this folds the shape sub-graphs that PyTorch's
exporter writes in front of a Reshape (Shape -> Gather -> Unsqueeze -> Concat). ``Shape`` of an
activation is known statically except for the batch size, which is carried as the sentinel
``BATCH`` (a large prime, so that products and ``-1`` in a Reshape target resolve as with any
batch size); a Reshape must keep the batch as its first dimension.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from bfpdse.errors import ModelError
from bfpdse.nn.graph import MVM_OPS, Graph, Node
from bfpdse.nn.ops import out_size

#: stands for the batch size in statically known shapes (prime, unlike any layer size)
BATCH = 1_000_003

#: ops converted into graph nodes (or dropped as no-ops)
COMPUTE_OPS = (
    "Conv",
    "Gemm",
    "MatMul",
    "Add",
    "BatchNormalization",
    "Relu",
    "Clip",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "Flatten",
    "Reshape",
    "Identity",
    "Dropout",
)
#: ops evaluated at load time; allowed only on constant inputs (and Shape on anything)
CONSTANT_OPS = (
    "Constant",
    "Shape",
    "Gather",
    "Unsqueeze",
    "Squeeze",
    "Concat",
    "Slice",
    "Cast",
    "Transpose",
    "Sub",
    "Mul",
    "Div",
)
SUPPORTED_OPS = COMPUTE_OPS + CONSTANT_OPS


def read_onnx(path: Path) -> onnx.ModelProto:
    """Load and check an ONNX file; any failure is a ModelError naming the path."""
    try:
        proto = onnx.load(str(path))
    except FileNotFoundError:
        raise ModelError(f"{path}: no such model file") from None
    except Exception as exc:  # protobuf decode errors have no common public base class
        raise ModelError(
            f"{path}: cannot read as an ONNX model ({type(exc).__name__}: {exc})"
        ) from None
    try:
        onnx.checker.check_model(proto)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path}: not a valid ONNX model ({first})") from None
    return proto


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    out = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, onnx.TensorProto):
            value = numpy_helper.to_array(value)
        out[a.name] = value
    return out


def _as_float(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


class _Importer:
    def __init__(self, proto: onnx.ModelProto, path: Path) -> None:
        self.path = path
        self.graph = proto.graph
        self.opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.consts: dict[str, np.ndarray] = {
            t.name: numpy_helper.to_array(t) for t in self.graph.initializer
        }
        self.shapes: dict[str, tuple[int, ...]] = {}  # activation -> shape with BATCH first
        self.alias: dict[str, str] = {}
        self.nodes: list[Node] = []
        self.producer: dict[str, Node] = {}
        self.readers: dict[str, int] = {}
        for node in self.graph.node:
            for name in node.input:
                self.readers[name] = self.readers.get(name, 0) + 1
        for out in self.graph.output:
            self.readers[out.name] = self.readers.get(out.name, 0) + 1
        self.names: set[str] = set()

    # ---------------------------------------------------------------- helpers

    def error(self, node: onnx.NodeProto, msg: str) -> ModelError:
        return ModelError(f"{self.path}: node {node.name!r} ({node.op_type}): {msg}")

    def resolve(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def const(self, node: onnx.NodeProto, i: int, what: str) -> np.ndarray | None:
        """Input i as a constant (None if absent); an activation there is an error."""
        if i >= len(node.input) or not node.input[i]:
            return None
        name = self.resolve(node.input[i])
        if name not in self.consts:
            raise self.error(node, f"its {what} (input {i}, {name!r}) must be a constant")
        return self.consts[name]

    def act(self, node: onnx.NodeProto, i: int, rank: tuple[int, ...] | None = None) -> str:
        """Input i as an activation name; checks its rank (with batch) if given."""
        name = self.resolve(node.input[i])
        if name not in self.shapes:
            raise self.error(node, f"input {i} ({name!r}) must be an activation, not a constant")
        if rank is not None and len(self.shapes[name]) not in rank:
            raise self.error(
                node,
                f"input {name!r} has shape {self.shape_text(name)}; expected rank "
                f"{' or '.join(map(str, rank))} (batch included)",
            )
        return name

    def shape_text(self, name: str) -> str:
        dims = ["N" if d == BATCH else str(d) for d in self.shapes[name]]
        return "(" + ", ".join(dims) + ")"

    def unique_name(self, node: onnx.NodeProto) -> str:
        base = node.name or f"{node.op_type}_{len(self.nodes)}"
        name, i = base, 1
        while name in self.names:
            name, i = f"{base}_{i}", i + 1
        self.names.add(name)
        return name

    def emit(self, node: onnx.NodeProto, op: str, inputs, out_shape, **attrs) -> Node:
        out = node.output[0]
        new = Node(
            op=op, name=self.unique_name(node), inputs=tuple(inputs), output=out, attrs=attrs
        )
        self.nodes.append(new)
        self.producer[out] = new
        self.shapes[out] = tuple(int(d) for d in out_shape)
        return new

    def only_first_output(self, node: onnx.NodeProto) -> None:
        for extra in node.output[1:]:
            if extra and self.readers.get(extra):
                raise self.error(node, f"its output {extra!r} is used; only the first is supported")

    # ---------------------------------------------------------------- entry

    def run(self) -> Graph:
        inputs = [i for i in self.graph.input if i.name not in self.consts]
        if len(inputs) != 1:
            names = [i.name for i in inputs]
            raise ModelError(f"{self.path}: expected one input tensor, found {len(names)}: {names}")
        inp = inputs[0]
        ttype = inp.type.tensor_type
        if ttype.elem_type != onnx.TensorProto.FLOAT:
            raise ModelError(f"{self.path}: input {inp.name!r} must be float32")
        dims = [d.dim_value if d.HasField("dim_value") else None for d in ttype.shape.dim]
        if len(dims) != 4 or any(d is None or d <= 0 for d in dims[1:]):
            shown = ["?" if d is None else d for d in dims]
            raise ModelError(
                f"{self.path}: input {inp.name!r} has shape {shown}; expected (N, C, H, W) with "
                "fixed C, H and W"
            )
        self.shapes[inp.name] = (BATCH, *dims[1:])
        for node in self.graph.node:
            self.convert(node)
        if len(self.graph.output) != 1:
            raise ModelError(
                f"{self.path}: expected one output tensor, found {len(self.graph.output)}"
            )
        out = self.resolve(self.graph.output[0].name)
        if out not in self.shapes:
            raise ModelError(f"{self.path}: the output {out!r} does not depend on the input")
        return self._graph(inp.name, out)

    def _graph(self, inp: str, out: str) -> Graph:
        # keep only the nodes the output depends on
        needed = {out}
        kept = []
        for node in reversed(self.nodes):
            if node.output in needed:
                kept.append(node)
                needed.update(node.inputs)
        kept.reverse()
        names = {inp, *(n.output for n in kept)}
        shapes = {name: self.shapes[name][1:] for name in names}
        return Graph(nodes=kept, input=inp, output=out, shapes=shapes)

    def convert(self, node: onnx.NodeProto) -> None:
        op = node.op_type
        if node.domain not in ("", "ai.onnx") or op not in SUPPORTED_OPS:
            raise ModelError(
                f"{self.path}: node {node.name!r} uses op {op!r}"
                + (f" of domain {node.domain!r}" if node.domain not in ("", "ai.onnx") else "")
                + f", which bfpdse does not support; supported ops: {', '.join(COMPUTE_OPS)}, "
                f"and on constant inputs {', '.join(CONSTANT_OPS)}"
            )
        for name in node.input:
            name = self.resolve(name)
            if name and name not in self.consts and name not in self.shapes:
                raise self.error(node, f"input {name!r} is not defined by an earlier node")
        present = [self.resolve(n) for n in node.input if n]
        if op == "Constant":
            self.consts[node.output[0]] = self._constant(node)
        elif op == "Shape":
            self.consts[node.output[0]] = self._shape(node)
        elif present and all(n in self.consts for n in present):
            self.consts[node.output[0]] = self._fold(node)
        elif op in CONSTANT_OPS:
            raise self.error(
                node,
                "this op is supported only on constant inputs (shape sub-graphs), but it reads "
                "an activation",
            )
        else:
            getattr(self, f"_op_{op}")(node)

    # ---------------------------------------------------------------- constant folding

    def _constant(self, node: onnx.NodeProto) -> np.ndarray:
        attrs = _attrs(node)
        for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
            if key in attrs:
                return np.asarray(attrs[key])
        raise self.error(node, f"unsupported Constant attributes {sorted(attrs)}")

    def _shape(self, node: onnx.NodeProto) -> np.ndarray:
        name = self.resolve(node.input[0])
        shape = self.shapes[name] if name in self.shapes else self.consts[name].shape
        attrs = _attrs(node)
        start, end = attrs.get("start", 0), attrs.get("end", None)
        return np.asarray(shape[start:end], dtype=np.int64)

    def _fold(self, node: onnx.NodeProto) -> np.ndarray:
        op, attrs = node.op_type, _attrs(node)
        vals = [self.consts[self.resolve(n)] if n else None for n in node.input]
        try:
            return self._fold_value(op, attrs, vals)
        except ModelError:
            raise
        except Exception as exc:
            raise self.error(node, f"cannot evaluate on its constant inputs ({exc})") from None

    def _fold_value(self, op: str, attrs: dict, vals: list) -> np.ndarray:
        x = vals[0]
        if op in ("Identity", "Dropout"):
            return x
        if op == "Gather":
            return np.take(x, vals[1], axis=attrs.get("axis", 0))
        if op in ("Unsqueeze", "Squeeze"):
            axes = attrs.get("axes", None) if len(vals) < 2 or vals[1] is None else vals[1]
            if op == "Unsqueeze":
                out = np.asarray(x)
                rank = out.ndim + len(axes)
                for a in sorted(int(a) % rank for a in axes):
                    out = np.expand_dims(out, a)
                return out
            return np.squeeze(x, axis=None if axes is None else tuple(int(a) for a in axes))
        if op == "Concat":
            return np.concatenate([np.atleast_1d(v) for v in vals], axis=attrs["axis"])
        if op == "Slice":
            return self._slice(x, attrs, vals)
        if op == "Cast":
            dtype = helper.tensor_dtype_to_np_dtype(attrs["to"])
            return np.asarray(x).astype(dtype)
        if op == "Transpose":
            return np.transpose(x, attrs.get("perm"))
        if op in ("Add", "Sub", "Mul"):
            fn = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[op]
            return fn(x, vals[1]).astype(np.result_type(x, vals[1]))
        if op == "Div":
            if np.issubdtype(np.asarray(x).dtype, np.integer):
                return (np.trunc(np.asarray(x) / vals[1])).astype(np.asarray(x).dtype)
            return np.divide(x, vals[1])
        if op == "Reshape":
            return np.reshape(x, self._target(np.asarray(x).shape, vals[1], attrs))
        if op == "Flatten":
            axis = attrs.get("axis", 1) % max(np.ndim(x), 1)
            return np.reshape(x, (int(np.prod(np.shape(x)[:axis])), -1))
        raise ModelError(f"op {op} cannot be evaluated at load time")

    def _slice(self, x: np.ndarray, attrs: dict, vals: list) -> np.ndarray:
        if self.opset < 10:
            starts, ends = attrs["starts"], attrs["ends"]
            axes, steps = attrs.get("axes"), None
        else:
            starts, ends = vals[1], vals[2]
            axes = vals[3] if len(vals) > 3 else None
            steps = vals[4] if len(vals) > 4 else None
        x = np.asarray(x)
        axes = list(range(len(starts))) if axes is None else [int(a) % x.ndim for a in axes]
        steps = [1] * len(starts) if steps is None else steps
        index = [slice(None)] * x.ndim
        for a, s, e, st in zip(axes, starts, ends, steps, strict=True):
            index[a] = slice(int(s), int(e), int(st))
        return x[tuple(index)]

    @staticmethod
    def _target(shape: tuple[int, ...], target: np.ndarray, attrs: dict) -> tuple[int, ...]:
        """Resolve a Reshape target (0 = copy unless allowzero, -1 = infer) against ``shape``."""
        out = [int(t) for t in np.asarray(target).reshape(-1)]
        if not attrs.get("allowzero", 0):
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

    # ---------------------------------------------------------------- compute ops

    def _op_Identity(self, node: onnx.NodeProto) -> None:
        self.alias[node.output[0]] = self.act(node, 0)

    def _op_Dropout(self, node: onnx.NodeProto) -> None:
        self.only_first_output(node)
        self._op_Identity(node)

    def _op_Relu(self, node: onnx.NodeProto) -> None:
        x = self.act(node, 0)
        self.emit(node, "relu", [x], self.shapes[x])

    def _op_Clip(self, node: onnx.NodeProto) -> None:
        x = self.act(node, 0)
        if self.opset < 11:
            attrs = _attrs(node)
            lo, hi = attrs.get("min", -np.inf), attrs.get("max", np.inf)
        else:
            lo_c, hi_c = self.const(node, 1, "min"), self.const(node, 2, "max")
            lo = -np.inf if lo_c is None else float(lo_c)
            hi = np.inf if hi_c is None else float(hi_c)
        self.emit(node, "clip", [x], self.shapes[x], lo=float(lo), hi=float(hi))

    def _op_BatchNormalization(self, node: onnx.NodeProto) -> None:
        self.only_first_output(node)
        attrs = _attrs(node)
        if attrs.get("training_mode", 0):
            raise self.error(node, "training_mode=1 is not supported (export in eval mode)")
        x = self.act(node, 0, rank=(2, 4))
        params = {
            key: np.asarray(self.const(node, i, key), dtype=np.float64).reshape(-1)
            for i, key in enumerate(("gamma", "beta", "mean", "var"), start=1)
        }
        channels = self.shapes[x][1]
        for key, value in params.items():
            if value.size != channels:
                raise self.error(node, f"{key} has {value.size} values for {channels} channels")
        self.emit(node, "bn", [x], self.shapes[x], eps=float(attrs.get("epsilon", 1e-5)), **params)

    def _op_Conv(self, node: onnx.NodeProto) -> None:
        attrs = _attrs(node)
        x = self.act(node, 0, rank=(4,))
        w = _as_float(self.const(node, 1, "weight"))
        b = self.const(node, 2, "bias")
        if w.ndim != 4:
            raise self.error(node, f"only 2-D convolutions are supported (weight shape {w.shape})")
        _, c, h, wd = self.shapes[x]
        groups = int(attrs.get("group", 1))
        o, cg, kh, kw = w.shape
        if cg * groups != c or o % groups:
            raise self.error(
                node, f"weight {w.shape} with group={groups} does not fit {c} input channels"
            )
        strides = tuple(attrs.get("strides", (1, 1)))
        dil = tuple(attrs.get("dilations", (1, 1)))
        pads = self._pads(node, attrs, (h, wd), (kh, kw), strides, dil)
        ho = out_size(h, kh, strides[0], pads[0] + pads[2], dil[0])
        wo = out_size(wd, kw, strides[1], pads[1] + pads[3], dil[1])
        if ho <= 0 or wo <= 0:
            raise self.error(node, f"output size {ho}x{wo} is empty")
        bias = np.zeros(o, np.float32) if b is None else _as_float(b).reshape(-1)
        self.emit(
            node, "conv", [x], (BATCH, o, ho, wo),
            weight=w, bias=bias, strides=strides, pads=pads, dilations=dil, groups=groups,
        )  # fmt: skip

    def _pads(self, node, attrs, size, kernel, strides, dil) -> tuple[int, int, int, int]:
        """Explicit (top, left, bottom, right) pads from ``pads`` or ``auto_pad``."""
        auto = attrs.get("auto_pad", "NOTSET")
        if auto in ("NOTSET", ""):
            p = tuple(int(v) for v in attrs.get("pads", (0, 0, 0, 0)))
            if len(p) != 4:
                raise self.error(node, f"pads {p} must have 4 values (2-D ops only)")
            return p[0], p[1], p[2], p[3]
        if auto == "VALID":
            return 0, 0, 0, 0
        if auto not in ("SAME_UPPER", "SAME_LOWER"):
            raise self.error(node, f"auto_pad={auto!r} is not supported")
        begin, end = [], []
        for n, k, s, d in zip(size, kernel, strides, dil, strict=True):
            total = max(0, (-(-n // s) - 1) * s + (k - 1) * d + 1 - n)
            small, big = total // 2, total - total // 2
            begin.append(small if auto == "SAME_UPPER" else big)
            end.append(big if auto == "SAME_UPPER" else small)
        return begin[0], begin[1], end[0], end[1]

    def _pool(self, node: onnx.NodeProto, op: str) -> None:
        self.only_first_output(node)
        attrs = _attrs(node)
        x = self.act(node, 0, rank=(4,))
        _, c, h, w = self.shapes[x]
        kernel = tuple(attrs["kernel_shape"])
        if len(kernel) != 2:
            raise self.error(node, f"only 2-D pooling is supported (kernel {kernel})")
        strides = tuple(attrs.get("strides", (1, 1)))
        dil = tuple(attrs.get("dilations", (1, 1)))
        pads = self._pads(node, attrs, (h, w), kernel, strides, dil)
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
        if op == "maxpool":
            full = (pads[0], pads[1], pads[2] + extra[0], pads[3] + extra[1])
            self.emit(
                node, op, [x], (BATCH, c, *outs),
                kernel=kernel, strides=strides, pads=full, dilations=dil,
            )  # fmt: skip
        else:
            self.emit(
                node, op, [x], (BATCH, c, *outs),
                kernel=kernel, strides=strides, pads=pads, dilations=dil, extra=tuple(extra),
                count_include_pad=int(attrs.get("count_include_pad", 0)),
            )  # fmt: skip

    def _op_MaxPool(self, node: onnx.NodeProto) -> None:
        self._pool(node, "maxpool")

    def _op_AveragePool(self, node: onnx.NodeProto) -> None:
        self._pool(node, "avgpool")

    def _op_GlobalAveragePool(self, node: onnx.NodeProto) -> None:
        x = self.act(node, 0, rank=(4,))
        self.emit(node, "gap", [x], (*self.shapes[x][:2], 1, 1))

    def _linear(self, node: onnx.NodeProto, x: str, weight: np.ndarray, bias: np.ndarray) -> None:
        k = self.shapes[x][1]
        if weight.ndim != 2 or weight.shape[0] != k:
            raise self.error(
                node, f"weight of shape {weight.shape} does not fit {k} input features"
            )
        self.emit(
            node, "linear", [x], (BATCH, weight.shape[1]),
            weight=_as_float(weight), bias=_as_float(bias),
        )  # fmt: skip

    def _op_Gemm(self, node: onnx.NodeProto) -> None:
        attrs = _attrs(node)
        if attrs.get("transA", 0):
            raise self.error(
                node, "transA=1 (a transposed activation, batch not first) is not supported"
            )
        x = self.act(node, 0, rank=(2,))
        b = np.asarray(self.const(node, 1, "weight B"), dtype=np.float64)
        w = b.T if attrs.get("transB", 0) else b
        w = w * attrs.get("alpha", 1.0)
        c = self.const(node, 2, "bias C")
        n = w.shape[1] if w.ndim == 2 else 0
        bias = np.zeros(n)
        if c is not None:
            c = np.asarray(c, dtype=np.float64) * attrs.get("beta", 1.0)
            if c.size not in (1, n) or (c.ndim == 2 and c.shape[0] != 1):
                raise self.error(node, f"bias C of shape {c.shape} must broadcast to ({n},)")
            bias = np.broadcast_to(c.reshape(-1), (n,)).copy()
        self._linear(node, x, w, bias)

    def _op_MatMul(self, node: onnx.NodeProto) -> None:
        x = self.act(node, 0, rank=(2,))
        w = np.asarray(self.const(node, 1, "weight"), dtype=np.float64)
        self._linear(node, x, w, np.zeros(w.shape[-1]))

    def _op_Add(self, node: onnx.NodeProto) -> None:
        a, b = (self.resolve(n) for n in node.input[:2])
        if a in self.shapes and b in self.shapes:
            if self.shapes[a] != self.shapes[b]:
                raise self.error(
                    node,
                    f"adds {self.shape_text(a)} and {self.shape_text(b)}; only equal shapes "
                    "(residual adds) are supported",
                )
            self.emit(node, "add", [a, b], self.shapes[a])
            return
        x, c = (a, self.consts[b]) if a in self.shapes else (b, self.consts[a])
        self._add_bias(node, x, np.asarray(c, dtype=np.float64))

    def _add_bias(self, node: onnx.NodeProto, x: str, c: np.ndarray) -> None:
        """Merge ``x + c`` into the bias of the conv/linear that writes ``x`` (its only reader)."""
        prev = self.producer.get(x)
        if prev is None or prev.op not in MVM_OPS or self.readers.get(x, 0) != 1:
            raise self.error(
                node,
                "adding a constant is supported only as the bias of the MatMul, Gemm or Conv "
                "just before it",
            )
        n = prev.attrs["bias"].size
        if prev.op == "linear":  # output (N, n): a scalar or a trailing axis of n
            ok = c.size == 1 or (c.size == n and c.shape[-1] == n)
        else:  # output (N, O, H, W): a scalar or (O, 1, 1) / (1, O, 1, 1)
            ok = c.size == 1 or (c.ndim >= 3 and c.size == n and c.shape[-3] == n)
        if not ok:
            raise self.error(
                node,
                f"constant of shape {c.shape} is not a per-channel bias of {self.shape_text(x)}",
            )
        prev.attrs["bias"] = _as_float(prev.attrs["bias"] + np.broadcast_to(c.reshape(-1), (n,)))
        self.alias[node.output[0]] = x

    def _reshape_to(self, node: onnx.NodeProto, x: str, target) -> None:
        shape = self.shapes[x]
        try:
            out = self._target(shape, target, _attrs(node))
        except ModelError as exc:
            raise self.error(node, str(exc).replace(str(BATCH), "N")) from None
        if out[0] != BATCH or any(d % BATCH == 0 for d in out[1:]):
            raise self.error(
                node, "the batch dimension must stay first and unchanged (got a reshape that "
                "mixes it with other dimensions)"
            )  # fmt: skip
        self.emit(node, "reshape", [x], out, shape=out[1:])

    def _op_Reshape(self, node: onnx.NodeProto) -> None:
        x = self.act(node, 0)
        target = self.const(node, 1, "target shape")
        self._reshape_to(node, x, np.asarray(target, dtype=np.int64))

    def _op_Flatten(self, node: onnx.NodeProto) -> None:
        x = self.act(node, 0)
        rank = len(self.shapes[x])
        axis = _attrs(node).get("axis", 1) % rank if rank else 0
        first = int(np.prod(self.shapes[x][:axis], dtype=np.int64)) if axis else 1
        self._reshape_to(node, x, np.array([first, -1]))


def import_onnx(proto: onnx.ModelProto, path: Path) -> Graph:
    """Convert a checked ONNX model into a Graph (``path`` names the file in errors)."""
    return _Importer(proto, path).run()
