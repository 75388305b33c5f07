"""Per-layer settings ``cim.layers.<layer>.<field>``: one layer's crossbar of its own.

lenet5 (the shipped zoo model) has 5 CIM layers, L00 … L04; 16 images keep each run short.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from cli.helpers import run_main

from bfpdse.cim import CIMConfig
from bfpdse.data import load_dataset
from bfpdse.errors import SpecError
from bfpdse.evaluate import (
    check_inputs,
    cim_pass,
    evaluate,
    reference_key,
    run_cim_pass,
    run_reference,
)
from bfpdse.nn import load_model
from bfpdse.nn.graph import layer_index_names
from bfpdse.spec.point import make_point

BASE = {"model": "lenet5", "samples": 16, "cim.adc": "bfp", "cim.adc_bits": 5}
LAYERS = [f"L{i:02d}" for i in range(5)]
#: what differs between two points that are the same design: their ids and timings
NOT_NUMBERS = ("wall_s", "cim_pass_s", "cim_pass_id", "calib_s")


def _numbers(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in NOT_NUMBERS}


def _reports(settings: dict) -> dict:
    _, run, _ = cim_pass(make_point(settings))
    return {r.name: r for r in run.reports.values()}


def _same_runs(layered, uniform) -> None:
    """The network runs themselves (not shared through the cache) agree bit for bit."""
    a, b = run_cim_pass(layered), run_cim_pass(uniform)
    assert np.array_equal(a.correct, b.correct)
    assert [r.stats.to_dict() for r in a.reports.values()] == [
        r.stats.to_dict() for r in b.reports.values()
    ]
    assert [r.noise_power for r in a.reports.values()] == [
        r.noise_power for r in b.reports.values()
    ]
    ra, rb = run_reference(layered), run_reference(uniform)
    assert np.array_equal(ra.ideal_correct, rb.ideal_correct)


def test_every_layer_set_alike_is_the_uniform_design() -> None:
    """Base 5 bits with each layer set to 3 gives the numbers of uniform 3 bits, bit for bit."""
    uniform_settings = {**BASE, "cim.adc_bits": 3}
    uniform = evaluate(make_point(uniform_settings))
    each = {f"cim.layers.{name}.adc_bits": 3 for name in LAYERS}
    layered = evaluate(make_point({**BASE, **each}))
    assert _numbers(layered) == _numbers(uniform)  # priced layer by layer alike
    _same_runs(make_point({**BASE, **each}), make_point(uniform_settings))


def test_a_design_written_layer_by_layer_shares_the_uniform_work() -> None:
    """Every layer at 3 bits is the uniform 3-bit design: its own point id, but the uniform
    design's CIM pass (reused, not run again) and reference."""
    uniform = make_point({**BASE, "cim.adc_bits": 3})
    each = make_point({**BASE, **{f"cim.layers.{n}.adc_bits": 3 for n in LAYERS}})
    assert each.point_id != uniform.point_id
    first, _, _ = cim_pass(uniform)
    again, _, reused = cim_pass(each)
    assert again == first and reused
    assert reference_key(each) == reference_key(uniform)


def test_the_uniform_form_moves_only_what_every_layer_shares() -> None:
    names = LAYERS
    part = make_point({**BASE, **{f"cim.layers.{n}.adc_bits": 3 for n in names[:4]}})
    assert part.uniform_form(names) is part  # L04 keeps the base's 5 bits
    mixed = {f"cim.layers.{n}.adc_bits": 3 for n in names} | {"cim.layers.L04.rows": 64}
    form = make_point({**BASE, **mixed}).uniform_form(names)
    assert form.cim.adc_bits == 3 and form.layers == (("L04", (("rows", 64),)),)
    assert form.layer_cims()["L04"] == make_point({**BASE, **mixed}).layer_cims()["L04"]


