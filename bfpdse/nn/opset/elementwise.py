"""Element-wise ops: activations (one input) and arithmetic (two, with ONNX broadcasting).

They run on float32 values in any layout. A constant operand of ``add``/``sub``/``mul``/``div``
is stored in ``attrs["const"]`` already in the internal layout of the output's rank (with
``const_first`` when it is the left operand); two activation operands must have one rank.
"""

from __future__ import annotations

import math

import numpy as np
from numba import vectorize

from bfpdse.nn import ops
from bfpdse.nn import stats as st
from bfpdse.nn.opset import Op, channels, register
from bfpdse.nn.stats import Stats


@vectorize(["float32(float32)", "float64(float64)"], cache=True)
def erf(x):  # pragma: no cover - compiled
    return math.erf(x)


def _per_channel(c: np.ndarray, rank: int, n_channels: int) -> np.ndarray | None:
    """A constant's values per channel (ONNX axis 1), or None if it varies along other axes."""
    c = np.asarray(c, dtype=np.float64)
    c = c.reshape((1,) * (rank - c.ndim) + c.shape) if c.ndim <= rank else c
    if c.ndim != rank or c.size == 1:
        return np.full(1, float(c.reshape(-1)[0])) if c.size == 1 else None
    if rank < 2 or any(d != 1 for i, d in enumerate(c.shape) if i != 1):
        return None
    return c.reshape(-1) if c.shape[1] == n_channels else None


def constant_stats(c: np.ndarray, rank: int, n_channels: int) -> Stats:
    """A constant operand as statistics: exact per channel if it is per-channel, else its range."""
    v = _per_channel(c, rank, n_channels)
    if v is not None:
        return Stats(v, np.zeros_like(v), v, v)
    c = np.asarray(c, dtype=np.float64)
    return Stats.interval(float(c.min()), float(c.max()))


# ------------------------------------------------------------------------ activations


@register
class Relu(Op):
    name = "relu"
    onnx = ("Relu",)

    def run(self, p, ins):
        return np.maximum(ins[0], 0, dtype=ins[0].dtype)

    def nonneg(self, attrs, ins):
        return True

    def bounds(self, node, ins, shapes):
        s = ins[0]
        mu, sd = st.relu_moments(s.mu, s.sd)
        return Stats(mu, sd, np.maximum(s.lo, 0), np.maximum(s.hi, 0))


@register
class Clip(Op):
    """Clip, and Relu6 as PyTorch exports it; ``lo``/``hi`` are -inf/inf when absent."""

    name = "clip"
    onnx = ("Clip",)

    def convert(self, imp, node):
        x = imp.act(node, 0)
        if imp.opset < 11:
            attrs = imp.attrs(node)
            lo, hi = attrs.get("min", -np.inf), attrs.get("max", np.inf)
        else:
            lo_c, hi_c = imp.const(node, 1, "min"), imp.const(node, 2, "max")
            lo = -np.inf if lo_c is None else float(lo_c)
            hi = np.inf if hi_c is None else float(hi_c)
        imp.emit(node, "clip", [x], imp.shapes[x], lo=float(lo), hi=float(hi))

    def run(self, p, ins):
        return np.clip(ins[0], p["lo"], p["hi"]).astype(ins[0].dtype, copy=False)

    def nonneg(self, attrs, ins):
        return attrs["lo"] >= 0 or ins[0]

    def bounds(self, node, ins, shapes):
        s, lo, hi = ins[0], node.attrs["lo"], node.attrs["hi"]
        return Stats(np.clip(s.mu, lo, hi), s.sd, np.clip(s.lo, lo, hi), np.clip(s.hi, lo, hi))


def _sigmoid(x):
    return (np.tanh(x * x.dtype.type(0.5)) + x.dtype.type(1)) * x.dtype.type(0.5)


@register
class Sigmoid(Op):
    name = "sigmoid"
    onnx = ("Sigmoid",)

    def run(self, p, ins):
        return _sigmoid(ins[0])

    def nonneg(self, attrs, ins):
        return True

    def bounds(self, node, ins, shapes):
        return st.monotone(ins[0], lambda v: 0.5 * (np.tanh(0.5 * v) + 1.0), 0.25)


