"""The exact integer arithmetic of a CIM crossbar (SPEC.md). Imports nothing else of bfpdse."""

from bfpdse.cim.stats import CIMStats

__all__ = ["CIMStats"]
