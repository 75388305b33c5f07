"""Expand a sweep into design points: product of axes, excludes, validation, collapse.

The order is deterministic: axes in file order (``sweep`` axes, then ``zip`` groups), the last
axis moving fastest, like nested for-loops. A point whose canonical settings equal an earlier
point's (e.g. ``cim.block`` varies but ``cim.adc`` is not ``bfp``) collapses into the earlier one.

Points are counted without building each one. A point's canonical settings split into parts that
do not depend on each other: a section such as ``cim``, or a top-level key. Parts are joined into
clusters where a collapse rule reads one part from another (``quant.calib_samples`` depends on
``cim.adc``) and the ruled key is swept or excluded on, or where one zip group or one exclude
entry names both; a ruled key that is not swept belongs to the cluster of what it depends on.
Whether a combination is valid, excluded or equal to an earlier one then follows from its
clusters alone, so each cluster's own combinations are built once (``count``: the distinct
points are the product of the clusters' distinct settings), and ``iter_points`` builds only the
points it yields.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bfpdse.errors import SpecError
from bfpdse.spec.point import RELEVANT_WHEN, Point, make_point
from bfpdse.spec.schema import Axis, ExpandCounts


@dataclass
class _Tally:
    """Counts kept while points stream out of ``iter_points``."""

    combinations: int = 0
    excluded: int = 0
    collapsed: int = 0
    used: list[bool] = field(default_factory=list)  # per exclude entry: matched a combination


@dataclass(frozen=True)
class _Part:
    """One cluster's share of a combination: excluded, invalid (error) or a distinct row."""

    excluded: bool
    error: SpecError | None = None
    row: int = -1  # index of its canonical values among the cluster's distinct ones


class _Cluster:
    """Axes and exclude entries of one cluster; each of its combinations is built once."""

    def __init__(self, base: Mapping[str, Any], axes: Sequence[Axis], members: list[int],
                 exclude: Sequence[Mapping[str, Any]], entries: list[int],
                 owns: Callable[[str], bool]):  # fmt: skip
        self.base = base
        self.axes = [axes[i] for i in members]
        self.members = members
        self.exclude = [exclude[i] for i in entries]
        self.entries = entries
        self.owns = owns  # whether a dotted key's canonical value is decided here
        self.used = [False] * len(entries)
        self.parts: dict[tuple[int, ...], _Part] = {}
        self.rows: dict[str, int] = {}  # canonical values (json) -> row
        self.values: list[dict[str, Any]] = []

    def part(self, steps: tuple[int, ...]) -> _Part:
        """The share of the combination whose steps along this cluster's axes are ``steps``."""
        found = self.parts.get(steps)
        if found is None:
            found = self.parts[steps] = self._build(steps)
        return found

    def _build(self, steps: tuple[int, ...]) -> _Part:
        settings = dict(self.base)
        for axis, step in zip(self.axes, steps, strict=True):
            settings.update(axis.assign(step))
        point, error = _build(settings)
        if _excluded(self.exclude, point, settings, self.used):
            return _Part(True)
        if point is None:
            return _Part(False, error)
        values = {k: v for k, v in point.settings().items() if self.owns(k)}
        key = _dump(values)
        if key not in self.rows:
            self.rows[key] = len(self.values)
            self.values.append(values)
        return _Part(False, row=self.rows[key])

    def steps(self) -> Iterator[tuple[int, ...]]:
        return itertools.product(*(range(len(a.rows)) for a in self.axes))


class _Sweep:
    """A sweep's clusters, or None of them when the base settings do not build on their own
    (then a part cannot be judged alone, and every combination is built)."""

    def __init__(self, base, axes, exclude, source, base_lines):
        self.base, self.axes, self.exclude, self.source = dict(base), axes, exclude, source
        self.checker = _Checker(base, axes, source, base_lines or {})
        self.first, _ = _build(self.base)
        self.clusters = _clusters(self.base, axes, exclude) if self.first is not None else None

    def used(self) -> list[bool]:
        used = [False] * len(self.exclude)
        for cluster in self.clusters or ():
            for i, hit in zip(cluster.entries, cluster.used, strict=True):
                used[i] = used[i] or hit
        return used