def test_a_layer_set_to_the_uniform_value_is_the_uniform_point() -> None:
    a = make_point({**BASE, "cim.layers.L02.adc_bits": 5, "cim.layers.L03.block": 8})
    assert a.layers == () and a.point_id == make_point(BASE).point_id


def test_one_layer_changes_only_its_layer() -> None:
    """L02 at 3 bits: L00 and L01 (before it) run exactly as in the uniform design; L02 does not."""
    uniform = _reports(BASE)
    changed = _reports({**BASE, "cim.layers.L02.adc_bits": 3})
    names = list(uniform)
    for name in names[:2]:
        assert changed[name].stats.to_dict() == uniform[name].stats.to_dict()
        assert changed[name].noise_power == uniform[name].noise_power
    assert changed[names[2]].stats.to_dict() != uniform[names[2]].stats.to_dict()
    assert changed[names[2]].sqnr_db < uniform[names[2]].sqnr_db


def test_per_layer_keys_are_result_columns_and_priced_per_layer() -> None:
    """A layer on 64-row arrays needs more arrays than on 128 rows: the area says so."""
    point = make_point({**BASE, "cim.layers.L03.rows": 64})
    assert point.settings()["cim.layers.L03.rows"] == 64
    assert evaluate(point)["area_mm2"] > evaluate(make_point(BASE))["area_mm2"]


def test_a_calibrated_layer_in_a_bfp_network_gets_its_windows() -> None:
    record = evaluate(make_point({**BASE, "cim.layers.L04.adc": "calibrated"}))
    assert record["calib_samples"] > 0 and 0 <= record["accuracy"] <= 1


def test_an_unknown_layer_is_an_error_listing_the_layers() -> None:
    with pytest.raises(SpecError, match=r"has no layer 'L07'; its layers are L00 \(.*L04"):
        check_inputs(make_point({**BASE, "cim.layers.L07.adc_bits": 3}))


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("cim.layers.conv1.adc_bits", "is not a layer name"),
        ("cim.layers.L01.input_signed", "follows the sign of its input tensor"),
        ("cim.layers.L01.adcbits", "did you mean cim.layers.L01.adc_bits"),
    ],
)
def test_bad_per_layer_keys_are_named(key: str, words: str) -> None:
    with pytest.raises(SpecError, match=words):
        make_point({**BASE, key: 3})


# ------------------------------------------------------------------------ mixed precision


def test_every_layer_at_the_same_widths_is_the_uniform_design() -> None:
    """Base 8/8 bits with each layer set to 6-bit weights and 5-bit inputs gives uniform 6/5's
    numbers bit for bit (accuracy, ideal accuracy, SQNR, energy, area)."""
    uniform_settings = {**BASE, "cim.weight_bits": 6, "cim.input_bits": 5}
    uniform = evaluate(make_point(uniform_settings))
    each = {
        f"cim.layers.{n}.{f}": v for n in LAYERS for f, v in (("weight_bits", 6), ("input_bits", 5))
    }
    layered = evaluate(make_point({**BASE, **each}))
    assert _numbers(layered) == _numbers(uniform)  # priced layer by layer alike
    _same_runs(make_point({**BASE, **each}), make_point(uniform_settings))
    assert uniform["accuracy"] != evaluate(make_point(BASE))["accuracy"] or (
        uniform["sqnr_db"] != evaluate(make_point(BASE))["sqnr_db"]
    )


def test_one_layer_at_other_widths_changes_only_from_that_layer_on() -> None:
    """L02 at 4-bit weights and inputs: L00 and L01 are untouched, L02's error grows, and the
    ideal-ADC (integer) reference is that of the mixed-precision model."""
    uniform = _reports(BASE)
    mixed = {**BASE, "cim.layers.L02.weight_bits": 4, "cim.layers.L02.input_bits": 4}
    changed = _reports(mixed)
    names = list(uniform)
    for name in names[:2]:
        assert changed[name].stats.to_dict() == uniform[name].stats.to_dict()
        assert changed[name].signal_power == uniform[name].signal_power
    # fewer input planes and weight slices: fewer conversions in that layer
    assert changed[names[2]].stats.conversions_dense < uniform[names[2]].stats.conversions_dense
    assert reference_key(make_point(mixed)) != reference_key(make_point(BASE))


