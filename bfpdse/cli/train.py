"""``bfpdse train``: train a zoo model on Fashion-MNIST with PyTorch and export it to ONNX."""

from __future__ import annotations

import enum
import shlex
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer

from bfpdse.cli._app import app, console, console_err
from bfpdse.errors import BfpdseError
from bfpdse.nn.zoo import NAMES, TRAIN_DEFAULTS, TrainSettings

ZooName = enum.Enum("ZooName", {name: name for name in NAMES}, type=str)


def _defaults(field: str) -> str:
    """'\\[default: 15 for lenet5, 12 for resnet20]' for the help text (escaped for rich)."""
    values = ", ".join(f"{getattr(s, field)} for {name}" for name, s in TRAIN_DEFAULTS.items())
    return f"\\[default: {values}]"


_HELP = (
    "Train a zoo model on Fashion-MNIST (CPU) and export it to ONNX with its model card. "
    "The defaults are the settings of the shipped zoo files (SGD with Nesterov momentum, "
    "one-cycle learning rate, random-crop and flip augmentation); the final epoch's model is "
    "exported and its float accuracy on the 10,000 test images is recorded. "
    "Needs PyTorch: pip install 'bfpdse\\[train]'."
)


@app.command("train", help=_HELP)
def train(
    model: Annotated[ZooName, typer.Argument(help="Zoo model to train.", show_default=False)],
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="Folder with the Fashion-MNIST IDX files (train-images-idx3-ubyte.gz, "
            "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz).",
            show_default=False,
        ),
    ],
    epochs: Annotated[
        int | None,
        typer.Option(min=1, help=f"Passes over the 60,000 training images {_defaults('epochs')}."),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(min=1, help=f"Images per SGD step {_defaults('batch_size')}."),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help=f"Peak learning rate of the one-cycle schedule {_defaults('lr')}.",
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seed of the weight init, data order and augmentation.")
    ] = 0,
    threads: Annotated[
        int,
        typer.Option(
            min=1,
            help="PyTorch CPU threads; on a busy machine one thread is often the fastest.",
        ),
    ] = 1,
    out: Annotated[
        Path | None,
        typer.Option(
            help="ONNX file to write; the model card goes beside it with .json "
            "\\[default: ./MODEL.onnx].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """``bfpdse train``: see _HELP; the work is done by bfpdse.nn.zoo.train."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise BfpdseError("bfpdse train needs PyTorch: pip install 'bfpdse[train]'") from None
    from bfpdse.nn.zoo import train as zoo_train

    name = model.value
    defaults = TRAIN_DEFAULTS[name]
    settings = replace(
        defaults,
        epochs=epochs if epochs is not None else defaults.epochs,
        batch_size=batch_size if batch_size is not None else defaults.batch_size,
        lr=lr if lr is not None else defaults.lr,
        seed=seed,
        threads=threads,
    )
    out = out if out is not None else Path(f"{name}.onnx")
    command = _command(name, data, settings, out)
    card = _run_with_progress(zoo_train, name, data, out, settings, command)
    console.print(
        f"wrote {out} and {out.with_suffix('.json')}: float test accuracy "
        f"{card['float_accuracy']:.2%}, training {card['train_wall_s']:.0f} s"
    )


def _command(name: str, data: Path, s: TrainSettings, out: Path) -> str:
    """The full command line that reproduces this run (recorded in the ONNX file and card)."""
    args = ["bfpdse", "train", name, "--data", str(data), "--epochs", str(s.epochs)]
    args += ["--batch-size", str(s.batch_size), "--lr", repr(s.lr), "--seed", str(s.seed)]
    args += ["--threads", str(s.threads), "--out", str(out)]
    return shlex.join(args)


def _run_with_progress(
    zoo_train: ModuleType,
    name: str,
    data: Path,
    out: Path,
    settings: TrainSettings,
    command: str,
) -> dict[str, Any]:
    """Run ``zoo_train.train`` with rich progress bars (epochs, batches) on stderr."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console_err,
    ) as progress:
        epochs = progress.add_task(f"{name} epochs", total=settings.epochs, info="")
        batches = progress.add_task("batches", total=None, info="")

        def on_batch(epoch: int, batch: int, n_batches: int, loss: float) -> None:
            if batch == 1:
                progress.reset(batches, total=n_batches, description=f"epoch {epoch} batches")
            progress.update(batches, completed=batch, info=f"loss {loss:.3f}")

        def on_epoch(epoch: int, n_epochs: int, summary: dict[str, float]) -> None:
            progress.update(epochs, completed=epoch)
            progress.console.print(
                f"epoch {epoch}/{n_epochs}: train loss {summary['train_loss']:.4f}, "
                f"train accuracy {summary['train_accuracy']:.2%} (augmented), "
                f"lr {summary['lr']:.4g}, {summary['epoch_s']:.0f} s"
            )

        return zoo_train.train(name, data, out, settings, command, on_batch, on_epoch)
