"""The shipped zoo: ONNX files, model cards, accuracy under onnxruntime, and ``bfpdse train``.

Runs without PyTorch: the files are checked with onnx and onnxruntime only.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from typer.testing import CliRunner

from bfpdse.cli import app
from bfpdse.data.idx import read_idx
from bfpdse.errors import ModelError
from bfpdse.nn.zoo import NAMES, TRAIN_DEFAULTS, zoo_card, zoo_path

# The ops the ONNX importer supports; a zoo graph must use only these.
ALLOWED_OPS = {
    "Conv",
    "BatchNormalization",
    "Relu",
    "MaxPool",
    "Add",
    "GlobalAveragePool",
    "Flatten",
    "Gemm",
}
METADATA_KEYS = {
    "bfpdse.input_scale",
    "bfpdse.mean",
    "bfpdse.std",
    "bfpdse.dataset",
    "bfpdse.train_command",
    "bfpdse.seed",
    "bfpdse.float_accuracy",
    "bfpdse.zoo_name",
}
CARD_KEYS = {
    "name",
    "sha256",
    "parameters",
    "epochs",
    "batch_size",
    "optimizer",
    "schedule",
    "seed",
    "train_command",
    "torch_version",
    "train_wall_s",
    "float_accuracy",
}
# The Fashion-MNIST test split: the copy bundled with bfpdse.data, else the workplace copy.
_DATA_DIRS = [
    Path(__file__).resolve().parents[2] / "bfpdse" / "data" / "fashion_mnist",
    Path("/work/shared/datasets/fashion-mnist"),
]


@pytest.fixture(scope="module")
def test_split() -> tuple[np.ndarray, np.ndarray]:
    for folder in _DATA_DIRS:
        images = folder / "t10k-images-idx3-ubyte.gz"
        if images.is_file():
            return read_idx(images), read_idx(folder / "t10k-labels-idx1-ubyte.gz")
    raise FileNotFoundError(f"no Fashion-MNIST test split in any of {_DATA_DIRS}")


def _metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def _accuracy(path: Path, images: np.ndarray, labels: np.ndarray) -> float:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    scale = np.float32(float(_metadata(onnx.load(str(path)))["bfpdse.input_scale"]))
    x = images[:, None, :, :].astype(np.float32) * scale
    logits = np.concatenate(
        [session.run(None, {"input": x[i : i + 2000]})[0] for i in range(0, len(x), 2000)]
    )
    return float((logits.argmax(1) == labels).mean())


@pytest.mark.parametrize("name", NAMES)
def test_onnx_file_is_valid_and_simple(name: str) -> None:
    model = onnx.load(str(zoo_path(name)))
    onnx.checker.check_model(model, full_check=True)
    ops = [node.op_type for node in model.graph.node]
    assert set(ops) <= ALLOWED_OPS, set(ops) - ALLOWED_OPS
    # BN is kept apart from the convolutions: the quantizer reads its statistics
    assert ops.count("BatchNormalization") >= 2
    (inp,) = model.graph.input
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param != "" and [d.dim_value for d in dims[1:]] == [1, 28, 28]


@pytest.mark.parametrize("name", NAMES)
def test_metadata_matches_card(name: str) -> None:
    path = zoo_path(name)
    card = zoo_card(name)
    meta = _metadata(onnx.load(str(path)))
    assert METADATA_KEYS <= set(meta)
    assert float(meta["bfpdse.input_scale"]) == 1 / 255
    assert float(meta["bfpdse.mean"]) == 0 and float(meta["bfpdse.std"]) == 1
    assert meta["bfpdse.dataset"] == "fashion-mnist"
    assert meta["bfpdse.zoo_name"] == name == card["name"]
    assert meta["bfpdse.train_command"] == card["train_command"]
    assert meta["bfpdse.train_command"].startswith(f"bfpdse train {name} ")
    assert int(meta["bfpdse.seed"]) == card["seed"]
    assert float(meta["bfpdse.float_accuracy"]) == pytest.approx(card["float_accuracy"])
    assert CARD_KEYS <= set(card)
    assert card["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", NAMES)
def test_card_settings_are_the_train_defaults(name: str) -> None:
    # so that 'bfpdse train NAME --data DIR' reproduces the shipped file
    card = zoo_card(name)
    defaults = TRAIN_DEFAULTS[name]
    assert (card["epochs"], card["batch_size"], card["seed"]) == (
        defaults.epochs,
        defaults.batch_size,
        defaults.seed,
    )
    assert f"--lr {defaults.lr!r} " in card["train_command"]


@pytest.mark.parametrize("name", NAMES)
def test_onnxruntime_accuracy_matches_card(name: str, test_split) -> None:
    images, labels = test_split
    assert len(labels) == 10_000
    # a quick look on 64 images, then the whole split against the recorded (torch) accuracy
    card_acc = zoo_card(name)["float_accuracy"]
    assert _accuracy(zoo_path(name), images[:64], labels[:64]) >= card_acc - 0.1
    assert _accuracy(zoo_path(name), images, labels) == pytest.approx(card_acc, abs=0.001)


def test_unknown_name_lists_the_valid_ones() -> None:
    for lookup in (zoo_path, zoo_card):
        with pytest.raises(ModelError, match="'vgg16'.*lenet5, resnet20"):
            lookup("vgg16")


def test_train_without_torch_exits_2(tmp_path: Path) -> None:
    # sys.modules['torch'] = None makes 'import torch' fail even where torch is installed
    code = "import sys; sys.modules['torch'] = None; from bfpdse.cli import main; main()"
    args = [sys.executable, "-c", code, "train", "lenet5", "--data", str(tmp_path)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "bfpdse train needs PyTorch: pip install 'bfpdse[train]'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir())


def test_train_help_shows_the_defaults() -> None:
    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name, defaults in TRAIN_DEFAULTS.items():
        assert f"{defaults.epochs} for {name}" in result.output
    assert "--batch-size" in result.output and "--threads" in result.output


def test_train_rejects_unknown_model(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "vgg16", "--data", str(tmp_path)])
    assert result.exit_code == 2
    assert "lenet5" in result.output and "resnet20" in result.output
