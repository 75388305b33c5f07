"""Expand a sweep into design points: product of axes, excludes, validation, collapse.

The order is deterministic: axes in file order (``sweep`` axes, then ``zip`` groups), the last
axis moving fastest, like nested for-loops. A point whose canonical settings equal an earlier
point's (e.g. ``cim.block`` varies but ``cim.adc`` is not ``bfp``) collapses into the earlier one.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from bfpdse.errors import SpecError
from bfpdse.spec.point import Point, make_point
from bfpdse.spec.schema import Axis, ExpandCounts


def expand(
    base: Mapping[str, Any],
    axes: Sequence[Axis],
    exclude: Sequence[Mapping[str, Any]] = (),
    source: str = "<spec>",
    base_lines: Mapping[str, int] | None = None,
) -> tuple[list[Point], ExpandCounts, list[str]]:
    """The validated, distinct points of a sweep, how many were dropped, and warnings.

    An exclude entry drops a point when every one of its keys matches: against the point's
    canonical settings (as in the result table) when the point is valid, else against the values
    as written (so an entry can drop a combination that would be invalid). A list value in an
    entry matches any of its items. Raises SpecError naming the line of the offending value.
    """
    checker = _Checker(base, axes, source, base_lines or {})
    points: list[Point] = []
    seen: set[str] = set()
    combinations = excluded = collapsed = 0
    used = [False] * len(exclude)
    for steps in itertools.product(*(range(len(a.rows)) for a in axes)):
        combinations += 1
        settings = dict(base)
        for axis, step in zip(axes, steps, strict=True):
            settings.update(axis.assign(step))
        try:
            point = make_point(settings)
        except SpecError as exc:
            point, error = None, exc
        values = point.settings() if point is not None else settings
        hit = [i for i, entry in enumerate(exclude) if _matches(entry, values)]
        if hit:
            excluded += 1
            for i in hit:
                used[i] = True
            continue
        if point is None:
            raise checker.explain(steps, error)
        if point.point_id in seen:
            collapsed += 1
            continue
        seen.add(point.point_id)
        points.append(point)
    if not points:
        raise SpecError(f"{source}: no design points left after exclude; loosen the exclude list")
    warnings = [
        f"{source}: exclude[{i}] {dict(entry)} matches no point (a typo?)"
        for i, entry in enumerate(exclude)
        if not used[i]
    ]
    return points, ExpandCounts(combinations, excluded, collapsed), warnings


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
