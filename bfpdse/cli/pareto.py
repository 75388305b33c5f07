"""``bfpdse pareto``: Pareto-optimal designs and the iso-accuracy gain over ``calibrated``."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from bfpdse.cli._app import app, console
from bfpdse.cli.plot import ResultsArg


def baseline() -> str:
    """The scheme gains are reported against (the ADC scheme registry's baseline)."""
    from bfpdse.cim.adc import baseline_scheme  # imported late: it loads the kernels

    return baseline_scheme()


def reference_scheme() -> str:
    """The exact scheme drops are measured against (ideal)."""
    from bfpdse.cim.adc import reference_scheme as ref

    return ref()


def _energy_unit(rows: list[dict]) -> tuple[float, str]:
    from bfpdse.plots.style import energy_unit

    return energy_unit([r["energy_pj"] for r in rows if r.get("energy_pj") is not None])


def _table(title: str, rows: list[dict], settings: list[str], gain: bool = False) -> Table:
    from bfpdse.plots._table import SCHEME, design_label

    div, unit = _energy_unit(rows)
    table = Table(title=title, title_justify="left", title_style="bold")
    table.add_column("scheme")
    table.add_column("design")
    columns = ("acc. %", "drop pts", "95 % interval", f"energy {unit}")
    for name in columns + (("gain",) if gain else ()):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("point_id", style="dim", no_wrap=True)
    for r in rows:
        cells = [
            str(r.get(SCHEME)),
            design_label(r, [s for s in settings if s != SCHEME])
            .removeprefix(str(r.get(SCHEME)))
            .strip(),
            f"{100 * r['accuracy']:.2f}",
            f"{100 * r['accuracy_drop']:.2f}" if r.get("accuracy_drop") is not None else "-",
            _interval(r),
            f"{r['energy_pj'] / div:.4g}",
        ]
        if gain:
            cells.append("-" if r.get("gain") is None else f"{r['gain']:.2f}×")
        table.add_row(*cells, str(r.get("point_id", "")))
    return table


def _interval(row: dict) -> str:
    """The drop's 95 % interval in points, '-' when the row has none (made before bfpdse
    recorded it)."""
    lo, hi = row.get("accuracy_drop_lo"), row.get("accuracy_drop_hi")
    if lo is None or hi is None:
        return "-"
    return f"{100 * lo:.2f} to {100 * hi:.2f}"


def _print_summary(summary: dict, max_drop: float) -> None:
    from bfpdse.plots._table import SCHEME

    where = " · ".join(str(v) for v in (summary["model"], summary["dataset"]) if v) + (
        f" · {'/'.join(map(str, summary['samples']))} samples" if summary["samples"] else ""
    )
    console.print(
        f"[bold]{where}[/]: {summary['points']} points, {summary['ok']} ok,"
        f" {summary['failed']} failed",
        highlight=False,
    )
    if summary["pareto_message"]:
        console.print(f"[yellow]{summary['pareto_message']}[/]", highlight=False)
        return
    settings = summary["settings"]
    console.print(
        _table(
            "Pareto-optimal points (minimum energy, maximum accuracy)", summary["pareto"], settings
        )
    )
    if summary["iso_accuracy"]:
        title = (
            f"Lowest-energy point per scheme with an accuracy drop ≤ {max_drop:g} points;"
            f" gain = energy of {baseline()} / energy of the scheme"
        )
        console.print(_table(title, summary["iso_accuracy"], settings, gain=True))
        for r in summary["iso_accuracy"]:
            if r.get("gain") is not None and r[SCHEME] not in (baseline(), reference_scheme()):
                console.print(_gain_sentence(r[SCHEME], r["gain"], max_drop), highlight=False)
    for note in summary["notes"]:
        console.print(f"[yellow]{note}[/]", highlight=False)
    for even in summary.get("break_even", []):
        console.print(_break_even_sentence(even), highlight=False)


def _break_even_sentence(even: dict) -> str:
    """'bfp reaches 1.81x over calibrated once the ADC's energy grows by ...' (plots.claim)."""
    from bfpdse.plots.claim import FACTORS

    head = f"Break-even: {even['scheme']} reaches {even['target']:g}× over {baseline()}"
    slope = f"these prices have {even['preset_slope']:.2f}× per bit at {even['anchor_bits']} b"
    if even["factor"] is None:
        return (
            f"{head} at no ADC energy slope up to {FACTORS[-1]:g}× per bit (gain"
            f" {even['gain_at_flat']:.2f}× with a flat ADC, {even['gain_at_max']:.2f}× at"
            f" {FACTORS[-1]:g}× per bit); {slope}"
        )
    return (
        f"{head} once the ADC's energy grows by ≥ [bold]{even['factor']:.2f}×[/] per bit; {slope}"
    )


def _with_break_even(summary: dict, part, max_drop: float, target: float) -> dict:
    """The summary plus, per range-aware scheme, the per-bit factor that reaches ``target``."""
    from bfpdse.plots.claim import break_evens

    return {**summary, "break_even": [e.to_dict() for e in break_evens(part, target, max_drop)]}


def _split_by(part, by: list[str]) -> list[tuple[dict[str, str], object]]:
    """({column: value}, rows) per combination of the ``by`` columns' values (one group without).

    A row whose ``by`` column is empty (the setting collapsed: it cannot affect that point, e.g.
    ``energy.bfp_search`` of a ``calibrated`` point) belongs to every value of that column.
    """
    import itertools

    import pandas as pd

    if not by:
        return [({}, part)]
    values = []
    for column in by:
        known = part[column].dropna().astype(str)
        values.append(sorted(set(known)) or ["—"])
    out = []
    for combo in itertools.product(*values):
        keep = pd.Series(True, index=part.index)
        for column, value in zip(by, combo, strict=True):
            keep &= part[column].isna() | (part[column].astype(str) == value)
        out.append((dict(zip(by, combo, strict=True)), part[keep]))
    return out


def _gain_sentence(scheme: str, gain: float, max_drop: float) -> str:
    """'bfp needs 1.8x less energy ...', or 'more' when the scheme costs more than the baseline."""
    factor, word = (gain, "less") if gain >= 1 else (1 / gain, "more")
    return (
        f"{scheme} needs [bold]{factor:.2f}×[/] {word} energy per inference than {baseline()}"
        f" at iso-accuracy (drop ≤ {max_drop:g} points; gain {gain:.2f}×)"
    )


@app.command(
    "pareto",
    help=(
        "Pareto-optimal designs, the best design per ADC scheme at an accuracy-drop budget, and"
        " its energy-efficiency gain over calibrated.\n\n"
        "The Pareto front minimises energy per inference and maximises top-1 accuracy. Per scheme,"
        " the lowest-energy design whose drop vs the ideal ADC is within --max-drop is listed with"
        " its gain = energy of the best calibrated design / energy of this design (iso-accuracy)."
        " A point is within the budget by its measured drop; the table shows each drop's 95 %"
        " interval (paired over the same images, Newcombe's score interval) and a note says when"
        " the budget is finer than the sample count resolves."
        " Repeats over seed are averaged; a folder of sweeps is analysed per model and dataset,"
        " and with --by per value of one setting (e.g. energy.preset). For each range-aware"
        " scheme a break-even line says how steeply the ADC's energy must grow per bit"
        " (E(b) = E(b0) r^(b - b0), b0 the baseline's bits) for its gain to reach --target."
        " Exit status 1 when no point succeeded. --json energies are in pJ, accuracies and drops"
        " fractions."
    ),
)
def pareto(
    results: ResultsArg,
    max_drop: Annotated[
        float,
        typer.Option(
            "--max-drop",
            min=0.0,
            max=100.0,
            help=(
                "Accuracy-drop budget in percentage points of top-1 accuracy, relative to the"
                " ideal ADC (0.5 = half a point)."
            ),
        ),
    ] = 0.5,
    by: Annotated[
        list[str] | None,
        typer.Option(
            "--by",
            help=(
                "A setting column (e.g. energy.preset): one analysis per value of it;"
                " repeatable (--by energy.preset --by energy.bfp_search)."
            ),
        ),
    ] = None,
    target: Annotated[
        float,
        typer.Option(
            "--target",
            min=1.0,
            help="Gain over the baseline that the break-even lines solve for (paper: 1.81).",
        ),
    ] = 1.81,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of tables.")
    ] = False,
) -> None:
    """Print the Pareto front and the iso-accuracy table (see the help text above)."""
    from bfpdse.plots._table import contexts
    from bfpdse.plots.pareto import pareto_summary
    from bfpdse.store.read import read_results

    table = read_results(results)
    by = list(by or [])
    for column in by:
        if column not in table.columns:
            from bfpdse.plots._table import setting_columns

            console.print(
                f"[red]error:[/] --by {column}: {results} has no column {column!r}; settings"
                f" columns: {', '.join(setting_columns(table))}",
                highlight=False,
            )
            raise typer.Exit(2)
    summaries = []
    for part in contexts(table):
        for values, rows in _split_by(part, by):
            summary = _with_break_even(pareto_summary(rows, max_drop), rows, max_drop, target)
            summaries.append({**summary, **({"by": values} if values else {})})
    if as_json:
        doc = {
            "results": str(results),
            "max_drop_points": max_drop,
            "baseline": baseline(),
            "target_gain": target,
            "contexts": summaries,
        }
        typer.echo(json.dumps(doc, indent=2, allow_nan=False))
    else:
        for summary in summaries:
            if "by" in summary:
                console.rule(" · ".join(f"{k} = {v}" for k, v in summary["by"].items()))
            _print_summary(summary, max_drop)
    if all(s["ok"] == 0 for s in summaries):
        raise typer.Exit(1)
