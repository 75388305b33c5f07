"""The model zoo: small CNNs trained on Fashion-MNIST and shipped as ONNX files.

Each model ``<name>.onnx`` sits beside a model card ``<name>.json`` (file sha256, parameters,
training settings and command, float test accuracy). Inputs are 1x28x28 pixels scaled to [0, 1]
(uint8 / 255) without mean/std normalisation, so that an input is exactly an unsigned 8-bit
integer times 1/255. ``bfpdse train`` (``bfpdse.nn.zoo.train``) rebuilds the files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bfpdse.errors import ModelError

ZOO_DIR = Path(__file__).resolve().parent

# The zoo's model names, in the order shown to users.
NAMES: tuple[str, ...] = ("lenet5", "resnet20")

__all__ = ["NAMES", "TRAIN_DEFAULTS", "ZOO_DIR", "TrainSettings", "zoo_card", "zoo_path"]


@dataclass(frozen=True)
class TrainSettings:
    """Settings of one training run (``bfpdse train``)."""

    epochs: int
    batch_size: int  # images per SGD step
    lr: float  # peak learning rate of the one-cycle schedule
    seed: int = 0  # seeds the weight init, the data order and the augmentation
    threads: int = 1  # torch CPU threads (one is the fastest on a shared, busy CPU)


# The settings that built the shipped files (the defaults of ``bfpdse train``).
TRAIN_DEFAULTS: dict[str, TrainSettings] = {
    "lenet5": TrainSettings(epochs=15, batch_size=128, lr=0.05),
    "resnet20": TrainSettings(epochs=12, batch_size=128, lr=0.1),
}


def _check_name(name: str) -> None:
    if name not in NAMES:
        raise ModelError(f"unknown zoo model {name!r}; valid names: {', '.join(NAMES)}")


def zoo_path(name: str) -> Path:
    """Path of the shipped ONNX file of zoo model ``name`` (one of ``NAMES``)."""
    _check_name(name)
    path = ZOO_DIR / f"{name}.onnx"
    if not path.is_file():
        raise ModelError(
            f"zoo model {name!r} is not installed ({path} is missing); rebuild it with "
            f"'bfpdse train {name} --data DIR --out {path}'"
        )
    return path


def zoo_card(name: str) -> dict[str, Any]:
    """The model card of zoo model ``name``: training settings, sha256 and float accuracy."""
    _check_name(name)
    path = ZOO_DIR / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelError(f"zoo model {name!r} has no model card ({path} is missing)") from None
