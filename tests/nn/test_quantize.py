"""Post-training quantization: config checks, weight and activation ranges, scales, signedness."""

from __future__ import annotations

import numpy as np
import pytest
from nn_builders import MODELS, Builder, save

from bfpdse.cim import CIMConfig
from bfpdse.errors import SpecError
from bfpdse.nn import QuantConfig, load_model
from bfpdse.nn.engine import Interpreter, run_graph
from bfpdse.nn.graph import fold_batchnorm
from bfpdse.nn.quantize import (
    act_qrange,
    exact_dtype,
    percentile_bound,
    quantize_activation,
    quantize_weights,
    topk_size,
)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("q")
    return {name: load_model(save(fn(), d / f"{name}.onnx")) for name, fn in MODELS.items()}


def _x(model, n=6, seed=2):
    pixels = np.random.default_rng(seed).integers(0, 256, (n, *model.input_shape))
    return (pixels * np.float32(model.input_scale)).astype(np.float32), pixels


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"act_scales": "max"}, "act_scales='max'"),
        ({"sigmas": 0}, "sigmas=0"),
        ({"sigmas": "6"}, "sigmas='6'"),
        ({"calib_samples": 0}, "calib_samples=0"),
        ({"calib_samples": 2.5}, "calib_samples=2.5"),
        ({"percentile": 100.5}, "percentile=100.5"),
        ({"percentile": float("nan")}, "percentile=nan"),
    ],
)
def test_quant_config_validates(kwargs, field):
    with pytest.raises(ValueError, match=field.replace("(", r"\(")):
        QuantConfig(**kwargs)


def test_quant_config_defaults_and_dict():
    q = QuantConfig()
    assert q.to_dict() == {
        "act_scales": "bn",
        "sigmas": q.sigmas,
        "calib_samples": q.calib_samples,
        "percentile": q.percentile,
    }
    assert QuantConfig(**q.to_dict()) == q


@pytest.mark.parametrize("bits", [2, 4, 8, 12])
def test_weights_per_channel_symmetric(bits):
    rng = np.random.default_rng(bits)
    w = rng.normal(0, 1, (40, 6)) * rng.uniform(0.01, 10, 6)  # very different column scales
    w[:, 5] = 0.0  # an all-zero channel
    w_int, scale = quantize_weights(w, bits)
    qmax = 2 ** (bits - 1) - 1
    assert w_int.dtype == np.int64
    assert np.abs(w_int).max() <= qmax
    # each nonzero column uses the full range, with its own scale
    assert np.all(np.abs(w_int[:, :5]).max(axis=0) == qmax)
    assert np.allclose(scale[:5], np.abs(w[:, :5]).max(axis=0) / qmax)
    assert np.all(w_int[:, 5] == 0)
    # rounding error at most half a step per channel
    assert np.all(np.abs(w_int * scale - w) <= scale / 2 + 1e-12)


def test_activation_ranges_and_rounding():
    x = np.array([-3.0, -0.5, 0.5, 1.5, 2.5, 300.0], np.float32)
    assert quantize_activation(x, 1.0, False, 8).tolist() == [0, 0, 0, 2, 2, 255]  # half even
    assert quantize_activation(x, 1.0, True, 8).tolist() == [-3, -0, 0, 2, 2, 127]
    assert act_qrange(4, True) == (-8, 7) and act_qrange(4, False) == (0, 15)
    assert quantize_activation(np.float32([-100]), 1.0, True, 4).tolist() == [-8]


def test_exact_dtype_bounds():
    assert exact_dtype(2**24 - 1) == np.float32
    assert exact_dtype(2**24) == np.float64
    assert exact_dtype(2**53 - 1) == np.float64
    assert exact_dtype(2**53) == np.int64


def test_network_input_quantizes_exactly(models):
    model = models["vgg"]
    qm = model.quantize(8, 8)
    scale, signed = qm.act[model.graph.input]
    assert not signed and scale == model.input_scale  # 1/255 exactly
    x, pixels = _x(model)
    assert np.array_equal(quantize_activation(x, scale, signed, 8), pixels)
    # fewer bits: the same [0, 1] range on a coarser grid
    s4, _ = model.quantize(8, 4).act[model.graph.input]
    assert s4 == pytest.approx(1.0 / 15)


def test_layer_scales_and_signedness(models):
    qm = models["vgg"].quantize(6, 8)
    for layer in qm.layers.values():
        assert not layer.in_signed  # every tensor follows a Relu or a pool of one
        assert np.abs(layer.w_int).max() == 31
        assert np.allclose(layer.mult, layer.in_scale * layer.w_scale)
        assert layer.in_scale == pytest.approx(qm.bounds[layer.input] / 255)
    # Clip(min=-1) and a normalising BN on the input leave signed tensors
    pc = models["pool_clip"].quantize(8, 8)
    assert [layer.in_signed for layer in pc.layers.values()] == [False, False, True, True]
    rm = models["reshape_matmul"].quantize(8, 8)
    signed = {layer.name: layer.in_signed for layer in rm.layers.values()}
    assert list(signed.values()) == [True, False, True]
    first = list(rm.layers.values())[0]
    assert first.in_scale == pytest.approx(rm.bounds[first.input] / 127)


