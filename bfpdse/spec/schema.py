"""The sweep file's shape (a pydantic model) and the validated, resolved ``Spec``.

``SpecFile`` checks the structure of the YAML mapping (known top-level keys, types, lists where
lists belong); the dotted keys and their values are checked afterwards against the design-point
vocabulary of ``bfpdse.spec.point`` (``check_key``, ``make_point``), with file:line positions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt

from bfpdse.spec.point import Point

#: a folder name: results go to <out>/<name>/
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class SpecFile(BaseModel):
    """The top level of a sweep YAML file. Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(pattern=NAME_PATTERN, description="results go to <out>/<name>/")
    model: str = Field("resnet20", min_length=1, description="zoo name or path to an .onnx file")
    dataset: str | dict[str, Any] = Field("fashion-mnist", description="name or {format, path}")
    samples: PositiveInt = Field(1000, description="test images per point")
    seed: NonNegativeInt = 0
    base: dict[str, Any] = Field(default_factory=dict, description="settings shared by all points")
    sweep: dict[str, list[Any]] | None = Field(None, description="Cartesian product axes")
    zip: list[dict[str, list[Any]]] = Field(
        default_factory=list, description="axes that move together"
    )
    exclude: list[dict[str, Any]] = Field(default_factory=list, description="points to drop")


#: the top-level keys of a sweep file, in the order the docs give them
FILE_KEYS: tuple[str, ...] = tuple(SpecFile.model_fields)


@dataclass(frozen=True)
class Axis:
    """One dimension of the product: a sweep axis (one key) or a zip group (several keys).

    ``rows[i]`` holds the values of ``keys`` at step i; ``lines[i]`` their YAML lines (0 when the
    value did not come from the file, e.g. from ``--set``).
    """

    label: str  # "sweep" or "zip[0]", for messages
    keys: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    lines: tuple[tuple[int, ...], ...]

    def assign(self, step: int) -> dict[str, Any]:
        """The settings this axis contributes at ``step``."""
        return dict(zip(self.keys, self.rows[step], strict=True))


@dataclass(frozen=True)
class ExpandCounts:
    """How the points of a spec came to be: combinations - excluded - collapsed = points."""

    combinations: int
    excluded: int
    collapsed: int
    varied: tuple[str, ...] = ()  # settings whose canonical value differs between points

    @property
    def points(self) -> int:
        return self.combinations - self.excluded - self.collapsed


@dataclass(frozen=True, eq=False)
class Spec:
    """A loaded, validated sweep: what ``run_sweep`` runs. Build it with ``load_spec``.

    Every combination was validated and counted when the spec was loaded; ``points`` builds the
    points on first use (a dry run counts them without building them all).
    """

    name: str
    path: Path | None
    text: str  # the YAML source, copied into the results folder
    base: Mapping[str, Any]  # flat dotted settings shared by every point (after --set)
    axes: tuple[Axis, ...]
    exclude: tuple[Mapping[str, Any], ...]
    overrides: tuple[str, ...]  # the --set items, as given
    counts: ExpandCounts
    warnings: tuple[str, ...] = field(default=())
    base_lines: Mapping[str, int] = field(default_factory=dict)  # YAML line of each base key

    @cached_property
    def points(self) -> tuple[Point, ...]:
        """Validated points, excludes dropped, equal points collapsed, in sweep order."""
        return tuple(self.iter_points())

    def iter_points(self) -> Iterator[Point]:
        """The points one at a time (``points`` without keeping them)."""
        from bfpdse.spec.expand import iter_points

        source = str(self.path) if self.path is not None else "<spec>"
        return iter_points(self.base, self.axes, self.exclude, source, self.base_lines)

    def canonical(self) -> dict[str, Any]:
        """The spec as plain data: equal for files that describe the same sweep."""
        return {
            "name": self.name,
            "base": dict(sorted(self.base.items())),
            "axes": [{"keys": list(a.keys), "rows": [list(r) for r in a.rows]} for a in self.axes],
            "exclude": [dict(sorted(e.items())) for e in self.exclude],
        }

    @property
    def spec_hash(self) -> str:
        """sha256 of the canonical spec; a results folder holds the points of one hash."""
        text = json.dumps(self.canonical(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def point_ids(self) -> tuple[str, ...]:
        return tuple(p.point_id for p in self.points)

    def varied_keys(self) -> list[str]:
        """Dotted settings whose canonical value differs between points (for tables)."""
        return list(self.counts.varied)
