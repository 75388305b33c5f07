"""What the point-evaluating commands (run, energy) share: options, the point, output."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bfpdse.cli._app import console_err
from bfpdse.errors import SpecError
from bfpdse.spec.point import Point, make_point, parse_set

ModelOpt = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Zoo name (lenet5, resnet20) or path to an .onnx file."),
]
DatasetOpt = Annotated[
    str | None,
    typer.Option(
        "--dataset",
        "-d",
        help="Dataset name (fashion-mnist, bundled) or a path: a folder of IDX files, of "
        "CIFAR-10 python batches or of class folders of PNG/JPEG images, or an .npz file with x "
        "and y; or a mapping with preprocessing, e.g. '{path: DIR, resize: 256, crop: 224, "
        "mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}' (the same keys as "
        "--set dataset.resize=256).",
    ),
]
SamplesOpt = Annotated[
    int | None,
    typer.Option("--samples", "-n", min=1, help="Test images to evaluate (default 1000)."),
]
SeedOpt = Annotated[
    int | None, typer.Option("--seed", min=0, help="Seed that draws the test images (default 0).")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        metavar="KEY=VALUE",
        help="Override one setting with a dotted key, as in sweep files; repeatable. "
        "E.g. --set cim.adc=rar --set cim.adc_bits=5 --set cim.rows=256 "
        "--set energy.tech_node_nm=22. Keys: cim.* (docs/spec.md fields: rows, cols, cell_bits, "
        "weight_bits, input_bits, dac_bits, input_signed, weight_mapping, adc, adc_bits \\[bits], "
        "block \\[outputs], rounding, input_mantissa_bits \\[bits]), quant.*, energy.* "
        "(preset, tech_node_nm \\[nm], adc_throughput_hz \\[samples/s], cols_per_adc, "
        "freq_hz \\[Hz], rho, exponent_search_pj \\[pJ], overrides).",
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON object instead of a table (stdout).")
]


def build_point(
    model: str | None,
    dataset: str | None,
    samples: int | None,
    seed: int | None,
    sets: list[str] | None,
    base: dict[str, Any] | None = None,
) -> Point:
    """The design point of the options: defaults, then the named options, then --set."""
    settings: dict[str, Any] = dict(base or {})
    if dataset is not None and dataset.lstrip().startswith("{"):
        dataset = _mapping(dataset)
    named = {"model": model, "dataset": dataset, "samples": samples, "seed": seed}
    settings.update({k: v for k, v in named.items() if v is not None})
    settings.update(parse_set(sets or []))
    return make_point(settings)


def _mapping(text: str) -> dict[str, Any]:
    """A --dataset given as a YAML mapping: '{path: DIR, resize: 256, crop: 224}'."""
    import yaml

    from bfpdse.spec import yamlio

    try:
        value = yamlio.load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"--dataset {text!r}: not a YAML mapping ({exc})") from None
    if not isinstance(value, dict):
        raise SpecError(f"--dataset {text!r}: expected a mapping like {{path: DIR, crop: 224}}")
    glued = [k for k, v in value.items() if v is None and ":" in str(k)]
    if glued:
        raise SpecError(
            f"--dataset {text!r}: {glued[0]!r} reads as one key; YAML needs a space after each "
            "colon: {path: DIR, resize: 256}"
        )
    return value


def jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars to Python, non-finite floats to null."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dump_json(record: dict[str, Any]) -> str:
    """One JSON object, keys in insertion order."""
    return json.dumps(jsonable(record), indent=2)


@contextmanager
def image_progress(label: str, enabled: bool = True) -> Iterator[Any]:
    """A progress bar on stderr over images; yields the callback progress(done, total)."""
    if not enabled:
        yield None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("images"),
        TimeRemainingColumn(),
        console=console_err,
        transient=True,
    )
    with bar:
        task = bar.add_task(label, total=None)

        def callback(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield callback


__all__ = ["build_point", "dump_json", "image_progress", "jsonable"]
