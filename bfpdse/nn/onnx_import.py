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
from bfpdse.nn.graph import Graph, Node
from bfpdse.nn.opset import BY_ONNX
from bfpdse.nn.opset.shape import resolve_target

#: stands for the batch size in statically known shapes (prime, unlike any layer size)
BATCH = 1_000_003


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


def _squeeze(attrs: dict, x, axes=None) -> np.ndarray:
    axes = attrs.get("axes") if axes is None else axes
    return np.squeeze(x, axis=None if axes is None else tuple(int(a) for a in axes))


def _unsqueeze(attrs: dict, x, axes=None) -> np.ndarray:
    axes = attrs.get("axes") if axes is None else axes
    out = np.asarray(x)
    rank = out.ndim + len(axes)
    for a in sorted(int(a) % rank for a in axes):
        out = np.expand_dims(out, a)
    return out


def _int_div(attrs: dict, a, b) -> np.ndarray:
    if np.issubdtype(np.asarray(a).dtype, np.integer):
        return np.trunc(np.asarray(a) / b).astype(np.asarray(a).dtype)
    return np.divide(a, b)


def _same_type(fn):
    return lambda attrs, a, b: fn(a, b).astype(np.result_type(a, b))


def _constant_of_shape(attrs: dict, shape) -> np.ndarray:
    value = attrs.get("value", np.zeros(1, np.float32))
    return np.full(tuple(int(d) for d in shape), np.asarray(value).reshape(-1)[0])


def _flatten(attrs: dict, x) -> np.ndarray:
    axis = attrs.get("axis", 1) % max(np.ndim(x), 1)
    return np.reshape(x, (int(np.prod(np.shape(x)[:axis])), -1))


#: ONNX op -> its numpy evaluation on constant inputs (ONNX layout); Slice reads the opset
_FOLD = {
    "Identity": lambda attrs, x, *_: x,
    "Dropout": lambda attrs, x, *_: x,
    "Gather": lambda attrs, x, i: np.take(x, i, axis=attrs.get("axis", 0)),
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Concat": lambda attrs, *v: np.concatenate([np.atleast_1d(a) for a in v], axis=attrs["axis"]),
    "Cast": lambda attrs, x: np.asarray(x).astype(helper.tensor_dtype_to_np_dtype(attrs["to"])),
    "Transpose": lambda attrs, x: np.transpose(x, attrs.get("perm")),
    "Add": _same_type(np.add),
    "Sub": _same_type(np.subtract),
    "Mul": _same_type(np.multiply),
    "Div": _int_div,
    "Pow": lambda attrs, a, b: np.power(a, b).astype(np.asarray(a).dtype),
    "Sqrt": lambda attrs, x: np.sqrt(x),
    "Neg": lambda attrs, x: np.negative(x),
    "Equal": lambda attrs, a, b: np.equal(a, b),
    "Where": lambda attrs, c, a, b: np.where(c, a, b),
    "Reshape": lambda attrs, x, t, *_: np.reshape(
        x, resolve_target(np.shape(x), t, attrs.get("allowzero", 0))
    ),
    "Flatten": _flatten,
    "ConstantOfShape": _constant_of_shape,
    "Range": lambda attrs, start, limit, delta: np.arange(start, limit, delta).astype(
        np.asarray(start).dtype
    ),
    "Expand": lambda attrs, x, shape: (
        x * np.ones(tuple(int(d) for d in shape), np.asarray(x).dtype)
    ),
}

#: ops evaluated at load time when all their inputs are constant (shape sub-graphs, weights)
FOLD_OPS = ("Constant", "Shape", "Slice", *_FOLD)
#: ONNX ops that become graph nodes (the op table's rows)
COMPUTE_OPS = tuple(BY_ONNX)
#: ops allowed only on constant inputs
CONSTANT_OPS = tuple(op for op in FOLD_OPS if op not in BY_ONNX)
SUPPORTED_OPS = COMPUTE_OPS + CONSTANT_OPS


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
        #: the batch sentinel of activation shapes, and the input's batch if the file fixes it
        self.batch = BATCH
        self.static_batch: int | None = None
        #: (N, F) tensors that flatten each image of a batch-1 graph (see opset.shape.Reshape)
        self.batch_merged: set[str] = set()
        self.node_output = ""  # the first output of the node being converted

    def attrs(self, node: onnx.NodeProto) -> dict[str, Any]:
        return _attrs(node)

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

    def emit(
        self, node: onnx.NodeProto, op: str, inputs, out_shape, output: str | None = None, **attrs
    ) -> Node:
        """Append a graph node computing ``output`` (default: the ONNX node's first output)."""
        out = output or node.output[0]
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
        if dims[0] is not None and dims[0] > 0:
            self.static_batch = int(dims[0])
        self.check_ops()
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

    def check_ops(self) -> None:
        """One error listing every op of the file that bfpdse cannot import."""
        missing: dict[str, list[str]] = {}
        for node in self.graph.node:
            op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
            if op not in SUPPORTED_OPS:
                missing.setdefault(op, []).append(node.name or "(unnamed)")
        if missing:
            found = "; ".join(
                f"{op} x{len(names)} (e.g. node {names[0]!r})" for op, names in missing.items()
            )
            raise ModelError(
                f"{self.path}: {len(missing)} unsupported op type(s): {found}. Supported: "
                f"{', '.join(COMPUTE_OPS)}; on constant inputs only: {', '.join(CONSTANT_OPS)}"
            )

    def convert(self, node: onnx.NodeProto) -> None:
        op = node.op_type
        for name in node.input:
            name = self.resolve(name)
            if name and name not in self.consts and name not in self.shapes:
                raise self.error(node, f"input {name!r} is not defined by an earlier node")
        present = [self.resolve(n) for n in node.input if n]
        if op == "Constant":
            self.consts[node.output[0]] = self._constant(node)
        elif op == "Shape":
            self.consts[node.output[0]] = self._shape(node)
        elif op in FOLD_OPS and present and all(n in self.consts for n in present):
            self.consts[node.output[0]] = self._fold(node)
        elif op in BY_ONNX:
            self.node_output = node.output[0]
            BY_ONNX[op].convert(self, node)
        else:
            raise self.error(
                node,
                "this op is supported only on constant inputs (shape sub-graphs), but it reads "
                "an activation",
            )

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
        if op == "Slice":
            return self._slice(vals[0], attrs, vals)
        return _FOLD[op](attrs, *vals)

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


def import_onnx(proto: onnx.ModelProto, path: Path) -> Graph:
    """Convert a checked ONNX model into a Graph (``path`` names the file in errors)."""
    return _Importer(proto, path).run()
