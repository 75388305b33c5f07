"""Small shared helpers for the run tests: sweep files and table comparison."""

from pathlib import Path

import pandas as pd

#: 12 points: 2 schemes x 6 ADC widths
SWEEP = (
    "name: {name}\nmodel: lenet5\nsamples: 8\n"
    "sweep:\n  cim.adc: [rar, bfp]\n  cim.adc_bits: [3, 4, 5, 6, 7, 8]\n"
)

#: columns that differ between two runs of the same points (timing)
RUN_COLUMNS = ["wall_s", "started", "finished"]


def sweep_file(folder: Path, name: str = "s") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(SWEEP.format(name=name))
    return path


def table(out: Path, name: str = "s") -> pd.DataFrame:
    return pd.read_parquet(out / name / "results.parquet").drop(columns=RUN_COLUMNS)


def calls(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []
