"""What the search tests share: search files and a look into a folder's study."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: 12 designs (2 schemes x 6 widths); the fake's accuracy drop falls with the bits, its energy
#: rises, so the constraint decides the answer
SEARCH = """\
name: {name}
model: lenet5
samples: 8
base:
  cim: {{rows: 128, block: 8}}
search:
  space:
    cim.adc: [rar, bfp]
    cim.adc_bits: {{low: 3, high: 8}}
{extra_space}  minimize: energy_pj
  constraint: accuracy_drop <= 0.02
  trials: {trials}
  seed: 0
{extra}"""


def search_file(
    folder: Path, name: str = "s", trials: int = 10, extra: str = "", extra_space: str = ""
) -> Path:
    path = folder / f"{name}.yaml"
    text = SEARCH.format(name=name, trials=trials, extra=extra, extra_space=extra_space)
    path.write_text(text)
    return path


def study_trials(folder: Path, name: str = "s") -> list[Any]:
    """The trials of the study in <folder>/<name>/ (FrozenTrials, in number order)."""
    import optuna

    from bfpdse.search.study import storage

    study = optuna.load_study(study_name=name, storage=storage(folder / name))
    return study.get_trials(deepcopy=False)


def counted_finished(trials: list[Any]) -> list[Any]:
    from bfpdse.search.study import counted

    return [t for t in trials if counted(t) and t.state.is_finished()]


def calls(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []
