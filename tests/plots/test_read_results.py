"""read_results: a sweep folder, a folder of sweeps, and what is refused."""

from __future__ import annotations

import pandas as pd
import pytest

from bfpdse.errors import StoreError
from bfpdse.store.read import read_results

from .synth import make_table


def write(folder, df, parquet=True, csv=True):
    folder.mkdir(parents=True, exist_ok=True)
    if parquet:
        df.to_parquet(folder / "results.parquet")
    if csv:
        df.to_csv(folder / "results.csv", index=False)


def test_a_sweep_folder_reads_its_parquet_table(tmp_path):
    df = make_table(schemes=("rar", "bfp"))
    write(tmp_path / "bits", df, csv=False)
    got = read_results(tmp_path / "bits")
    assert list(got["sweep"].unique()) == ["bits"]
    pd.testing.assert_frame_equal(got.drop(columns="sweep"), df)


def test_csv_is_the_fallback_when_parquet_is_missing_or_torn(tmp_path):
    df = make_table(schemes=("rar",))
    write(tmp_path / "a", df, parquet=False)
    got = read_results(tmp_path / "a")
    assert len(got) == len(df)
    assert got["cim.block"].isna().all()  # empty cells of settings that do not apply
    assert got["accuracy"].tolist() == pytest.approx(df["accuracy"].tolist())
    (tmp_path / "a" / "results.parquet").write_bytes(b"PAR1 torn")
    assert len(read_results(tmp_path / "a")) == len(df)


def test_a_folder_of_sweeps_is_concatenated(tmp_path):
    write(tmp_path / "one", make_table(schemes=("rar",)))
    write(tmp_path / "two", make_table(schemes=("bfp",)).drop(columns="sqnr_db"))
    (tmp_path / "figures").mkdir()  # a folder without a table is not a sweep
    got = read_results(tmp_path)
    assert got["sweep"].value_counts().to_dict() == {"one": 4, "two": 4}
    assert got.loc[got["sweep"] == "two", "sqnr_db"].isna().all()


def test_a_results_file_itself(tmp_path):
    write(tmp_path / "s", make_table(schemes=("rar",)), parquet=False)
    assert len(read_results(tmp_path / "s" / "results.csv")) == 4


def test_missing_empty_and_unreadable_tables_name_the_path(tmp_path):
    with pytest.raises(StoreError, match="no such folder"):
        read_results(tmp_path / "nope")
    with pytest.raises(StoreError, match="no result table found; expected a sweep folder"):
        read_results(tmp_path)
    write(tmp_path / "empty", make_table().iloc[:0], parquet=False)
    with pytest.raises(StoreError, match=r"empty.results\.csv: the result table has no rows"):
        read_results(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "results.parquet").write_bytes(b"not parquet")
    with pytest.raises(StoreError, match=r"bad.results\.parquet: cannot read"):
        read_results(bad)
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(StoreError, match="expected results.parquet or results.csv"):
        read_results(tmp_path / "x.txt")
