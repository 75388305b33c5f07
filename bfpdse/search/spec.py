"""Load a search file: a sweep's model, dataset, samples, seed and base, plus ``search:``.

```yaml
search:
  space:                            # what the search varies: a list of choices or an int range
    cim.adc: [bfp, calibrated]
    cim.adc_bits: {low: 3, high: 8}     # step 1 unless given
  per_layer: [cim.adc_bits]         # one parameter per crossbar layer: cim.layers.L03.adc_bits
  minimize: energy_pj               # one metric, or a list; maximize: likewise
  constraint: accuracy_drop <= 0.005    # or a list of them
  trials: 40
  seed: 0                           # the sampler's seed (the top-level seed draws the images)
  sampler: tpe                      # tpe (default for one objective) | nsga2 (for several) | random
  prune: {samples: 100, max_drop: 0.05}   # optional: stop a trial early (see bfpdse.search.trial)
```

Every error names file:line, the key, the value and what is allowed (SpecError, exit 2), and is
raised before anything is written. The messages of the sweep loader are reused.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, ValidationError

from bfpdse.errors import SpecError
from bfpdse.spec.load import Source, base_settings, pydantic_message, read_yaml
from bfpdse.spec.point import check_key, make_point, parse_set
from bfpdse.spec.schema import NAME_PATTERN

#: metrics a search may optimise or constrain: the table's numeric metric columns
SAMPLERS = ("tpe", "nsga2", "random")
#: the section's own keys, in the order the docs give them
SEARCH_KEYS = (
    "space", "per_layer", "minimize", "maximize", "constraint", "trials", "seed", "sampler",
    "prune", "start_uniform",
)  # fmt: skip


def metric_names() -> tuple[str, ...]:
    """The numeric metrics of the result table (bfpdse.store.schema), in its order."""
    from bfpdse.store.schema import METRIC_COLUMNS

    return tuple(c.name for c in METRIC_COLUMNS if c.dtype in ("float64", "Int64"))


class PruneSection(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    samples: PositiveInt = Field(description="test images of the early look")
    max_drop: float = Field(gt=0, le=1, description="stop when the early accuracy drop exceeds it")


class SearchSection(BaseModel):
    """The ``search:`` mapping; space entries are checked by hand (for their line numbers)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    space: dict[str, Any] = Field(min_length=1)
    per_layer: list[str] = Field(default_factory=list)
    minimize: str | list[str] | None = None
    maximize: str | list[str] | None = None
    constraint: str | list[str] | None = None
    trials: PositiveInt = 50
    seed: NonNegativeInt = 0
    sampler: Literal["tpe", "nsga2", "random"] | None = None
    prune: PruneSection | None = None
    start_uniform: bool = True


