"""Design points: the dotted settings that name one evaluation.

One vocabulary serves ``bfpdse run --set``, the sweep YAML and the result table's columns:
``model``, ``dataset``, ``samples``, ``seed`` and ``<section>.<field>`` for the sections below.
Each section is a validated config dataclass of a lower layer; the dataclass is the one place where
a field's allowed values live, and its ValueError becomes a SpecError naming the dotted key here.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import importlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import yaml

from bfpdse.data.datasets import SPEC_KEYS as DATASET_KEYS
from bfpdse.data.datasets import check_spec as check_dataset
from bfpdse.errors import DataError, SpecError
from bfpdse.spec import yamlio

#: section name -> "module:Class" of its config dataclass (imported on first use)
SECTIONS = {
    "cim": "bfpdse.cim:CIMConfig",
    "quant": "bfpdse.nn.quantize:QuantConfig",
    "energy": "bfpdse.energy:EnergyConfig",
    "noise": "bfpdse.cim.noise:NoiseConfig",
}

#: sections whose fields at their default value are left out of point_id, so that the ids of
#: points made before the section existed stay valid (every noise.* default is "no noise")
ID_OMITS_DEFAULTS = ("noise",)

#: top-level settings and their defaults
TOP_DEFAULTS: dict[str, Any] = {
    "model": "resnet20",
    "dataset": "fashion-mnist",
    "samples": 1000,
    "seed": 0,
}


def _collapse_rules() -> dict[str, tuple[tuple[str, frozenset[Any]], ...]]:
    """Settings that matter only when another setting has one of some values.

    The ADC-related rules come from the registered schemes' traits (bfpdse.cim.adc), so a new
    scheme brings its own.
    """
    global _ADC
    if _ADC is None:  # imported on first use: the cim package loads numba
        from bfpdse.cim import adc as _adc_module

        _ADC = _adc_module
    return _rules_for(tuple(_ADC.ADC_SCHEMES))


_ADC: Any = None


@lru_cache(maxsize=8)
def _rules_for(schemes: tuple[str, ...]) -> dict[str, tuple[tuple[str, frozenset[Any]], ...]]:
    from bfpdse.cim.adc import schemes_where

    return {
        "cim.block": (("cim.adc", schemes_where(lambda s: s.uses_block)),),
        "cim.adc_bits": (("cim.adc", schemes_where(lambda s: s.uses_bits)),),
        "quant.sigmas": (("quant.act_scales", frozenset({"bn"})),),
        "quant.percentile": (("quant.act_scales", frozenset({"calibrate"})),),
        # calibration images serve both the activation scales and the calibrated ADC's windows
        "quant.calib_samples": (
            ("quant.act_scales", frozenset({"calibrate"})),
            ("cim.adc", schemes_where(lambda s: s.needs_window)),
        ),
        "energy.rar_search": (("cim.adc", schemes_where(lambda s: s.search_key == "rar_search")),),
        "energy.bfp_search": (("cim.adc", schemes_where(lambda s: s.search_key == "bfp_search")),),
        "energy.adc_table": (("energy.preset", frozenset({"table"})),),
    }


class _Rules(Mapping[str, tuple[tuple[str, frozenset[Any]], ...]]):
    """A read-only view of ``_collapse_rules()``, rebuilt on each use (schemes register late)."""

    def __getitem__(self, key: str) -> tuple[tuple[str, frozenset[Any]], ...]:
        return _collapse_rules()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(_collapse_rules())

    def __len__(self) -> int:
        return len(_collapse_rules())


#: key -> its conditions (other key, values); a key applies when any condition holds and
#: elsewhere collapses to None, so that sweeping it does not multiply the work
RELEVANT_WHEN: Mapping[str, tuple[tuple[str, frozenset[Any]], ...]] = _Rules()

#: settings added after results were shipped: left out of point_id at their default (or
#: collapsed to None), so the ids of older points stay valid
ID_OMITS_DEFAULT_KEYS = ("energy.rar_search", "energy.bfp_search", "energy.adc_table")


#: per-layer settings: ``cim.layers.<layer>.<field>``, layer = the index name ``bfpdse layers``
#: prints (L00, L01, ...). ``weight_bits``/``input_bits`` of a layer quantize its weights and
#: its input at those widths (mixed precision); ``input_signed`` is not a setting of a layer:
#: the sign of its input tensor decides it.
LAYER_PREFIX = "cim.layers."
NOT_PER_LAYER = ("input_signed",)
_LAYER_NAME = re.compile(r"L\d{2,}")


def layer_fields() -> list[str]:
    """The cim fields one layer may override."""
    return [name for name in _section_fields("cim") if name not in NOT_PER_LAYER]


def split_layer_key(key: str) -> tuple[str, str] | None:
    """``cim.layers.L03.adc_bits`` -> ("L03", "adc_bits"); None for other keys."""
    if not key.startswith(LAYER_PREFIX):
        return None
    layer, _, name = key[len(LAYER_PREFIX) :].partition(".")
    return layer, name


def _check_layer_key(key: str, where: str) -> None:
    layer, name = split_layer_key(key) or ("", "")
    if not _LAYER_NAME.fullmatch(layer):
        raise SpecError(
            f"{where}{key!r}: layer {layer!r} is not a layer name; use the index names that "
            "`bfpdse layers MODEL` prints, e.g. cim.layers.L03.adc_bits"
        )
    if name in NOT_PER_LAYER:
        raise SpecError(
            f"{where}{key!r}: a layer's input_signed follows the sign of its input tensor "
            f"(docs/spec.md); per-layer fields: {', '.join(layer_fields())}"
        )
    if name not in layer_fields():
        near = difflib.get_close_matches(name, layer_fields(), n=1, cutoff=0.6)
        hint = f" (did you mean {LAYER_PREFIX}{layer}.{near[0]}?)" if near else ""
        raise SpecError(
            f"{where}unknown per-layer setting {key!r}{hint}; allowed fields: "
            f"{', '.join(layer_fields())}"
        )


def applies(key: str, value_of: Callable[[str], Any]) -> bool:
    """Whether setting ``key`` can affect a point whose settings ``value_of(dotted key)`` gives."""
    conditions = RELEVANT_WHEN.get(key)
    return conditions is None or any(value_of(other) in values for other, values in conditions)


@cache
def section_class(section: str) -> type:
    """The config dataclass of a section (``cim`` -> CIMConfig)."""
    module, name = SECTIONS[section].split(":")
    return getattr(importlib.import_module(module), name)


def _section_fields(section: str) -> list[str]:
    return [f.name for f in dataclasses.fields(section_class(section))]


def known_keys() -> list[str]:
    """Every dotted key a design point accepts, in a stable order."""
    return list(_known_keys())


@lru_cache(maxsize=1)
def _known_keys() -> tuple[str, ...]:
    keys = list(TOP_DEFAULTS)
    for section in SECTIONS:
        keys += [f"{section}.{name}" for name in _section_fields(section)]
    return tuple(keys)


def check_key(key: str, where: str = "") -> None:
    """Raise SpecError for an unknown dotted key, suggesting the nearest known one."""
    keys = _known_keys()
    if key in keys:
        return
    if key.startswith(LAYER_PREFIX):
        return _check_layer_key(key, where)
    if key.startswith("dataset."):
        if key.split(".", 1)[1] in DATASET_KEYS:
            return
        allowed = [f"dataset.{k}" for k in DATASET_KEYS]
        near = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise SpecError(f"{where}unknown dataset key {key!r}{hint}; allowed: {', '.join(allowed)}")
    if key in SECTIONS:
        raise SpecError(f"{where}{key!r} is a section: set one of its fields, e.g. {key}.<field>")
    near = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    raise SpecError(f"{where}unknown setting {key!r}{hint}; allowed: {', '.join(keys)}")


def parse_set(items: Iterable[str], where: str = "--set ") -> dict[str, Any]:
    """Parse ``KEY=VALUE`` overrides; VALUE is read as YAML (``5`` -> 5, ``null`` -> None)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SpecError(f"{where}{item!r}: expected KEY=VALUE, e.g. cim.adc_bits=5")
        check_key(key, where)
        try:
            out[key] = yamlio.load(text) if text.strip() else text
        except yaml.YAMLError:
            out[key] = text
    return out


