"""``bfpdse sweep``: run a YAML sweep of design points into one result table."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bfpdse.cli._app import app, console, console_err
from bfpdse.threads import AUTO_PROCESS_SAMPLES

#: points shown by --dry-run before the table is cut (the count is always printed)
DRY_RUN_ROWS = 200


@app.command("sweep")
def sweep(
    spec: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="Sweep file (YAML), e.g. sweeps/adc_bits.yaml.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(help="Results root; the sweep writes to OUT/<name>/."),
    ] = Path("results"),
    jobs: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Worker processes; each gets cores // JOBS numba threads "
            "\\[default: one per core, 1 thread each, for 2 or more points of "
            f"{AUTO_PROCESS_SAMPLES} or more images; else 1: the points run in this process, "
            "numba uses all cores]",
            show_default=False,
        ),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="Send the points to this Dask scheduler (tcp://host:port) instead of local "
            "processes; needs the dask extra.",
        ),
    ] = None,
    max_points: Annotated[
        int,
        typer.Option(
            "--max-points",
            min=1,
            help="Refuse sweeps whose axes span more points than this (a guard against typos).",
        ),
    ] = 10_000,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the design points and their count; write nothing."),
    ] = False,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="Delete the results in OUT/<name>/ first (needed when the spec has changed).",
        ),
    ] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Override a setting for every point (dotted key, YAML value; repeatable), "
            "e.g. --set samples=100 --set cim.rows=256. A swept key is pinned to VALUE.",
            show_default=False,
        ),
    ] = None,
    fail_fast: Annotated[
        bool,
        typer.Option("--fail-fast", help="Stop at the first point that fails."),
    ] = False,
    grace: Annotated[
        float,
        typer.Option(
            min=0,
            metavar="SECONDS",
            help="After a first Ctrl-C or SIGTERM no new point starts and the points running "
            "may finish for this long \\[s]; a second signal stops at once (0: at once).",
        ),
    ] = 10.0,
    cache: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Folder of the work points share (reference accuracies, ADC windows, CIM "
            "passes), found again by later sweeps that use it; safe to delete "
            "\\[default: OUT/cache].",
            show_default=False,
        ),
    ] = None,
    evaluator: Annotated[
        str | None,
        typer.Option(hidden=True, help="module:function evaluating a point (for tests)."),
    ] = None,
) -> None:
    """Evaluate every design point of a sweep file; resume where an earlier run stopped.

    Writes OUT/<name>/results.parquet and results.csv, one row per point.

    Exit status: 0 all points ok, 1 some failed (their rows say why), 2 invalid spec or option.
    """
    from bfpdse.run.runner import resolve_evaluate, run_sweep
    from bfpdse.run.stop import Interrupted
    from bfpdse.spec.load import load_spec

    loaded = load_spec(spec, set_ or (), max_points=max_points)
    if dry_run:
        _print_points(loaded, out)
        return
    evaluate = resolve_evaluate(evaluator) if evaluator else None
    try:
        summary = run_sweep(
            loaded, out=out, jobs=jobs, dask=dask, fresh=fresh, fail_fast=fail_fast,
            evaluate=evaluate, cache=cache, grace_s=grace,
        )  # fmt: skip
    except Interrupted as exc:  # the runner has said what it kept; exit 128 + the signal
        raise typer.Exit(exc.exit_code) from None
    _print_summary(summary)
    if not summary.complete:
        raise typer.Exit(1)


def _print_points(spec, out: Path) -> None:
    from bfpdse.store.folder import SweepFolder

    folder = SweepFolder(out / spec.name)
    same = folder.stored_hash() == spec.spec_hash
    parts = folder.parts() if same else {}
    keys = spec.varied_keys()
    table = Table(title=f"{spec.name}: design points", header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("point_id", no_wrap=True, min_width=16)
    for key in keys:
        table.add_column(key)
    table.add_column("stored")
    # the first rows only: the counts come from the spec, so the rest is never built
    for i, point in enumerate(itertools.islice(spec.iter_points(), DRY_RUN_ROWS)):
        settings = point.settings()
        status = parts.get(point.point_id, {}).get("status", "")
        table.add_row(str(i), point.point_id, *(_cell(settings[k]) for k in keys), status)
    console.print(table)
    c = spec.counts
    if c.points > DRY_RUN_ROWS:
        console.print(f"... {c.points - DRY_RUN_ROWS:,} more not shown")
    console.print(
        f"{c.points:,} points ({c.combinations:,} combinations, {c.excluded:,} excluded, "
        f"{c.collapsed:,} collapsed as equal) -> {folder.root}",
        highlight=False,
        soft_wrap=True,
    )
    if folder.stored_hash() is not None and not same:
        console_err.print(
            f"note: {folder.root} holds results of a different spec; running needs --fresh",
            highlight=False,
            soft_wrap=True,
        )
    for warning in spec.warnings:
        console_err.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _print_summary(summary) -> None:
    style = "green" if summary.complete else "red"
    console_err.print(
        f"[{style}]{summary.ok} ok, {summary.failed} failed[/] of {summary.points} points "
        f"({summary.ran} run now, {summary.skipped} done before) in {summary.wall_s:.1f} s",
        highlight=False,
        soft_wrap=True,
    )
    for point_id, error in summary.failures:
        console_err.print(f"  failed {point_id}: {error}", highlight=False, soft_wrap=True)
    if summary.failed:
        console_err.print(
            "failed points run again on the next bfpdse sweep", highlight=False, soft_wrap=True
        )
    if summary.stopped:
        console_err.print(f"stopped by --fail-fast; {summary.missing} point(s) not run")
    console_err.print(
        f"table: {summary.table} (and {summary.parquet.name})", highlight=False, soft_wrap=True
    )
