"""``bfpdse run`` and ``bfpdse sweep`` on a folder of class folders of PNG/JPEG files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bfpdse.cli import app

from .helpers import run_main as _run_main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from image_folders import conv_model, make_folder  # noqa: E402

sys.path.pop(0)

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """(image folder, 3x32x32 model, 3x24x24 model), shared by the tests of this module."""
    root = tmp_path_factory.mktemp("dataset_cli")
    folder = make_folder(root / "pics")
    return folder, conv_model(root / "rgb.onnx"), conv_model(root / "small.onnx", (3, 24, 24))


def run_json(*args: str) -> dict:
    result = runner.invoke(app, ["run", *args, "--json"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return json.loads(result.stdout)


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """The console entry point in this process: (exit status, stderr)."""
    code, out = _run_main(monkeypatch, capsys, *args)
    return code, out.err


def test_run_on_an_image_folder(files):
    folder, model, _ = files
    rec = run_json("--model", str(model), "--dataset", str(folder), "--samples", "8",
                   "--set", "cim.adc=rar", "--set", "cim.adc_bits=5")  # fmt: skip
    assert rec["samples_used"] == 8 and 0 <= rec["accuracy"] <= 1
    assert rec["dataset"] == str(folder) and rec["cim.adc"] == "rar"


def test_set_dataset_keys_equal_a_dataset_mapping(files):
    folder, model, _ = files
    common = ("--model", str(model), "--samples", "4")
    a = run_json(*common, "--dataset", str(folder),
                 "--set", "dataset.resize=36", "--set", "dataset.crop=32")  # fmt: skip
    b = run_json(*common, "--dataset", f"{{path: {folder}, resize: 36, crop: 32}}")
    assert a["dataset"] == b["dataset"] == {"path": str(folder), "resize": 36, "crop": 32}
    assert a["point_id"] == b["point_id"]
    for key in ("accuracy", "accuracy_ideal", "accuracy_float", "sqnr_db", "energy_pj"):
        assert a[key] == b[key], key
    plain = run_json(*common, "--dataset", str(folder))
    assert plain["point_id"] != a["point_id"]  # preprocessing is part of the point


def test_dataset_mean_and_std_reach_the_run(files):
    folder, model, _ = files
    spec = f"{{path: {folder}, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}}"
    rec = run_json("--model", str(model), "--samples", "4", "--dataset", spec)
    assert rec["dataset"]["std"] == [0.229, 0.224, 0.225] and rec["samples_used"] == 4


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--set", "dataset.crop=64"], "crop=[64, 64] is larger than the image, 32x32"),
        (["--set", "dataset.resize=0"], "error: dataset '{folder}': resize=0 must be an integer"),
        (["--set", "dataset.size=3"], "unknown dataset key 'dataset.size' (did you mean 'data"),
        (["--dataset", "{path:{folder}}"], "reads as one key; YAML needs a space after each colon"),
        (["--set", "dataset.mean=[0.5, 0.5]"], "mean=[0.5, 0.5] has 2 values for 3-channel"),
        (["--model", "{small}"], "has images of 3x32x32 (CxHxW) but model 'small' expects 3x24x24"),
        (["--dataset", "{path: {folder}, crop: [1, 2, 3]}"], "crop=[1, 2, 3] must be an integer"),
        (["--dataset", "{path: {folder}, size: 3}"], "unknown: size"),
        (["--dataset", "[1, 2]"], "neither a bundled dataset"),
    ],
)
def test_bad_datasets_exit_2_with_one_line(files, monkeypatch, capsys, extra, message):
    folder, model, small = files
    args = ["run", "--model", str(model), "--dataset", str(folder), "--samples", "4"]
    extra = [a.replace("{folder}", str(folder)).replace("{small}", str(small)) for a in extra]
    code, err = run_main(monkeypatch, capsys, *args, *extra)
    assert code == 2, err
    assert message.replace("{folder}", str(folder)) in " ".join(err.split()), err
    assert "Traceback" not in err


def test_shape_mismatch_names_the_fix(files, monkeypatch, capsys):
    folder, _, small = files
    code, err = run_main(monkeypatch, capsys, "run", "--model", str(small),
                         "--dataset", str(folder), "--samples", "4")  # fmt: skip
    err = " ".join(err.split())
    assert code == 2
    for part in ("--dataset", "idx, cifar10, npz, imagefolder", "resize: 27, crop: 24",
                 "--set dataset.resize"):  # fmt: skip
        assert part in err, err
    ok = run_json("--model", str(small), "--dataset", str(folder), "--samples", "4",
                  "--set", "dataset.resize=27", "--set", "dataset.crop=24")  # fmt: skip
    assert ok["samples_used"] == 4


def test_sweep_over_an_image_folder_and_its_preprocessing(files, tmp_path):
    folder, model, _ = files
    spec = tmp_path / "pics.yaml"
    spec.write_text(
        f"name: pics\nmodel: {model}\nsamples: 6\n"
        f"dataset: {{format: imagefolder, path: {folder}, crop: 32}}\n"
        "sweep:\n  dataset.resize: [32, 36]\n  cim.adc: [ideal, bfp]\n"
    )
    result = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "res")])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "4 ok, 0 failed" in result.stderr
    table = pd.read_csv(tmp_path / "res" / "pics" / "results.csv")
    assert len(table) == 4 and (table["status"] == "ok").all()
    assert table["samples_used"].tolist() == [6] * 4


def test_sweep_with_a_bad_dataset_key_stops_before_running(files, tmp_path, monkeypatch, capsys):
    folder, model, _ = files
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        f"name: bad\nmodel: {model}\ndataset: {{path: {folder}, resize: -1}}\n"
        "sweep:\n  cim.adc: [ideal, bfp]\n"
    )
    code, err = run_main(monkeypatch, capsys, "sweep", str(spec), "--out", str(tmp_path / "r"))
    assert code == 2 and "resize=-1 must be an integer >= 1" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()
