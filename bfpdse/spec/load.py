"""Load a sweep YAML file into a validated ``Spec``: every error names file:line, key and value.

The YAML is composed into nodes (not loaded straight to Python objects) so that every key and list
item keeps its line number; errors found later (by pydantic, by ``check_key``, by ``make_point`` on
an expanded point) point back to the line that holds the bad value. Nothing here writes anything.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bfpdse.errors import SpecError
from bfpdse.spec.expand import count
from bfpdse.spec.point import SECTIONS, TOP_DEFAULTS, check_key, parse_set
from bfpdse.spec.schema import FILE_KEYS, NAME_PATTERN, Axis, Spec, SpecFile
from bfpdse.spec.yamlio import Loader

#: a position in the YAML document: keys and list indices from the root
Loc = tuple[str | int, ...]


class Source:
    """A YAML file's text and the line (1-based) of every key and list item in it."""

    def __init__(self, path: Path, text: str, lines: dict[Loc, int]):
        self.path = path
        self.text = text
        self.lines = lines

    def line(self, loc: Loc) -> int:
        """Line of ``loc``, or of its nearest enclosing position that has one (0 if none)."""
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return 0

    def at(self, loc: Loc) -> str:
        """'file:line: ' for messages."""
        line = self.line(loc)
        return f"{self.path}:{line}: " if line else f"{self.path}: "


