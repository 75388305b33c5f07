"""Folders of class folders of real PNG/JPEG files, lazy sampling, preprocessing, safe pickles."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bfpdse.data import imagefolder as imf
from bfpdse.data import load_dataset, load_images
from bfpdse.errors import DataError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "nn"))
from nn_builders import Builder, save  # noqa: E402

sys.path.pop(0)

CLASSES = ("boot", "coat", "shirt")  # sorted: labels 0, 1, 2


def _fashion(n: int) -> np.ndarray:
    x, _, _ = load_images("fashion-mnist", "test")
    return x[:n, 0]  # (n, 28, 28) uint8


def make_folder(root: Path, per_class: int = 4, size: int = 32, offset: int = 0) -> Path:
    """Fashion-MNIST images as size x size RGB files, alternately PNG and JPEG."""
    pics = _fashion(offset + per_class * len(CLASSES))[offset:]
    for c, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            img = Image.fromarray(pics[c * per_class + i]).convert("RGB").resize((size, size))
            ext = ".png" if i % 2 == 0 else ".JPG"
            img.save(root / name / f"img{i:02d}{ext}")
    return root


@pytest.fixture
def folder(tmp_path):
    return make_folder(tmp_path / "pics")


def test_labels_follow_sorted_class_names(folder):
    d = load_dataset(str(folder))
    assert d.x.shape == (12, 3, 32, 32) and d.x.dtype == np.float32
    assert d.y.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    first = np.asarray(Image.open(folder / "boot" / "img00.png"), dtype=np.float32) / 255
    assert np.allclose(d.x[0], first.transpose(2, 0, 1))


def test_class_index_file_orders_labels(folder, tmp_path):
    order = tmp_path / "classes.txt"
    order.write_text("shirt\nboot\ncoat\n")
    d = load_dataset({"format": "imagefolder", "path": str(folder), "classes": str(order)})
    assert d.y.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert np.allclose(d.x[0], load_dataset(str(folder)).x[8])  # shirt's first image
    order.write_text("shirt\nsocks\n")
    with pytest.raises(DataError, match="socks"):
        load_dataset({"path": str(folder), "classes": str(order)})


def test_resize_and_crop_match_pillow(folder):
    spec = {"path": str(folder), "resize": 20, "crop": [16, 12]}
    d = load_dataset(spec, samples=3, seed=None)
    img = Image.open(folder / "boot" / "img01.JPG").convert("RGB").resize((20, 20), Image.BILINEAR)
    top, left = 2, 4  # (20 - 16) / 2, (20 - 12) / 2
    want = np.asarray(img.crop((left, top, left + 12, top + 16)), dtype=np.float32) / 255
    assert d.x.shape == (3, 3, 16, 12)
    assert np.allclose(d.x[1], want.transpose(2, 0, 1))


def test_mean_std_normalise_and_reach_the_model(folder, tmp_path):
    b = Builder((3, 32, 32))
    x = b.relu(b.conv("input", 3, 4, pads=[1, 1, 1, 1]))
    model_path = save(b.model(b.gemm(b.node("Flatten", [x]), 4 * 32 * 32, 3)), tmp_path / "m.onnx")
    from bfpdse.nn import load_model

    model = load_model(model_path)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    spec = {"path": str(folder), "mean": mean, "std": std}
    d = load_dataset(spec, model=model)
    plain = load_dataset(str(folder), model=model)
    m = np.array(mean, np.float32)[None, :, None, None]
    s = np.array(std, np.float32)[None, :, None, None]
    assert np.allclose(d.x, (plain.x - m) / s, atol=1e-6)
    from bfpdse.data.datasets import with_dataset_normalization

    normed = with_dataset_normalization(model, spec)
    lo, _ = normed.input_range()
    assert np.allclose(lo, -np.array(mean) / np.array(std))
    assert next(iter(normed.quantize(8, 8).layers.values())).in_signed  # signed first layer
    assert not next(iter(model.quantize(8, 8).layers.values())).in_signed


def test_only_drawn_images_are_decoded(folder, monkeypatch):
    drawn = np.sort(np.random.default_rng(0).choice(12, size=3, replace=False)).tolist()
    undrawn = next(i for i in range(12) if i not in drawn)
    files = sorted(folder.glob("*/*"))
    files[undrawn].write_bytes(b"not an image")  # never decoded below
    calls = []
    real = imf.decode
    monkeypatch.setattr(imf, "decode", lambda p, *a: calls.append(p) or real(p, *a))
    d = load_dataset(str(folder), samples=3, seed=0)
    assert calls == [files[i] for i in drawn] and d.y.tolist() == [i // 4 for i in drawn]
    with pytest.raises(DataError, match=f"{files[undrawn].name}: cannot decode as an image"):
        load_dataset(str(folder))


def test_splits_from_train_and_val(tmp_path):
    root = tmp_path / "imagenet"
    make_folder(root / "train", per_class=3)
    make_folder(root / "val", per_class=2, offset=9)
    assert len(load_dataset(str(root))) == 6
    assert len(load_dataset(str(root), "train")) == 9
    assert len(load_dataset(str(root), "calib")) == 9  # min(CALIB_SIZE, 9) train images
    with pytest.raises(DataError, match="train/"):
        load_dataset(str(make_folder(tmp_path / "flat")), "calib")


def test_bad_folders(tmp_path, folder):
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(DataError, match="no images"):
        load_dataset({"format": "imagefolder", "path": str(tmp_path / "empty")})
    Image.new("RGB", (40, 32)).save(folder / "boot" / "img99.png")
    with pytest.raises(DataError, match="img99.png: image of 32x40.*resize and crop"):
        load_dataset(str(folder))


def test_shape_mismatch_says_how_to_fix(folder, tmp_path):
    from bfpdse.nn import load_model

    b = Builder((3, 24, 24))
    x = b.relu(b.conv("input", 3, 2, pads=[1, 1, 1, 1]))
    model = load_model(
        save(b.model(b.gemm(b.node("Flatten", [x]), 2 * 24 * 24, 3)), tmp_path / "a.onnx")
    )
    with pytest.raises(DataError, match=r"expects 3x24x24.*resize: 27, crop: 24"):
        load_dataset(str(folder), model=model)
    assert load_dataset({"path": str(folder), "resize": 27, "crop": 24}, model=model).x.shape[
        2:
    ] == (
        24,
        24,
    )


def _batch(path: Path, obj) -> None:
    with path.open("wb") as f:
        pickle.dump(obj, f)


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_cifar_pickles_cannot_run_code(tmp_path):
    folder = tmp_path / "cifar"
    folder.mkdir()
    evil = _Evil()
    evil.marker = str(tmp_path / "MARKER")
    _batch(folder / "test_batch", {b"data": evil, b"labels": [0]})
    with pytest.raises(DataError, match=r"test_batch: .*refused global (posix|os)\.system"):
        load_dataset(str(folder))
    assert not (tmp_path / "MARKER").exists()
    data = np.random.default_rng(0).integers(0, 256, (5, 3072), dtype=np.uint8)
    _batch(folder / "test_batch", {b"data": data, b"labels": [1, 2, 3, 4, 5], b"batch_label": "t"})
    d = load_dataset(str(folder))
    assert d.y.tolist() == [1, 2, 3, 4, 5] and d.x.shape == (5, 3, 32, 32)


def _run(*args: str) -> subprocess.CompletedProcess:
    code = "from bfpdse.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)


@pytest.fixture
def rgb_model(tmp_path):
    b = Builder((3, 32, 32), seed=2)
    x = b.relu(b.conv("input", 3, 4, pads=[1, 1, 1, 1], strides=[2, 2]))
    return save(b.model(b.gemm(b.node("Flatten", [x]), 4 * 16 * 16, 3)), tmp_path / "rgb.onnx")


def test_run_on_an_image_folder_end_to_end(folder, rgb_model):
    out = _run("run", "--model", str(rgb_model), "--dataset", str(folder), "--samples", "8",
               "--json", "--set", "cim.adc=rar", "--set", "cim.adc_bits=5")  # fmt: skip
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)
    assert rec["samples_used"] == 8 and 0 <= rec["accuracy"] <= 1
    # preprocessing keys from --set and from a --dataset mapping give the same images
    a = _run("run", "--model", str(rgb_model), "--dataset", str(folder), "--samples", "4",
             "--json", "--set", "dataset.resize=36", "--set", "dataset.crop=32")  # fmt: skip
    b = _run("run", "--model", str(rgb_model), "--dataset",
             f"{{path: {folder}, resize: 36, crop: 32}}", "--samples", "4", "--json")  # fmt: skip
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    keys = ("accuracy", "accuracy_ideal", "sqnr_db", "energy_pj")
    assert [json.loads(a.stdout)[k] for k in keys] == [json.loads(b.stdout)[k] for k in keys]
    bad = _run(
        "run", "--model", str(rgb_model), "--dataset", str(folder), "--set", "dataset.crop=64"
    )
    assert bad.returncode == 2 and "crop 64x64 is larger" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_sweep_over_an_image_folder(folder, rgb_model, tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(
        f"name: pics\nmodel: {rgb_model}\nsamples: 6\n"
        f"dataset: {{format: imagefolder, path: {folder}, resize: 32, crop: 32}}\n"
        "sweep:\n  cim.adc: [ideal, bfp]\n"
    )
    out = _run("sweep", str(spec), "--out", str(tmp_path / "res"))
    assert out.returncode == 0, out.stderr
    import pandas as pd

    table = pd.read_parquet(next((tmp_path / "res").rglob("*.parquet")))
    assert len(table) == 2 and set(table["status"]) == {"ok"}
