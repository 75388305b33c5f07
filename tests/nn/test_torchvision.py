"""Reach: torchvision's 13 CNN families, exported by both of PyTorch's exporters, load and run.

The models are exported by ``scripts/export_torchvision.py`` (random weights, randomised
BatchNorm statistics, eval mode) with torch from this interpreter, or from the interpreter that
``BFPDSE_TORCH_PYTHON`` names (torch need not share bfpdse's Python: the exporter is a plain
script). ``BFPDSE_TORCHVISION_DIR`` reuses a folder of exports made before. Without torch the
tests skip, saying so: PyTorch is a multi-GB download that the test extra does not pull in.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from nn_builders import run_onnxruntime
from numpy.testing import assert_array_equal

from bfpdse.cim import CIMConfig
from bfpdse.nn import load_model

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from export_torchvision import EXPORTERS, FAMILIES  # noqa: E402

sys.path.pop(0)

#: families that accept 32x32 inputs. Not alexnet (it pools below 1x1 in PyTorch itself), nor
#: vgg11_bn: its AdaptiveAvgPool2d(7) on a 1x1 map fails in the legacy exporter, and the dynamo
#: exporter writes it as a GatherND of the activation, which bfpdse does not import
ACCEPTS_32 = tuple(f for f in FAMILIES if f not in ("alexnet", "vgg11_bn"))


def _torch_python() -> str | None:
    if importlib.util.find_spec("torch") and importlib.util.find_spec("torchvision"):
        return sys.executable
    return os.environ.get("BFPDSE_TORCH_PYTHON")


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Path:
    given = os.environ.get("BFPDSE_TORCHVISION_DIR")
    if given:
        return Path(given)
    python = _torch_python()
    if python is None:
        pytest.skip(
            "torch and torchvision are not installed (set BFPDSE_TORCH_PYTHON to a Python "
            "that has them, or BFPDSE_TORCHVISION_DIR to exported files)"
        )
    out = tmp_path_factory.mktemp("torchvision")
    script = ROOT / "scripts" / "export_torchvision.py"
    for size in (224, 32):
        run = subprocess.run(
            [python, str(script), "--out", str(out), "--size", str(size)],
            capture_output=True, text=True, timeout=3000,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-3000:]
        (out / f"log_{size}.jsonl").write_text(run.stdout)
    return out


CASES = [(f, e, 224) for f in FAMILIES for e in EXPORTERS]
CASES += [(f, e, 32) for f in ACCEPTS_32 for e in EXPORTERS]


@pytest.mark.parametrize("family, exporter, size", CASES)
def test_torchvision_model_loads_and_runs(exports, family, exporter, size):
    path = exports / f"{family}_{exporter}_{size}.onnx"
    if not path.exists():
        log = exports / f"log_{size}.jsonl"
        lines = log.read_text().splitlines() if log.exists() else []
        recs = [json.loads(line) for line in lines if line.startswith("{")]
        why = [r.get("error") for r in recs if r["model"] == family and r.get("exporter") in
               (exporter, None)]  # fmt: skip
        pytest.fail(f"export failed: {why}")
    ref = np.load(exports / f"{family}_{size}.npz")
    model = load_model(path)
    assert model.input_shape == (3, size, size)
    got = model.forward(ref["x"])
    onnx_ref = run_onnxruntime_file(path, ref["x"])
    scale = np.max(np.abs(onnx_ref))
    assert np.max(np.abs(got - onnx_ref)) <= 1e-4 * scale
    assert np.max(np.abs(got - ref["y"])) <= 1e-3 * scale  # and PyTorch itself
    x2 = np.concatenate([ref["x"], -ref["x"]])  # a batch of 2 through a batch-1 export
    assert model.forward(x2).shape == (2, onnx_ref.shape[1])
    cfg = CIMConfig(adc="bfp", adc_bits=5)
    logits = model.forward(ref["x"], "cim", cim=cfg)
    assert logits.shape == onnx_ref.shape and np.all(np.isfinite(logits))
    if size == 32:  # ideal ADC == int, exactly
        ideal = CIMConfig(adc="ideal")
        assert_array_equal(model.forward(ref["x"], "cim", cim=ideal),
                           model.forward(ref["x"], "int", cim=ideal))  # fmt: skip


def run_onnxruntime_file(path: Path, x: np.ndarray) -> np.ndarray:
    import onnx

    proto = onnx.load(str(path))
    name = proto.graph.input[0].name
    if name != "input":  # the dynamo exporter names the input after the forward argument
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        return sess.run(None, {name: x})[0]
    return run_onnxruntime(proto, x)