def read_yaml(path: Path) -> tuple[Any, Source]:
    """Parse ``path`` into plain Python data and a Source that knows every line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such sweep file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read the sweep file ({exc})") from None
    lines: dict[Loc, int] = {}
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        data = None if node is None else _construct(loader, node, (), lines, path)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = exc.problem or exc.context or "syntax error"
        raise SpecError(f"{where}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return data, Source(path, text, lines)


def _construct(loader: Loader, node: yaml.Node, loc: Loc, lines: dict, path: Path) -> Any:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # YAML merge keys (<<)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise SpecError(f"{path}:{line}: key {key!r} must be text, e.g. cim.adc_bits")
            if key in out:
                first = lines[loc + (key,)]
                raise SpecError(
                    f"{path}:{line}: duplicate key {key!r} (first given at line {first})"
                )
            lines[loc + (key,)] = line
            out[key] = _construct(loader, value_node, loc + (key,), lines, path)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loader, n, loc + (i,), lines, path) for i, n in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


#: sweeps with more raw points than this need --max-points (a typo such as range(10**6))
MAX_POINTS = 10_000


def load_spec(
    path: str | Path, overrides: Iterable[str] = (), max_points: int | None = MAX_POINTS
) -> Spec:
    """Load, validate and expand a sweep file; ``overrides`` are ``KEY=VALUE`` items (--set).

    Raises SpecError (file, line, dotted key, bad value, what is allowed) before anything runs.
    Every combination is validated with ``make_point`` and counted here, cluster by cluster
    (``expand.count``), so a bad value anywhere is caught here; the points themselves are built
    when ``Spec.points`` is first read. A product of more than ``max_points`` raw points (None:
    no limit) is refused before any point is built.
    """
    path = Path(path)
    data, src = read_yaml(path)
    if data is None:
        raise SpecError(f"{path}: the sweep file is empty; see sweeps/smoke.yaml for an example")
    if not isinstance(data, dict):
        raise SpecError(f"{src.at(())}the sweep file must be a mapping (name: ..., sweep: ...)")
    data = dict(data)
    data.setdefault("name", path.stem)
    try:
        model = SpecFile.model_validate(data)
    except ValidationError as exc:
        raise SpecError(pydantic_message(exc, src)) from None
    if "sweep" in data and not model.sweep:
        raise SpecError(
            f"{src.at(('sweep',))}sweep is empty: give at least one axis "
            "(e.g. cim.adc_bits: [4, 5, 6]) or leave the key out"
        )
    base, base_lines = base_settings(model, data, src)
    axes = _sweep_axes(model, src) + _zip_axes(model, src)
    _check_unique_axes(axes, src)
    exclude = _exclude(model, src)
    overrides = tuple(overrides)
    if overrides:
        sets = parse_set(overrides)
        base, axes = _apply_overrides(base, axes, sets)
        base_lines = {**base_lines, **{k: -1 for k in sets}}  # -1: given by --set
    raw = math.prod(len(axis.rows) for axis in axes)
    if max_points is not None and raw > max_points:
        raise SpecError(
            f"{path}: the sweep spans {raw:,} points (the product of its axes, before exclusions "
            f"and collapses), over the limit of {max_points:,}; if you mean it, give "
            f"--max-points {raw}"
        )
    counts, warnings = count(base, axes, exclude, str(path), base_lines)
    return Spec(
        name=model.name,
        path=path,
        text=src.text,
        base=base,
        axes=tuple(axes),
        exclude=tuple(exclude),
        overrides=overrides,
        counts=counts,
        warnings=tuple(warnings),
        base_lines=base_lines,
    )


def pydantic_message(
    exc: ValidationError, src: Source, file_keys: tuple[str, ...] = FILE_KEYS
) -> str:
    """One line per pydantic error, each naming file:line, the key and what is allowed
    (``file_keys``: the top-level keys of this kind of file)."""
    messages = []
    done: set[str | int] = set()
    for err in exc.errors(include_url=False):
        loc: Loc = tuple(err["loc"])
        where = src.at(loc)
        if err["type"] == "extra_forbidden" and len(loc) == 1:
            key = str(loc[0])
            near = difflib.get_close_matches(key, file_keys, n=1, cutoff=0.6)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            if "." in key or key in SECTIONS:
                hint = (
                    " (settings go under base: or sweep:)"
                    if "sweep" in file_keys
                    else " (settings go under base:)"
                )
            messages.append(f"{where}unknown key {key!r}{hint}; allowed: {', '.join(file_keys)}")
            continue
        if loc[0] == "dataset":  # a union: pydantic reports one error per member
            if loc[0] in done:
                continue
            msg = (
                "give a name (e.g. fashion-mnist), a path, or "
                "{format: idx | cifar10 | npz | imagefolder, path: ...}"
            )
            loc = loc[:1]
        elif loc == ("name",) and err["type"] == "string_pattern_mismatch":
            msg = f"must be a folder name matching {NAME_PATTERN} (results go to <out>/<name>/)"
        else:
            msg = err["msg"]
        done.add(loc[0])
        messages.append(f"{where}{_path(loc)}: {msg} (got {err['input']!r})")
    return "\n".join(messages)


def _path(loc: Loc) -> str:
    """('zip', 0, 'cim.rows', 2) -> 'zip[0]: cim.rows[2]'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f": {part}" if out else str(part))
    return out


def _layer_items(dotted: str, value: Any, loc: Loc) -> list[tuple[str, Any, Loc]]:
    """``cim: {layers: {L03: {adc_bits: 4}}}`` -> ("cim.layers.L03.adc_bits", 4, its loc)."""
    if dotted != "cim.layers" or not isinstance(value, dict):
        return [(dotted, value, loc)]
    out = []
    for layer, fields in value.items():
        if not isinstance(fields, dict):
            return [(f"cim.layers.{layer}", fields, loc + (layer,))]  # check_key names it
        out += [(f"cim.layers.{layer}.{k}", v, loc + (layer, k)) for k, v in fields.items()]
    return out


