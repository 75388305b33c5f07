"""ONNX import: float mode against onnxruntime, graph folding, and every ModelError."""

from __future__ import annotations

import hashlib

import numpy as np
import onnx
import pytest
from nn_builders import MODELS, Builder, run_onnxruntime, save
from onnx import helper, numpy_helper

from bfpdse.errors import ModelError
from bfpdse.nn import SUPPORTED_OPS, load_model


def _inputs(model, n=7, seed=1):
    return np.random.default_rng(seed).uniform(0, 1, (n, *model.input_shape)).astype(np.float32)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_float_matches_onnxruntime(name, tmp_path):
    proto = MODELS[name]()
    model = load_model(save(proto, tmp_path / f"{name}.onnx"))
    x = _inputs(model)
    ref = run_onnxruntime(proto, x)
    got = model.forward(x, batch_size=3)  # three batches, the last one short
    assert got.shape == ref.shape
    assert np.max(np.abs(got - ref)) <= 1e-4 * np.max(np.abs(ref))


def test_shape_subgraph_is_folded_and_bn_kept(tmp_path):
    model = load_model(save(MODELS["reshape_matmul"](), tmp_path / "m.onnx"))
    ops = [node.op for node in model.graph.nodes]
    # Shape/Gather/Unsqueeze/Concat vanish; MatMul + Add become one linear with a bias
    assert ops == [
        "bn",
        "conv",
        "bn",
        "relu",
        "maxpool",
        "reshape",
        "linear",
        "relu",
        "bn",
        "linear",
    ]
    linear = [n for n in model.graph.nodes if n.op == "linear"]
    assert all(np.any(n.attrs["bias"] != 0) for n in linear)
    assert model.graph.shapes[model.graph.output] == (7,)


def test_old_opset_clip_attributes(tmp_path):
    # opset 10: Clip takes min/max as attributes
    b = Builder((2, 6, 6), seed=3, opset=10)
    x = b.conv("input", 2, 4, pads=[1, 1, 1, 1])
    x = b.node("Clip", [x], min=0.0, max=0.5)
    x = b.node("Flatten", [x])
    proto = b.model(b.gemm(x, 4 * 6 * 6, 3))
    model = load_model(save(proto, tmp_path / "old.onnx"))
    clip = [n for n in model.graph.nodes if n.op == "clip"][0]
    assert (clip.attrs["lo"], clip.attrs["hi"]) == (0.0, 0.5)
    x = _inputs(model)
    ref = run_onnxruntime(proto, x)
    assert np.max(np.abs(model.forward(x) - ref)) <= 1e-4 * np.max(np.abs(ref))


def test_reshape_with_explicit_batch_minus_one(tmp_path):
    b = Builder((3, 4, 4), seed=4)
    x = b.relu(b.conv("input", 3, 5, pads=[1, 1, 1, 1]))
    x = b.node("Reshape", [x, b.const(np.array([-1, 80], np.int64))])
    proto = b.model(b.gemm(x, 80, 3))
    model = load_model(save(proto, tmp_path / "r.onnx"))
    x = _inputs(model)
    ref = run_onnxruntime(proto, x)
    assert np.max(np.abs(model.forward(x) - ref)) <= 1e-4 * np.max(np.abs(ref))


def test_model_attributes(tmp_path):
    meta = {"bfpdse.input_scale": "0.5", "bfpdse.mean": "0.1", "bfpdse.std": "[2.0]"}
    b = Builder((1, 4, 4))
    x = b.node("Flatten", [b.relu(b.conv("input", 1, 2, pads=[1, 1, 1, 1]))])
    proto = b.model(b.gemm(x, 32, 3), meta)
    path = save(proto, tmp_path / "attrs.onnx")
    model = load_model(str(path))
    assert model.name == "attrs"
    assert model.path == path
    assert model.version == hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    assert model.meta == meta
    assert model.input_shape == (1, 4, 4)
    assert model.input_scale == 0.5
    assert model.mean.tolist() == [0.1] and model.std.tolist() == [2.0]
    lo, hi = model.input_range()
    assert lo.tolist() == [pytest.approx(-0.05)] and hi.tolist() == [pytest.approx(63.7)]


