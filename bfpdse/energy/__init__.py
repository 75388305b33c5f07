"""Cost model: CIMStats counts -> energy, latency and area per inference (docs/energy.md).

Imports only ``bfpdse.cim`` of bfpdse, plus the hwcomponents packages that supply the prices.
"""

from typing import TYPE_CHECKING

from bfpdse._lazy import lazy_exports

# Imported on first use: bfpdse.energy.config (validation, component names) must not load numba.
_LAZY = {
    **dict.fromkeys(
        ["Converter", "cdac_share", "conversion_share", "converter", "search_share"],
        "bfpdse.energy.adc",
    ),
    **dict.fromkeys(["COMPONENTS", "PRESETS", "EnergyConfig"], "bfpdse.energy.config"),
    **dict.fromkeys(
        [
            "CostReport",
            "LayerUse",
            "active_planes",
            "arrays_needed",
            "component_prices",
            "dense_stats",
            "price",
            "adc_bits_needed",
            "converter_use",
            "tool_versions",
        ],
        "bfpdse.energy.model",
    ),
    "Component": "bfpdse.energy.presets",
}

if TYPE_CHECKING:
    from bfpdse.energy.adc import Converter, cdac_share, conversion_share, converter, search_share
    from bfpdse.energy.config import COMPONENTS, PRESETS, EnergyConfig
    from bfpdse.energy.model import (
        CostReport,
        LayerUse,
        active_planes,
        adc_bits_needed,
        arrays_needed,
        component_prices,
        converter_use,
        dense_stats,
        price,
        tool_versions,
    )
    from bfpdse.energy.presets import Component

__all__ = [
    "COMPONENTS",
    "PRESETS",
    "Component",
    "Converter",
    "CostReport",
    "EnergyConfig",
    "LayerUse",
    "active_planes",
    "arrays_needed",
    "component_prices",
    "cdac_share",
    "conversion_share",
    "converter",
    "dense_stats",
    "price",
    "adc_bits_needed",
    "converter_use",
    "search_share",
    "tool_versions",
]

__getattr__ = lazy_exports(__name__, _LAZY)