@register
class HardSigmoid(Op):
    name = "hardsigmoid"
    onnx = ("HardSigmoid",)

    def convert(self, imp, node):
        a = imp.attrs(node)
        x = imp.act(node, 0)
        imp.emit(node, self.name, [x], imp.shapes[x],
                 alpha=float(a.get("alpha", 0.2)), beta=float(a.get("beta", 0.5)))  # fmt: skip

    def run(self, p, ins):
        x = ins[0]
        y = x * x.dtype.type(p["alpha"]) + x.dtype.type(p["beta"])
        return np.clip(y, 0, 1, out=y)

    def nonneg(self, attrs, ins):
        return True

    def bounds(self, node, ins, shapes):
        a, b = node.attrs["alpha"], node.attrs["beta"]
        if a < 0:
            return Stats.interval(0.0, 1.0, ins[0].channels)
        return st.monotone(ins[0], lambda v: np.clip(a * v + b, 0.0, 1.0), a)


@register
class HardSwish(Op):
    name = "hardswish"
    onnx = ("HardSwish",)

    def run(self, p, ins):
        x = ins[0]
        t = x * x.dtype.type(1 / 6) + x.dtype.type(0.5)
        return x * np.clip(t, 0, 1, out=t)

    def nonneg(self, attrs, ins):
        return ins[0]

    def bounds(self, node, ins, shapes):
        return st.relu_like(ins[0], lambda v: v * np.clip(v / 6 + 0.5, 0.0, 1.0), -0.375)


@register
class Silu(Op):
    """x * sigmoid(x), fused by the importer from Mul(x, Sigmoid(x))."""

    name = "silu"

    def run(self, p, ins):
        return ins[0] * _sigmoid(ins[0])

    def nonneg(self, attrs, ins):
        return ins[0]

    def bounds(self, node, ins, shapes):
        return st.relu_like(ins[0], lambda v: v * 0.5 * (np.tanh(0.5 * v) + 1.0), -0.2785)


@register
class Gelu(Op):
    name = "gelu"
    onnx = ("Gelu",)

    def convert(self, imp, node):
        approx = imp.attrs(node).get("approximate", "none")
        if approx not in ("none", "tanh"):
            raise imp.error(node, f"approximate={approx!r} is unknown: allowed none, tanh")
        x = imp.act(node, 0)
        imp.emit(node, self.name, [x], imp.shapes[x], approximate=approx)

    def run(self, p, ins):
        x = ins[0]
        f = x.dtype.type
        if p["approximate"] == "tanh":
            inner = f(math.sqrt(2 / math.pi)) * (x + f(0.044715) * x * x * x)
            return f(0.5) * x * (f(1) + np.tanh(inner))
        return f(0.5) * x * (f(1) + erf(x * f(1 / math.sqrt(2))))

    def nonneg(self, attrs, ins):
        return ins[0]

    def bounds(self, node, ins, shapes):
        return st.relu_like(ins[0], lambda v: 0.5 * v * (1 + erf(v / math.sqrt(2))), -0.1701)


@register
class Erf(Op):
    name = "erf"
    onnx = ("Erf",)

    def run(self, p, ins):
        return erf(ins[0])

    def nonneg(self, attrs, ins):
        return ins[0]

    def bounds(self, node, ins, shapes):
        return st.monotone(ins[0], erf, 2 / math.sqrt(math.pi))


@register
class Tanh(Op):
    name = "tanh"
    onnx = ("Tanh",)

    def run(self, p, ins):
        return np.tanh(ins[0])

    def nonneg(self, attrs, ins):
        return ins[0]

    def bounds(self, node, ins, shapes):
        return st.monotone(ins[0], np.tanh, 1.0)


def _leaky(v: np.ndarray, slope: np.ndarray) -> np.ndarray:
    return np.where(v >= 0, v, slope * v)


def _leaky_stats(s: Stats, slope: np.ndarray) -> Stats:
    """Piecewise-linear through 0: the interval's extremes are at its ends or at 0."""
    ends = np.stack([_leaky(s.lo, slope), _leaky(s.hi, slope)])
    inner = np.where((s.lo < 0) & (s.hi > 0), 0.0, ends[0])
    lo = np.minimum(ends.min(axis=0), inner)
    hi = np.maximum(ends.max(axis=0), inner)
    return Stats(_leaky(s.mu, slope), s.sd * np.maximum(1.0, np.abs(slope)), lo, hi)


