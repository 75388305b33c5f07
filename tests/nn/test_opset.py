"""The op table's contract, one small graph per ONNX op it imports.

Each case puts the op between a conv (signed input) or a conv + Relu (non-negative input) and a
crossbar layer that reads its output, then checks: the float backend against onnxruntime (within
1e-4 of the largest output), the int backend equal to cim with an ideal ADC bit for bit, and the
op's data-free interval containing every value the float model computes on the folded graph.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from nn_builders import Builder, run_onnxruntime, save
from numpy.testing import assert_array_equal

from bfpdse.cim import CIMConfig
from bfpdse.nn import load_model
from bfpdse.nn.engine import Interpreter
from bfpdse.nn.opset import BY_ONNX, OPS
from bfpdse.nn.quantize import bn_bounds, nonnegative_tensors

C, H, W = 4, 6, 6


def _i64(*v):
    return np.array(v, np.int64)


def _f32(a):
    return np.asarray(a, np.float32)


def _se(b, x):  # squeeze-excitation: x * sigmoid(conv(mean(x)))
    s = b.node("ReduceMean", [x, b.const(_i64(2, 3))], keepdims=1)
    s = b.node("Sigmoid", [b.conv(s, C, C, k=1)])
    return b.node("Mul", [x, s])


def _shuffle(b, x):  # shufflenet's channel shuffle
    x = b.node("Reshape", [x, b.const(_i64(-1, 2, 2, H, W))])
    x = b.node("Transpose", [x], perm=[0, 2, 1, 3, 4])
    return b.node("Reshape", [x, b.const(_i64(-1, C, H, W))])


def _convnext(b, x):  # permute, LayerNorm, N-D MatMul, GELU, MatMul, permute back, layer scale
    x = b.node("Transpose", [x], perm=[0, 2, 3, 1])
    x = b.node("LayerNormalization", [x, b.const(_f32(b.rng.uniform(0.5, 1.5, C))),
                                      b.const(_f32(b.rng.normal(0, 0.1, C)))], axis=-1)  # fmt: skip
    x = b.node("MatMul", [x, b.const(_f32(b.rng.normal(0, 0.5, (C, 8))))])
    x = b.node("Add", [x, b.const(_f32(b.rng.normal(0, 0.1, 8)))])
    x = b.node("Gelu", [x])
    x = b.node("MatMul", [x, b.const(_f32(b.rng.normal(0, 0.3, (8, C))))])
    x = b.node("Transpose", [x], perm=[0, 3, 1, 2])
    return b.node("Mul", [x, b.const(_f32(b.rng.uniform(0.1, 1, (C, 1, 1))))])


def _bn_after_nd_matmul(b, x):  # BN's channels are H here, not the MatMul's features: no fold
    x = b.node("Transpose", [x], perm=[0, 2, 3, 1])
    x = b.node("MatMul", [x, b.const(_f32(b.rng.normal(0, 0.5, (C, 8))))])
    return b.bn(x, H)


PER_CHANNEL = [[[0.1]], [[-0.2]], [[0.3]], [[0.0]]]


def _split(b, x):
    a, c = b.node("Split", [x, b.const(_i64(1, 3))], n_out=2, axis=1)
    return b.node("Concat", [c, b.node("Relu", [a])], axis=1)


def _legacy_gelu(b, x):  # how the dynamo=False exporter writes GELU before opset 20
    t = b.node("Erf", [b.node("Div", [x, b.const(_f32(1.4142135))])])
    t = b.node("Add", [t, b.const(_f32(1.0))])
    return b.node("Mul", [b.node("Mul", [x, t]), b.const(_f32(0.5))])


#: case name -> (ONNX ops it covers, builder of the op's part of the graph)
CASES = {
    "relu": (("Relu",), lambda b, x: b.node("Relu", [x])),
    "clip": (("Clip",), lambda b, x: b.node("Clip", [x, b.const(_f32(-0.5)), b.const(_f32(1))])),
    "sigmoid": (("Sigmoid",), lambda b, x: b.node("Sigmoid", [x])),
    "hardsigmoid": (("HardSigmoid",), lambda b, x: b.node("HardSigmoid", [x], alpha=0.3)),
    "hardswish": (("HardSwish",), lambda b, x: b.node("HardSwish", [x])),
    "silu": (("Mul", "Sigmoid"), lambda b, x: b.node("Mul", [b.node("Sigmoid", [x]), x])),
    "gelu": (("Gelu",), lambda b, x: b.node("Gelu", [x])),
    "gelu_tanh": (("Gelu",), lambda b, x: b.node("Gelu", [x], approximate="tanh")),
    "legacy_gelu": (("Erf", "Div", "Add", "Mul"), _legacy_gelu),
    "tanh": (("Tanh",), lambda b, x: b.node("Tanh", [x])),
    "leakyrelu": (("LeakyRelu",), lambda b, x: b.node("LeakyRelu", [x], alpha=0.1)),
    "prelu": (("PRelu",),
              lambda b, x: b.node("PRelu", [x, b.const(_f32(PER_CHANNEL))])),
    "add_acts": (("Add",), lambda b, x: b.node("Add", [x, b.node("GlobalMaxPool", [x])])),
    "add_const": (("Add",), lambda b, x: b.node("Add", [x, b.const(_f32(np.eye(W)[None]))])),
    "sub": (("Sub",), lambda b, x: b.node("Sub", [b.const(_f32(PER_CHANNEL)), x])),
    "div": (("Div",), lambda b, x: b.node("Div", [x, b.const(_f32(2.5))])),
    "se_mul": (("Mul", "ReduceMean", "Sigmoid"), _se),
    "maxpool": (("MaxPool",),
                lambda b, x: b.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2],
                                    ceil_mode=1)),
    "avgpool": (("AveragePool",),
                lambda b, x: b.node("AveragePool", [x], kernel_shape=[2, 2], pads=[1, 1, 1, 1])),
    "gap": (("GlobalAveragePool",), lambda b, x: b.node("GlobalAveragePool", [x])),
    "gmp": (("GlobalMaxPool",), lambda b, x: b.node("GlobalMaxPool", [x])),
    "mean_hw": (("ReduceMean",),
                lambda b, x: b.node("ReduceMean", [x, b.const(_i64(-1, -2))], keepdims=0)),
    "max_c": (("ReduceMax",), lambda b, x: b.node("ReduceMax", [x, b.const(_i64(1))])),
    "sum_w": (("ReduceSum",), lambda b, x: b.node("ReduceSum", [x, b.const(_i64(3))], keepdims=0)),
    "bn": (("BatchNormalization",), lambda b, x: b.bn(x, C)),
    "bn_nd": (("BatchNormalization", "MatMul"), _bn_after_nd_matmul),
    "softmax": (("Softmax",), lambda b, x: b.node("Softmax", [x], axis=1)),
    "shuffle": (("Reshape", "Transpose"), _shuffle),
    "convnext": (("Transpose", "LayerNormalization", "MatMul", "Gelu", "Mul"), _convnext),
    "flatten": (("Flatten",), lambda b, x: b.node("Flatten", [x], axis=-3)),
    "unsqueeze": (("Unsqueeze", "Squeeze"), lambda b, x: b.node(
        "Squeeze", [b.node("Unsqueeze", [x, b.const(_i64(2))]), b.const(_i64(2))])),
    "concat_w": (("Concat",), lambda b, x: b.node("Concat", [x, b.node("Relu", [x])], axis=3)),
    "split": (("Split", "Concat"), _split),
    "slice": (("Slice",), lambda b, x: b.node(
        "Slice", [x, b.const(_i64(3, 1)), b.const(_i64(0, 6)), b.const(_i64(1, 3)),
                  b.const(_i64(-1, 2))])),  # fmt: skip
    "pad": (("Pad",), lambda b, x: b.node("Pad", [x, b.const(_i64(0, 0, 1, 2, 0, 0, 2, 0)),
                                                  b.const(_f32(0.5))])),  # fmt: skip
    "pad_reflect": (("Pad",), lambda b, x: b.node(
        "Pad", [x, b.const(_i64(0, 0, 1, 1, 0, 0, 1, 1))], mode="reflect")),
    "gather": (("Gather",), lambda b, x: b.node("Gather", [x, b.const(_i64(2, 0, -1))], axis=1)),
    "identity": (("Identity", "Dropout"),
                 lambda b, x: b.node("Dropout", [b.node("Identity", [x])])),
}  # fmt: skip


def _flat_size(proto: onnx.ModelProto, name: str) -> int:
    inferred = onnx.shape_inference.infer_shapes(proto)
    for v in (*inferred.graph.value_info, *inferred.graph.output):
        if v.name == name:
            return int(np.prod([d.dim_value for d in v.type.tensor_type.shape.dim[1:]]))
    raise AssertionError(f"no inferred shape for {name}")


def _case_model(name: str, signed: bool) -> onnx.ModelProto:
    b = Builder((3, H, W), seed=sum(map(ord, name)), opset=20)
    x = b.conv("input", 3, C, pads=[1, 1, 1, 1])
    if not signed:
        x = b.relu(x)
    out = CASES[name][1](b, x)
    flat = b.node("Flatten", [out], axis=1)
    k = _flat_size(b.model(flat), flat)
    return b.model(b.gemm(flat, k, 5))


@pytest.fixture(scope="module")
def case_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("opset")
    out = {}
    for name in CASES:
        for signed in (False, True):
            proto = _case_model(name, signed)
            out[name, signed] = (proto, load_model(save(proto, folder / f"{name}_{signed}.onnx")))
    return out


def test_every_imported_onnx_op_has_a_case():
    covered = {op for ops_, _ in CASES.values() for op in ops_}
    covered |= {"Conv", "Gemm", "Flatten"}  # in every case
    assert set(BY_ONNX) <= covered, sorted(set(BY_ONNX) - covered)
    # every graph row is reachable from ONNX or fused by the importer (silu)
    assert set(OPS) == {row.name for row in BY_ONNX.values()} | {"silu"}


def _x(model, n=5, seed=1):
    return np.random.default_rng(seed).uniform(0, 1, (n, *model.input_shape)).astype(np.float32)


@pytest.mark.parametrize("signed", [False, True], ids=["nonneg", "signed"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_op_float_matches_onnxruntime(case_models, name, signed):
    proto, model = case_models[name, signed]
    x = _x(model)
    ref = run_onnxruntime(proto, x)
    got = model.forward(x, batch_size=2)
    assert got.shape == ref.shape
    assert np.max(np.abs(got - ref)) <= 1e-4 * np.max(np.abs(ref))


@pytest.mark.parametrize("signed", [False, True], ids=["nonneg", "signed"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_op_ideal_cim_equals_int(case_models, name, signed):
    _, model = case_models[name, signed]
    x = _x(model, n=3)
    ideal = CIMConfig(adc="ideal", rows=64)
    assert_array_equal(model.forward(x, "cim", cim=ideal), model.forward(x, "int", cim=ideal))


@pytest.mark.parametrize("signed", [False, True], ids=["nonneg", "signed"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_op_intervals_and_signs_hold_on_data(case_models, name, signed):
    """The data-free interval and sign of every tensor hold for the values actually computed."""
    _, model = case_models[name, signed]
    graph = model.folded
    lo, hi = model.input_range()
    nonneg = nonnegative_tensors(graph, True)
    seen: dict[str, tuple[float, float]] = {}
    interp = Interpreter(graph)
    x = _x(model, n=8, seed=3)

    def record(node, inp):
        seen[node.inputs[0]] = (float(inp.min()), float(inp.max()))
        return interp.float_mvm(node, inp)

    interp.run(x, record)
    signed_t = {t: not v for t, v in nonneg.items()}
    bounds = bn_bounds(graph, lo, hi, 1e9, signed_t)  # huge sigmas: the hard interval
    for tensor, (vmin, vmax) in seen.items():
        assert np.isfinite(bounds[tensor]) and bounds[tensor] > 0, tensor
        assert max(abs(vmin), abs(vmax)) <= bounds[tensor] * (1 + 1e-5) + 1e-6, tensor
        if nonneg[tensor]:
            assert vmin >= 0, tensor


def _batch_one_runs_batched(proto: onnx.ModelProto, path, n: int) -> None:
    """Fix the file's batch at 1 (as the exporters do); bfpdse runs n images at once and
    matches onnxruntime run image by image."""
    proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    model = load_model(save(proto, path))
    x = _x(model, n=n)
    got = model.forward(x)
    ref = np.concatenate([run_onnxruntime(proto, x[i : i + 1]) for i in range(n)])
    assert got.shape == ref.shape
    assert np.max(np.abs(got - ref)) <= 1e-4 * np.max(np.abs(ref))


def test_fixed_batch_graph_runs_at_any_batch(tmp_path):
    # dynamo exports at a fixed batch of 1 write Reshape targets like [1, K]
    b = Builder((3, H, W), seed=5, opset=18)
    x = b.relu(b.conv("input", 3, C, pads=[1, 1, 1, 1]))
    x = b.node("Reshape", [x, b.const(_i64(1, C * H * W))])
    _batch_one_runs_batched(b.model(b.gemm(x, C * H * W, 5)), tmp_path / "fixed.onnx", n=4)


def test_batch_mixing_reshape_says_how_to_reexport(tmp_path):
    b = Builder((3, H, W), seed=5)
    x = b.relu(b.conv("input", 3, C, pads=[1, 1, 1, 1]))
    x = b.node("Reshape", [x, b.const(_i64(2, -1))])
    with pytest.raises(Exception, match="dynamic_axes=.*dynamic_shapes"):
        load_model(save(b.model(x), tmp_path / "mix.onnx"))


def test_signed_network_input_is_quantized_signed(tmp_path):
    # ImageNet-style mean/std make the first layer's input signed: measured on a model
    meta = {"bfpdse.mean": "0.485,0.456,0.406", "bfpdse.std": "0.229,0.224,0.225"}
    b = Builder((3, H, W), seed=6)
    x = b.relu(b.conv("input", 3, C, pads=[1, 1, 1, 1]))
    proto = b.model(b.gemm(b.node("Flatten", [x]), C * H * W, 5), meta)
    model = load_model(save(proto, tmp_path / "norm.onnx"))
    qm = model.quantize(8, 8)
    first = next(iter(qm.layers.values()))
    assert first.in_signed
    lo, hi = model.input_range()
    assert np.all(lo < 0) and np.all(hi > 0)
    assert first.in_scale == pytest.approx(max(np.abs(lo).max(), hi.max()) / 127)
    from bfpdse.data.datasets import normalize

    pixels = np.random.default_rng(0).integers(0, 256, (4, 3, H, W), dtype=np.uint8)
    x = normalize(pixels, model)
    assert x.min() < 0
    ideal = CIMConfig(adc="ideal")
    assert_array_equal(model.forward(x, "cim", cim=ideal), model.forward(x, "int", cim=ideal))
    ref = model.forward(x)
    err = np.abs(model.forward(x, "int", cim=ideal) - ref).max() / np.abs(ref).max()
    assert err < 0.05


def test_batch_one_flat_gather_is_per_image(tmp_path):
    # the dynamo exporter's adaptive pooling: Reshape(x, [-1]) then Gather of flat indices
    b = Builder((3, H, W), seed=7, opset=18)
    x = b.relu(b.conv("input", 3, C, pads=[1, 1, 1, 1]))
    x = b.node("ReduceMean", [x, b.const(_i64(-1, -2))], keepdims=1)
    x = b.node("Reshape", [x, b.const(_i64(-1))])
    x = b.node("Gather", [x, b.const(np.arange(C, dtype=np.int64).reshape(1, C, 1, 1)[:, ::-1])])
    x = b.node("Reshape", [x, b.const(_i64(1, C))])
    _batch_one_runs_batched(b.model(b.gemm(x, C, 5)), tmp_path / "flat.onnx", n=3)
