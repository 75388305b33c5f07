"""Folders of class folders of real PNG/JPEG files and small RGB ONNX models, for the tests."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from bfpdse.data import load_images

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "nn"))
from nn_builders import Builder, save  # noqa: E402

sys.path.pop(0)

CLASSES = ("boot", "coat", "shirt")  # sorted: labels 0, 1, 2


def fashion(n: int) -> np.ndarray:
    """The first ``n`` bundled Fashion-MNIST test images, (n, 28, 28) uint8."""
    x, _, _ = load_images("fashion-mnist", "test")
    return x[:n, 0]


def make_folder(root: Path, per_class: int = 4, size: int = 32, offset: int = 0) -> Path:
    """Fashion-MNIST images as size x size RGB files in CLASSES, alternately PNG and JPEG.

    Files sort as img00.png, img01.JPG, ...; image i of class c is Fashion-MNIST image
    ``offset + c * per_class + i``.
    """
    pics = fashion(offset + per_class * len(CLASSES))[offset:]
    for c, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            img = Image.fromarray(pics[c * per_class + i]).convert("RGB").resize((size, size))
            ext = ".png" if i % 2 == 0 else ".JPG"
            img.save(root / name / f"img{i:02d}{ext}")
    return root


def conv_model(
    path: Path,
    shape: tuple[int, int, int] = (3, 32, 32),
    meta: dict[str, str] | None = None,
    outputs: int = 3,
) -> Path:
    """A conv (stride 2) + ReLU + linear ONNX model with ``outputs`` logits, saved to ``path``."""
    c, h, w = shape
    b = Builder(shape, seed=2)
    x = b.relu(b.conv("input", c, 4, pads=[1, 1, 1, 1], strides=[2, 2]))
    flat = b.node("Flatten", [x])
    return save(b.model(b.gemm(flat, 4 * ((h + 1) // 2) * ((w + 1) // 2), outputs), meta), path)
