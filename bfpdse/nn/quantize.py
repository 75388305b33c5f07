"""Post-training quantization of a graph for the integer and CIM backends.

Arithmetic (every conv/linear layer, after BatchNorm folding, see ``graph.fold_batchnorm``):

- **Weights**: per output channel n, symmetric: ``s_w[n] = max_k |w[k, n]| / (2^(Wb-1) - 1)`` and
  ``w_int = rint(w / s_w)``, so ``|w_int| <= 2^(Wb-1) - 1`` as docs/spec.md requires.
- **Activations**: one scale per tensor that feeds a conv/linear layer. A tensor that is provably
  non-negative (after Relu, a Clip with min >= 0, pools and reshapes of such tensors, sums of such
  tensors, an input in [0, 1]) is unsigned: ``x_int = clip(rint(x / s), 0, 2^Ab - 1)`` with
  ``s = bound / (2^Ab - 1)``. Any other tensor is signed (two's complement, ``input_signed`` in
  the CIM): ``clip(rint(x / s), -2^(Ab-1), 2^(Ab-1) - 1)`` with ``s = bound / (2^(Ab-1) - 1)``.
- **Rounding**: ``rint``, round half to even (numpy's default, the fastest), for weights and
  activations alike.
- **Requantization**: a layer computes ``acc = x_int @ w_int`` exactly, then
  ``y = acc * (s_x * s_w[n]) + bias[n]`` in float64 (BN already folded into w and bias), stored as
  float32. Everything between two layers (Relu, Clip, pools, residual adds, unfolded BN, reshapes)
  runs in float32 on these dequantized values, and the result is requantized to the scale of the
  next layer's input tensor. Max pooling commutes with the (monotone) quantizer, so pooling before
  or after requantization gives the same integers; average pools and adds are done in float.
- **The network input** is ``pixels * input_scale`` (the model's ``bfpdse.input_scale``, 1/255 by
  default), then ``(x - mean) / std``. Its bound is known exactly from that, without data; with the
  zoo's mean 0 and std 1 and 8-bit inputs, ``s = input_scale`` and ``x_int`` are the pixels.

Activation bounds (``QuantConfig.act_scales``):

- ``"bn"`` (default, data-free): each channel is tracked as a Gaussian (mean, sd) through the
  graph. After a BatchNorm the training statistics give N(beta_c, gamma_c^2); a layer without BN
  propagates mean = W mu + b and var = W^2 sd^2 (independent inputs); Relu takes the rectified
  Gaussian's moments; residual adds add means and variances; pools and reshapes keep them. The
  bound of a tensor is ``max_c (mu_c + sigmas * sd_c)`` (``max_c (|mu_c| + sigmas * sd_c)`` if
  signed), never above the hard bound from interval arithmetic over the weights.
- ``"calibrate"``: the float model runs on ``calib_samples`` calibration images; the bound is the
  ``percentile`` of each tensor's values (absolute values if signed): the k-th largest value with
  k = floor(N * (1 - percentile / 100)) + 1 (nearest rank; 100 is the maximum), exact over all
  calibration values.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bfpdse.cim.mvm import exact_dtype  # noqa: F401 - the int backend's, and the ideal ADC's
from bfpdse.errors import ModelError
from bfpdse.nn import opset
from bfpdse.nn.graph import Graph, Node
from bfpdse.nn.opset.mvm import layer_matrix
from bfpdse.nn.stats import Stats

ACT_SCALES = ("bn", "calibrate")


@dataclass(frozen=True)
class QuantConfig:
    """Quantization choices that are not CIM fields (bit widths come from the CIMConfig).

    Invalid values raise ``ValueError`` naming the field, the value and what is allowed.
    """

    #: how activation bounds are found: "bn" (data-free, from BatchNorm statistics) or
    #: "calibrate" (percentile of activations on calibration images)
    act_scales: str = "bn"
    #: "bn": the clip sits this many standard deviations above each channel's mean
    sigmas: float = 8.0
    #: "calibrate": calibration images used (the first ones of the calibration set)
    calib_samples: int = 512
    #: "calibrate": percentile of the activation values taken as the bound (100 = max)
    percentile: float = 99.99

    def __post_init__(self) -> None:
        if not isinstance(self.act_scales, str) or self.act_scales not in ACT_SCALES:
            raise ValueError(
                f"act_scales={self.act_scales!r} is unknown: allowed {', '.join(ACT_SCALES)}"
            )
        _check_number("sigmas", self.sigmas, 0.0, 100.0, low_open=True)
        if isinstance(self.calib_samples, bool) or not isinstance(
            self.calib_samples, numbers.Integral
        ):
            raise ValueError(f"calib_samples={self.calib_samples!r} must be an int")
        if not 1 <= self.calib_samples <= 1_000_000:
            raise ValueError(f"calib_samples={self.calib_samples} is out of range: 1 … 1000000")
        _check_number("percentile", self.percentile, 0.0, 100.0, low_open=True)
        object.__setattr__(self, "sigmas", float(self.sigmas))
        object.__setattr__(self, "calib_samples", int(self.calib_samples))
        object.__setattr__(self, "percentile", float(self.percentile))

    def to_dict(self) -> dict[str, Any]:
        """Plain field -> value dict."""
        return {
            "act_scales": self.act_scales,
            "sigmas": self.sigmas,
            "calib_samples": self.calib_samples,
            "percentile": self.percentile,
        }


def _check_number(name: str, value: Any, low: float, high: float, low_open: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ValueError(f"{name}={value!r} must be a number")
    if (value <= low if low_open else value < low) or value > high:
        left = "(" if low_open else "["
        raise ValueError(f"{name}={value} is out of range: allowed {left}{low}, {high}]")


# ------------------------------------------------------------------------ quantized layers


@dataclass
class QuantLayer:
    """One conv or linear layer with integer weights, ready for the int and CIM backends."""

    name: str
    op: str  # "conv" | "linear"
    input: str  # the input tensor's name
    output: str
    attrs: dict[str, Any]  # conv geometry (kernel, strides, pads, dilations, groups)
    w_int: np.ndarray  # (groups, K, N/groups) int64, |w| <= 2^(Wb-1) - 1
    w_blas: np.ndarray  # w_int as float32 or float64 (the exact BLAS dtype of this layer)
    mult: np.ndarray  # (N,) float64: s_x * s_w[n]
    bias: np.ndarray  # (N,) float64
    in_scale: float
    in_signed: bool
    k: int  # rows of the weight matrix per group
    n: int  # columns per group
    groups: int
    acc_bound: int  # largest possible |accumulator|: K * max|x_int| * max|w_int|
    w_scale: np.ndarray = field(repr=False)  # (N,) float64
    weight_bits: int = 8  # this layer's own bit widths (per-layer settings may differ)
    input_bits: int = 8

    @property
    def blas_dtype(self) -> np.dtype:
        return self.w_blas.dtype


@dataclass
class QuantizedModel:
    """A graph with BN folded, integer layers and one activation scale per layer input."""

    graph: Graph
    layers: dict[str, QuantLayer]  # node name -> layer, in execution order
    #: tensor -> (scale, signed) of every layer input at the network-wide ``input_bits``; a
    #: layer with bit widths of its own has its scale in ``QuantLayer.in_scale``
    act: dict[str, tuple[float, bool]]
    bounds: dict[str, float]  # tensor -> the activation bound behind the scale
    weight_bits: int
    input_bits: int
    quant: QuantConfig


def act_qrange(bits: int, signed: bool) -> tuple[int, int]:
    """(low, high) integer range of an activation of ``bits`` bits."""
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def quantize_activation(x: np.ndarray, scale: float, signed: bool, bits: int) -> np.ndarray:
    """Integer values (as float32) of ``x`` at ``scale``: rint (half even), then clip."""
    lo, hi = act_qrange(bits, signed)
    q = np.rint(x / np.float32(scale))
    return np.clip(q, lo, hi, out=q)


def quantize_weights(w: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-column symmetric quantization of (K, N) weights: (w_int int64, s_w (N,))."""
    qmax = (1 << (bits - 1)) - 1
    peak = np.abs(w).max(axis=0)
    scale = np.where(peak > 0, peak / qmax, 1.0)
    w_int = np.clip(np.rint(w / scale), -qmax, qmax).astype(np.int64)
    return w_int, scale


