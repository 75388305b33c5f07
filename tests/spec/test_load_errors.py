"""Every kind of spec error names file:line, the key, the bad value and what is allowed.

Errors happen at load time, before any point runs or anything is written.
"""

import pytest
from fakes import fake_evaluate

from bfpdse.errors import SpecError
from bfpdse.run import run_sweep
from bfpdse.spec import load_spec

HEAD = "name: t\nmodel: lenet5\nsamples: 8\n"

# (YAML after HEAD, the line of the culprit, texts the message must contain)
CASES = {
    "unknown key with a suggestion": (
        "sweep:\n  cim.adc_bit: [3, 4]\n",
        5,
        ["unknown setting 'cim.adc_bit'", "did you mean 'cim.adc_bits'"],
    ),
    "unknown key in base (nested)": (
        "base:\n  cim:\n    rowz: 64\n",
        6,
        ["'cim.rowz'", "did you mean 'cim.rows'"],
    ),
    "unknown top-level key": (
        "sweeps:\n  cim.adc: [rar]\n",
        4,
        ["unknown key 'sweeps'", "did you mean 'sweep'", "allowed: name, model"],
    ),
    "a section is not a setting": ("sweep:\n  cim: [1]\n", 5, ["'cim' is a section"]),
    "bad value in a sweep list": (
        "sweep:\n  cim.adc: [rar]\n  cim.adc_bits:\n    - 4\n    - 99\n",
        8,
        ["cim.adc_bits", "adc_bits=99", "allowed 1"],
    ),
    "bad choice in a sweep list": (
        "sweep:\n  cim.adc:\n    - rar\n    - rar2\n",
        7,
        ["cim.adc", "'rar2'", "allowed", "bfp"],
    ),
    "bad value in base": ("base:\n  cim:\n    rows: 0\n", 6, ["rows=0", "allowed 1"]),
    "bad top-level setting in base": ("base:\n  seed: -3\n", 5, ["seed=-3", ">= 0"]),
    "base contradicts the top level": ("base:\n  samples: 9\n", 5, ["contradicts samples=8"]),
    "zip lengths differ": (
        "zip:\n  - {cim.rows: [64, 128], cim.cols: [64]}\n",
        5,
        ["zip[0]", "equal lengths", "cim.rows has 2", "cim.cols has 1"],
    ),
    "empty sweep": ("sweep: {}\n", 4, ["sweep is empty"]),
    "empty axis": ("sweep:\n  cim.adc: []\n", 5, ["cim.adc", "at least one value"]),
    "axis is not a list": ("sweep:\n  cim.adc: rar\n", 5, ["cim.adc", "valid list", "'rar'"]),
    "wrong type at the top": ("seed: many\n", 4, ["seed", "valid integer", "'many'"]),
    "seed must not be negative": ("seed: -1\n", 4, ["seed", "greater than or equal to 0"]),
    "bad dataset": ("dataset: 5\n", 4, ["dataset", "format: idx"]),
    "duplicate key": ("sweep:\n  cim.adc: [rar]\n  cim.adc: [bfp]\n", 6, ["duplicate key"]),
    "swept twice": (
        "sweep:\n  cim.rows: [64]\nzip:\n  - {cim.rows: [64], cim.cols: [64]}\n",
        7,
        ["cim.rows is swept twice"],
    ),
    "invalid combination": (
        "sweep:\n  cim.input_bits: [2, 8]\n  cim.dac_bits: [1, 4]\n",
        0,
        ["cim.input_bits=2 (line 5)", "cim.dac_bits=4 (line 6)", "dac_bits=4", "exclude"],
    ),
    "everything excluded": (
        "sweep:\n  cim.adc: [rar]\nexclude:\n  - {cim.adc: rar}\n",
        0,
        ["no design points left"],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_spec_errors_name_file_line_key_and_value(tmp_path, case):
    body, line, texts = CASES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(HEAD + body)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: " if line else f"{path}: ")
    for text in texts:
        assert text in message


def test_yaml_syntax_error_names_line_and_column(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: t\nsweep:\n  cim.adc: [rar, bfp\n  cim.block: [1]\n")
    with pytest.raises(SpecError, match=r"bad.yaml:4:\d+: invalid YAML"):
        load_spec(path)


@pytest.mark.parametrize(
    ("text", "match"),
    [("", "empty"), ("- a\n- b\n", "must be a mapping"), ("name: ../up\n", "folder name")],
)
def test_file_level_errors(tmp_path, text, match):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=match):
        load_spec(path)


def test_missing_file(tmp_path):
    with pytest.raises(SpecError, match="no such sweep file"):
        load_spec(tmp_path / "nope.yaml")


def test_name_defaults_to_the_file_name(tmp_path):
    path = tmp_path / "my_sweep.yaml"
    path.write_text("sweep: {cim.adc: [rar]}\n")
    assert load_spec(path).name == "my_sweep"


def test_bad_set_value_is_named(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(HEAD + "sweep: {cim.adc: [rar, bfp]}\n")
    with pytest.raises(SpecError, match=r"--set cim.rows: .*rows=0"):
        load_spec(path, ["cim.rows=0"])
    with pytest.raises(SpecError, match="KEY=VALUE"):
        load_spec(path, ["cim.rows"])


def test_nothing_is_written_on_a_spec_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(HEAD + "sweep:\n  cim.adc_bits: [4, 99]\n")
    out = tmp_path / "results"
    calls = []

    def evaluate(point, progress=None):
        calls.append(point)
        return fake_evaluate(point)

    with pytest.raises(SpecError, match=r"bad.yaml:5: "):
        run_sweep(path, out=out, evaluate=evaluate, progress=False)
    assert not out.exists()
    assert calls == []


def test_exponent_floats_are_numbers_in_specs_and_set(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text(
        "name: e\nmodel: lenet5\nbase:\n  energy: {adc_throughput_hz: 1.28e9, freq_hz: 1E8}\n"
        "sweep:\n  cim.adc: [ideal]\n"
    )
    point = load_spec(path).points[0]
    assert point.energy.adc_throughput_hz == 1.28e9 and point.energy.freq_hz == 1e8
    point = load_spec(path, ["energy.adc_throughput_hz=1e8", "energy.rho=2.5E-3"]).points[0]
    assert point.energy.adc_throughput_hz == 1e8 and point.energy.rho == 0.0025


def test_huge_sweeps_need_max_points(tmp_path):
    import time

    path = tmp_path / "huge.yaml"
    path.write_text(
        "name: huge\nmodel: lenet5\nsweep:\n"
        f"  cim.rows: {list(range(16, 16 + 1000))}\n  cim.cols: {list(range(16, 16 + 1000))}\n"
    )
    t0 = time.perf_counter()
    with pytest.raises(SpecError, match=r"spans 1,000,000 points .* --max-points 1000000"):
        load_spec(path)
    assert time.perf_counter() - t0 < 5  # refused before any point is built
    small = tmp_path / "small.yaml"
    small.write_text(
        "name: s\nmodel: lenet5\nsweep:\n  cim.adc_bits: [3, 4, 5]\n  cim.adc: [rar]\n"
    )
    with pytest.raises(SpecError, match="over the limit of 2"):
        load_spec(small, max_points=2)
    assert len(load_spec(small, max_points=3).points) == 3
