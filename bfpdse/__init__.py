"""bfpdse: design-space exploration of CIM accelerators with range-aware ADCs.

The public API (docs/spec.md fixes the names of the CIM engine). Names are imported on first use, so
that ``import bfpdse`` and ``bfpdse --help`` stay quick and do not start numba.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bfpdse.threads import quiet_idle_threads

quiet_idle_threads()  # before numpy and numba load: they read it then (bfpdse.threads)

from bfpdse._lazy import lazy_exports  # noqa: E402
from bfpdse._version import __version__  # noqa: E402
from bfpdse.errors import BfpdseError, DataError, ModelError, SpecError, StoreError  # noqa: E402

# public name -> module that defines it
_LAZY = {
    "CIMConfig": "bfpdse.cim",
    "CIMStats": "bfpdse.cim",
    "crossbar_mvm": "bfpdse.cim",
    "calibrate_window": "bfpdse.cim",
    "prepare_weights": "bfpdse.cim",
    "load_model": "bfpdse.nn",
    "load_dataset": "bfpdse.data",
    "load_spec": "bfpdse.spec",
    "run_sweep": "bfpdse.run",
    "read_results": "bfpdse.store",
    "evaluate": "bfpdse.evaluate",
    "make_point": "bfpdse.spec",
}

__all__ = [
    "__version__",
    *_LAZY,
    "BfpdseError",
    "SpecError",
    "ModelError",
    "DataError",
    "StoreError",
]

if TYPE_CHECKING:
    from bfpdse.cim import (  # noqa: F401
        CIMConfig,
        CIMStats,
        calibrate_window,
        crossbar_mvm,
        prepare_weights,
    )
    from bfpdse.data import load_dataset  # noqa: F401
    from bfpdse.evaluate import evaluate  # noqa: F401
    from bfpdse.nn import load_model  # noqa: F401
    from bfpdse.run import run_sweep  # noqa: F401
    from bfpdse.spec import load_spec, make_point  # noqa: F401
    from bfpdse.store import read_results  # noqa: F401


__getattr__ = lazy_exports(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted(__all__)
