"""Small ONNX models with random weights, built with onnx.helper, for the nn tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class Builder:
    """Append nodes to a graph with one float input (N, C, H, W); returns tensor names."""

    def __init__(self, shape=(1, 8, 8), seed: int = 0, opset: int = 17) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.shape = shape
        self.opset = opset
        self.count = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def const(self, value, prefix: str = "c") -> str:
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs, n_out: int = 1, **attrs) -> str | list[str]:
        outs = [self.name(op.lower() + "_out") for _ in range(n_out)]
        self.nodes.append(
            helper.make_node(op, list(inputs), outs, name=self.name(op.lower()), **attrs)
        )
        return outs[0] if n_out == 1 else outs

    def conv(self, x, cin, cout, k=3, bias=True, groups=1, **attrs) -> str:
        w = self.rng.normal(0, (2.0 / (cin // groups * k * k)) ** 0.5, (cout, cin // groups, k, k))
        ins = [x, self.const(w.astype(np.float32), "w")]
        if bias:
            ins.append(self.const(self.rng.normal(0, 0.1, cout).astype(np.float32), "b"))
        return self.node("Conv", ins, kernel_shape=[k, k], group=groups, **attrs)

    def bn(self, x, c) -> str:
        r = self.rng
        params = [
            r.uniform(0.5, 1.5, c),
            r.normal(0, 0.2, c),
            r.normal(0, 0.2, c),
            r.uniform(0.5, 2.0, c),
        ]
        names = [self.const(p.astype(np.float32), "bn") for p in params]
        return self.node("BatchNormalization", [x, *names], epsilon=1e-5)

    def relu(self, x) -> str:
        return self.node("Relu", [x])

    def gemm(self, x, k, n, **attrs) -> str:
        trans = attrs.get("transB", 0)
        w = self.rng.normal(0, (1.0 / k) ** 0.5, (n, k) if trans else (k, n)).astype(np.float32)
        b = self.rng.normal(0, 0.1, n).astype(np.float32)
        return self.node("Gemm", [x, self.const(w, "w"), self.const(b, "b")], **attrs)

    def model(self, out: str, meta: dict[str, str] | None = None) -> onnx.ModelProto:
        inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *self.shape])
        outp = helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", None])
        graph = helper.make_graph(self.nodes, "test", [inp], [outp], initializer=self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        model.ir_version = 8 if self.opset <= 17 else 9 if self.opset <= 20 else 10
        for key, value in (meta or {}).items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(model)
        return model


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


def vgg(seed: int = 0) -> onnx.ModelProto:
    """Conv-ReLU-Conv-ReLU-MaxPool, twice; Flatten; Gemm-ReLU-Gemm."""
    b = Builder((3, 12, 12), seed)
    x = b.relu(b.conv("input", 3, 8, pads=[1, 1, 1, 1]))
    x = b.relu(b.conv(x, 8, 8, pads=[1, 1, 1, 1]))
    x = b.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.relu(b.conv(x, 8, 16, pads=[1, 1, 1, 1]))
    x = b.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.node("Flatten", [x], axis=1)
    x = b.relu(b.gemm(x, 16 * 3 * 3, 32, transB=1))
    return b.model(b.gemm(x, 32, 10, transB=1))


def resnet(seed: int = 0) -> onnx.ModelProto:
    """Stem, an identity block, a strided block with a 1x1 shortcut; BN kept; GAP; Gemm."""
    b = Builder((1, 10, 10), seed)
    x = b.relu(b.bn(b.conv("input", 1, 8, bias=False, pads=[1, 1, 1, 1]), 8))
    # identity block
    y = b.relu(b.bn(b.conv(x, 8, 8, bias=False, pads=[1, 1, 1, 1]), 8))
    y = b.bn(b.conv(y, 8, 8, bias=False, pads=[1, 1, 1, 1]), 8)
    x = b.relu(b.node("Add", [y, x]))
    # downsampling block
    y = b.relu(b.bn(b.conv(x, 8, 16, bias=False, pads=[1, 1, 1, 1], strides=[2, 2]), 16))
    y = b.bn(b.conv(y, 16, 16, bias=False, pads=[1, 1, 1, 1]), 16)
    s = b.bn(b.conv(x, 8, 16, k=1, bias=False, strides=[2, 2]), 16)
    x = b.relu(b.node("Add", [y, s]))
    x = b.node("GlobalAveragePool", [x])
    x = b.node("Flatten", [x])
    return b.model(b.gemm(x, 16, 10, transB=1))


def depthwise(seed: int = 0) -> onnx.ModelProto:
    """Dilated conv, depthwise conv, grouped conv, strided pointwise conv, SAME padding."""
    b = Builder((4, 11, 11), seed)
    x = b.relu(b.conv("input", 4, 8, pads=[2, 2, 2, 2], dilations=[2, 2]))
    x = b.relu(b.conv(x, 8, 8, groups=8, pads=[1, 1, 1, 1]))  # depthwise
    x = b.relu(b.conv(x, 8, 8, groups=2, pads=[1, 0, 1, 2], strides=[2, 1]))  # grouped
    x = b.relu(b.conv(x, 8, 12, k=1, strides=[2, 2]))
    x = b.relu(b.conv(x, 12, 12, k=3, auto_pad="SAME_UPPER", strides=[2, 2]))
    x = b.node("GlobalAveragePool", [x])
    x = b.node("Flatten", [x])
    return b.model(b.gemm(x, 12, 5, transB=1, alpha=0.5, beta=2.0))


def reshape_matmul(seed: int = 0) -> onnx.ModelProto:
    """BN kept (after conv and on its own), the PyTorch flatten sub-graph, MatMul + Add."""
    b = Builder((2, 8, 8), seed)
    x = b.bn("input", 2)  # BN on the input: not after a conv, stays a node
    x = b.relu(b.bn(b.conv(x, 2, 6, pads=[1, 1, 1, 1]), 6))
    x = b.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    shape = b.node("Shape", [x])
    batch = b.node("Gather", [shape, b.const(np.array(0, np.int64))], axis=0)
    batch = b.node("Unsqueeze", [batch, b.const(np.array([0], np.int64))])
    minus1 = b.node("Constant", [], value=numpy_helper.from_array(np.array([-1], np.int64)))
    target = b.node("Concat", [batch, minus1], axis=0)
    x = b.node("Reshape", [x, target])
    w = b.rng.normal(0, 0.2, (6 * 4 * 4, 20)).astype(np.float32)
    x = b.node("MatMul", [x, b.const(w, "w")])
    x = b.node("Add", [x, b.const(b.rng.normal(0, 0.1, 20).astype(np.float32), "b")])
    x = b.relu(x)
    x = b.bn(x, 20)  # BatchNorm1d after a ReLU: kept as a node
    w2 = b.rng.normal(0, 0.3, (20, 7)).astype(np.float32)
    x = b.node("MatMul", [x, b.const(w2, "w")])
    x = b.node("Add", [b.const(b.rng.normal(0, 0.1, (1, 7)).astype(np.float32), "b"), x])
    return b.model(x)


def pool_clip(seed: int = 0) -> onnx.ModelProto:
    """AveragePool (count_include_pad both ways, ceil mode), Clip (ReLU6), Identity, Dropout."""
    b = Builder((3, 9, 9), seed)
    x = b.conv("input", 3, 6, pads=[1, 1, 1, 1])
    lo, hi = b.const(np.array(0.0, np.float32)), b.const(np.array(6.0, np.float32))
    x = b.node("Clip", [x, lo, hi])
    x = b.node("AveragePool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
               count_include_pad=1)  # fmt: skip
    x = b.node("Identity", [x])
    x = b.conv(x, 6, 6, pads=[1, 1, 1, 1])
    x = b.node("Clip", [x, b.const(np.array(-1.0, np.float32))])  # min only: signed output
    x = b.node("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1],
               ceil_mode=1)  # fmt: skip
    x = b.node("Dropout", [x])
    x = b.conv(x, 6, 8, k=2)
    x = b.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)
    x = b.node("Flatten", [x])
    return b.model(b.gemm(x, 8, 4))


MODELS = {
    "vgg": vgg,
    "resnet": resnet,
    "depthwise": depthwise,
    "reshape_matmul": reshape_matmul,
    "pool_clip": pool_clip,
}


def run_onnxruntime(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]
