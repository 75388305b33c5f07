"""bfpdse search in one process: rows, trial numbers, the constraint, resume, pruning, fronts."""

from __future__ import annotations

import pandas as pd
from fakes import fake_evaluate

from bfpdse.plots.pareto import pareto_summary
from bfpdse.run import run_sweep
from bfpdse.search import load_search, run_search
from bfpdse.search import report as rp
from bfpdse.spec import make_point
from bfpdse.store.read import read_results

from .helpers import calls, counted_finished, search_file, study_trials

#: the base settings of helpers.SEARCH
BASE = {"model": "lenet5", "samples": 8, "cim.rows": 128, "cim.block": 8}


def test_a_search_writes_one_row_per_design_with_its_trial(tmp_path):
    path = search_file(tmp_path, trials=10)
    summary = run_search(path, out=tmp_path / "out", evaluate=fake_evaluate, progress=False)
    assert summary.done and summary.finished == 10 and summary.complete == 10
    df = read_results(tmp_path / "out" / "s")
    assert df["point_id"].is_unique and (df["status"] == "ok").all()
    assert summary.evaluated == len(df) and summary.evaluated + summary.reused == 10
    trials = study_trials(tmp_path / "out")
    by_trial = {t.number: t.user_attrs["point_id"] for t in trials}
    for _, row in df.iterrows():  # each row names the trial that evaluated it
        assert by_trial[int(row["trial"])] == row["point_id"]
        design = {"cim.adc": row["cim.adc"], "cim.adc_bits": int(row["cim.adc_bits"])}
        point = make_point({**BASE, **design})
        assert point.point_id == row["point_id"]
        assert row["energy_pj"] == fake_evaluate(point)["energy_pj"]
    assert list(df["trial"]) == sorted(df["trial"])
    summary_doc = pareto_summary(df)  # the sweep tools read it unchanged
    assert summary_doc["ok"] == len(df) and summary_doc["pareto"]


def test_the_reported_best_respects_the_constraint(tmp_path):
    path = search_file(tmp_path, trials=20)
    run_search(path, out=tmp_path / "out", evaluate=fake_evaluate, progress=False)
    spec = load_search(path)
    df = read_results(tmp_path / "out" / "s")
    best = rp.ranked(df, spec).iloc[0]
    assert best["accuracy_drop"] <= 0.02
    cheaper = df[df["energy_pj"] < best["energy_pj"]]
    assert len(cheaper) and (cheaper["accuracy_drop"] > 0.02).all()  # the constraint bit
    front = rp.pareto_front(df, spec)
    assert front.iloc[0]["point_id"] == best["point_id"]


def test_more_trials_extend_the_study_without_evaluating_a_design_twice(tmp_path, monkeypatch):
    record = tmp_path / "calls.txt"
    monkeypatch.setenv("BFPDSE_FAKE_CALLS", str(record))
    path = search_file(tmp_path, trials=6)
    out = tmp_path / "out"
    run_search(path, out=out, evaluate=fake_evaluate, progress=False)
    first = counted_finished(study_trials(out))
    summary = run_search(path, out=out, evaluate=fake_evaluate, progress=False, trials=15)
    assert summary.finished == 15
    again = counted_finished(study_trials(out))
    assert [(t.number, t.values) for t in again[:6]] == [(t.number, t.values) for t in first]
    evaluated = calls(record)
    assert len(evaluated) == len(set(evaluated))  # a design is evaluated once, then reused
    assert set(evaluated) == set(read_results(out / "s")["point_id"])


def test_a_resume_with_the_budget_spent_runs_nothing(tmp_path, monkeypatch):
    path = search_file(tmp_path, trials=4)
    run_search(path, out=tmp_path / "out", evaluate=fake_evaluate, progress=False)
    record = tmp_path / "calls.txt"
    monkeypatch.setenv("BFPDSE_FAKE_CALLS", str(record))
    journal = tmp_path / "out" / "s" / "study" / "journal.log"
    before = journal.read_bytes()
    summary = run_search(path, out=tmp_path / "out", evaluate=fake_evaluate, progress=False)
    assert summary.finished == 4 and summary.evaluated == 0 and calls(record) == []
    assert journal.read_bytes() == before  # nothing to do: the study is not written to


