"""``bfpdse energy``: price one design point (energy, latency, area) without its accuracy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

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

if TYPE_CHECKING:
    from bfpdse.spec.point import Point


def breakdown_table(record: dict[str, Any], point: Point, title: str) -> Table:
    """Energy per inference by component, with each price's source."""
    from bfpdse.energy import COMPONENTS, component_prices  # numba: load only when used

    total = record["energy_pj"]
    table = Table(title=escape(title))
    table.add_column("component")
    table.add_column("energy / inference (nJ)", justify="right")
    table.add_column("share", justify="right")
    table.add_column("source")
    sources = {name: c.source for name, c in component_prices(point.cim, point.energy).items()}
    for name in COMPONENTS:
        value = record[f"energy_{name}_pj"]
        share = value / total if total else 0.0
        table.add_row(name, f"{value / 1e3:,.3f}", f"{share:.1%}", escape(sources.get(name, "")))
    table.add_row("total", f"{total / 1e3:,.3f}", "100%", "", style="bold")
    return table


@app.command()
def energy(
    model: ModelOpt = None,
    dataset: DatasetOpt = None,
    samples: SamplesOpt = None,
    seed: SeedOpt = None,
    set_: SetOpt = None,
    shapes_only: Annotated[
        bool,
        typer.Option(
            "--shapes-only",
            help="Price from the layer shapes alone, without images: assumes no input plane is "
            "all zero (every plane converted) and rar at its best case of b bit-cycles.",
        ),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Energy, latency and area of one design point, without computing accuracy.

    By default one CIM pass over --samples test images (default 100 here) counts conversions,
    skipped planes and ADC bit-cycles as the data makes them; --shapes-only needs no images.
    """
    from bfpdse.evaluate import estimate_cost, measure_cost

    point = build_point(model, dataset, samples or 100, seed, set_)
    if shapes_only:
        record = estimate_cost(point)
    else:
        with image_progress("CIM counts", not json_) as cb:
            record = measure_cost(point, progress=cb)
    settings = point.settings()
    if json_:
        print(dump_json({**record, **settings, "point_id": point.point_id}))
        return
    how = "layer shapes only" if shapes_only else f"{record['samples_used']} images"
    title = (
        f"{settings['model']}, adc={settings['cim.adc']} b={settings['cim.adc_bits']}, "
        f"{settings['energy.preset']} preset at {settings['energy.tech_node_nm']} nm ({how})"
    )
    console.print(breakdown_table(record, point, title))
    console.print(
        f"latency {record['latency_ns'] / 1e3:,.2f} µs per inference, area "
        f"{record['area_mm2']:.3f} mm² (ADC {record['area_adc_mm2']:.3f}, arrays "
        f"{record['area_array_mm2']:.4f}), {record['tops_per_w']:.2f} TOPS/W, "
        f"{record['conversions']:,.0f} conversions per inference"
        + (" [ADC energy extrapolated below 4 bits]" if record["adc_extrapolated"] else "")
    )
