"""Expansion of a sweep file into design points: product, zip, exclude, collapse, --set."""

import itertools
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


SHIPPED = ["adc_bits", "array_size", "block_size", "input_bfp", "smoke", "noise", "noise_ties"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_sweeps_load(name):
    path = Path(__file__).parents[2] / "sweeps" / f"{name}.yaml"
    assert path.read_text().startswith("# Question:")
    spec = load_spec(path)
    assert spec.name == name
    assert spec.warnings == ()
    assert 1 <= len(spec.points) <= 30


@pytest.mark.parametrize(("name", "points", "noisy"), [("noise", 30, 25), ("noise_ties", 4, 2)])
def test_shipped_noise_sweeps_expand_with_their_trials(name, points, noisy):
    spec = load_spec(Path(__file__).parents[2] / "sweeps" / f"{name}.yaml")
    assert len(spec.points) == points
    on = [p for p in spec.points if not p.noise.off]
    assert len(on) == noisy
    assert {p.noise.trials for p in on} == {2}  # noiseless points collapse to one trial
    assert {p.noise.trials for p in spec.points if p.noise.off} == {1}


def _random_sweep(rng):
    """Axes (some zipped) and exclude entries over keys that collapse, fail and cross sections."""
    from bfpdse.spec.schema import Axis

    choices = {
        "cim.adc": ["ideal", "linear", "calibrated", "rar", "bfp"],
        "cim.adc_bits": [3, 4, 9, None],
        "cim.block": [4, 8],
        "cim.rows": [64, 128],
        "cim.input_bits": [2, 8],
        "cim.dac_bits": [1, 4],  # 4 with input_bits 2 is invalid
        "quant.act_scales": ["bn", "calibrate"],
        "quant.calib_samples": [256, 512],  # collapses unless calibrate or cim.adc=calibrated
        "energy.tech_node_nm": [22, 32],
        "seed": [0, 1],
    }
    axes = []
    for key in rng.sample(list(choices), rng.randint(1, 5)):
        vals = rng.sample(choices[key], rng.randint(1, len(choices[key])))
        axes.append(Axis("sweep", (key,), tuple((v,) for v in vals), tuple((0,) for _ in vals)))
    if len(axes) >= 2 and rng.random() < 0.3:
        a, b = axes[:2]
        n = min(len(a.rows), len(b.rows))
        rows = tuple(a.rows[i] + b.rows[i] for i in range(n))
        axes = [Axis("zip[0]", a.keys + b.keys, rows, ((0, 0),) * n), *axes[2:]]
    exclude = [
        {k: rng.choice(choices[k]) for k in rng.sample(list(choices), rng.randint(1, 2))}
        for _ in range(rng.randint(0, 2))
    ]
    return axes, exclude


def _naive_expand(base, axes, exclude):
    """Every combination built and compared in full: the reference of expand and count."""
    from bfpdse.spec.expand import _matches

    ids, combos, excluded, collapsed, used = [], 0, 0, 0, set()
    for steps in itertools.product(*(range(len(a.rows)) for a in axes)):
        combos += 1
        settings = dict(base)
        for axis, step in zip(axes, steps, strict=True):
            settings.update(axis.assign(step))
        try:
            point = make_point(settings)
        except SpecError:
            point = None
        values = point.settings() if point is not None else settings
        hits = {i for i, entry in enumerate(exclude) if _matches(entry, values)}
        used |= hits
        if hits:
            excluded += 1
        elif point is None:
            return "error"
        elif point.point_id in ids:
            collapsed += 1
        else:
            ids.append(point.point_id)
    return ids, (combos, excluded, collapsed), sorted(set(range(len(exclude))) - used)


def test_expand_and_count_equal_the_naive_expansion():
    import random

    from bfpdse.spec.expand import count, expand

    rng = random.Random(1)
    seen = set()
    for _ in range(120):
        axes, exclude = _random_sweep(rng)
        base = {"model": "lenet5"}
        want = _naive_expand(base, axes, exclude)
        if want == "error" or not want[0]:
            with pytest.raises(SpecError):
                expand(base, axes, exclude)
            with pytest.raises(SpecError):
                count(base, axes, exclude)
            seen.add("error")
            continue
        points, counts, warnings = expand(base, axes, exclude)
        again, warned = count(base, axes, exclude)
        got = (counts.combinations, counts.excluded, counts.collapsed)
        assert ([p.point_id for p in points], got) == want[:2], (axes, exclude)
        assert again == counts and warned == warnings
        assert [int(w.split("exclude[")[1].split("]")[0]) for w in warnings] == want[2]
        seen.add("excluded" if counts.excluded else "collapsed" if counts.collapsed else "plain")
    assert seen == {"error", "excluded", "collapsed", "plain"}  # every case was tried


def test_a_large_sweep_is_counted_without_building_its_points(tmp_path, monkeypatch):
    import importlib

    expand_module = importlib.import_module("bfpdse.spec.expand")  # the package exports a function
    built = []
    real = expand_module.make_point
    monkeypatch.setattr(expand_module, "make_point", lambda s: built.append(1) or real(s))
    path = spec_file(
        tmp_path,
        "sweep:\n  cim.adc: [linear, rar, bfp]\n  cim.adc_bits: [3, 4, 5, 6]\n"
        "  cim.block: [4, 8, 16]\n  energy.tech_node_nm: [7, 14, 22, 32, 45]\n"
        f"  seed: {list(range(100))}\n  samples: {list(range(1, 101))}\n"
        "exclude:\n  - {cim.adc: linear, cim.adc_bits: 3}\n",
    )
    spec = load_spec(path, max_points=None)
    c = spec.counts
    # cim: linear 3 bits + rar 4 + bfp 4 x 3 blocks = 19 distinct; x 5 nodes x 100 x 100
    assert (c.combinations, c.points) == (3 * 4 * 3 * 5 * 100 * 100, 19 * 5 * 100 * 100)
    assert c.excluded == 3 * 5 * 100 * 100  # linear at 3 bits, for each of its 3 blocks
    swept = ["samples", "seed", "cim.adc", "cim.adc_bits", "cim.block", "energy.tech_node_nm"]
    assert [k for k in c.varied if k in swept] == swept  # in the settings' order
    assert "cim.rows" not in c.varied
    assert len(built) < 500  # the clusters' own combinations, not 1.8 million points
    assert len(list(itertools.islice(spec.iter_points(), 3))) == 3
