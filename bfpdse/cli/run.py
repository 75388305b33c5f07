"""``bfpdse run``: evaluate one design point (accuracy, error, energy, latency, area)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from bfpdse.cli._app import app, console
from bfpdse.cli._point import (
    DatasetOpt,
    JsonOpt,
    ModelOpt,
    SamplesOpt,
    SeedOpt,
    SetOpt,
    build_point,
    dump_json,
    image_progress,
)

#: (record key, label, format) of the summary table
_ROWS = [
    ("accuracy", "accuracy", "{:.2%}"),
    ("accuracy_ideal", "accuracy, ideal ADC (int model)", "{:.2%}"),
    ("accuracy_float", "accuracy, float model", "{:.2%}"),
    ("accuracy_drop", "drop vs ideal ADC [points]", "{:+.2%}"),
    ("sqnr_db", "mean layer output SQNR [dB]", "{:.1f}"),
    ("energy_pj", "energy per inference [nJ]", "nJ"),
    ("energy_adc_pj", "  of which ADC [nJ]", "nJ"),
    ("conversions", "ADC conversions per inference", "{:,.0f}"),
    ("conversions_dense", "  without zero-plane skipping", "{:,.0f}"),
    ("adc_cycles", "ADC bit-cycles per inference", "{:,.0f}"),
    ("latency_ns", "latency per inference [µs]", "us"),
    ("area_mm2", "area (ADCs + arrays) [mm²]", "{:.3f}"),
    ("tops_per_w", "TOPS/W (1 MAC = 2 ops)", "{:.2f}"),
    ("calib_s", "ADC calibration time [s]", "{:.1f}"),
    ("wall_s", "wall time [s]", "{:.1f}"),
]


def _fmt(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    if fmt == "nJ":
        return f"{value / 1e3:,.2f}"
    if fmt == "us":
        return f"{value / 1e3:,.2f}"
    return fmt.format(value)


def result_table(record: dict[str, Any], settings: dict[str, Any]) -> Table:
    """The rich table of one evaluated point."""
    title = (
        f"{settings['model']} on {settings['dataset']}, {record.get('samples_used')} images: "
        f"adc={settings['cim.adc']}, b={settings['cim.adc_bits']}, R={settings['cim.rows']}"
    )
    table = Table(title=escape(title), show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, label, fmt in _ROWS:
        if key in record:
            table.add_row(escape(label), _fmt(record[key], fmt))
    return table


@app.command()
def run(
    model: ModelOpt = None,
    dataset: DatasetOpt = None,
    samples: SamplesOpt = None,
    seed: SeedOpt = None,
    set_: SetOpt = None,
    json_: JsonOpt = False,
    progress: Annotated[
        bool, typer.Option(help="Show a progress bar over the test images (stderr).")
    ] = True,
    jobs: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Worker processes that share the test images (each gets cores // JOBS numba "
            "threads; capped at the cores); the numbers equal a one-process run "
            "\\[default: 1: this process, numba uses all cores]",
            show_default=False,
        ),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="Share the test images among the workers of this Dask scheduler "
            "(tcp://host:port); needs the dask extra.",
        ),
    ] = None,
) -> None:
    """Evaluate one design point: accuracy, SQNR, energy, latency and area.

    Accuracies are top-1 on the test images; the drop is ideal-ADC accuracy minus this point's.
    Energy and latency are per inference, area for the whole network mapped at once.
    """
    from bfpdse.evaluate import evaluate

    point = build_point(model, dataset, samples, seed, set_)
    if dask or (jobs or 1) > 1:  # the images in shards on several workers, merged here
        from bfpdse.evaluate import check_inputs
        from bfpdse.run.shard import evaluate_point

        check_inputs(point)  # an input error is one line here, not a failed shard
        record = evaluate_point(point, jobs, dask, details=True)
    else:
        with image_progress("CIM inference", progress and not json_) as cb:
            record = evaluate(point, progress=cb, details=True)
    settings = point.settings()
    if json_:
        layers = record.pop("layers")
        print(dump_json({**record, **settings, "point_id": point.point_id, "layers": layers}))
    else:
        console.print(result_table(record, settings))
