"""YAML as sweep files and ``--set`` values read it: safe, with exponent floats as numbers.

PyYAML follows YAML 1.1, where ``1e8`` and ``1.28e9`` are strings (1.1 wants ``1.0e+8``). Here
they are floats, as in YAML 1.2 and as a user writing ``adc_throughput_hz: 1.28e9`` means.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class Loader(yaml.SafeLoader):
    """SafeLoader whose float rule also takes ``1e8``, ``-2.5E-3`` and ``1.28e9``."""


# own copies of the resolver lists: SafeLoader's stay as they are
Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:float"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _ch in "-+0123456789.":
    Loader.yaml_implicit_resolvers.setdefault(_ch, []).insert(
        0, ("tag:yaml.org,2002:float", _FLOAT)
    )


def load(text: str) -> Any:
    """Parse one YAML document with :class:`Loader`."""
    return yaml.load(text, Loader=Loader)  # noqa: S506 - Loader is a SafeLoader
