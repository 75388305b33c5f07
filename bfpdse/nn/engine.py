"""Running a model: the float, int and cim backends, per-layer reports, ADC window calibration.

One interpreter (:func:`run_graph`) walks the graph; the backends differ only in how a conv or
linear node computes its output:

- ``float``: im2col + float32 BLAS on the unfolded graph (BN kept as its own op).
- ``int``: the BN-folded, quantized graph (``quantize.py``); ``x_int @ w_int`` by BLAS in the
  smallest float dtype that is exact for the layer's largest possible sum (see
  ``cim.mvm.exact_dtype``), then dequantized.
- ``cim``: the same, with ``x_int @ w_int`` replaced by one ``crossbar_mvm`` call per layer and
  batch (grouped convolutions: one call over all groups), rows of x = output positions, K in
  (C, kh, kw) order; each layer's weights are prepared (``prepare_weights``) once per forward
  pass and reused by every batch. ``cols`` of the CIMConfig does not change the numbers
  (docs/spec.md), so a layer is not cut into column tiles here. With ``adc="ideal"`` the
  accumulators, hence the logits, equal ``int``'s.

Images run in batches (``batch_size``) to bound memory.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from bfpdse.cim import (
    CIMConfig,
    CIMStats,
    PreparedWeights,
    calibrate_window,
    crossbar_mvm,
    get_scheme,
    prepare_weights,
)
from bfpdse.cim.noise import NoiseConfig, NoisyLayers
from bfpdse.errors import DataError, ModelError, SpecError
from bfpdse.nn import ops, opset
from bfpdse.nn.graph import MVM_OPS, Graph, Node, fold_batchnorm, layer_index_names
from bfpdse.nn.quantize import (
    QuantConfig,
    QuantizedModel,
    QuantLayer,
    bn_bounds,
    nonnegative_tensors,
    percentile_bound,
    quantize_activation,
    quantize_graph,
    topk_size,
)

BACKENDS = ("float", "int", "cim")
#: images per batch: bounds the im2col matrices (about 100 * 784 * 576 values for resnet20)
DEFAULT_BATCH = 100
#: rows (output positions) per layer that calibrate_windows hands to calibrate_window
DEFAULT_WINDOW_VECTORS = 8192

Progress = Callable[[int, int], None]
MVM = Callable[[Node, np.ndarray], np.ndarray]


# ------------------------------------------------------------------------ reports


@dataclass
class LayerReport:
    """What one conv/linear layer did on the crossbar, summed over the images run.

    ``k`` and ``n`` are the rows and columns of the layer's weight matrix per group (a grouped
    convolution maps ``groups`` such matrices); ``vectors`` counts input vectors (output
    positions) per group. The powers are sums over every output value of this layer's integer
    accumulator: ``signal_power = sum(y_ideal^2)`` and ``noise_power = sum((y - y_ideal)^2)``,
    with ``y_ideal`` the exact ``x_int @ w_int`` of the same inputs.
    """

    name: str
    k: int
    n: int
    groups: int
    vectors: int
    images: int
    stats: CIMStats
    signal_power: float = 0.0
    noise_power: float = 0.0

    def __add__(self, other: LayerReport) -> LayerReport:
        if not isinstance(other, LayerReport):
            return NotImplemented
        if (self.name, self.k, self.n, self.groups) != (other.name, other.k, other.n, other.groups):
            raise ValueError(f"cannot add reports of layers {self.name!r} and {other.name!r}")
        return replace(
            self,
            vectors=self.vectors + other.vectors,
            images=self.images + other.images,
            stats=self.stats + other.stats,
            signal_power=self.signal_power + other.signal_power,
            noise_power=self.noise_power + other.noise_power,
        )

    @property
    def sqnr_db(self) -> float:
        """10 log10(signal / noise) in dB; inf when the layer is exact."""
        if self.noise_power == 0:
            return math.inf
        if self.signal_power == 0:
            return -math.inf
        return 10.0 * math.log10(self.signal_power / self.noise_power)


def add_reports(a: dict[str, LayerReport], b: dict[str, LayerReport]) -> dict[str, LayerReport]:
    """Layer-wise sum of two report dicts (e.g. of two batches)."""
    out = dict(a)
    for name, rep in b.items():
        out[name] = out[name] + rep if name in out else rep
    return out


# ------------------------------------------------------------------------ interpreter


class Interpreter:
    """Runs one graph: each node by its op-table row, conv/linear by an optional callback.

    The rows' prepared parameters (float32 weight matrices, BN's affine) are derived once per
    interpreter and kept here, not in the nodes.
    """

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.prepared: dict[str, Any] = {}
        readers: dict[str, int] = {}
        for node in graph.nodes:
            for name in node.inputs:
                readers[name] = readers.get(name, 0) + 1
        self.readers = readers

    def params(self, node: Node) -> Any:
        p = self.prepared.get(node.name)
        if p is None:
            p = self.prepared[node.name] = opset.get(node.op).prepare(node.attrs)
        return p

    def float_mvm(self, node: Node, x: np.ndarray) -> np.ndarray:
        """The float computation of a conv/linear node."""
        return opset.get(node.op).run(self.params(node), [x])

    def run(self, x: np.ndarray, mvm: MVM | None = None) -> np.ndarray:
        """Run on NCHW float32 ``x``; ``mvm(node, input)`` computes conv/linear nodes if given.

        Activations are in the internal layout inside (see ``ops``); the output comes back in
        ONNX layout. Tensors are dropped as soon as their last reader has run.
        """
        graph = self.graph
        readers = dict(self.readers)
        env = {graph.input: ops.from_onnx_layout(x)}
        for node in graph.nodes:
            ins = [env[name] for name in node.inputs]
            if mvm is not None and node.op in MVM_OPS:
                env[node.output] = mvm(node, ins[0])
            else:
                env[node.output] = opset.get(node.op).run(self.params(node), ins)
            for name in node.inputs:
                readers[name] -= 1
                if readers[name] == 0 and name != graph.output:
                    del env[name]
        return ops.to_onnx_layout(env[graph.output])


def run_graph(graph: Graph, x: np.ndarray, mvm: MVM | None = None) -> np.ndarray:
    """Run ``graph`` once on NCHW float32 ``x`` (see :meth:`Interpreter.run`)."""
    return Interpreter(graph).run(x, mvm)


# ------------------------------------------------------------------------ quantized runs


def _layer_cols(
    layer: QuantLayer, q: np.ndarray, dtype: np.dtype | None = None
) -> tuple[np.ndarray, tuple[int, ...]]:
    """(groups, M, K) integer input matrix of a layer (in ``dtype``) and its output's lead shape.

    The lead shape is internal (n, Ho, Wo) for a conv and (n,) for a linear layer on (n, K);
    a linear layer on an N-D tensor has its ONNX lead shape (see :func:`_layer_output`).
    """
    if layer.op == "linear":
        if q.ndim == 2:
            return q[None].astype(dtype or q.dtype, copy=False), (q.shape[0],)
        rows, lead = ops.rows_last_axis(q)
        return rows[None].astype(dtype or q.dtype, copy=False), lead
    a = layer.attrs
    cols, ho, wo = ops.im2col(
        q, a["kernel"], a["strides"], a["pads"], a["dilations"], a["groups"], dtype=dtype
    )
    return cols, (q.shape[0], ho, wo)


def _layer_output(layer: QuantLayer, y: np.ndarray, lead: tuple[int, ...]) -> np.ndarray:
    """A layer's (M, N) float32 outputs in the internal layout of its output tensor."""
    if layer.op == "linear" and len(lead) > 1:
        return ops.unflatten_rows(y, lead)
    return y.reshape(*lead, -1)