def test_a_layer_quantizes_its_weights_and_input_at_its_own_widths() -> None:
    model = load_model("lenet5")
    cim = CIMConfig()
    own = {"L02": replace(cim, weight_bits=4, input_bits=3)}
    qm = model.quantize(8, 8, layer_bits=model.layer_bits(cim, own))
    flat = model.quantize(8, 8)
    (n0, n1, n2, *_) = qm.layers
    layer, plain = qm.layers[n2], flat.layers[n2]
    assert (layer.weight_bits, layer.input_bits) == (4, 3)
    assert np.abs(layer.w_int).max() == 7 and np.abs(plain.w_int).max() == 127
    top3, top8 = (3, 127) if layer.in_signed else (7, 255)
    assert layer.in_scale == pytest.approx(plain.in_scale * top8 / top3)
    for name in (n0, n1):
        assert np.array_equal(qm.layers[name].w_int, flat.layers[name].w_int)
    # the ideal-ADC crossbar reads exactly the integers the int backend multiplies
    x = load_dataset("fashion-mnist", model=model, samples=8).x
    ideal = replace(cim, adc="ideal")
    a = model.forward(x, "int", cim=cim, layer_cims=own)
    b = model.forward(x, "cim", cim=ideal, layer_cims={"L02": replace(ideal, **_widths(own))})
    assert np.array_equal(a, b)
    assert not np.array_equal(a, model.forward(x, "int", cim=cim))


def _widths(own: dict) -> dict:
    return {"weight_bits": own["L02"].weight_bits, "input_bits": own["L02"].input_bits}


def test_a_tensor_read_at_two_widths_gets_a_scale_per_width() -> None:
    """resnet20's block inputs feed two layers (a residual block's conv and its shortcut):
    one of them at 4-bit inputs quantizes its own copy; the other keeps 8 bits."""
    model = load_model("resnet20")
    qm0 = model.quantize(8, 8)
    index = layer_index_names(qm0.graph)
    readers: dict[str, list[str]] = {}
    for name, layer in qm0.layers.items():
        readers.setdefault(layer.input, []).append(name)
    shared = next(names for names in readers.values() if len(names) > 1)
    cim = CIMConfig()
    own = {index[shared[0]]: replace(cim, input_bits=4)}
    qm = model.quantize(8, 8, layer_bits=model.layer_bits(cim, own))
    a, b = qm.layers[shared[0]], qm.layers[shared[1]]
    assert a.input == b.input and a.in_scale == pytest.approx(b.in_scale * 255 / 15)
    x = load_dataset("fashion-mnist", model=model, samples=2).x
    ideal = replace(cim, adc="ideal")
    logits = model.forward(x, "int", cim=cim, layer_cims=own)
    same = model.forward(
        x, "cim", cim=ideal, layer_cims={k: replace(ideal, input_bits=4) for k in own}
    )
    assert np.array_equal(logits, same)


def test_per_layer_weight_bits_are_priced_on_that_layer() -> None:
    """4-bit weights in L03 need half the slices of 8-bit ones: less area than uniform 8 bits."""
    assert (
        evaluate(make_point({**BASE, "cim.layers.L03.weight_bits": 4}))["area_mm2"]
        < (evaluate(make_point(BASE))["area_mm2"])
    )


def test_run_refuses_an_unknown_layer_with_exit_2(monkeypatch, capsys, tmp_path) -> None:
    code, out = run_main(
        monkeypatch, capsys, "run", "--model", "lenet5", "--samples", "4",
        "--set", "cim.layers.L09.adc_bits=3",
    )  # fmt: skip
    assert code == 2
    assert "no layer 'L09'" in out.err + out.out and "Traceback" not in out.err