def iter_points(
    base: Mapping[str, Any],
    axes: Sequence[Axis],
    exclude: Sequence[Mapping[str, Any]] = (),
    source: str = "<spec>",
    base_lines: Mapping[str, int] | None = None,
    tally: _Tally | None = None,
) -> Iterator[Point]:
    """The validated, distinct points of a sweep, one at a time, in sweep order.

    An exclude entry drops a point when every one of its keys matches: against the point's
    canonical settings (as in the result table) when the point is valid, else against the values
    as written (so an entry can drop a combination that would be invalid). A list value in an
    entry matches any of its items. Raises SpecError naming the line of the offending value.
    """
    sweep = _Sweep(base, axes, exclude, source, base_lines)
    if sweep.clusters is None:
        yield from _iter_one_by_one(sweep, tally)
        return
    tally = tally if tally is not None else _Tally()
    seen: set[tuple[int, ...]] = set()
    for steps in itertools.product(*(range(len(a.rows)) for a in axes)):
        tally.combinations += 1
        parts = [c.part(tuple(steps[i] for i in c.members)) for c in sweep.clusters]
        if any(p.excluded for p in parts):
            tally.excluded += 1
            continue
        error = next((p.error for p in parts if p.error is not None), None)
        if error is not None:
            raise sweep.checker.explain(steps, error)
        rows = tuple(p.row for p in parts)
        if rows in seen:
            tally.collapsed += 1
            continue
        seen.add(rows)
        settings = dict(sweep.base)
        for axis, step in zip(axes, steps, strict=True):
            settings.update(axis.assign(step))
        point, error = _build(settings)
        if point is None:  # a check across clusters (a ruled key's value against its section)
            raise sweep.checker.explain(steps, error)
        yield point
    tally.used = sweep.used()


def _iter_one_by_one(sweep: _Sweep, tally: _Tally | None) -> Iterator[Point]:
    """Every combination built and compared in full (a base that builds only with the axes)."""
    tally = tally if tally is not None else _Tally()
    tally.used = [False] * len(sweep.exclude)
    seen: set[str] = set()
    for steps in itertools.product(*(range(len(a.rows)) for a in sweep.axes)):
        tally.combinations += 1
        settings = dict(sweep.base)
        for axis, step in zip(sweep.axes, steps, strict=True):
            settings.update(axis.assign(step))
        point, error = _build(settings)
        if _excluded(sweep.exclude, point, settings, tally.used):
            tally.excluded += 1
            continue
        if point is None:
            raise sweep.checker.explain(steps, error)
        if point.point_id in seen:
            tally.collapsed += 1
            continue
        seen.add(point.point_id)
        yield point


def expand(
    base: Mapping[str, Any],
    axes: Sequence[Axis],
    exclude: Sequence[Mapping[str, Any]] = (),
    source: str = "<spec>",
    base_lines: Mapping[str, int] | None = None,
) -> tuple[list[Point], ExpandCounts, list[str]]:
    """Every point of ``iter_points``, how many combinations were dropped, and warnings."""
    tally = _Tally()
    points = list(iter_points(base, axes, exclude, source, base_lines, tally))
    if not points:
        raise SpecError(f"{source}: no design points left after exclude; loosen the exclude list")
    varied = _varied([p.settings() for p in points])
    counts = ExpandCounts(tally.combinations, tally.excluded, tally.collapsed, varied)
    return points, counts, _unused_warnings(exclude, tally.used, source)


def count(
    base: Mapping[str, Any],
    axes: Sequence[Axis],
    exclude: Sequence[Mapping[str, Any]] = (),
    source: str = "<spec>",
    base_lines: Mapping[str, int] | None = None,
) -> tuple[ExpandCounts, list[str]]:
    """The counts and warnings of ``expand``, building only each cluster's own combinations.

    Validates every combination as ``expand`` does (an invalid one raises the same SpecError).
    """
    sweep = _Sweep(base, axes, exclude, source, base_lines)
    if sweep.clusters is None:
        _, counts, warnings = expand(base, axes, exclude, source, base_lines)
        return counts, warnings
    kept = points = 1
    varied: set[str] = set()
    for cluster in sweep.clusters:
        parts = [cluster.part(steps) for steps in cluster.steps()]
        bad = next((p.error for p in parts if p.error is not None), None)
        if bad is not None:  # expand in sweep order: the first bad combination, as expand says
            _, counts, warnings = expand(base, axes, exclude, source, base_lines)
            return counts, warnings
        kept *= sum(not p.excluded for p in parts)
        points *= len(cluster.values)
        varied.update(_varied(cluster.values))
    if points == 0:
        raise SpecError(f"{source}: no design points left after exclude; loosen the exclude list")
    combinations = math.prod(len(a.rows) for a in axes)
    order = tuple(k for k in sweep.first.settings() if k in varied)
    counts = ExpandCounts(combinations, combinations - kept, kept - points, order)
    return counts, _unused_warnings(exclude, sweep.used(), source)


def _build(settings: Mapping[str, Any]) -> tuple[Point | None, SpecError | None]:
    try:
        return make_point(settings), None
    except SpecError as exc:
        return None, exc


def _excluded(
    exclude: Sequence[Mapping[str, Any]],
    point: Point | None,
    settings: Mapping[str, Any],
    used: list[bool],
) -> bool:
    """Whether an entry drops the combination (marking the entries that match it)."""
    values = point.settings() if point is not None else settings
    hit = [i for i, entry in enumerate(exclude) if _matches(entry, values)]
    for i in hit:
        used[i] = True
    return bool(hit)


