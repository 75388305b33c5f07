"""The exact integer arithmetic of a CIM crossbar (docs/spec.md). Imports nothing else of bfpdse."""

from bfpdse.cim.adc import ADC_SCHEMES, get_scheme, quantize, scheme_names
from bfpdse.cim.config import CIMConfig
from bfpdse.cim.mvm import PreparedWeights, calibrate_window, crossbar_mvm, prepare_weights
from bfpdse.cim.stats import CIMStats

__all__ = [
    "ADC_SCHEMES",
    "CIMConfig",
    "CIMStats",
    "PreparedWeights",
    "calibrate_window",
    "crossbar_mvm",
    "get_scheme",
    "prepare_weights",
    "quantize",
    "scheme_names",
]
