"""The figure pipeline (scripts/figures.sh) end to end on the smoke sweep, as CI runs it."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = ("accuracy_vs_adc_bits", "energy_accuracy_pareto", "energy_breakdown")


def test_figures_pipeline_on_smoke_sweep(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path / "results"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    cmd = ["bash", str(ROOT / "scripts/figures.sh"), str(ROOT / "sweeps/smoke.yaml")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    results = tmp_path / "results"
    table = results / "smoke" / "results.csv"
    assert table.stat().st_size > 0
    figures = {p.stem: p for p in (results / "figures").rglob("*.png")}
    for name in EXPECTED:
        assert name in figures, f"missing figure {name}: have {sorted(figures)}"
        assert figures[name].stat().st_size > 1000, f"{name} is empty"
    assert "calibrated" in (results / "figures" / "pareto_smoke.txt").read_text()
    # a second run resumes: nothing is recomputed, the table stays the same
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert table.read_text() == (results / "smoke" / "results.csv").read_text()
