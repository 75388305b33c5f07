"""Design points and sweep specs: dotted settings, validation, expansion."""

from bfpdse.spec.point import Point, check_key, known_keys, make_point, parse_set

__all__ = ["Point", "check_key", "known_keys", "make_point", "parse_set"]