def test_pruned_trials_are_rows_marked_pruned(tmp_path):
    # the fake's drop at 3 and 4 bits (0.2, 0.1) is beyond max_drop 0.06 at any sample count
    extra = "  prune: {samples: 4, max_drop: 0.06}\n"
    path = search_file(tmp_path, trials=24, extra=extra)
    summary = run_search(path, out=tmp_path / "out", evaluate=fake_evaluate, progress=False)
    df = read_results(tmp_path / "out" / "s")
    pruned = df[df["status"] == "pruned"]
    assert len(pruned) and summary.pruned >= len(pruned)
    assert (pruned["cim.adc_bits"] <= 4).all() and (
        df[df["status"] == "ok"]["cim.adc_bits"] > 4
    ).all()
    assert (pruned["samples_used"] == 4).all() and (pruned["pruned_at_samples"] == 4).all()
    assert pruned["error"].str.startswith("pruned: accuracy drop").all()
    states = {t.user_attrs.get("point_id"): t.state.name for t in study_trials(tmp_path / "out")}
    assert {states[pid] for pid in pruned["point_id"]} == {"PRUNED"}
    spec = load_search(path)
    assert rp.ranked(df, spec).iloc[0]["status"] == "ok"


def test_two_objectives_give_a_pareto_front_and_a_zip_sweep(tmp_path):
    from bfpdse.spec import load_spec

    text = search_file(tmp_path, trials=12).read_text()
    text = text.replace("  minimize: energy_pj\n", "  minimize: energy_pj\n  maximize: accuracy\n")
    path = tmp_path / "s.yaml"
    path.write_text(text)
    spec = load_search(path)
    assert spec.sampler == "nsga2" and [o.direction for o in spec.objectives] == [
        "minimize",
        "maximize",
    ]
    run_search(spec, out=tmp_path / "out", evaluate=fake_evaluate, progress=False)
    df = read_results(tmp_path / "out" / "s")
    front = rp.pareto_front(df, spec)
    assert len(front) >= 1 and (front["accuracy_drop"] <= 0.02).all()
    for _, row in rp.feasible(df, spec).iterrows():  # nothing feasible dominates the front
        for _, f in front.iterrows():
            assert not (row["energy_pj"] < f["energy_pj"] and row["accuracy"] > f["accuracy"])
    sweep = tmp_path / "front.yaml"
    sweep.write_text(rp.sweep_yaml(front, spec, "front"))
    assert {p.point_id for p in load_spec(sweep).points} == set(front["point_id"])


def test_gain_over_a_grid_sweep_folder(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        "name: grid\nmodel: lenet5\nsamples: 8\nbase:\n  cim: {rows: 128, block: 8}\n"
        "sweep:\n  cim.adc: [linear, rar, bfp]\n  cim.adc_bits: [3, 4, 5, 6, 7, 8]\n"
    )
    run_sweep(grid, out=tmp_path / "out", evaluate=fake_evaluate, progress=False)
    spec = load_search(search_file(tmp_path))
    other = rp.against(tmp_path / "out" / "grid", spec)
    assert other.rows == 12  # linear is outside the search's space
    table = read_results(tmp_path / "out" / "grid")
    inside = table[table["cim.adc"] != "linear"]
    feasible = inside[inside["accuracy_drop"] <= 0.02]
    assert other.row["point_id"] == feasible.sort_values("energy_pj").iloc[0]["point_id"]
    assert other.differs == []
    assert rp.gain(spec, other.row, other.row) == 1.0


def test_best_uniform_among_per_layer_rows():
    spec = _per_layer_spec()
    rows = pd.DataFrame(
        [
            {"status": "ok", "energy_pj": 5.0, "accuracy_drop": 0.001, "trial": 0,
             **_design(spec, "bfp", [4, 4, 4])},
            {"status": "ok", "energy_pj": 3.0, "accuracy_drop": 0.004, "trial": 1,
             **_design(spec, "bfp", [4, 3, 4])},
            {"status": "ok", "energy_pj": 2.0, "accuracy_drop": 0.009, "trial": 2,
             **_design(spec, "bfp", [3, 3, 3])},
        ]
    )  # fmt: skip
    assert rp.ranked(rows, spec).iloc[0]["trial"] == 1
    assert rp.best_uniform(rows, spec)["trial"] == 0  # 3,3,3 is cheaper but breaks the budget
    assert rp.gain(spec, rp.ranked(rows, spec).iloc[0], rp.best_uniform(rows, spec)) == 5 / 3