def quantize_graph(
    graph: Graph,
    weight_bits: int,
    input_bits: int,
    bounds: dict[str, float],
    signed: dict[str, bool],
    quant: QuantConfig,
    layer_bits: Mapping[str, tuple[int, int]] | None = None,
) -> QuantizedModel:
    """Quantize the conv/linear layers of a BN-folded ``graph`` with the given input bounds.

    ``layer_bits`` (node name -> (weight_bits, input_bits)) gives layers bit widths of their
    own: such a layer's weights and its copy of the input tensor are quantized at its widths
    (a tensor read by layers of different widths has one scale per width, from one bound).
    """
    own = layer_bits or {}
    act = {}
    layers: dict[str, QuantLayer] = {}
    for node in graph.mvm_nodes():
        x = node.inputs[0]
        wb, ib = own.get(node.name, (weight_bits, input_bits))
        s_x = _act_scale(bounds[x], ib, signed[x])
        if ib == input_bits:
            act.setdefault(x, (s_x, signed[x]))
        layers[node.name] = _quant_layer(node, wb, ib, s_x, signed[x])
    return QuantizedModel(
        graph=graph,
        layers=layers,
        act=act,
        bounds={t: bounds[t] for t in {layer.input for layer in layers.values()}},
        weight_bits=weight_bits,
        input_bits=input_bits,
        quant=quant,
    )