def _unused_warnings(
    exclude: Sequence[Mapping[str, Any]], used: Sequence[bool], source: str
) -> list[str]:
    return [
        f"{source}: exclude[{i}] {dict(entry)} matches no point (a typo?)"
        for i, entry in enumerate(exclude)
        if not used[i]
    ]


def _varied(rows: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """Keys whose canonical value differs between rows, in the rows' key order."""
    if not rows:
        return ()
    first = rows[0]
    return tuple(k for k in first if any(_dump(r.get(k)) != _dump(first[k]) for r in rows[1:]))


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _part(key: str) -> str:
    """The part of a point that a dotted key's canonical value belongs to."""
    if key == "dataset" or key.startswith("dataset."):
        return "dataset"  # dataset.<key> settings merge into the dataset
    return key.split(".", 1)[0]  # a section (cim, quant, ...) or a top-level key


def _clusters(
    base: Mapping[str, Any], axes: Sequence[Axis], exclude: Sequence[Mapping[str, Any]]
) -> list[_Cluster]:
    """The clusters that hold an axis or an exclude entry (the other parts never vary)."""
    parent: dict[str, str] = {}

    def root(part: str) -> str:
        while parent.setdefault(part, part) != part:
            part = parent[part]
        return part

    def join(keys: Sequence[str]) -> None:
        for key in keys[1:]:
            parent[root(_part(key))] = root(_part(keys[0]))

    named = {k for axis in axes for k in axis.keys} | {k for entry in exclude for k in entry}
    ruled: dict[str, str] = {}  # a ruled key not swept -> a key it depends on
    for key, conditions in RELEVANT_WHEN.items():
        others = [other for other, _ in conditions]
        join(others)
        if key in named:
            join([key, *others])
        else:
            ruled[key] = others[0]
    for entry in exclude:
        join(list(entry))
    for axis in axes:
        join(list(axis.keys))

    def cluster_of(key: str) -> str:
        return root(_part(ruled.get(key, key)))

    members: dict[str, tuple[list[int], list[int]]] = {}
    for i, axis in enumerate(axes):
        members.setdefault(cluster_of(axis.keys[0]), ([], []))[0].append(i)
    for i, entry in enumerate(exclude):
        members.setdefault(cluster_of(next(iter(entry))), ([], []))[1].append(i)
    return [
        _Cluster(base, axes, on, exclude, entries, lambda k, r=r: cluster_of(k) == r)
        for r, (on, entries) in members.items()
    ]


def _matches(entry: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    for key, want in entry.items():
        have = values.get(key)
        options = want if isinstance(want, list) else [want]
        if not any(_same(have, option) for option in options):
            return False
    return True


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):  # True is not 1 here
        return False
    return a == b or json.dumps(a, default=str) == json.dumps(b, default=str)


class _Checker:
    """Finds which value in the file makes a point invalid, for the error message."""

    def __init__(self, base, axes, source, base_lines):
        self.base = dict(base)
        self.axes = axes
        self.source = source
        self.base_lines = base_lines
        self.base_error = self._try(self.base)

    @staticmethod
    def _try(settings: Mapping[str, Any]) -> SpecError | None:
        try:
            make_point(settings)
        except SpecError as exc:
            return exc
        return None

    def explain(self, steps: tuple[int, ...], error: SpecError) -> SpecError:
        if self.base_error is not None:
            return self._blame_base(self.base_error)
        # a value that is invalid on its own, over the base settings
        for axis, step in zip(self.axes, steps, strict=True):
            alone = self._try({**self.base, **axis.assign(step)})
            if alone is not None:
                keys = ", ".join(axis.keys)
                return SpecError(f"{self._where(axis, step)}{axis.label}: {keys}: {alone}")
        parts = []
        for axis, step in zip(self.axes, steps, strict=True):
            for key, value, line in zip(axis.keys, axis.rows[step], axis.lines[step], strict=True):
                parts.append(f"{key}={value!r}" + (f" (line {line})" if line else ""))
        return SpecError(
            f"{self.source}: the combination {', '.join(parts)} is invalid: {error}; "
            "drop it with an exclude entry or change the values"
        )

    def _where(self, axis: Axis, step: int) -> str:
        lines = [n for n in axis.lines[step] if n]
        return f"{self.source}:{lines[0]}: " if lines else f"{self.source}: "

    def _blame_base(self, error: SpecError) -> SpecError:
        text = str(error)
        # the field comes first: "cim: adc_bits=30 is out of range ...", "samples=0 is not ..."
        match = re.match(r"(?:(\w+): )?(\w+)=", text)
        key = ".".join(part for part in match.groups() if part) if match else ""
        line = self.base_lines.get(key, 0)
        if line < 0:
            return SpecError(f"--set {key}: {text}")
        where = f"{self.source}:{line}: " if line else f"{self.source}: "
        return SpecError(f"{where}base: {text}")
