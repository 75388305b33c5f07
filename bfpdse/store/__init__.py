"""The result store: append-only parts, consolidation, and reading tables back."""

from bfpdse.store.folder import SweepFolder
from bfpdse.store.read import read_results
from bfpdse.store.schema import COLUMNS, METRICS, Column

__all__ = ["COLUMNS", "METRICS", "Column", "SweepFolder", "read_results"]
