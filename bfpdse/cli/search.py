"""``bfpdse search``: the best design under a constraint (or a Pareto front), found by optuna."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bfpdse.cli._app import app, console, console_err


@app.command("search")
def search(
    spec: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="Search file (YAML): a sweep's model/dataset/samples/base plus a search: "
            "section, e.g. sweeps/search_adc_bits.yaml.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path, typer.Option(help="Results root; the search writes to OUT/<name>/.")
    ] = Path("results"),
    trials: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Trials in the study (replaces search.trials; more than before extends a "
            "finished search).",
            show_default=False,
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Trials in parallel, one worker process each (cores // JOBS numba threads) "
            "\\[default: 1]",
            show_default=False,
        ),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="Run the trials on this Dask scheduler (tcp://host:port); needs the dask extra.",
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Override a setting of every trial (dotted key, YAML value; repeatable); a "
            "searched key is pinned to VALUE.",
            show_default=False,
        ),
    ] = None,
    against: Annotated[
        Path | None,
        typer.Option(
            help="A grid sweep's results folder (e.g. results/adc_bits): report the gain over "
            "its best design within this search's space and constraints.",
            show_default=False,
        ),
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option("--fresh", help="Delete the study and results in OUT/<name>/ first."),
    ] = False,
    cache: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Folder of the work trials share (reference accuracies, ADC windows, CIM "
            "passes), as for sweeps; safe to delete \\[default: OUT/cache].",
            show_default=False,
        ),
    ] = None,
    evaluator: Annotated[
        str | None,
        typer.Option(hidden=True, help="module:function evaluating a point (for tests)."),
    ] = None,
) -> None:
    """Search a design space with optuna: each trial is one design point, evaluated and stored
    as a sweep point is (OUT/<name>/results.parquet and .csv, with its trial number).

    One objective with a constraint (minimize: energy_pj, constraint: accuracy_drop <= 0.005)
    uses TPE; two objectives give a Pareto front (NSGA-II). The study is a journal file in
    OUT/<name>/study/: a killed search resumes where it stopped, and several processes given the
    same command share one study. Ends with the best design (or the front) as a table, as
    `bfpdse run` options and as a sweep file (OUT/<name>/best.yaml).

    Exit status: 0 done, 1 no trial satisfied the constraint, 2 invalid spec or option,
    130/143 interrupted.
    """
    from bfpdse.run.runner import resolve_evaluate
    from bfpdse.run.stop import Interrupted
    from bfpdse.search.runner import run_search
    from bfpdse.search.spec import load_search

    loaded = load_search(spec, set_ or (), trials)
    if against is not None and not against.exists():
        from bfpdse.errors import StoreError

        raise StoreError(f"--against {against}: no such results folder")
    evaluate = resolve_evaluate(evaluator) if evaluator else None
    try:
        summary = run_search(
            loaded, out=out, jobs=jobs, dask=dask, fresh=fresh, evaluate=evaluate, cache=cache
        )
    except Interrupted as exc:  # the search has said what it kept; exit 128 + the signal
        raise typer.Exit(exc.exit_code) from None
    console_err.print(
        f"{summary.finished} of {summary.trials} trials done ({summary.complete} complete, "
        f"{summary.pruned} pruned, {summary.failed} failed); this run evaluated "
        f"{summary.evaluated} design(s) and reused {summary.reused} stored one(s) in "
        f"{summary.wall_s:.1f} s",
        highlight=False,
        soft_wrap=True,
    )
    for error in summary.errors:
        console_err.print(f"  {escape(error)}", highlight=False, soft_wrap=True)
    if not report(loaded, summary.folder, against):
        raise typer.Exit(1)


def report(spec, folder: Path, against: Path | None = None) -> bool:
    """Print the best design (or front), its gains and best.yaml; False when none is feasible."""
    from bfpdse.search import report as rp
    from bfpdse.search.folder import BEST, SearchFolder
    from bfpdse.store.parts import atomic_write_text
    from bfpdse.store.read import read_results

    df = read_results(folder)
    limits = ", ".join(c.text for c in spec.constraints) or "no constraint"
    multi = len(spec.objectives) > 1
    rows = rp.pareto_front(df, spec) if multi else rp.ranked(df, spec).head(1)
    if rows.empty:
        console.print(f"[red]no trial satisfies {escape(limits)}[/] ({len(df)} designs stored)")
        return False
    title = "Pareto front" if multi else "Best design"
    console.print(_table(f"{title} ({limits})", rows, spec))
    best = rows.iloc[0]
    notes = []
    if spec.per_layer:
        uniform = rp.best_uniform(df, spec)
        if uniform is None:
            notes.append("no uniform design of the space satisfies the constraint in this study")
        else:
            notes.append(
                _gain_text(
                    spec,
                    best,
                    uniform,
                    f"the best uniform design (trial "
                    f"{_trial(uniform)}: {_uniform_text(uniform, spec)})",
                )
            )
    if against is not None:
        other = rp.against(against, spec)
        if other.row is None:
            notes.append(f"{against}: none of its {other.rows} rows inside this space satisfies "
                         f"{limits}")  # fmt: skip
        else:
            design = ", ".join(
                f"{k}={rp._plain(other.row.get(k))}" for k in (p.key for p in spec.space)
            )
            text = _gain_text(spec, best, other.row, f"the best of {against} ({design})")
            if other.differs:
                text += "; note: " + "; ".join(other.differs[:4])
            notes.append(text)
    for note in notes:
        console.print(escape(note), highlight=False, soft_wrap=True)
    head = (
        f"bfpdse search {spec.name}: "
        + (
            f"Pareto front of {len(rows)} designs"
            if multi
            else f"best of the study, trial {_trial(best)}"
        )
        + f" ({limits})"
    )
    text = rp.sweep_yaml(rows, spec, head)
    with SearchFolder(folder).lock():
        atomic_write_text(folder / BEST, text)
    console.print(f"\n[bold]{folder / BEST}[/] (a sweep file; its base: fits any sweep):")
    console.print(escape(text), highlight=False, soft_wrap=True)
    console.print("[bold]the best design on its own:[/]")
    console.print(escape(rp.set_options(best, spec)), highlight=False, soft_wrap=True)
    return True


def _trial(row) -> str:
    value = row.get("trial")
    try:
        return str(int(value))
    except (TypeError, ValueError):
        return "?"


def _uniform_text(row, spec) -> str:
    from bfpdse.search import report as rp

    values = rp.design(row, spec)
    parts = []
    for p in spec.space:
        key = p.for_layer(spec.layers[0]).key if p.key in spec.per_layer else p.key
        parts.append(f"{p.key}={values.get(key)}")
    return ", ".join(parts)


def _gain_text(spec, best, other, what: str) -> str:
    from bfpdse.search import report as rp

    o = spec.objectives[0]
    g = rp.gain(spec, best, other)
    factor = "-" if g is None else f"{g:.3f}×"
    return (
        f"gain over {what}: {factor} ({o.metric} {rp.fmt_metric(o.metric, best[o.metric])} vs "
        f"{rp.fmt_metric(o.metric, float(other[o.metric]))})"
    )


def _table(title: str, rows, spec) -> Table:
    from bfpdse.search import report as rp

    table = Table(title=escape(title), title_justify="left", title_style="bold")
    table.add_column("trial", justify="right")
    uniform_keys = [p.key for p in spec.space if p.key not in spec.per_layer]
    for key in uniform_keys:
        table.add_column(key)
    for key in spec.per_layer:
        table.add_column(f"{key} per layer ({spec.layers[0]}…{spec.layers[-1]})")
    metrics = [o.metric for o in spec.objectives] + [
        c.metric for c in spec.constraints if c.metric not in {o.metric for o in spec.objectives}
    ]
    for metric in metrics:
        table.add_column(metric, justify="right")
    table.add_column("point_id", style="dim", no_wrap=True)
    for _, row in rows.iterrows():
        values = rp.design(row, spec)
        cells = [_trial(row)] + [str(values[k]) for k in uniform_keys]
        for key in spec.per_layer:
            p = next(q for q in spec.space if q.key == key)
            cells.append(" ".join(str(values[p.for_layer(L).key]) for L in spec.layers))
        cells += [rp.fmt_metric(m, row.get(m)) for m in metrics]
        table.add_row(*(escape(c) for c in cells), str(row.get("point_id")))
    return table
