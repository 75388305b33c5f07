"""Train the zoo models on Fashion-MNIST with PyTorch and export them to ONNX.

Only ``bfpdse train`` and the zoo's maintainers need this module; it imports torch at the top, so
import it lazily. It uses nothing of bfpdse but the IDX reader, the errors and the zoo names, and
runs under any Python that has torch, numpy and onnx.

Input convention (kept in the ONNX metadata): pixels / 255 in [0, 1], no mean/std normalisation,
so that the network input is exactly an unsigned 8-bit integer times 1/255 and zero padding stays
exact in the integer CIM simulation. BatchNormalization stays a separate node in the ONNX graph,
because the quantizer takes data-free activation ranges from the BN statistics.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from bfpdse.data.idx import read_idx
from bfpdse.errors import BfpdseError, DataError
from bfpdse.nn.zoo import NAMES, TrainSettings

INPUT_SCALE = 1.0 / 255.0
OPSET = 17
# The only ONNX op types a zoo graph may use (the ONNX importer supports these).
ALLOWED_OPS = frozenset(
    {"Conv", "BatchNormalization", "Relu", "MaxPool", "Add", "GlobalAveragePool", "Flatten", "Gemm"}
)
DATA_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
CROP_PAD = 2  # random-crop augmentation: zero padding in pixels on each side


# --------------------------------------------------------------------------------------------
# models


class LeNet5(nn.Module):
    """LeNet-5 for 1x28x28 inputs, with BatchNorm after each convolution."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2, bias=False),
            nn.BatchNorm2d(6),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN layers; the shortcut is a 1x1 conv + BN when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu2 = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            # option B of He et al. 2016: a projection, so the graph needs no Pad/Slice ops
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class ResNet20(nn.Module):
    """CIFAR-style ResNet-20 (He et al. 2016) for 1x28x28 inputs."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()
        )
        blocks: list[nn.Module] = []
        cin = 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(3):
                blocks.append(BasicBlock(cin, cout, stride if i == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)  # exports as GlobalAveragePool
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.layers(self.stem(x)))
        return self.fc(torch.flatten(x, 1))


_BUILDERS: dict[str, Callable[[], nn.Module]] = {"lenet5": LeNet5, "resnet20": ResNet20}
assert set(_BUILDERS) == set(NAMES), "every zoo name needs a builder"


def build_model(name: str) -> nn.Module:
    """A freshly initialised zoo model (seed torch first for a reproducible init)."""
    if name not in _BUILDERS:
        raise BfpdseError(f"unknown zoo model {name!r}; valid names: {', '.join(NAMES)}")
    return _BUILDERS[name]()


# --------------------------------------------------------------------------------------------
# data


def load_split(data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of a Fashion-MNIST split in IDX files."""
    data_dir = Path(data_dir)
    expected = [f for pair in DATA_FILES.values() for f in pair]
    if not data_dir.is_dir():
        raise DataError(
            f"{data_dir}: no such data directory; expected a folder with the Fashion-MNIST IDX "
            f"files {', '.join(expected)}"
        )
    # name every missing file at once, so one look at the message fixes the folder
    missing = [f for f in expected if not (data_dir / f).is_file()]
    if missing:
        raise DataError(
            f"{data_dir}: missing {', '.join(missing)}; expected the Fashion-MNIST IDX files "
            f"{', '.join(expected)}"
        )
    images = read_idx(data_dir / DATA_FILES[split][0])
    labels = read_idx(data_dir / DATA_FILES[split][1]).astype(np.int64)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise DataError(
            f"{data_dir / DATA_FILES[split][0]}: expected uint8 images of shape (N, 28, 28), "
            f"got {images.dtype} {images.shape}"
        )
    if labels.shape != (images.shape[0],) or labels.min() < 0 or labels.max() > 9:
        raise DataError(
            f"{data_dir / DATA_FILES[split][1]}: expected {images.shape[0]} labels in 0..9"
        )
    return images, labels