def test_quantized_close_to_float_and_improves_with_bits(models):
    model = models["resnet"]
    x, _ = _x(model, n=8)
    ref = model.forward(x)
    errs = []
    for bits in (4, 6, 8):
        out = model.forward(x, "int", cim=CIMConfig(weight_bits=bits, input_bits=bits))
        errs.append(np.abs(out - ref).max() / np.abs(ref).max())
    assert errs[2] < 0.05
    assert errs[0] > errs[1] > errs[2]


def test_folded_graph_computes_the_same(models):
    model = models["resnet"]
    folded = fold_batchnorm(model.graph)
    assert "bn" not in [n.op for n in folded.nodes]
    assert all("bn" in n.attrs for n in folded.mvm_nodes() if n.op == "conv")
    x, _ = _x(model)
    a = run_graph(folded, x)
    b = model.forward(x)
    assert np.max(np.abs(a - b)) <= 1e-4 * np.max(np.abs(b))


def test_bn_bounds_follow_bn_statistics(models):
    model = models["resnet"]
    q = model.quantize(8, 8, QuantConfig(sigmas=3.0))
    folded = model.folded
    first = folded.mvm_nodes()[0]
    # the stem's output passes a Relu: its bound is max_c(rectified mean + 3 sd) <= beta + 3|gamma|
    stem_out = [n for n in folded.nodes if n.inputs == (first.output,)][0].output
    bn = first.attrs["bn"]
    assert 0 < q.bounds[stem_out] <= np.max(bn["beta"] + 3 * np.abs(bn["gamma"])) + 1e-9
    wider = model.quantize(8, 8, QuantConfig(sigmas=6.0))
    assert all(wider.bounds[t] >= q.bounds[t] for t in q.bounds)


def test_percentile_bound_is_nearest_rank():
    v = np.arange(1, 1001, dtype=np.float32)
    rng = np.random.default_rng(0)
    rng.shuffle(v)
    assert topk_size(1000, 100.0) == 1
    assert percentile_bound(v, 1000, 100.0) == 1000
    assert percentile_bound(v, 1000, 99.0) == 990  # k = floor(1000 * 0.01) + 1 = 11th largest
    k = topk_size(1000, 99.0)
    top = np.sort(v)[-k:]
    assert percentile_bound(top, 1000, 99.0) == 990


def test_calibrated_scales_use_activation_maxima(models):
    model = models["vgg"]
    calib, _ = _x(model, n=5, seed=7)
    qm = model.quantize(8, 8, QuantConfig(act_scales="calibrate", percentile=100.0), calib)
    # the largest value of each layer input on the calibration images, from a float run
    seen: dict[str, float] = {}
    interp = Interpreter(model.folded)

    def mvm(node, inp):
        seen[node.inputs[0]] = max(seen.get(node.inputs[0], 0.0), float(inp.max()))
        return interp.float_mvm(node, inp)

    interp.run(calib, mvm)
    for tensor, bound in qm.bounds.items():
        if tensor != model.graph.input:
            assert bound == pytest.approx(seen[tensor], rel=1e-6)
    with pytest.raises(SpecError, match="calib"):
        model.quantize(8, 8, QuantConfig(act_scales="calibrate"))


def test_quantized_model_is_cached(models):
    model = models["vgg"]
    assert model.quantize(8, 8) is model.quantize(8, 8, QuantConfig())
    assert model.quantize(8, 8) is not model.quantize(7, 8)


def test_signed_layer_needs_dac_bits_one(tmp_path):
    b = Builder((1, 5, 5))
    x = b.conv("input", 1, 3, pads=[1, 1, 1, 1])  # no Relu: the next conv reads signed values
    x = b.conv(x, 3, 2, pads=[1, 1, 1, 1])
    model = load_model(save(b.model(b.node("Flatten", [x])), tmp_path / "s.onnx"))
    x, _ = _x(model, n=2)
    model.forward(x, "int", cim=CIMConfig(dac_bits=2))  # no DAC in the int model: fine
    model.forward(x, "cim", cim=CIMConfig(dac_bits=1, adc="ideal"))
    second = model.graph.mvm_nodes()[1].name
    with pytest.raises(SpecError, match=f"layer '{second}'.*dac_bits=1"):
        model.forward(x, "cim", cim=CIMConfig(dac_bits=2, adc="ideal"))
