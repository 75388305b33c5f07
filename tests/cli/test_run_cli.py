"""bfpdse run and bfpdse energy through the real console entry point."""

import json
import subprocess
import sys

import pytest

ENTRY = [sys.executable, "-c", "from bfpdse.cli import main; main()"]


def bfpdse(*args):
    return subprocess.run([*ENTRY, *args], capture_output=True, text=True, timeout=600)


def test_run_json_has_metrics_and_every_setting():
    out = bfpdse(
        "run",
        "--model",
        "lenet5",
        "--samples",
        "16",
        "--set",
        "cim.adc=bfp",
        "--set",
        "cim.adc_bits=4",
        "--set",
        "energy.tech_node_nm=22",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)
    for key in (
        "accuracy",
        "accuracy_ideal",
        "accuracy_float",
        "accuracy_drop",
        "sqnr_db",
        "conversions",
        "wall_s",
        "energy_pj",
        "latency_ns",
        "area_mm2",
        "tops_per_w",
    ):
        assert key in rec
    assert rec["cim.adc"] == "bfp" and rec["cim.adc_bits"] == 4 and rec["cim.block"] == 8
    assert rec["energy.tech_node_nm"] == 22 and rec["model"] == "lenet5"
    assert len(rec["layers"]) == 5


def test_run_table_shows_percent_accuracy():
    out = bfpdse(
        "run",
        "--model",
        "lenet5",
        "--samples",
        "8",
        "--set",
        "cim.adc=rar",
        "--set",
        "cim.adc_bits=5",
        "--no-progress",
    )
    assert out.returncode == 0, out.stderr
    assert "accuracy" in out.stdout and "%" in out.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--set", "cim.adc_bit=5"], "did you mean 'cim.adc_bits'"),
        (["--set", "cim.adc=log"], "adc='log'"),
        (["--set", "energy.preset=foo"], "preset='foo'"),
        (["--model", "nosuchmodel"], "zoo models: lenet5, resnet20"),
        (["--dataset", "/nonexistent/folder"], "/nonexistent/folder"),
        (["--samples", "0"], "--samples"),
    ],
)
def test_run_input_errors_exit_2_without_traceback(args, needle):
    out = bfpdse("run", "--model", "lenet5", "--samples", "4", *args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert needle in out.stderr
    assert "Traceback" not in out.stderr


def test_energy_breakdown_names_its_sources():
    out = bfpdse(
        "energy",
        "--model",
        "lenet5",
        "--shapes-only",
        "--set",
        "cim.adc=bfp",
        "--set",
        "cim.adc_bits=4",
        "--set",
        "energy.preset=isaac",
    )
    assert out.returncode == 0, out.stderr
    assert "ISAAC" in out.stdout and "total" in out.stdout


def test_energy_json_from_images():
    out = bfpdse("energy", "--model", "lenet5", "--samples", "8", "--json")
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)
    assert rec["energy_pj"] > 0 and rec["samples_used"] == 8
    assert rec["conversions"] <= rec["conversions_dense"]


def test_help_keeps_its_units():
    # Rich reads [bits] as markup unless escaped
    from typer.testing import CliRunner

    from bfpdse.cli import app

    out = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "300"}).output
    for unit in ("[bits]", "[outputs]", "[nm]", "[samples/s]", "[Hz]", "[pJ]"):
        assert unit in out, unit
