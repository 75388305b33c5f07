"""Wall time of a whole sweep (default: the shipped sweeps/adc_bits.yaml), per executor.

    python benchmarks/bench_sweep.py                      # the default executor, then --jobs 1
    python benchmarks/bench_sweep.py --jobs auto          # the default executor only
    python benchmarks/bench_sweep.py --jobs 1,2 --set samples=200

For each ``--jobs`` entry (``auto``: what ``bfpdse sweep`` picks without ``--jobs``) it runs the
sweep into a fresh temporary folder and prints the wall time, the processes x threads it ran on,
the seconds per point, and the ratio to the first entry's time (same session: the reliable
figure on a noisy machine). Each run's metrics are compared with ``--reference`` (default the
shipped results/adc_bits, when the spec is the default one): every column but the timings must
be equal bit for bit, else the benchmark says which differ. Shared work (float and ideal-ADC
passes, calibrated windows) is not carried between runs: each starts from an empty cache.
"""

from __future__ import annotations  # noqa: I001 (bfpdse first, see below)

import bfpdse  # noqa: F401 - before numpy: its thread policy (bfpdse.threads) acts then
import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd

from bfpdse.run import run_sweep
from bfpdse.store.schema import COLUMNS, RUN_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = ROOT / "sweeps" / "adc_bits.yaml"
#: columns that differ between two runs of the same points: when they ran, and every timing
VOLATILE = frozenset(c.name for c in RUN_COLUMNS) | {n for n, c in COLUMNS.items() if c.unit == "s"}


def differing_columns(got: pd.DataFrame, want: pd.DataFrame) -> list[str]:
    """Columns (common to both, timings aside) whose values differ, rows matched by point_id."""
    got, want = (d.sort_values("point_id").reset_index(drop=True) for d in (got, want))
    common = [c for c in got.columns if c in want.columns]
    keep = [c for c in common if c not in VOLATILE]
    return [c for c in keep if not got[c].equals(want[c])]


def run_once(spec: Path, jobs: int | None, overrides: list[str]) -> tuple[float, dict, Path]:
    """(wall seconds, provenance run entry, results folder) of one fresh run of the sweep."""
    out = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    t0 = time.perf_counter()
    summary = run_sweep(spec, out=out, jobs=jobs, overrides=overrides, progress=False)
    wall = time.perf_counter() - t0
    if not summary.complete:
        raise SystemExit(f"the sweep did not complete: {summary.failures}")
    folder = next(p for p in out.iterdir() if p.is_dir() and (p / "results.parquet").exists())
    run = json.loads((folder / "provenance.json").read_text())["runs"][-1]
    return wall, run, folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("spec", nargs="?", default=str(DEFAULT_SPEC), help="sweep file")
    ap.add_argument("--jobs", default="auto,1", help="comma-separated: auto or a process count")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--reference", default=None, help="results folder to compare the metrics to")
    args = ap.parse_args()
    spec = Path(args.spec)
    ref = args.reference
    if ref is None and spec.resolve() == DEFAULT_SPEC and not args.overrides:
        ref = str(ROOT / "results" / "adc_bits")
    want = pd.read_parquet(Path(ref) / "results.parquet") if ref else None
    first = None
    print(f"{'jobs':>5} {'processes x threads':>20} {'points':>6} {'wall s':>8} "
          f"{'s/point':>8} {'ratio':>6}  metrics")  # fmt: skip
    for entry in args.jobs.split(","):
        jobs = None if entry == "auto" else int(entry)
        wall, run, folder = run_once(spec, jobs, args.overrides)
        got = pd.read_parquet(folder / "results.parquet")
        first = first or wall
        if want is None:
            check = "not compared"
        else:
            diff = differing_columns(got, want)
            check = f"equal to {ref}" if not diff else f"DIFFER from {ref}: {diff[:5]}"
        where = f"{run.get('jobs', '?')} x {run.get('threads', '?')}"
        print(f"{entry:>5} {where:>20} {len(got):>6} {wall:>8.1f} {wall / len(got):>8.2f} "
              f"{wall / first:>6.2f}  {check}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