def _per_layer_spec():
    from bfpdse.search.spec import Constraint, Objective, Param, SearchSpec

    return SearchSpec(
        name="p", path=None, text="", base={"model": "lenet5", "dataset": "fashion-mnist",
        "samples": 8, "seed": 0}, overrides=(),
        space=(Param("cim.adc", choices=("bfp", "rar")), Param("cim.adc_bits", low=3, high=8)),
        per_layer=("cim.adc_bits",), layers=("L00", "L01", "L02"),
        objectives=(Objective("energy_pj", "minimize"),),
        constraints=(Constraint("accuracy_drop", "<=", 0.005),),
        trials=10, seed=0, sampler="tpe", prune=None, start_uniform=True,
    )  # fmt: skip


def _design(spec, adc: str, bits: list[int]) -> dict:
    return {
        "cim.adc": adc,
        **{f"cim.layers.{L}.adc_bits": b for L, b in zip(spec.layers, bits, strict=True)},
    }


def test_per_layer_keys_expand_to_one_parameter_per_layer():
    spec = _per_layer_spec()
    keys = [p.key for p in spec.params]
    assert keys == [
        "cim.adc",
        "cim.layers.L00.adc_bits",
        "cim.layers.L01.adc_bits",
        "cim.layers.L02.adc_bits",
    ]
    assert spec.params[1].values() == (3, 4, 5, 6, 7, 8)
    starts = spec.uniform_starts()
    assert len(starts) == 2 * 6 and all(spec.uniform(s) for s in starts)
    assert not spec.uniform(
        {**starts[0], "cim.layers.L01.adc_bits": 8 if starts[0][keys[2]] != 8 else 3}
    )


def test_a_fresh_search_with_a_seed_draws_the_same_trials(tmp_path):
    path = search_file(tmp_path, trials=8)
    for out in ("a", "b"):
        run_search(path, out=tmp_path / out, evaluate=fake_evaluate, progress=False)
    a, b = study_trials(tmp_path / "a"), study_trials(tmp_path / "b")
    assert [t.params for t in a] == [t.params for t in b]


def test_a_changed_search_is_refused_and_fresh_starts_over(tmp_path):
    import pytest

    from bfpdse.errors import StoreError

    path = search_file(tmp_path, trials=4)
    run_search(path, out=tmp_path / "out", evaluate=fake_evaluate, progress=False)
    path.write_text(path.read_text().replace("<= 0.02", "<= 0.05"))
    with pytest.raises(StoreError, match="different spec"):
        run_search(path, out=tmp_path / "out", evaluate=fake_evaluate, progress=False)
    summary = run_search(path, out=tmp_path / "out", evaluate=fake_evaluate, progress=False,
                         fresh=True)  # fmt: skip
    assert summary.finished == 4 and len(study_trials(tmp_path / "out")) == 4


def test_fresh_is_refused_while_another_process_runs_the_search(tmp_path):
    import os

    import pytest

    from bfpdse.errors import StoreError
    from bfpdse.search.study import heartbeat, this_owner

    path = search_file(tmp_path, trials=4)
    run_search(path, out=tmp_path / "out", evaluate=fake_evaluate, progress=False)
    host, _, _ = this_owner().split(":")
    other = f"{host}:{os.getppid()}:"  # a live process that is not this one
    with heartbeat(tmp_path / "out" / "s" / "study" / "owners", other):
        with pytest.raises(StoreError, match="another process runs this search"):
            run_search(path, out=tmp_path / "out", evaluate=fake_evaluate, progress=False,
                       fresh=True)  # fmt: skip
    assert len(study_trials(tmp_path / "out")) == 4  # nothing deleted