def base_settings(model: Any, data: Mapping[str, Any], src: Source) -> tuple[dict, dict[str, int]]:
    """Flat dotted base settings (nested sections or dotted keys) and their lines.

    ``model`` is the validated file (a SpecFile, or a search file with the same top keys).
    """
    base: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for key, value in model.base.items():
        loc: Loc = ("base", key)
        if key in SECTIONS and isinstance(value, dict):
            items = [(f"{key}.{name}", v, loc + (name,)) for name, v in value.items()]
            items = [item for entry in items for item in _layer_items(*entry)]
        else:
            items = [(key, value, loc)]
        for dotted, v, item_loc in items:
            check_key(dotted, f"{src.at(item_loc)}base: ")
            if dotted in base:
                raise SpecError(f"{src.at(item_loc)}base: {dotted} is given twice")
            base[dotted] = v
            lines[dotted] = src.line(item_loc)
    for key in TOP_DEFAULTS:
        top = getattr(model, key)
        if key in data and key in base and base[key] != top:
            raise SpecError(
                f"{src.at(('base', key))}base: {key}={base[key]!r} contradicts {key}={top!r} "
                f"at line {src.line((key,))}; give it once"
            )
        if key not in base:
            base[key] = top
            lines[key] = src.line((key,))
    return base, lines


def _sweep_axes(model: SpecFile, src: Source) -> list[Axis]:
    axes = []
    for key, values in (model.sweep or {}).items():
        loc: Loc = ("sweep", key)
        check_key(key, f"{src.at(loc)}sweep: ")
        if not values:
            raise SpecError(f"{src.at(loc)}sweep: {key}: an axis needs at least one value")
        lines = tuple((src.line(loc + (i,)),) for i in range(len(values)))
        axes.append(Axis("sweep", (key,), tuple((v,) for v in values), lines))
    return axes


def _zip_axes(model: SpecFile, src: Source) -> list[Axis]:
    axes = []
    for g, group in enumerate(model.zip):
        label = f"zip[{g}]"
        if not group:
            raise SpecError(f"{src.at(('zip', g))}{label}: empty group; give key: [values] pairs")
        lengths = {key: len(values) for key, values in group.items()}
        for key in group:
            check_key(key, f"{src.at(('zip', g, key))}{label}: ")
        if len(set(lengths.values())) > 1:
            given = ", ".join(f"{k} has {n}" for k, n in lengths.items())
            raise SpecError(
                f"{src.at(('zip', g))}{label}: the lists of a zip group must have equal lengths "
                f"(they move together); {given}"
            )
        n = next(iter(lengths.values()))
        if n == 0:
            raise SpecError(f"{src.at(('zip', g))}{label}: the lists are empty")
        keys = tuple(group)
        rows = tuple(tuple(group[k][i] for k in keys) for i in range(n))
        lines = tuple(tuple(src.line(("zip", g, k, i)) for k in keys) for i in range(n))
        axes.append(Axis(label, keys, rows, lines))
    return axes


def _check_unique_axes(axes: list[Axis], src: Source) -> None:
    seen: dict[str, str] = {}
    for axis in axes:
        for key in axis.keys:
            if key in seen:
                line = axis.lines[0][axis.keys.index(key)]
                raise SpecError(
                    f"{src.path}:{line}: {key} is swept twice ({seen[key]} and {axis.label}); "
                    "sweep each setting in one place"
                )
            seen[key] = axis.label


def _exclude(model: SpecFile, src: Source) -> list[dict[str, Any]]:
    out = []
    for i, entry in enumerate(model.exclude):
        if not entry:
            raise SpecError(f"{src.at(('exclude', i))}exclude[{i}]: empty entry would drop all")
        for key in entry:
            check_key(key, f"{src.at(('exclude', i, key))}exclude[{i}]: ")
        out.append(dict(entry))
    return out


def _apply_overrides(
    base: dict[str, Any], axes: list[Axis], sets: Mapping[str, Any]
) -> tuple[dict[str, Any], list[Axis]]:
    """--set pins a setting: it replaces the base value, or a sweep axis by that one value."""
    base = dict(base)
    axes = list(axes)
    for key, value in sets.items():
        for i, axis in enumerate(axes):
            if key not in axis.keys:
                continue
            if len(axis.keys) > 1:
                raise SpecError(
                    f"--set {key}: {key} moves with {', '.join(axis.keys)} in {axis.label}; "
                    "edit the zip group in the file instead"
                )
            axes[i] = Axis("--set", axis.keys, ((value,),), ((0,),))
            break
        else:
            base[key] = value
    return base, axes