def _act_scale(bound: float, bits: int, signed: bool) -> float:
    """Scale of a tensor whose values lie within +-bound, at ``bits`` bits."""
    return (bound / act_qrange(bits, signed)[1]) if bound > 0 else 1.0


def _quant_layer(node: Node, wb: int, ib: int, s_x: float, is_signed: bool) -> QuantLayer:
    """One layer's integer weights at ``wb`` bits, its input at scale ``s_x`` and ``ib`` bits."""
    wmat, groups = layer_matrix(node)
    g, k, ng = wmat.shape
    flat = wmat.transpose(1, 0, 2).reshape(k, g * ng)  # columns in output-channel order
    w_int, s_w = quantize_weights(flat, wb)
    w_int = np.ascontiguousarray(w_int.reshape(k, g, ng).transpose(1, 0, 2))
    xmax = max(abs(v) for v in act_qrange(ib, is_signed))
    acc_bound = k * xmax * ((1 << (wb - 1)) - 1)
    attrs = {key: v for key, v in node.attrs.items() if key not in ("weight", "bias", "bn")}
    if node.op == "conv":
        attrs["kernel"] = tuple(node.attrs["weight"].shape[2:])
    return QuantLayer(
        name=node.name,
        op=node.op,
        input=node.inputs[0],
        output=node.output,
        attrs=attrs,
        w_int=w_int,
        w_blas=w_int.astype(exact_dtype(acc_bound)),
        mult=s_x * s_w,
        bias=np.asarray(node.attrs["bias"], dtype=np.float64),
        in_scale=s_x,
        in_signed=is_signed,
        k=k,
        n=ng,
        groups=groups,
        acc_bound=acc_bound,
        w_scale=s_w,
        weight_bits=wb,
        input_bits=ib,
    )


# ------------------------------------------------------------------------ signedness


def nonnegative_tensors(graph: Graph, input_nonneg: bool) -> dict[str, bool]:
    """Tensor -> True if every value is provably >= 0 (each op's row in the op table says)."""
    out = {graph.input: input_nonneg}
    for node in graph.nodes:
        ins = [out[name] for name in node.inputs]
        out[node.output] = bool(opset.get(node.op).nonneg(node.attrs, ins))
    return out


# ------------------------------------------------------------------------ data-free bounds


def bn_bounds(
    graph: Graph, input_lo: np.ndarray, input_hi: np.ndarray, sigmas: float, signed: dict
) -> dict[str, float]:
    """Data-free bound of every conv/linear input tensor of a folded graph (module docs)."""
    lo = np.asarray(input_lo, dtype=np.float64)
    hi = np.asarray(input_hi, dtype=np.float64)
    # the input as a uniform distribution over its range: only used by a first layer without BN
    stats = {graph.input: Stats((lo + hi) / 2, (hi - lo) / math.sqrt(12.0), lo, hi)}
    for node in graph.nodes:
        ins = [stats[name] for name in node.inputs]
        stats[node.output] = opset.get(node.op).bounds(node, ins, graph.shapes)
    bounds = {}
    for node in graph.mvm_nodes():
        x = node.inputs[0]
        s = stats[x]
        top = np.minimum(s.mu + sigmas * s.sd, s.hi)
        if signed[x]:
            bottom = np.maximum(s.mu - sigmas * s.sd, s.lo)
            top = np.maximum(np.abs(top), np.abs(bottom))
        bound = float(np.max(top)) if top.size else 0.0
        if not math.isfinite(bound):
            raise ModelError(
                f"no data-free activation range for tensor {x!r} (the input of layer "
                f"{node.name!r}): its values are unbounded in the op table's analysis; use "
                "quant.act_scales=calibrate"
            )
        bounds[x] = bound
    return bounds


def percentile_bound(values_topk: np.ndarray, n_total: int, percentile: float) -> float:
    """Nearest-rank percentile from the largest values of a tensor (see module docs)."""
    k = int(math.floor(n_total * (1.0 - percentile / 100.0))) + 1
    k = min(k, values_topk.size)
    if k <= 0:
        return 0.0
    return float(np.partition(values_topk, values_topk.size - k)[values_topk.size - k])


def topk_size(n_total: int, percentile: float) -> int:
    """How many of the largest values ``percentile_bound`` needs."""
    return min(n_total, int(math.floor(n_total * (1.0 - percentile / 100.0))) + 1)