class SearchFile(BaseModel):
    """The top level of a search file. Unknown keys (sweep:, zip:, ...) are errors."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(pattern=NAME_PATTERN)
    model: str = Field("resnet20", min_length=1)
    dataset: str | dict[str, Any] = "fashion-mnist"
    samples: PositiveInt = 1000
    seed: NonNegativeInt = 0
    base: dict[str, Any] = Field(default_factory=dict)
    search: SearchSection


FILE_KEYS: tuple[str, ...] = tuple(SearchFile.model_fields)


@dataclass(frozen=True)
class Param:
    """One searched setting: categorical ``choices`` or the integers low, low + step, ..., high."""

    key: str
    choices: tuple[Any, ...] | None = None
    low: int | None = None
    high: int | None = None
    step: int = 1

    def values(self) -> tuple[Any, ...]:
        if self.choices is not None:
            return self.choices
        return tuple(range(self.low, self.high + 1, self.step))

    def for_layer(self, layer: str) -> Param:
        """This parameter for one layer: cim.adc_bits -> cim.layers.<layer>.adc_bits."""
        section, name = self.key.split(".", 1)
        return Param(
            f"{section}.layers.{layer}.{name}", self.choices, self.low, self.high, self.step
        )

    def distribution(self) -> Any:
        import optuna

        if self.choices is not None:
            return optuna.distributions.CategoricalDistribution(self.choices)
        return optuna.distributions.IntDistribution(self.low, self.high, step=self.step)

    def canonical(self) -> dict[str, Any]:
        if self.choices is not None:
            return {"key": self.key, "choices": list(self.choices)}
        return {"key": self.key, "low": self.low, "high": self.high, "step": self.step}


@dataclass(frozen=True)
class Objective:
    metric: str
    direction: str  # "minimize" | "maximize"


_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Constraint:
    """``metric op bound``; ``violation`` is <= 0 when it holds (optuna's constraints_func)."""

    metric: str
    op: str
    bound: float

    def violation(self, value: float | None) -> float:
        if value is None or not math.isfinite(value):
            return math.inf
        return value - self.bound if self.op in ("<=", "<") else self.bound - value

    def holds(self, value: float | None) -> bool:
        v = self.violation(value)
        return v < 0 if self.op in ("<", ">") else v <= 0

    @property
    def text(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


@dataclass(frozen=True, eq=False)
class SearchSpec:
    """A loaded, validated search: what ``run_search`` runs. Build it with ``load_search``."""

    name: str
    path: Path | None
    text: str  # the YAML source, copied into the results folder
    base: Mapping[str, Any]  # flat dotted settings of every trial (after --set)
    overrides: tuple[str, ...]
    space: tuple[Param, ...]  # as written (uniform keys), after --set pins
    per_layer: tuple[str, ...]  # keys of ``space`` searched once per layer
    layers: tuple[str, ...]  # the model's layer index names when per_layer is given
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...]
    trials: int
    seed: int
    sampler: str
    prune: PruneSection | None
    start_uniform: bool
    warnings: tuple[str, ...] = field(default=())

    #: a SweepFolder asks how many points a spec has; a search's are not known in advance
    points: tuple = ()

    @property
    def params(self) -> tuple[Param, ...]:
        """The optuna parameters: uniform keys, then each per-layer key once per layer."""
        out = [p for p in self.space if p.key not in self.per_layer]
        for p in self.space:
            if p.key in self.per_layer:
                out += [p.for_layer(layer) for layer in self.layers]
        return tuple(out)

    def settings(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A trial's dotted settings: the base with the parameters' values."""
        return {**self.base, **values}

    def uniform(self, values: Mapping[str, Any]) -> bool:
        """Whether every per-layer key has one value over all layers."""
        for key in self.per_layer:
            p = next(q for q in self.space if q.key == key)
            if len({json.dumps(values.get(p.for_layer(L).key)) for L in self.layers}) > 1:
                return False
        return True

    def uniform_starts(self) -> list[dict[str, Any]]:
        """Every uniform design of the space as parameter values (per-layer keys all equal)."""
        import itertools

        out = []
        for combo in itertools.product(*(p.values() for p in self.space)):
            values: dict[str, Any] = {}
            for p, v in zip(self.space, combo, strict=True):
                keys = (
                    [p.for_layer(L).key for L in self.layers]
                    if p.key in self.per_layer
                    else [p.key]
                )
                values.update(dict.fromkeys(keys, v))
            out.append(values)
        return out

    def canonical(self) -> dict[str, Any]:
        """Plain data that fixes the study (not ``trials``: more trials extend the same study)."""
        return {
            "kind": "search",
            "name": self.name,
            "base": dict(sorted(self.base.items())),
            "params": [p.canonical() for p in self.params],
            "objectives": [[o.metric, o.direction] for o in self.objectives],
            "constraints": [c.text for c in self.constraints],
            "sampler": self.sampler,
            "seed": self.seed,
            "prune": self.prune.model_dump() if self.prune else None,
            "start_uniform": self.start_uniform,
        }

    @property
    def spec_hash(self) -> str:
        text = json.dumps(self.canonical(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def load_search(
    path: str | Path, overrides: Iterable[str] = (), trials: int | None = None
) -> SearchSpec:
    """Load and validate a search file; ``overrides`` are --set items (a searched key given
    there is pinned to that value), ``trials`` replaces search.trials.

    Raises SpecError naming file:line, key, value and what is allowed.
    """
    path = Path(path)
    data, src = read_yaml(path)
    if data is None:
        raise SpecError(f"{path}: the search file is empty; see sweeps/search_adc_bits.yaml")
    if not isinstance(data, dict):
        raise SpecError(f"{src.at(())}the search file must be a mapping (name: ..., search: ...)")
    data = dict(data)
    data.setdefault("name", path.stem)
    if "search" not in data:
        raise SpecError(
            f"{src.at(())}a search file needs a search: section (space, minimize, constraint, "
            "trials); for a grid of points use bfpdse sweep"
        )
    _known_keys(data.get("search"), SEARCH_KEYS, ("search",), src)
    if isinstance(data.get("search"), dict):
        _known_keys(data["search"].get("prune"), ("samples", "max_drop"), ("search", "prune"), src)
    try:
        model = SearchFile.model_validate(data)
    except ValidationError as exc:
        raise SpecError(pydantic_message(exc, src, FILE_KEYS)) from None
    section = model.search
    base, _ = base_settings(model, data, src)
    space = _space(section.space, base, src)
    per_layer = _per_layer(section.per_layer, space, src)
    objectives = _objectives(section, src)
    constraints = _constraints(section.constraint, src)
    sampler = section.sampler or ("tpe" if len(objectives) == 1 else "nsga2")
    overrides = tuple(overrides)
    if overrides:
        sets = parse_set(overrides)
        base = {**base, **sets}
        space = [p for p in space if p.key not in sets]
        per_layer = [k for k in per_layer if k not in sets]
        if not space:
            raise SpecError(
                f"--set pins every searched key ({', '.join(sets)}); leave one to search"
            )
    try:
        make_point(base)
    except SpecError as exc:
        raise SpecError(f"{path}: base{' (with --set)' if overrides else ''}: {exc}") from None
    if section.prune is not None:
        _check_prune(section.prune, base["samples"], src)
    layers = _layers(base, per_layer, space, src) if per_layer else ()
    if trials is not None and trials < 1:
        raise SpecError(f"--trials {trials}: give 1 or more")
    return SearchSpec(
        name=model.name,
        path=path,
        text=src.text,
        base=base,
        overrides=overrides,
        space=tuple(space),
        per_layer=tuple(per_layer),
        layers=layers,
        objectives=objectives,
        constraints=constraints,
        trials=trials or section.trials,
        seed=section.seed,
        sampler=sampler,
        prune=section.prune,
        start_uniform=section.start_uniform,
    )


def _known_keys(section: Any, allowed: tuple[str, ...], loc: tuple, src: Source) -> None:
    """An unknown key of a mapping, with the nearest known one and the full list."""
    import difflib

    if not isinstance(section, dict):
        return  # pydantic says what type it must be
    for key in section:
        if key not in allowed:
            near = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            where = ": ".join(str(part) for part in loc)
            raise SpecError(
                f"{src.at(loc + (key,))}{where}: unknown key {key!r}{hint}; allowed: "
                f"{', '.join(allowed)}"
            )


def _space(entries: Mapping[str, Any], base: Mapping[str, Any], src: Source) -> list[Param]:
    params = []
    for key, spec in entries.items():
        loc = ("search", "space", key)
        where = f"{src.at(loc)}search: space: {key}"
        check_key(key, f"{src.at(loc)}search: space: ")
        if isinstance(spec, list):
            param = _choices(key, spec, src, loc)
        elif isinstance(spec, dict):
            param = _int_range(key, spec, where)
        else:
            raise SpecError(
                f"{where}: give a list of choices ([3, 4, 5]) or an integer range "
                f"({{low: 3, high: 8, step: 1}}), got {spec!r}"
            )
        for i, value in enumerate(param.values()):
            try:
                make_point({**base, key: value})
            except SpecError as exc:
                at = src.at(loc + (i,)) if param.choices is not None else src.at(loc)
                raise SpecError(f"{at}search: space: {key}: {exc}") from None
        params.append(param)
    return params


def _choices(key: str, values: list[Any], src: Source, loc: tuple) -> Param:
    where = f"{src.at(loc)}search: space: {key}"
    if not values:
        raise SpecError(f"{where}: give at least one choice")
    for i, v in enumerate(values):
        if v is not None and not isinstance(v, bool | int | float | str):
            raise SpecError(
                f"{src.at(loc + (i,))}search: space: {key}[{i}]: {v!r} cannot be a choice; "
                "choices are numbers, text, true/false or null"
            )
    seen = [json.dumps(v) for v in values]
    if len(set(seen)) < len(seen):
        raise SpecError(f"{where}: the choices {values!r} repeat a value; give each once")
    return Param(key, choices=tuple(values))


def _int_range(key: str, spec: Mapping[str, Any], where: str) -> Param:
    extra = sorted(set(spec) - {"low", "high", "step"})
    if extra or "low" not in spec or "high" not in spec:
        raise SpecError(
            f"{where}: an integer range is {{low: L, high: H}} with an optional step "
            f"(got {dict(spec)!r})"
        )
    low, high, step = spec["low"], spec["high"], spec.get("step", 1)
    for name, v in (("low", low), ("high", high), ("step", step)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise SpecError(f"{where}: {name}={v!r} must be an integer")
    if step < 1 or low > high:
        raise SpecError(f"{where}: need low <= high and step >= 1 (got {dict(spec)!r})")
    if (high - low) % step:
        raise SpecError(f"{where}: high - low ({high - low}) must be a multiple of step ({step})")
    return Param(key, low=low, high=high, step=step)


def _per_layer(keys: list[str], space: list[Param], src: Source) -> list[str]:
    names = [p.key for p in space]
    for i, key in enumerate(keys):
        where = f"{src.at(('search', 'per_layer', i))}search: per_layer: {key}"
        if not key.startswith("cim."):
            raise SpecError(f"{where}: only cim.* settings can be set per layer")
        if key not in names:
            raise SpecError(
                f"{where}: give its choices under search: space: first (space has "
                f"{', '.join(names)})"
            )
        if keys.index(key) != i:
            raise SpecError(f"{where}: given twice")
    return list(keys)


def _layers(base: Mapping[str, Any], per_layer: list[str], space: list[Param], src: Source):
    """The model's layer names; refuses per_layer where this bfpdse has no per-layer keys."""
    from bfpdse.nn import load_model
    from bfpdse.nn.graph import layer_index_names

    layers = tuple(layer_index_names(load_model(base["model"]).graph).values())
    if not layers:
        raise SpecError(f"{src.path}: model {base['model']!r} has no crossbar layers to search")
    key = per_layer[0]
    param = next(p for p in space if p.key == key)
    probe = param.for_layer(layers[0]).key
    try:
        make_point({**base, probe: param.values()[0]})
    except SpecError as exc:
        where = src.at(("search", "per_layer", 0))
        raise SpecError(
            f"{where}search: per_layer: {key}: this version of bfpdse cannot set it per layer "
            f"({probe} is refused: {exc}); search it uniformly (drop per_layer) until per-layer "
            "settings (cim.layers.<layer>.<field>) are supported"
        ) from None
    return layers


def _metric_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _objectives(section: SearchSection, src: Source) -> tuple[Objective, ...]:
    allowed = metric_names()
    out: list[Objective] = []
    for direction in ("minimize", "maximize"):
        for metric in _metric_list(getattr(section, direction)):
            where = f"{src.at(('search', direction))}search: {direction}"
            if metric not in allowed:
                raise SpecError(
                    f"{where}: unknown metric {metric!r}; allowed: {', '.join(allowed)}"
                )
            if any(o.metric == metric for o in out):
                raise SpecError(f"{where}: {metric} is an objective twice")
            out.append(Objective(metric, direction))
    if not out:
        raise SpecError(
            f"{src.at(('search',))}search: give an objective, e.g. minimize: energy_pj "
            "(or two, e.g. minimize: energy_pj and maximize: accuracy, for a Pareto front)"
        )
    return tuple(out)


def _constraints(value: str | list[str] | None, src: Source) -> tuple[Constraint, ...]:
    allowed = metric_names()
    out = []
    for i, text in enumerate(_metric_list(value)):
        loc = ("search", "constraint") + ((i,) if isinstance(value, list) else ())
        where = f"{src.at(loc)}search: constraint"
        match = _CONSTRAINT.match(text)
        if not match:
            raise SpecError(
                f"{where}: {text!r} is not METRIC OP NUMBER (OP one of <=, <, >=, >), "
                "e.g. accuracy_drop <= 0.005"
            )
        metric, op, number = match.groups()
        if metric not in allowed:
            raise SpecError(f"{where}: unknown metric {metric!r}; allowed: {', '.join(allowed)}")
        try:
            bound = float(number)
        except ValueError:
            raise SpecError(f"{where}: {number!r} in {text!r} is not a number") from None
        out.append(Constraint(metric, op, bound))
    return tuple(out)


def _check_prune(prune: PruneSection, samples: int, src: Source) -> None:
    if prune.samples >= samples:
        raise SpecError(
            f"{src.at(('search', 'prune', 'samples'))}search: prune: samples={prune.samples} must "
            f"be below the trial's samples ({samples}): the early look uses fewer images"
        )