@dataclass(frozen=True)
class Point:
    """One design point: what to evaluate and on which hardware."""

    model: str
    dataset: Any
    samples: int
    seed: int
    cim: Any
    quant: Any
    energy: Any
    noise: Any
    #: per-layer cim overrides: (layer, ((field, value), ...)), sorted; only values that differ
    #: from ``cim`` and apply to the layer's own scheme
    layers: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()

    def layer_cims(self) -> dict[str, Any]:
        """Layer name (L03) -> its CIMConfig, for the layers that override ``cim``."""
        return {name: dataclasses.replace(self.cim, **dict(fields)) for name, fields in self.layers}

    def uniform_form(self, layer_names: Iterable[str]) -> Point:
        """The same design with what every one of ``layer_names`` (all the model's layers)
        sets alike moved into ``cim``: a design that sets every layer to 3 bits is the
        uniform 3-bit design, and shares its work (the point id stays the caller's)."""
        own = {layer: dict(fields) for layer, fields in self.layers}
        if not own or set(own) != set(layer_names):
            return self
        common = set.intersection(*(set(fields.items()) for fields in own.values()))
        if not common:
            return self
        cim = dataclasses.replace(self.cim, **dict(common))
        rest = {
            layer: {k: v for k, v in f.items() if (k, v) not in common} for layer, f in own.items()
        }
        return dataclasses.replace(self, cim=cim, layers=_layer_overrides(cim, rest, ""))

    def settings(self) -> dict[str, Any]:
        """Flat, canonical dotted settings; settings that do not apply are None."""
        flat: dict[str, Any] = {k: getattr(self, k) for k in TOP_DEFAULTS}
        for section in SECTIONS:
            config = getattr(self, section)
            for f in dataclasses.fields(config):
                value = getattr(config, f.name)
                # plain data only: a read-only mapping (EnergyConfig.overrides) becomes a dict
                flat[f"{section}.{f.name}"] = dict(value) if isinstance(value, Mapping) else value
        for key in RELEVANT_WHEN:
            if not applies(key, flat.__getitem__):
                flat[key] = None
        for layer, fields in self.layers:
            flat.update({f"{LAYER_PREFIX}{layer}.{name}": value for name, value in fields})
        return flat

    @property
    def point_id(self) -> str:
        """Content hash of the canonical settings: equal points share an id."""
        flat = self.settings()
        for section in ID_OMITS_DEFAULTS:
            for f in dataclasses.fields(section_class(section)):
                key = f"{section}.{f.name}"
                if flat[key] == f.default:
                    del flat[key]
        for key in ID_OMITS_DEFAULT_KEYS:
            if flat[key] is None or flat[key] == _field_default(*key.split(".", 1)):
                del flat[key]
        text = json.dumps(flat, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _dataset_with_keys(dataset: Any, settings: Mapping[str, Any]) -> Any:
    """The dataset with ``dataset.<key>`` settings (resize, crop, mean, ...) merged in."""
    extra = {k.split(".", 1)[1]: v for k, v in settings.items() if k.startswith("dataset.")}
    if not extra:
        return dataset
    base = dict(dataset) if isinstance(dataset, Mapping) else {"path": dataset}
    return {**base, **extra}


def _check_top(key: str, value: Any, where: str) -> None:
    if key in ("samples", "seed"):
        low = 1 if key == "samples" else 0
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise SpecError(f"{where}{key}={value!r} is not allowed: an integer >= {low}")
    elif key == "model" and not (isinstance(value, str) and value):
        raise SpecError(f"{where}model={value!r}: give a zoo name or a path to an .onnx file")
    elif key == "dataset" and not (isinstance(value, str | Mapping) and value):
        raise SpecError(
            f"{where}dataset={value!r}: give a name (fashion-mnist) or "
            "{format: idx | cifar10 | npz | imagefolder, path: ...}"
        )
    elif key == "dataset":
        try:
            check_dataset(value)  # keys and values only: the files are read when evaluated
        except DataError as exc:  # its message names the dataset
            raise SpecError(f"{where}{exc}") from None


def _build_section(section: str, values: Mapping[str, Any], where: str) -> Any:
    cls = section_class(section)
    try:
        return cls(**values)
    except ValueError as exc:
        raise SpecError(f"{where}{section}: {exc}") from None
    except TypeError as exc:  # a field given a value of a type the dataclass cannot take
        raise SpecError(f"{where}{section}: {exc}") from None


def make_point(settings: Mapping[str, Any], where: str = "") -> Point:
    """Build and validate a Point from dotted settings; missing keys take their defaults.

    Settings that do not apply (see RELEVANT_WHEN) are dropped before validation, so that e.g.
    ``cim.block`` may hold any value on a point whose ADC is not ``bfp``.
    """
    for key in settings:
        check_key(key, where)
    top = {k: settings.get(k, default) for k, default in TOP_DEFAULTS.items()}
    top["dataset"] = _dataset_with_keys(top["dataset"], settings)
    for key, value in top.items():
        _check_top(key, value, where)
    sections: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    per_layer: dict[str, dict[str, Any]] = {}
    for key, value in settings.items():
        if key.startswith(LAYER_PREFIX):
            layer, name = split_layer_key(key) or ("", "")
            per_layer.setdefault(layer, {})[name] = value
        elif "." in key and not key.startswith("dataset."):
            section, name = key.split(".", 1)
            sections[section][name] = value

    def value_of(key: str) -> Any:
        section, name = key.split(".", 1)
        return sections[section].get(name, _field_default(section, name))

    for key in RELEVANT_WHEN:
        if not applies(key, value_of):
            section, name = key.split(".", 1)
            sections[section].pop(name, None)
    built = {s: _build_section(s, v, where) for s, v in sections.items()}
    layers = _layer_overrides(built["cim"], per_layer, where)
    return Point(**top, **built, layers=layers)


def _layer_overrides(
    cim: Any, per_layer: Mapping[str, Mapping[str, Any]], where: str
) -> tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]:
    """Validated per-layer overrides: each layer's config is cim with its fields replaced.

    A field that does not apply to the layer's own scheme (``block`` of a non-bfp layer) or
    equals the network-wide value is dropped, so such a layer is the uniform design.
    """
    if not per_layer:
        return ()
    base = dataclasses.asdict(cim)
    out = []
    for layer in sorted(per_layer):
        given = dict(per_layer[layer])

        def value_of(key: str, given: dict = given) -> Any:
            return given.get(key[len("cim.") :], base.get(key[len("cim.") :]))

        for name in list(given):
            if not applies(f"cim.{name}", value_of):
                del given[name]
        try:
            cfg = section_class("cim")(**{**base, **given})
        except (ValueError, TypeError) as exc:
            raise SpecError(f"{where}{LAYER_PREFIX}{layer}: {exc}") from None
        merged = dataclasses.asdict(cfg)
        kept = tuple(sorted((k, merged[k]) for k in given if merged[k] != base[k]))
        if kept:
            out.append((layer, kept))
    return tuple(out)


@cache
def _field_default(section: str, name: str) -> Any:
    for f in dataclasses.fields(section_class(section)):
        if f.name == name:
            return f.default
    raise KeyError(name)
