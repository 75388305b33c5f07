"""Per-layer settings ``cim.layers.<layer>.<field>``: one layer's crossbar of its own.

lenet5 (the shipped zoo model) has 5 CIM layers, L00 … L04; 16 images keep each run short.
"""

from __future__ import annotations

import pytest
from cli.helpers import run_main

from bfpdse.errors import SpecError
from bfpdse.evaluate import check_inputs, cim_pass, evaluate
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


def test_every_layer_set_alike_is_the_uniform_design() -> None:
    """Base 5 bits with each layer set to 3 gives the numbers of uniform 3 bits, bit for bit."""
    uniform = evaluate(make_point({**BASE, "cim.adc_bits": 3}))
    each = {f"cim.layers.{name}.adc_bits": 3 for name in LAYERS}
    layered = evaluate(make_point({**BASE, **each}))
    assert _numbers(layered) == _numbers(uniform)


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
        ("cim.layers.L01.weight_bits", "network-wide"),
        ("cim.layers.L01.adcbits", "did you mean cim.layers.L01.adc_bits"),
    ],
)
def test_bad_per_layer_keys_are_named(key: str, words: str) -> None:
    with pytest.raises(SpecError, match=words):
        make_point({**BASE, key: 3})


def test_run_refuses_an_unknown_layer_with_exit_2(monkeypatch, capsys, tmp_path) -> None:
    code, out = run_main(
        monkeypatch, capsys, "run", "--model", "lenet5", "--samples", "4",
        "--set", "cim.layers.L09.adc_bits=3",
    )  # fmt: skip
    assert code == 2
    assert "no layer 'L09'" in out.err + out.out and "Traceback" not in out.err