@register
class LeakyRelu(Op):
    name = "leakyrelu"
    onnx = ("LeakyRelu",)

    def convert(self, imp, node):
        x = imp.act(node, 0)
        imp.emit(node, self.name, [x], imp.shapes[x],
                 alpha=float(imp.attrs(node).get("alpha", 0.01)))  # fmt: skip

    def run(self, p, ins):
        x = ins[0]
        return np.where(x >= 0, x, x * x.dtype.type(p["alpha"]))

    def nonneg(self, attrs, ins):
        return ins[0]

    def bounds(self, node, ins, shapes):
        return _leaky_stats(ins[0], np.asarray(node.attrs["alpha"]))


@register
class PRelu(Op):
    """PRelu with a constant slope, stored in the internal layout (``slope``)."""

    name = "prelu"
    onnx = ("PRelu",)

    def convert(self, imp, node):
        x = imp.act(node, 0)
        slope = np.asarray(imp.const(node, 1, "slope"), dtype=np.float32)
        rank = len(imp.shapes[x])
        if slope.ndim > rank or np.broadcast_shapes(slope.shape, imp.shapes[x]) != imp.shapes[x]:
            raise imp.error(node, f"slope {slope.shape} does not broadcast to the input")
        imp.emit(node, self.name, [x], imp.shapes[x],
                 slope=ops.internal_constant(slope, rank), slope_onnx=slope)  # fmt: skip

    def run(self, p, ins):
        x = ins[0]
        return np.where(x >= 0, x, x * p["slope"])

    def nonneg(self, attrs, ins):
        return ins[0]

    def bounds(self, node, ins, shapes):
        shape = shapes[node.inputs[0]]
        slope = _per_channel(node.attrs["slope_onnx"], len(shape) + 1, channels(shape))
        s = ins[0]
        if slope is None:  # varies along other axes: the channel's worst slope
            raw = np.asarray(node.attrs["slope_onnx"], dtype=np.float64)
            slope = np.full(1, raw.min() if s.lo.min() < 0 else raw.max())
            s = s.worst(s.channels)
        return _leaky_stats(s, slope)


# ------------------------------------------------------------------------ arithmetic


class _Binary(Op):
    """One activation and a constant, or two activations of one rank (ONNX broadcasting)."""

    def convert(self, imp, node):
        a, b = (imp.resolve(n) for n in node.input[:2])
        if a in imp.shapes and b in imp.shapes:
            sa, sb = imp.shapes[a], imp.shapes[b]
            if len(sa) != len(sb):
                raise imp.error(
                    node, f"combines activations {imp.shape_text(a)} and {imp.shape_text(b)} of "
                    "different ranks; only equal ranks (with broadcasting) are supported",
                )  # fmt: skip
            try:
                out = np.broadcast_shapes(sa, sb)
            except ValueError:
                raise imp.error(node, f"shapes {sa} and {sb} do not broadcast") from None
            imp.emit(node, self.name, [a, b], out)
            return
        const_first = a not in imp.shapes
        x, c = (b, imp.consts[a]) if const_first else (a, imp.consts[b])
        c = np.asarray(c)
        if self.fuse(imp, node, x, c, const_first):
            return
        shape = imp.shapes[x]
        if c.ndim > len(shape):
            raise imp.error(node, f"constant of shape {c.shape} has a higher rank than the input")
        try:
            out = np.broadcast_shapes(shape, c.shape)
        except ValueError:
            raise imp.error(node, f"constant {c.shape} does not broadcast to {shape}") from None
        if out[0] != shape[0]:
            raise imp.error(node, f"constant {c.shape} would change the batch dimension")
        const = ops.internal_constant(c.astype(np.float32), len(out))
        imp.emit(node, self.name, [x], out, const=const, const_onnx=c, const_first=const_first)

    def fuse(self, imp, node, x: str, c: np.ndarray, const_first: bool) -> bool:
        """A row may absorb ``x op c`` into the node before it (True if it did)."""
        return False

    def operands(self, p, ins):
        if len(ins) == 2:
            return ins[0], ins[1]
        c = p["const"]
        return (c, ins[0]) if p["const_first"] else (ins[0], c)

    def operand_stats(self, node, ins, shapes) -> tuple[Stats, Stats]:
        if len(ins) == 2:
            return ins[0], ins[1]
        shape = shapes[node.output]
        c = constant_stats(node.attrs["const_onnx"], len(shape) + 1, channels(shape))
        return (c, ins[0]) if node.attrs["const_first"] else (ins[0], c)

    def operand_nonneg(self, attrs, ins) -> tuple[bool, bool]:
        if len(ins) == 2:
            return ins[0], ins[1]
        c = bool(np.all(np.asarray(attrs["const_onnx"]) >= 0))
        return (c, ins[0]) if attrs["const_first"] else (ins[0], c)


