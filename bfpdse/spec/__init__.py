"""Design points and sweep specs: dotted settings, validation, expansion."""

from bfpdse.spec.expand import expand
from bfpdse.spec.load import load_spec
from bfpdse.spec.point import Point, check_key, known_keys, make_point, parse_set
from bfpdse.spec.schema import Axis, ExpandCounts, Spec, SpecFile

__all__ = [
    "Axis",
    "ExpandCounts",
    "Point",
    "Spec",
    "SpecFile",
    "check_key",
    "expand",
    "known_keys",
    "load_spec",
    "make_point",
    "parse_set",
]