class _QuantRunner:
    """The mvm callback of the int and cim backends for one design (config, windows)."""

    def __init__(
        self,
        qm: QuantizedModel,
        cim: CIMConfig | None,
        windows: dict[str, int] | None,
        collect: bool,
        on_cols: Callable[[QuantLayer, np.ndarray], None] | None = None,
        noise: NoiseConfig | None = None,
        trial: int = 0,
        layer_cims: Mapping[str, CIMConfig] | None = None,
    ) -> None:
        self.qm = qm
        # docs/spec.md "Noise": None keeps the exact crossbar_mvm; image0 (the global index of
        # the batch's first image) keys the draws of every conversion
        self.noisy = NoisyLayers(noise, trial) if noise is not None and not noise.off else None
        self.image0 = 0
        self.cim = cim
        self.windows = windows or {}
        self.collect = collect
        self.on_cols = on_cols
        self.reports: dict[str, LayerReport] = {}
        self.cfgs: dict[str, CIMConfig] = {}
        self._q: dict[tuple[str, int], np.ndarray] = {}
        self._prepared: dict[str, PreparedWeights] = {}
        self.interp = Interpreter(qm.graph)
        if cim is not None:
            self.cfgs = layer_configs(qm, cim, layer_cims)
            for layer in qm.layers.values():
                adc = self.cfgs[layer.name].adc
                if get_scheme(adc).needs_window:
                    for key in window_keys(layer):
                        if key not in self.windows:
                            raise SpecError(
                                f"cim.adc={adc!r} needs an ADC window for layer {key!r}; "
                                "get them from Model.calibrate_windows(x_cal, cim)"
                            )

    def run(self, x: np.ndarray) -> np.ndarray:
        self._q = {}
        out = self.interp.run(x, self.mvm)
        self._q = {}
        return out

    def quantized_input(self, layer: QuantLayer, x: np.ndarray) -> np.ndarray:
        # a tensor read by several layers (a residual block's input) is quantized once
        key = (layer.input, layer.input_bits)
        q = self._q.get(key)
        if q is None:
            q = quantize_activation(x, layer.in_scale, layer.in_signed, layer.input_bits)
            if self.cim is not None or self.on_cols is not None:
                # the narrowest integer dtype: im2col then moves 1-2 bytes per value, not 8
                q = q.astype(compact_dtype(layer.input_bits, layer.in_signed))
            self._q[key] = q
        return q

    def mvm(self, node: Node, x: np.ndarray) -> np.ndarray:
        layer = self.qm.layers[node.name]
        q = self.quantized_input(layer, x)
        # patches are built straight in the dtype their consumer wants (no converting copies):
        # the exact BLAS dtype for int; q's own (1 byte for 8-bit inputs) for crossbar_mvm
        # and calibration
        if self.on_cols is not None:
            cols, lead = _layer_cols(layer, q)
            self.on_cols(layer, cols)
            acc = _exact_matmul(cols, layer.w_blas)
        elif self.cim is None:
            cols, lead = _layer_cols(layer, q, layer.blas_dtype)
            acc = _exact_matmul(cols, layer.w_blas)
        else:
            cols, lead = _layer_cols(layer, q)
            acc = self._cim_matmul(layer, cols, lead[0])
        y = acc * layer.mult + layer.bias  # float64
        return _layer_output(layer, y.astype(np.float32), lead)

    def prepared(self, layer: QuantLayer) -> PreparedWeights:
        """The layer's weights prepared for its config, once per runner: every batch reuses them."""
        prep = self._prepared.get(layer.name)
        if prep is None:
            w = layer.w_int if layer.groups > 1 else layer.w_int[0]
            prep = self._prepared[layer.name] = prepare_weights(w, self.cfgs[layer.name])
        return prep

    def _cim_matmul(self, layer: QuantLayer, cols: np.ndarray, images: int) -> np.ndarray:
        """Accumulators of the crossbar; with ``collect``, the report against exact cols @ w.

        A grouped layer runs as one crossbar pass over all its groups (block-diagonal: each
        group on arrays of its own), with one ADC window per group for ``calibrated``.
        """
        cfg = self.cfgs[layer.name]
        groups = layer.groups
        window = None
        if get_scheme(cfg.adc).needs_window:
            window = [self.windows[key] for key in window_keys(layer)]
            window = window[0] if groups == 1 else window
        x = cols if groups > 1 else cols[0]
        if self.noisy is None:
            out = crossbar_mvm(x, self.prepared(layer), window=window, return_stats=self.collect)
        else:
            row0 = self.image0 * (cols.shape[1] // images)
            out = self.noisy.mvm(layer.name, x, layer.w_int, cfg, window, row0, self.collect)
        y = out[0] if self.collect else out  # statistics cost time: only when collecting
        if groups > 1:  # (groups, M, N) -> (M, groups * N): back to the buffer's own layout
            y = y.transpose(1, 0, 2).reshape(y.shape[1], -1)
        y = y.astype(np.float64)  # exact: |y| < 2^53 (checked by cim.mvm.exact_dtype)
        if self.collect:
            signal, noise = _powers(cols, layer.w_blas, y)
            rep = LayerReport(
                name=layer.name,
                k=layer.k,
                n=layer.n,
                groups=groups,
                vectors=cols.shape[1],
                images=images,
                stats=out[1],
                signal_power=signal,
                noise_power=noise,
            )
            old = self.reports.get(layer.name)
            self.reports[layer.name] = rep if old is None else old + rep
        return y


def _powers(cols: np.ndarray, w: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(sum ideal^2, sum (ideal - y)^2) of a layer, ideal = cols @ w exactly, summed per group.

    Each group's sums are taken on its own contiguous (M, N) block, in group order, so the
    floats are those of one crossbar call per group.
    """
    g = cols.shape[0]
    ideal = _exact_matmul(cols, w)
    signal = noise = 0.0
    n = w.shape[2]
    for k in range(g):
        a = ideal if g == 1 else np.ascontiguousarray(ideal[:, k * n : (k + 1) * n])
        signal += float(np.einsum("ij,ij->", a, a))
        a -= y if g == 1 else y[:, k * n : (k + 1) * n]
        noise += float(np.einsum("ij,ij->", a, a))
    return signal, noise


#: bytes of converted patches per BLAS call in ``_exact_matmul``
MATMUL_CHUNK_BYTES = 16 << 20


def _exact_matmul(cols: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Exact (M, N) float64 accumulators of integer cols (g, M, K) @ w (g, K, Ng).

    Row chunks bound the memory of the converted copy (4-8 bytes per 1-byte patch value). They
    are large: every BLAS call pays for waking its threads, which costs milliseconds per call on
    a loaded machine (resnet20's 78,400 x 144 x 16 layer: 2.4 s in chunks of 512 rows, 0.33 s of
    3,640 (2 MiB), 0.07 s of 8,192, 0.05 s in one call; 2 cores, load average 6). Between calls
    BLAS's idle threads sleep rather than spin beside numba's kernels (``bfpdse.threads``).
    """
    g, M, K = cols.shape
    out = np.empty((M, g * w.shape[2]), dtype=np.float64)
    step = max(256, MATMUL_CHUNK_BYTES // max(1, g * K * w.dtype.itemsize))
    for m0 in range(0, M, step):
        part = cols[:, m0 : m0 + step].astype(w.dtype, copy=False)
        if g == 1:
            out[m0 : m0 + step] = part[0] @ w[0]
        else:
            out[m0 : m0 + step] = np.matmul(part, w).transpose(1, 0, 2).reshape(part.shape[1], -1)
    return out


def compact_dtype(bits: int, signed: bool) -> np.dtype:
    """The narrowest numpy integer dtype that holds activations of ``bits`` bits."""
    if signed:
        return np.dtype(np.int8 if bits <= 8 else np.int16 if bits <= 16 else np.int32)
    return np.dtype(np.uint8 if bits <= 8 else np.uint16 if bits <= 16 else np.uint32)


def window_keys(layer: QuantLayer) -> list[str]:
    """Keys of a layer's ADC windows: its name, or ``name#g`` per group of a grouped conv."""
    if layer.groups == 1:
        return [layer.name]
    return [f"{layer.name}#{g}" for g in range(layer.groups)]


def layer_configs(
    qm: QuantizedModel, cim: CIMConfig, layer_cims: Mapping[str, CIMConfig] | None = None
) -> dict[str, CIMConfig]:
    """Node name -> the CIMConfig its crossbar runs: ``cim``, or the layer's own from
    ``layer_cims`` (keyed by the index names L00, L01, ... of ``layer_index_names``)."""
    index = layer_index_names(qm.graph)
    own = dict(layer_cims or {})
    unknown = sorted(set(own) - set(index.values()))
    if unknown:
        listing = ", ".join(f"{i} ({name})" for name, i in index.items())
        raise SpecError(
            f"cim.layers.{unknown[0]}: the model has no layer {unknown[0]!r}; its layers are "
            f"{listing}"
        )
    return {
        name: layer_config(layer, own.get(index[name], cim)) for name, layer in qm.layers.items()
    }


def layer_config(layer: QuantLayer, cim: CIMConfig) -> CIMConfig:
    """The CIMConfig of one layer: ``input_signed`` set from the sign of its input tensor."""
    if layer.in_signed == cim.input_signed:
        return cim
    if not layer.in_signed:
        return replace(cim, input_signed=False)
    if cim.dac_bits != 1 or cim.input_mantissa_bits is not None:
        raise SpecError(
            f"layer {layer.name!r} reads the signed tensor {layer.input!r} (no Relu before it), "
            f"which needs input_signed=True; docs/spec.md allows that only with cim.dac_bits=1 and "
            f"cim.input_mantissa_bits=None (got dac_bits={cim.dac_bits}, "
            f"input_mantissa_bits={cim.input_mantissa_bits})"
        )
    return replace(cim, input_signed=True)


# ------------------------------------------------------------------------ the model


def _parse_floats(text: str | None, default: float, what: str, channels: int) -> np.ndarray:
    """Per-channel floats from metadata: '0.5', '0.1,0.2,0.3' or '[0.1, 0.2, 0.3]'."""
    if text is None or not str(text).strip():
        return np.full(channels, default)
    try:
        vals = [float(v) for v in str(text).strip().strip("[]()").replace(",", " ").split()]
    except ValueError:
        raise ModelError(f"metadata {what}={text!r} is not a number or a list of numbers") from None
    if len(vals) == 1:
        vals = vals * channels
    if len(vals) != channels:
        raise ModelError(f"metadata {what}={text!r} has {len(vals)} values for {channels} channels")
    return np.asarray(vals, dtype=np.float64)


@dataclass
class Model:
    """An imported network: ``forward`` runs it on float32 NCHW images (see the module docs)."""

    graph: Graph
    name: str
    path: Path
    version: str  # the first 12 hex digits of the file's sha256
    meta: dict[str, str]
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one input image."""
        c, h, w = self.graph.input_shape
        return int(c), int(h), int(w)

    @property
    def classes(self) -> int:
        """Outputs per image (the last axis of the output): labels must be below it."""
        shape = self.graph.shapes[self.graph.output]
        return int(shape[-1]) if shape else 1

    @property
    def input_scale(self) -> float:
        """Pixel scale: the input is pixels (0 … 255) * input_scale, then (x - mean) / std."""
        text = self.meta.get("bfpdse.input_scale")
        if text is None:
            return 1.0 / 255.0
        return float(_parse_floats(text, 1 / 255, "bfpdse.input_scale", 1)[0])

    @property
    def mean(self) -> np.ndarray:
        """Per-channel mean subtracted after scaling (``bfpdse.mean``; 0 if absent)."""
        return _parse_floats(self.meta.get("bfpdse.mean"), 0.0, "bfpdse.mean", self.input_shape[0])

    @property
    def std(self) -> np.ndarray:
        """Per-channel std divided by after scaling (``bfpdse.std``; 1 if absent)."""
        return _parse_floats(self.meta.get("bfpdse.std"), 1.0, "bfpdse.std", self.input_shape[0])

    def with_normalization(
        self, mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None
    ) -> Model:
        """A copy that normalises inputs with this ``mean``/``std`` (a dataset's, say) instead.

        The copy's input range, hence its first layer's quantization, follows the new values.
        """
        meta = dict(self.meta)
        for key, value in (("bfpdse.mean", mean), ("bfpdse.std", std)):
            if value is not None:
                meta[key] = ",".join(repr(float(v)) for v in value)
        return replace(self, meta=meta, _cache={})

    @property
    def float_accuracy(self) -> float | None:
        """The float test accuracy recorded in the file (``bfpdse.float_accuracy``), if any."""
        text = self.meta.get("bfpdse.float_accuracy")
        return float(text) if text else None

    def input_range(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel (low, high) of the input: pixels 0 and 255, scaled and normalised."""
        a = (0.0 - self.mean) / self.std
        b = (255.0 * self.input_scale - self.mean) / self.std
        return np.minimum(a, b), np.maximum(a, b)

    @property
    def _float_interpreter(self) -> Interpreter:
        if "float" not in self._cache:
            self._cache["float"] = Interpreter(self.graph)
        return self._cache["float"]

    # ---------------------------------------------------------------- quantization

    @property
    def folded(self) -> Graph:
        """The graph with BatchNorm folded into the conv/linear before it (float64 weights)."""
        if "folded" not in self._cache:
            self._cache["folded"] = fold_batchnorm(self.graph)
        return self._cache["folded"]

    def quantize(
        self,
        weight_bits: int = 8,
        input_bits: int = 8,
        quant: QuantConfig | None = None,
        calib_x: np.ndarray | None = None,
        layer_bits: Mapping[str, tuple[int, int]] | None = None,
    ) -> QuantizedModel:
        """The quantized model for these bit widths (cached per widths, config and calib data).

        ``calib_x`` (float32 NCHW calibration images, never the test split) is needed only for
        ``quant.act_scales == "calibrate"``; its first ``quant.calib_samples`` images are used.
        ``layer_bits`` (node name -> (weight_bits, input_bits)) gives layers widths of their own.
        """
        quant = quant or QuantConfig()
        fingerprint = None
        if quant.act_scales == "calibrate":
            if calib_x is None:
                raise SpecError(
                    "quant.act_scales='calibrate' needs calibration images (calib_x, from the "
                    "dataset's calib split)"
                )
            calib_x = self.check_input(calib_x[: quant.calib_samples])
            fingerprint = hashlib.sha1(calib_x.tobytes()).hexdigest()
        own = {
            name: (int(wb), int(ib))
            for name, (wb, ib) in (layer_bits or {}).items()
            if (wb, ib) != (weight_bits, input_bits)
        }
        key = (
            "quant",
            int(weight_bits),
            int(input_bits),
            quant,
            fingerprint,
            tuple(sorted(own.items())),
        )
        if key not in self._cache:
            graph = self.folded
            lo, hi = self.input_range()
            nonneg = nonnegative_tensors(graph, bool(np.all(lo >= 0)))
            signed = {t: not v for t, v in nonneg.items()}
            if quant.act_scales == "bn":
                bounds = bn_bounds(graph, lo, hi, quant.sigmas, signed)
            else:
                bounds = self._calibrated_bounds(graph, calib_x, quant, signed)
            # the network input's bound is known exactly from the pixel range
            bounds[graph.input] = float(max(np.max(np.abs(lo)), np.max(np.abs(hi))))
            self._cache[key] = quantize_graph(
                graph, int(weight_bits), int(input_bits), bounds, signed, quant, own
            )
        return self._cache[key]

    def layer_bits(
        self, cim: CIMConfig, layer_cims: Mapping[str, CIMConfig] | None
    ) -> dict[str, tuple[int, int]]:
        """Node name -> (weight_bits, input_bits) of the layers whose ``layer_cims`` entry
        (index name L03 -> CIMConfig) sets widths other than ``cim``'s."""
        own = layer_cims or {}
        out = {}
        for node, index in layer_index_names(self.graph).items():
            c = own.get(index)
            if c is not None and (c.weight_bits, c.input_bits) != (cim.weight_bits, cim.input_bits):
                out[node] = (c.weight_bits, c.input_bits)
        return out

    def _calibrated_bounds(
        self, graph: Graph, x: np.ndarray, quant: QuantConfig, signed: dict[str, bool]
    ) -> dict[str, float]:
        tensors = {node.inputs[0] for node in graph.mvm_nodes()}
        sizes = {t: x.shape[0] * int(np.prod(graph.shapes[t])) for t in tensors}
        top: dict[str, np.ndarray] = {t: np.empty(0, np.float32) for t in tensors}

        interp = Interpreter(graph)

        def mvm(node: Node, inp: np.ndarray) -> np.ndarray:
            t = node.inputs[0]
            vals = np.abs(inp).reshape(-1) if signed[t] else inp.reshape(-1)
            k = topk_size(sizes[t], quant.percentile)
            merged = np.concatenate([top[t], vals])
            if merged.size > k:
                merged = np.partition(merged, merged.size - k)[merged.size - k :]
            top[t] = merged
            return interp.float_mvm(node, inp)

        for b0 in range(0, x.shape[0], DEFAULT_BATCH):
            interp.run(x[b0 : b0 + DEFAULT_BATCH], mvm)
        return {t: percentile_bound(top[t], sizes[t], quant.percentile) for t in tensors}

    # ---------------------------------------------------------------- running

    def check_input(self, x: Any) -> np.ndarray:
        """``x`` as a C-contiguous float32 (n, C, H, W) array; DataError if the shape is wrong."""
        x = np.asarray(x)
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            dims = ", ".join(map(str, self.input_shape))
            raise DataError(
                f"model {self.name!r} expects images of shape (n, {dims}), "
                f"got an array of shape {x.shape}"
            )
        return np.ascontiguousarray(x, dtype=np.float32)

    def forward(
        self,
        x: np.ndarray,
        backend: str = "float",
        *,
        cim: CIMConfig | None = None,
        quant: QuantConfig | None = None,
        windows: dict[str, int] | None = None,
        calib_x: np.ndarray | None = None,
        collect: bool = False,
        batch_size: int = DEFAULT_BATCH,
        progress: Progress | None = None,
        noise: NoiseConfig | None = None,
        trial: int = 0,
        image_offset: int = 0,
        layer_cims: Mapping[str, CIMConfig] | None = None,
    ) -> np.ndarray | tuple[np.ndarray, dict[str, LayerReport]]:
        """Logits (n, classes) float32 of float32 NCHW images ``x``.

        backend: ``"float"``, ``"int"`` or ``"cim"``. ``cim`` (default ``CIMConfig()``) gives
        the bit widths of ``int`` and ``cim`` and the crossbar of ``cim``; ``quant`` the
        quantization choices; ``windows`` the ADC windows of ``adc="calibrated"``
        (from :meth:`calibrate_windows`); ``calib_x`` the calibration images of
        ``quant.act_scales="calibrate"``. With ``collect=True`` (cim only) returns
        ``(logits, {layer name: LayerReport})``. ``progress(done, total)`` is called after each
        batch of ``batch_size`` images. ``noise`` (cim only; docs/spec.md "Noise") adds the
        analog non-idealities of that ``trial``; ``image_offset`` is the index of ``x[0]`` in
        the whole image set, so that a shard draws what one pass over every image would.
        ``layer_cims`` (index name L03 -> CIMConfig) gives layers a crossbar of their own, and
        bit widths of their own (``weight_bits``, ``input_bits``) on the int and cim backends.
        """
        if backend not in BACKENDS:
            raise SpecError(f"backend={backend!r} is unknown: allowed {', '.join(BACKENDS)}")
        if collect and backend != "cim":
            raise ValueError("collect=True needs backend='cim' (the reports hold CIM statistics)")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be >= 1")
        x = self.check_input(x)
        if backend == "float":
            runner = None
        else:
            cim = cim or CIMConfig()
            qm = self.quantize(cim.weight_bits, cim.input_bits, quant, calib_x,
                               self.layer_bits(cim, layer_cims))  # fmt: skip
            on_cim = backend == "cim"
            runner = _QuantRunner(qm, cim if on_cim else None, windows, collect,
                                  noise=noise if on_cim else None, trial=trial,
                                  layer_cims=layer_cims)  # fmt: skip
        n = x.shape[0]
        outs = []
        for b0 in range(0, n, batch_size):
            xb = x[b0 : b0 + batch_size]
            if runner is not None:
                runner.image0 = image_offset + b0
            outs.append(self._float_interpreter.run(xb) if runner is None else runner.run(xb))
            if progress is not None:
                progress(min(n, b0 + batch_size), n)
        logits = np.concatenate(outs) if outs else np.zeros((0,), np.float32)
        if collect:
            return logits, runner.reports
        return logits

    def calibrate_windows(
        self,
        x_cal: np.ndarray,
        cim: CIMConfig,
        quant: QuantConfig | None = None,
        *,
        calib_x: np.ndarray | None = None,
        max_vectors: int = DEFAULT_WINDOW_VECTORS,
        batch_size: int = DEFAULT_BATCH,
        seed: int = 0,
        layer_cims: Mapping[str, CIMConfig] | None = None,
    ) -> dict[str, int]:
        """ADC windows of ``adc="calibrated"``: layer name -> ``calibrate_window`` result.

        Runs the int model on ``x_cal`` (calibration images, never the test split) and hands
        each layer's integer inputs, at most ``max_vectors`` rows drawn at random (``seed``), to
        ``calibrate_window`` with that layer's config. Grouped layers get one window per group
        (keys ``name#g``).
        """
        x_cal = self.check_input(x_cal)
        qm = self.quantize(cim.weight_bits, cim.input_bits, quant, calib_x,
                           self.layer_bits(cim, layer_cims))  # fmt: skip
        cfgs = layer_configs(qm, cim, layer_cims)
        n = x_cal.shape[0]
        rng = np.random.default_rng(seed)
        kept: dict[str, list[np.ndarray]] = {name: [] for name in qm.layers}

        def on_cols(layer: QuantLayer, cols: np.ndarray) -> None:
            b = n_batch[0]
            m = cols.shape[1]
            take = min(m, -(-max_vectors * b // n))
            rows = np.sort(rng.choice(m, size=take, replace=False))
            kept[layer.name].append(cols[:, rows])

        n_batch = [0]
        runner = _QuantRunner(qm, None, None, False, on_cols=on_cols)
        for b0 in range(0, n, batch_size):
            xb = x_cal[b0 : b0 + batch_size]
            n_batch[0] = xb.shape[0]
            runner.run(xb)
        windows: dict[str, int] = {}
        for name, layer in qm.layers.items():
            cols = np.concatenate(kept[name], axis=1)[:, :max_vectors]
            for g, key in enumerate(window_keys(layer)):
                windows[key] = int(calibrate_window(cols[g], layer.w_int[g], cfgs[name]))
        return windows
