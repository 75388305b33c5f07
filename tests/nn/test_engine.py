"""The int and cim backends: exactness, reports, batching, calibrated windows, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from nn_builders import MODELS, save
from numpy.testing import assert_array_equal

from bfpdse.cim import CIMConfig, CIMStats, crossbar_mvm
from bfpdse.errors import DataError, SpecError
from bfpdse.nn import LayerReport, add_reports, load_model
from bfpdse.nn.engine import _exact_matmul, compact_dtype
from bfpdse.nn.quantize import exact_dtype


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("e")
    return {name: load_model(save(fn(), d / f"{name}.onnx")) for name, fn in MODELS.items()}


def _x(model, n=4, seed=3):
    pixels = np.random.default_rng(seed).integers(0, 256, (n, *model.input_shape))
    return (pixels * np.float32(model.input_scale)).astype(np.float32)


@pytest.mark.parametrize("name", ["resnet", "depthwise", "reshape_matmul", "pool_clip"])
def test_ideal_cim_equals_int_exactly(models, name):
    model = models[name]
    x = _x(model)
    # small arrays: several row tiles per layer; signed layers run with input_signed=True
    cfg = CIMConfig(adc="ideal", rows=16, cell_bits=3, weight_mapping="offset")
    ref = model.forward(x, "int", cim=cfg)
    out, reports = model.forward(x, "cim", cim=cfg, collect=True)
    assert_array_equal(out, ref)
    assert list(reports) == list(model.quantize().layers)
    for rep in reports.values():
        assert rep.noise_power == 0 and rep.sqnr_db == math.inf
        assert rep.signal_power > 0
        assert rep.stats.macs == rep.vectors * rep.k * rep.n * rep.groups
        assert rep.images == len(x)


def test_reports_count_layer_shapes(models):
    model = models["depthwise"]
    _, reports = model.forward(_x(model, n=2), "cim", cim=CIMConfig(adc="ideal"), collect=True)
    first, dw, grouped = list(reports.values())[:3]
    assert (first.k, first.n, first.groups, first.vectors) == (9 * 4, 8, 1, 2 * 11 * 11)
    assert (dw.k, dw.n, dw.groups) == (9, 1, 8)
    assert (grouped.k, grouped.n, grouped.groups, grouped.vectors) == (9 * 4, 4, 2, 2 * 6 * 11)
    assert dw.stats.vectors == dw.vectors * dw.groups


def test_lossy_adc_reports_noise_and_sums_over_batches(models):
    model = models["vgg"]
    x = _x(model, n=6)
    cfg = CIMConfig(adc="rar", adc_bits=3)
    out, whole = model.forward(x, "cim", cim=cfg, collect=True, batch_size=6)
    out2, parts = model.forward(x, "cim", cim=cfg, collect=True, batch_size=4)
    assert_array_equal(out, out2)  # rows are independent: batching changes nothing
    assert_array_equal(model.forward(x, "cim", cim=cfg), out)  # no reports: no statistics
    assert any(0 < rep.noise_power for rep in whole.values())
    for name, rep in whole.items():
        other = parts[name]
        assert other.vectors == rep.vectors and other.images == rep.images == 6
        assert other.stats.to_dict() == rep.stats.to_dict()
        assert other.signal_power == pytest.approx(rep.signal_power)
        assert other.noise_power == pytest.approx(rep.noise_power)
        if rep.noise_power:
            expected = 10 * math.log10(rep.signal_power / rep.noise_power)
            assert rep.sqnr_db == pytest.approx(expected)
    summed = add_reports(whole, whole)
    first = next(iter(summed))
    assert summed[first].vectors == 2 * whole[first].vectors


def test_layer_report_noise_matches_direct_call(models):
    # the noise of the first layer equals that of crossbar_mvm on the same integer inputs
    model = models["vgg"]
    x = _x(model, n=2)
    cfg = CIMConfig(adc="bfp", adc_bits=3, block=4)
    _, reports = model.forward(x, "cim", cim=cfg, collect=True)
    qm = model.quantize(8, 8)
    layer = next(iter(qm.layers.values()))
    from bfpdse.nn.engine import _layer_cols
    from bfpdse.nn.ops import from_onnx_layout
    from bfpdse.nn.quantize import quantize_activation

    q = quantize_activation(from_onnx_layout(x), layer.in_scale, False, 8).astype(np.int64)
    cols, _ = _layer_cols(layer, q)
    y, stats = crossbar_mvm(cols[0], layer.w_int[0], cfg, return_stats=True)
    ideal = cols[0] @ layer.w_int[0]
    rep = reports[layer.name]
    assert rep.noise_power == float(((y - ideal) ** 2).sum())
    assert rep.signal_power == float((ideal**2).sum())
    assert rep.stats.to_dict() == stats.to_dict()


def test_layer_report_add_and_sqnr():
    a = LayerReport("l", 4, 2, 1, 10, 1, CIMStats(vectors=10), 100.0, 1.0)
    b = LayerReport("l", 4, 2, 1, 5, 1, CIMStats(vectors=5), 100.0, 0.0)
    s = a + b
    assert (s.vectors, s.images, s.stats.vectors) == (15, 2, 15)
    assert s.sqnr_db == pytest.approx(10 * math.log10(200.0))
    assert b.sqnr_db == math.inf
    with pytest.raises(ValueError):
        a + LayerReport("m", 4, 2, 1, 1, 1, CIMStats())


def test_exact_matmul_near_the_float_limits():
    rng = np.random.default_rng(0)
    # 16-bit inputs and weights: bounds far above 2^24, below 2^53 -> float64 BLAS, exact
    x = rng.integers(0, 2**16, (1, 7, 300))
    w = rng.integers(-(2**15) + 1, 2**15, (1, 300, 5))
    bound = 300 * (2**16 - 1) * (2**15 - 1)
    dtype = exact_dtype(bound)
    assert dtype == np.float64
    acc = _exact_matmul(x, w.astype(dtype))
    assert_array_equal(acc.astype(np.int64), x[0] @ w[0])
    # the float32 limit: sums up to 2^24 - 1
    x8 = np.full((1, 2, 258), 255)
    w8 = np.full((1, 258, 3), 255)
    assert exact_dtype(258 * 255 * 255) == np.float32
    assert_array_equal(_exact_matmul(x8, w8.astype(np.float32)), x8[0] @ w8[0])


def test_int_backend_is_exact_integer_arithmetic(models):
    # the int logits are dequantized exact integer accumulators: recompute layer 1 by hand
    model = models["vgg"]
    qm = model.quantize(8, 8)
    for layer in qm.layers.values():
        assert layer.acc_bound == layer.k * 255 * 127
        assert layer.w_blas.dtype == exact_dtype(layer.acc_bound)
    assert compact_dtype(8, False) == np.uint8 and compact_dtype(8, True) == np.int8
    assert compact_dtype(12, True) == np.int16


def test_calibrated_windows(models):
    model = models["resnet"]
    calib = _x(model, n=3, seed=9)
    cfg = CIMConfig(adc="calibrated", adc_bits=3, rows=32)
    windows = model.calibrate_windows(calib, cfg, max_vectors=50)
    assert set(windows) == set(model.quantize().layers)
    top = cfg.full_bits - cfg.adc_bits
    assert all(0 <= k <= top for k in windows.values())
    x = _x(model)
    out = model.forward(x, "cim", cim=cfg, windows=windows)
    assert out.shape == (4, 10)
    with pytest.raises(SpecError, match="needs an ADC window for layer"):
        model.forward(x, "cim", cim=cfg)
    # the same calibration data gives the same windows
    assert model.calibrate_windows(calib, cfg, max_vectors=50) == windows


def test_progress_and_batches(models):
    model = models["vgg"]
    x = _x(model, n=5)
    calls = []
    out = model.forward(
        x, "int", batch_size=2, progress=lambda done, total: calls.append((done, total))
    )
    assert calls == [(2, 5), (4, 5), (5, 5)]
    assert_array_equal(out, model.forward(x, "int", batch_size=5))


def test_forward_errors(models):
    model = models["vgg"]
    with pytest.raises(DataError, match=r"expects images of shape \(n, 3, 12, 12\)"):
        model.forward(np.zeros((2, 1, 12, 12), np.float32))
    with pytest.raises(SpecError, match="backend='gpu'"):
        model.forward(_x(model), "gpu")
    with pytest.raises(ValueError, match="collect=True needs backend='cim'"):
        model.forward(_x(model), "int", collect=True)


def test_model_classes_is_its_output_width(models):
    for model in models.values():
        x = np.zeros((1, *model.input_shape), np.float32)
        assert model.classes == model.forward(x).shape[1]


@pytest.mark.parametrize("adc", ["bfp", "calibrated"])
def test_grouped_layers_equal_one_crossbar_call_per_group(models, adc):
    # depthwise and grouped convs run as one crossbar pass over their groups: the report (counts,
    # signal and noise floats) is that of one crossbar_mvm call per group on the same inputs
    from bfpdse.nn.engine import _QuantRunner, window_keys

    model = models["depthwise"]
    x = _x(model, n=3)
    cfg = CIMConfig(adc=adc, adc_bits=3, rows=16)
    windows = model.calibrate_windows(_x(model, n=2, seed=9), cfg) if adc == "calibrated" else None
    _, reports = model.forward(x, "cim", cim=cfg, windows=windows, collect=True)
    runner = _QuantRunner(model.quantize(8, 8), cfg, windows, True)
    inputs = {}
    run_layer = runner._cim_matmul

    def spy(layer, cols, images):
        inputs[layer.name] = cols.copy()
        return run_layer(layer, cols, images)

    runner._cim_matmul = spy
    runner.run(x)
    grouped = [layer for layer in runner.qm.layers.values() if layer.groups > 1]
    assert len(grouped) == 2
    for layer in grouped:
        cols = inputs[layer.name]
        total, signal, noise = CIMStats(), 0.0, 0.0
        for g, key in enumerate(window_keys(layer)):
            kw = {"window": windows[key]} if windows else {}
            y, st = crossbar_mvm(cols[g], layer.w_int[g], runner.cfgs[layer.name],
                                 return_stats=True, **kw)  # fmt: skip
            total = total + st
            ideal = _exact_matmul(cols[g : g + 1], layer.w_blas[g : g + 1])
            signal += float(np.einsum("ij,ij->", ideal, ideal))
            ideal -= y.astype(np.float64)
            noise += float(np.einsum("ij,ij->", ideal, ideal))
        rep = reports[layer.name]
        assert rep.stats.to_dict() == total.to_dict()
        assert (rep.signal_power, rep.noise_power) == (signal, noise)
        assert noise > 0  # a lossy ADC: the comparison is not between two zeros