def to_input(images: np.ndarray) -> torch.Tensor:
    """uint8 images (N, 28, 28) -> float32 network input (N, 1, 28, 28) = pixels / 255."""
    return torch.from_numpy(images).to(torch.float32).mul_(INPUT_SCALE).unsqueeze(1)


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random crop (zero padding CROP_PAD) and random horizontal flip of a batch (N, 1, H, W)."""
    n, _, h, w = x.shape
    padded = nn.functional.pad(x, (CROP_PAD,) * 4)
    dy = torch.randint(0, 2 * CROP_PAD + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * CROP_PAD + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]  # (N, H, 1)
    cols = (dx[:, None] + torch.arange(w))[:, None, :]  # (N, 1, W)
    out = padded[torch.arange(n)[:, None, None], 0, rows, cols].unsqueeze(1)
    flip = torch.rand(n, generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(-1), out)


# --------------------------------------------------------------------------------------------
# training


@torch.no_grad()
def accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray, batch: int = 1000) -> float:
    """Top-1 accuracy (fraction in [0, 1]) of ``model`` in eval mode on uint8 images."""
    model.eval()
    correct = 0
    for i in range(0, len(images), batch):
        logits = model(to_input(images[i : i + batch]))
        correct += int((logits.argmax(1).numpy() == labels[i : i + batch]).sum())
    return correct / len(images)


# on_batch(epoch, batch, n_batches, loss) and on_epoch(epoch, n_epochs, summary); epochs from 1
BatchHook = Callable[[int, int, int, float], None]
EpochHook = Callable[[int, int, dict[str, float]], None]


def fit(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    settings: TrainSettings,
    on_batch: BatchHook | None = None,
    on_epoch: EpochHook | None = None,
) -> None:
    """Train in place: SGD (Nesterov momentum 0.9, weight decay 5e-4), one-cycle LR, augmentation.

    The data order and the augmentation come from a generator seeded with ``settings.seed``.
    """
    gen = torch.Generator().manual_seed(settings.seed)
    # channels_last runs the small convolutions about 1.5x faster on CPU (resnet20, 2 threads)
    model.to(memory_format=torch.channels_last)
    x_all = to_input(images)
    y_all = torch.from_numpy(labels)
    n_batches = len(images) // settings.batch_size  # drop the ragged last batch
    opt = torch.optim.SGD(
        model.parameters(),
        lr=settings.lr,
        momentum=MOMENTUM,
        nesterov=True,
        weight_decay=WEIGHT_DECAY,
    )
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=settings.lr, epochs=settings.epochs, steps_per_epoch=n_batches
    )
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(1, settings.epochs + 1):
        model.train()
        start = time.perf_counter()
        order = torch.randperm(len(images), generator=gen)
        loss_sum = correct = seen = 0.0
        for b in range(n_batches):
            idx = order[b * settings.batch_size : (b + 1) * settings.batch_size]
            x = augment(x_all[idx], gen).contiguous(memory_format=torch.channels_last)
            y = y_all[idx]
            logits = model(x)
            loss = loss_fn(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_value = loss.item()
            loss_sum += loss_value * len(y)
            correct += float((logits.argmax(1) == y).sum())
            seen += len(y)
            if on_batch is not None:
                on_batch(epoch, b + 1, n_batches, loss_value)
        if on_epoch is not None:
            summary = {
                "train_loss": loss_sum / seen,
                "train_accuracy": correct / seen,
                "lr": sched.get_last_lr()[0],
                "epoch_s": time.perf_counter() - start,
            }
            on_epoch(epoch, settings.epochs, summary)


# --------------------------------------------------------------------------------------------
# export


def export_onnx(model: nn.Module, path: Path, metadata: dict[str, str]) -> None:
    """Write ``model`` as ONNX (opset 17, dynamic batch) with BatchNormalization kept as nodes."""
    model.eval().to(memory_format=torch.contiguous_format)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 1, 28, 28)
    tmp = path.with_name(path.name + ".tmp")
    # The TorchScript exporter in PRESERVE mode with an eval-mode model keeps inference-form
    # BatchNormalization nodes; constant folding off keeps Conv and BN apart.
    torch.onnx.export(
        model,
        (dummy,),
        str(tmp),
        dynamo=False,
        export_params=True,
        opset_version=OPSET,
        do_constant_folding=False,
        training=torch.onnx.TrainingMode.PRESERVE,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    proto = strip_identities(onnx.load(str(tmp)))
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "bfpdse"
    onnx.checker.check_model(proto, full_check=True)
    ops = {node.op_type for node in proto.graph.node}
    if not ops <= ALLOWED_OPS:
        raise RuntimeError(
            f"exported graph uses {sorted(ops - ALLOWED_OPS)}; allowed: {sorted(ALLOWED_OPS)}; "
            f"the raw export is kept in {tmp}"
        )
    onnx.save(proto, str(path))
    tmp.unlink()


def strip_identities(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Drop Identity nodes (no-ops), rewiring their consumers to the Identity's input.

    The TorchScript exporter deduplicates bit-equal initializers through Identity nodes: in
    ResNet-20 a shortcut BN bias gets the same gradients as its block's bn2 bias (both add before
    the ReLU) and stays equal to it. The zoo keeps its graphs to the ops in ALLOWED_OPS.
    """
    graph = proto.graph
    outputs = {o.name for o in graph.output}
    alias = {}
    for node in graph.node:
        if node.op_type == "Identity" and node.output[0] not in outputs:
            alias[node.output[0]] = alias.get(node.input[0], node.input[0])
    keep = [n for n in graph.node if not (n.op_type == "Identity" and n.output[0] in alias)]
    for node in keep:
        for i, name in enumerate(node.input):
            node.input[i] = alias.get(name, name)
    del graph.node[:]
    graph.node.extend(keep)
    return proto


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def train(
    name: str,
    data_dir: Path,
    out: Path,
    settings: TrainSettings,
    command: str,
    on_batch: BatchHook | None = None,
    on_epoch: EpochHook | None = None,
) -> dict[str, Any]:
    """Train zoo model ``name``, write ``out`` (ONNX) and its card (``out`` with ``.json``).

    ``command`` is the command line recorded in the metadata and the card. Returns the card.
    """
    x_train, y_train = load_split(data_dir, "train")
    x_test, y_test = load_split(data_dir, "test")
    torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    torch.use_deterministic_algorithms(True)
    model = build_model(name)
    start = time.perf_counter()
    fit(model, x_train, y_train, settings, on_batch, on_epoch)
    wall_s = time.perf_counter() - start
    acc = accuracy(model, x_test, y_test)  # the last epoch's model; nothing is selected on test
    metadata = {
        "bfpdse.zoo_name": name,
        "bfpdse.dataset": "fashion-mnist",
        "bfpdse.input_scale": repr(INPUT_SCALE),
        "bfpdse.mean": "0",
        "bfpdse.std": "1",
        "bfpdse.train_command": command,
        "bfpdse.seed": str(settings.seed),
        "bfpdse.float_accuracy": f"{acc:.4f}",
    }
    out = Path(out)
    export_onnx(model, out, metadata)
    card = {
        "name": name,
        "file": out.name,
        "sha256": sha256(out),
        "parameters": sum(p.numel() for p in model.parameters()),
        "dataset": "fashion-mnist",
        "input": "1x28x28 float32 = uint8 pixels * input_scale; no mean/std normalisation",
        "input_scale": INPUT_SCALE,
        "epochs": settings.epochs,
        "batch_size": settings.batch_size,
        "optimizer": (
            f"SGD, Nesterov momentum {MOMENTUM}, weight decay {WEIGHT_DECAY} on all parameters"
        ),
        "schedule": f"OneCycleLR (cosine), max_lr {settings.lr}, stepped per batch",
        "augmentation": (
            f"random crop 28x28 from zero padding {CROP_PAD}, random horizontal flip (p=0.5)"
        ),
        "seed": settings.seed,
        "threads": settings.threads,
        "train_command": command,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "onnx_opset": OPSET,
        "train_wall_s": round(wall_s, 1),
        "float_accuracy": round(acc, 4),
        "float_accuracy_split": "fashion-mnist test, all 10000 images, final epoch",
        "settings": asdict(settings),
    }
    out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return card