@register
class Add(_Binary):
    name = "add"
    onnx = ("Add",)

    def fuse(self, imp, node, x, c, const_first):
        # a bias after MatMul, Gemm or Conv (PyTorch's Linear on N-D inputs): into its bias
        prev = imp.producer.get(x)
        if prev is None or prev.op not in ("conv", "linear") or imp.readers.get(x, 0) != 1:
            return False
        n = prev.attrs["bias"].size
        if prev.op == "linear":  # output (..., n): a scalar or a trailing axis of n
            ok = c.size == 1 or (c.size == n and c.shape[-1] == n)
        else:  # output (N, O, H, W): a scalar or (O, 1, 1) / (1, O, 1, 1)
            ok = c.size == 1 or (c.ndim >= 3 and c.size == n and c.shape[-3] == n)
        if not ok:
            return False
        bias = prev.attrs["bias"] + np.broadcast_to(np.asarray(c, np.float64).reshape(-1), (n,))
        prev.attrs["bias"] = np.asarray(bias, dtype=np.float32)
        imp.alias[node.output[0]] = x
        return True

    def run(self, p, ins):
        a, b = self.operands(p, ins)
        return a + b

    def nonneg(self, attrs, ins):
        return all(self.operand_nonneg(attrs, ins))

    def bounds(self, node, ins, shapes):
        return st.add(*self.operand_stats(node, ins, shapes))


@register
class Sub(_Binary):
    name = "sub"
    onnx = ("Sub",)

    def run(self, p, ins):
        a, b = self.operands(p, ins)
        return a - b

    def nonneg(self, attrs, ins):
        if len(ins) == 1 and not attrs["const_first"]:
            return ins[0] and bool(np.all(np.asarray(attrs["const_onnx"]) <= 0))
        return False

    def bounds(self, node, ins, shapes):
        a, b = self.operand_stats(node, ins, shapes)
        return st.add(a, st.negate(b))


@register
class Mul(_Binary):
    name = "mul"
    onnx = ("Mul",)

    def convert(self, imp, node):
        # SiLU as exported: Mul(x, Sigmoid(x)), either order
        a, b = (imp.resolve(n) for n in node.input[:2])
        for x, s in ((a, b), (b, a)):
            prev = imp.producer.get(s)
            if prev is not None and prev.op == "sigmoid" and prev.inputs == (x,):
                imp.emit(node, "silu", [x], imp.shapes[x])
                return
        super().convert(imp, node)

    def run(self, p, ins):
        a, b = self.operands(p, ins)
        return a * b

    def nonneg(self, attrs, ins):
        return all(self.operand_nonneg(attrs, ins))

    def bounds(self, node, ins, shapes):
        return st.mul(*self.operand_stats(node, ins, shapes))


@register
class Div(_Binary):
    name = "div"
    onnx = ("Div",)

    def run(self, p, ins):
        a, b = self.operands(p, ins)
        return a / b

    def nonneg(self, attrs, ins):
        if len(ins) == 1:
            c = np.asarray(attrs["const_onnx"])
            return bool(np.all(c > 0) and ins[0]) if not attrs["const_first"] else False
        return False

    def bounds(self, node, ins, shapes):
        a, b = self.operand_stats(node, ins, shapes)
        return st.mul(a, st.reciprocal(b))
