"""``bfpdse plot``: draw every figure a result table supports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bfpdse.cli._app import app, console, console_err

FORMAT_CHOICES = ("png", "svg", "pdf")  # = bfpdse.plots.FORMATS, not imported: --help stays quick

#: the RESULTS argument of ``plot`` and ``pareto``
ResultsArg = Annotated[
    Path,
    typer.Argument(
        exists=True,
        metavar="RESULTS",
        help="A sweep folder (results.parquet or results.csv) or a folder of sweep folders.",
        show_default=False,
    ),
]


def parse_formats(text: str) -> list[str]:
    """'png,svg' -> ['png', 'svg']; raises BadParameter (exit 2) on anything else."""
    formats = list(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    bad = [f for f in formats if f not in FORMAT_CHOICES]
    if bad or not formats:
        raise typer.BadParameter(
            f"{text!r}: give one or more of {', '.join(FORMAT_CHOICES)}, comma-separated",
            param_hint="--format",
        )
    return formats


@app.command(
    "plot",
    help=(
        "Draw the figures of a result table: accuracy vs ADC bits, Pareto front, energy"
        " breakdown, heatmaps, block-size and input-mantissa curves, accuracy vs noise (a"
        " noise.* setting swept; bars: the spread over noise.trials).\n\n"
        "Each plot is drawn only when the table varies what it needs; the others are listed on"
        " stderr with the reason. Files are named after the plot (figures/energy_accuracy_pareto"
        ".png, ...); a folder of sweeps gets one sub-folder per sweep. Energies are per inference"
        " (pJ, nJ or µJ as fits), accuracies in %, drops in percentage points. The default"
        " RESULTS/figures folder does not stop a sweep from resuming there."
    ),
)
def plot(
    results: ResultsArg,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Folder for the figures [default: RESULTS/figures].",
            show_default=False,
        ),
    ] = None,
    formats: Annotated[
        str,
        typer.Option("--format", "-f", help="File formats, comma-separated: png, svg, pdf."),
    ] = "png",
    max_drop: Annotated[
        float,
        typer.Option(
            "--max-drop",
            min=0.0,
            max=100.0,
            help=(
                "Accuracy-drop budget in percentage points for the energy breakdown's points"
                " (the lowest-energy point per scheme within it)."
            ),
        ),
    ] = 0.5,
) -> None:
    """Draw every figure the table supports into --out (see the help text above)."""
    chosen = parse_formats(formats)
    from bfpdse.plots import make_figures
    from bfpdse.store.folder import FIGURES
    from bfpdse.store.read import read_results

    table = read_results(results)
    target = out if out is not None else (results if results.is_dir() else results.parent) / FIGURES
    try:
        report = make_figures(table, target, chosen, max_drop_points=max_drop)
    except OSError as exc:  # --out is a file, read-only, a full disk
        from bfpdse.errors import StoreError

        raise StoreError(
            f"{target}: cannot write figures there ({exc.strerror or type(exc).__name__}); "
            "choose another --out"
        ) from None
    for path in report.written:
        console.print(str(path), highlight=False, soft_wrap=True)
    by_reason: dict[str, list[str]] = {}
    for name, why in report.skipped.items():
        by_reason.setdefault(why, []).append(name)
    for why, names in by_reason.items():
        console_err.print(f"not drawn: {', '.join(names)}: {why}", highlight=False, soft_wrap=True)
    if not report.written:
        console_err.print(f"no figure could be drawn from {results}", highlight=False)
        raise typer.Exit(1)
