"""Expansion of a sweep file into design points: product, zip, exclude, collapse, --set."""

from pathlib import Path

import pytest

from bfpdse.errors import SpecError
from bfpdse.spec import load_spec, make_point

HEAD = "name: t\nmodel: lenet5\nsamples: 8\n"


def spec_file(tmp_path: Path, body: str, name: str = "t.yaml") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + body)
    return path


def values(spec, key):
    return [p.settings()[key] for p in spec.points]


def test_product_in_file_order_last_axis_fastest(tmp_path):
    spec = load_spec(
        spec_file(tmp_path, "sweep:\n  cim.adc: [rar, linear]\n  cim.adc_bits: [3, 4, 5]\n")
    )
    assert spec.counts.combinations == 6
    assert values(spec, "cim.adc") == ["rar"] * 3 + ["linear"] * 3
    assert values(spec, "cim.adc_bits") == [3, 4, 5, 3, 4, 5]
    assert len(set(spec.point_ids)) == 6
    # every point is the one make_point builds from its settings
    for p in spec.points:
        assert make_point(p.settings()) == p


def test_base_nested_and_dotted_are_the_same_spec(tmp_path):
    nested = spec_file(tmp_path, "base:\n  cim: {rows: 64, adc: rar}\n", "a.yaml")
    dotted = spec_file(tmp_path, "base: {cim.rows: 64, cim.adc: rar}\n# a comment\n", "b.yaml")
    a, b = load_spec(nested), load_spec(dotted)
    assert a.point_ids == b.point_ids
    assert a.spec_hash == b.spec_hash
    assert a.points[0].settings()["cim.rows"] == 64
    other = load_spec(spec_file(tmp_path, "base: {cim.rows: 128, cim.adc: rar}\n", "c.yaml"))
    assert other.spec_hash != a.spec_hash


def test_zip_moves_lists_together_and_multiplies_with_sweep(tmp_path):
    spec = load_spec(
        spec_file(
            tmp_path,
            "sweep:\n  cim.adc: [rar, bfp]\n"
            "zip:\n  - {cim.rows: [64, 128, 256], cim.cols: [32, 64, 128]}\n",
        )
    )
    assert spec.counts.combinations == 6
    pairs = [(p.settings()["cim.rows"], p.settings()["cim.cols"]) for p in spec.points]
    assert pairs == [(64, 32), (128, 64), (256, 128)] * 2


def test_exclude_drops_points_matching_every_key(tmp_path):
    spec = load_spec(
        spec_file(
            tmp_path,
            "sweep:\n  cim.adc: [linear, rar]\n  cim.adc_bits: [3, 4, 5]\n"
            "exclude:\n  - {cim.adc: linear, cim.adc_bits: [4, 5]}\n"
            "  - {cim.adc_bits: 3, cim.adc: rar}\n",
        )
    )
    kept = [(p.settings()["cim.adc"], p.settings()["cim.adc_bits"]) for p in spec.points]
    assert kept == [("linear", 3), ("rar", 4), ("rar", 5)]
    assert spec.counts.excluded == 3
    assert spec.warnings == ()


def test_exclude_can_drop_an_invalid_combination(tmp_path):
    body = "sweep:\n  cim.input_bits: [2, 8]\n  cim.dac_bits: [1, 4]\n"
    with pytest.raises(SpecError, match="combination"):
        load_spec(spec_file(tmp_path, body))
    spec = load_spec(
        spec_file(tmp_path, body + "exclude:\n  - {cim.input_bits: 2, cim.dac_bits: 4}\n")
    )
    assert len(spec.points) == 3


def test_exclude_that_matches_nothing_warns(tmp_path):
    spec = load_spec(
        spec_file(tmp_path, "sweep:\n  cim.adc: [rar]\nexclude:\n  - {cim.adc: rra}\n")
    )
    assert len(spec.points) == 1
    assert "exclude[0]" in spec.warnings[0]


def test_irrelevant_settings_collapse(tmp_path):
    # cim.block matters only for bfp; adc_bits does not matter for ideal
    spec = load_spec(
        spec_file(
            tmp_path,
            "sweep:\n  cim.adc: [ideal, rar, bfp]\n  cim.adc_bits: [4, 5]\n"
            "  cim.block: [4, 16, 64]\n",
        )
    )
    assert spec.counts.combinations == 18
    by_adc = {}
    for p in spec.points:
        by_adc.setdefault(p.settings()["cim.adc"], []).append(p)
    assert len(by_adc["ideal"]) == 1
    assert len(by_adc["rar"]) == 2
    assert len(by_adc["bfp"]) == 6
    assert spec.counts.collapsed == 18 - 9
    assert {p.settings()["cim.block"] for p in by_adc["rar"]} == {None}
    assert len(set(spec.point_ids)) == len(spec.points)


def test_expansion_is_deterministic(tmp_path):
    path = spec_file(tmp_path, "sweep:\n  cim.block: [8, 2]\n  cim.adc: [bfp, rar]\n")
    assert load_spec(path).point_ids == load_spec(path).point_ids


def test_single_point_without_sweep(tmp_path):
    spec = load_spec(spec_file(tmp_path, "base: {cim.adc: rar, cim.adc_bits: 4}\n"))
    assert len(spec.points) == 1
    assert spec.points[0].settings()["samples"] == 8


def test_set_overrides_base_and_pins_a_swept_axis(tmp_path):
    path = spec_file(
        tmp_path,
        "base: {cim.rows: 64}\nsweep:\n  cim.adc: [rar, bfp]\n  cim.adc_bits: [4, 5]\n",
    )
    spec = load_spec(path, ["cim.rows=256", "cim.adc_bits=6", "samples=2"])
    assert values(spec, "cim.rows") == [256, 256]
    assert values(spec, "cim.adc_bits") == [6, 6]
    assert values(spec, "samples") == [2, 2]
    assert spec.spec_hash != load_spec(path).spec_hash
    with pytest.raises(SpecError, match="unknown setting 'cim.rowz'.*did you mean 'cim.rows'"):
        load_spec(path, ["cim.rowz=3"])


def test_set_cannot_pin_one_key_of_a_zip_group(tmp_path):
    path = spec_file(tmp_path, "zip:\n  - {cim.rows: [64, 128], cim.cols: [64, 128]}\n")
    with pytest.raises(SpecError, match="--set cim.rows.*zip"):
        load_spec(path, ["cim.rows=256"])


@pytest.mark.parametrize("name", ["adc_bits", "array_size", "block_size", "input_bfp", "smoke"])
def test_shipped_sweeps_load(name):
    path = Path(__file__).parents[2] / "sweeps" / f"{name}.yaml"
    assert path.read_text().startswith("# Question:")
    spec = load_spec(path)
    assert spec.name == name
    assert spec.warnings == ()
    assert 1 <= len(spec.points) <= 30