def _expect(tmp_path, proto, *fragments):
    path = save(proto, tmp_path / "bad.onnx")
    with pytest.raises(ModelError) as info:
        load_model(path)
    msg = str(info.value)
    for fragment in fragments:
        assert fragment in msg, msg
    return msg


def test_unsupported_ops_are_all_listed_with_counts(tmp_path):
    b = Builder((1, 4, 4))
    x = b.node("LRN", [b.conv("input", 1, 2)], size=3)
    x = b.node("LRN", [x], size=3)
    x = b.node("Einsum", [x], equation="nchw->nchw")
    msg = _expect(tmp_path, b.model(x), str(tmp_path / "bad.onnx"), "2 unsupported op type(s)",
                  "LRN x2 (e.g. node 'lrn", "Einsum x1 (e.g. node 'einsum")  # fmt: skip
    assert msg.count("\n") == 0  # one line
    for op in SUPPORTED_OPS:
        assert op in msg


def test_shape_op_on_activation_data_is_refused(tmp_path):
    b = Builder((1, 4, 4))
    x = b.conv("input", 1, 2)
    x = b.node("Cast", [x], to=onnx.TensorProto.FLOAT16)
    _expect(tmp_path, b.model(x), "Cast", "only on constant inputs")


@pytest.mark.parametrize(
    "case, fragment",
    [
        ("transA", "transA=1"),
        ("act_matmul", "products of two activations"),
        ("batch_reshape", "batch dimension"),
        ("weight_input", "must be a constant"),
    ],
)
def test_unsupported_uses_of_supported_ops(tmp_path, case, fragment):
    b = Builder((1, 4, 4))
    x = b.relu(b.conv("input", 1, 2, pads=[1, 1, 1, 1]))
    if case == "transA":
        x = b.node("Flatten", [x])
        w = b.const(np.zeros((32, 3), np.float32))
        x = b.node("Gemm", [x, w], transA=1)
    elif case == "act_matmul":
        x = b.node("MatMul", [x, x])
    elif case == "batch_reshape":
        x = b.node("Reshape", [x, b.const(np.array([-1], np.int64))])
    else:
        x = b.node("Conv", [x, x], kernel_shape=[1, 1])
    _expect(tmp_path, b.model(x), fragment)


def test_missing_garbage_and_invalid_files(tmp_path):
    with pytest.raises(ModelError, match="no such model file"):
        load_model(tmp_path / "nope.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\xffnot a protobuf at all" * 10)
    with pytest.raises(ModelError, match="garbage.onnx"):
        load_model(garbage)
    # a node that reads a tensor nobody defines: the ONNX checker refuses it
    node = helper.make_node("Relu", ["undefined"], ["y"], name="r")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, ["N", 1, 2, 2])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
    )
    invalid = tmp_path / "invalid.onnx"
    onnx.save(helper.make_model(graph), str(invalid))
    with pytest.raises(ModelError, match="invalid.onnx: not a valid ONNX model"):
        load_model(invalid)
    with pytest.raises(ModelError, match="not a file"):
        load_model(tmp_path)


def test_unknown_zoo_name_lists_the_zoo():
    with pytest.raises(ModelError, match="zoo models: lenet5, resnet20"):
        load_model("resnet99")


def test_input_must_be_nchw_with_fixed_size(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Relu", ["input"], ["y"])],
        "g",
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, ["N", 1, "H", 4])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 1, "H", 4])],
    )
    path = tmp_path / "dyn.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(ModelError, match="fixed C, H and W"):
        load_model(path)


def test_constant_node_feeding_reshape(tmp_path):
    b = Builder((2, 3, 3))
    x = b.relu(b.conv("input", 2, 2, pads=[1, 1, 1, 1]))
    target = b.node("Constant", [], value=numpy_helper.from_array(np.array([0, 18], np.int64)))
    x = b.node("Reshape", [x, target])
    proto = b.model(b.gemm(x, 18, 2))
    model = load_model(save(proto, tmp_path / "c.onnx"))
    x = _inputs(model)
    ref = run_onnxruntime(proto, x)
    assert np.max(np.abs(model.forward(x) - ref)) <= 1e-4 * np.max(np.abs(ref))
