"""Published figures the cost model stands on, each kept next to its source (docs/energy.md).

Numbers are stored at the node where they were published and moved to the configured node with
hwcomponents' technology scaling (Stillmaker & Baas 2017 tables), never with a private factor.
Where a figure comes from a hwcomponents-library model, the model is called, so the number is
whatever the installed library says.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hwcomponents.scaling import tech_node_area, tech_node_energy
from hwcomponents_library.library.aladdin import AladdinAdder, AladdinRegister
from hwcomponents_library.library.isaac import IsaacDAC, IsaacShiftAdd

PJ_PER_J = 1e12
UM2_PER_M2 = 1e12


@dataclass(frozen=True)
class Component:
    """One priced part: energy per event (pJ), area of one instance (um^2), where from."""

    name: str
    pj_per_event: float
    area_um2: float
    node_nm: float
    source: str

    def at_node(self, node_nm: float) -> Component:
        """The same part moved to another node with hwcomponents' technology scaling."""
        if node_nm == self.node_nm:
            return self
        return replace(
            self,
            pj_per_event=self.pj_per_event * energy_scale(node_nm, self.node_nm),
            area_um2=self.area_um2 * area_scale(node_nm, self.node_nm),
            node_nm=node_nm,
            source=f"{self.source}; scaled {self.node_nm:g} -> {node_nm:g} nm (hwcomponents)",
        )


def energy_scale(to_nm: float, from_nm: float) -> float:
    """Energy factor from one node to another (hwcomponents.scaling.tech_node_energy)."""
    return tech_node_energy(to_nm * 1e-9, from_nm * 1e-9)


def area_scale(to_nm: float, from_nm: float) -> float:
    """Area factor from one node to another (hwcomponents.scaling.tech_node_area)."""
    return tech_node_area(to_nm * 1e-9, from_nm * 1e-9)


# ---------------------------------------------------------------------------------------------
# ADC figures
# ---------------------------------------------------------------------------------------------

#: ISAAC preset: bits -> (pJ per conversion, um^2) at 32 nm. Kull et al. ISSCC 2013 (8 b,
#: 1.2 GS/s, 32 nm SOI) as used by ISAAC (Shafiee et al., ISCA 2016, Table I: 16 mW / 1.2 GS/s /
#: 8 ADCs ... 1.67 pJ, 1200 um^2), scaled in resolution after Saberi et al. 2011; tabulated in
#: hwcomponents-library (library/isaac.py, IsaacADC). The library's IsaacADC class itself scales
#: by 2x per bit, which does not give this table, so the table is used as published.
ISAAC_ADC_NODE_NM = 32.0
ISAAC_ADC_TABLE: dict[int, tuple[float, float]] = {
    4: (0.79, 361.04),
    5: (0.99, 476.91),
    6: (1.20, 626.91),
    7: (1.42, 845.18),
    8: (1.67, 1200.0),
    9: (1.969078145, 1827.911647),
    10: (2.379022742, 3002.008032),
}
ISAAC_ADC_SOURCE = (
    "ISAAC (Shafiee et al., ISCA 2016) Table I ADC (Kull et al., ISSCC 2013, 32 nm), "
    "resolution-scaled after Saberi et al. 2011, table from hwcomponents-library isaac.py"
)

ISAAC_EXP_SOURCE = (
    "hwcomponents-library IsaacADC (ISAAC's 8-bit ADC, 1.67 pJ and 1200 um^2 at 32 nm, "
    "energy and area scaled by 2^(b - 8) and to the node by the library)"
)

#: NeuroSim preset: DNN_NeuroSim V1.4 SarADC.cpp, low-power roadmap: per column
#: P = (a * N + b) uW, one conversion takes (N + 1) cycles of 1 ns. node -> (a, b).
NEUROSIM_SAR_COEFFS: dict[float, tuple[float, float]] = {
    22.0: (0.538, 4.3753),
    32.0: (1.1294, 8.8998),
}
NEUROSIM_CYCLE_NS = 1.0
NEUROSIM_SOURCE = "DNN_NeuroSim V1.4 SarADC.cpp (low-power roadmap): E = (a*N + b) uW * (N+1) ns"

HWCOMPONENTS_ADC_SOURCE = (
    "hwcomponents-adc (Accelergy/CiMLoop model fitted to the Murmann ADC survey), "
    "E = convert().energy / 0.8"
)

# ---------------------------------------------------------------------------------------------
# Array, drivers and digital parts (shared by every preset)
# ---------------------------------------------------------------------------------------------

# ISAAC Table I (32 nm, 100 ns crossbar cycle): one IMA has 8 memristor arrays of 128 x 128
# 2-bit cells, 2.4 mW and 0.0002 mm^2 in all; 8 x 128 sample-and-holds, 10 uW and 0.00004 mm^2.
_ISAAC_CYCLE_S = 100e-9
_ISAAC_CELLS = 8 * 128 * 128
_CELL_MAC_PJ = 2.4e-3 * _ISAAC_CYCLE_S / _ISAAC_CELLS * PJ_PER_J  # 1.83 fJ
_CELL_AREA_UM2 = 0.0002e6 / _ISAAC_CELLS  # 0.0015 um^2 (ISAAC's figure; below 4F^2 = 0.0041)
_SH_COUNT = 8 * 128
_SH_PJ = 10e-6 * _ISAAC_CYCLE_S / _SH_COUNT * PJ_PER_J  # 0.98 fJ
_SH_AREA_UM2 = 0.00004e6 / _SH_COUNT  # 0.039 um^2

#: BFP logic per element at 22 nm: 35-45 fJ from NeuroSim V1.3 primitives (docs/energy.md); midpoint
_BFP_LOGIC_PJ_22NM = 0.040


def cell_component() -> Component:
    """One cell read (cell MAC) of a 2-bit ReRAM crossbar; area of one cell."""
    return Component(
        "array",
        _CELL_MAC_PJ,
        _CELL_AREA_UM2,
        32.0,
        "ISAAC Table I (derived: 2.4 mW x 100 ns / (8 x 128 x 128) cells; "
        "area 0.0002 mm^2 / (8 x 128 x 128) cells)",
    )


def dac_component(dac_bits: int) -> Component:
    """One word-line drive by a dac_bits-bit DAC (hwcomponents-library IsaacDAC)."""
    dac = IsaacDAC(tech_node=32e-9, resolution=dac_bits)
    return Component(
        "dac",
        dac.convert().energy * PJ_PER_J,
        dac.area * UM2_PER_M2,
        32.0,
        f"ISAAC Table I via hwcomponents-library IsaacDAC(resolution={dac_bits})",
    )


def sample_hold_component() -> Component:
    """One sample of a bit-line sample-and-hold."""
    return Component(
        "sample_hold",
        _SH_PJ,
        _SH_AREA_UM2,
        32.0,
        "ISAAC Table I (derived: 10 uW x 100 ns / (8 x 128) S+H; 0.00004 mm^2 / (8 x 128))",
    )


def shift_add_component() -> Component:
    """One shift-and-add of a converted code (hwcomponents-library IsaacShiftAdd, 16 bit)."""
    unit = IsaacShiftAdd(tech_node=32e-9)
    return Component(
        "shift_add",
        unit.shift_add().energy * PJ_PER_J,
        unit.area * UM2_PER_M2,
        32.0,
        "ISAAC Table I via hwcomponents-library IsaacShiftAdd (16 bit)",
    )


def bfp_logic_component() -> Component:
    """Per rar/bfp member: leading-one detect, shifter, exponent add, register.

    Energy: estimate 40 fJ at 22 nm, the middle of the 35-45 fJ of docs/energy.md, built from
    NeuroSim V1.3 primitives. Area (estimate): two 8-bit Aladdin adders (exponent add;
    leading-one detect and shifter counted as one more) plus a 16-bit Aladdin register, from
    hwcomponents-library.
    """
    node = 22e-9
    area_m2 = 2 * AladdinAdder(tech_node=node, width=8).area
    area_m2 += AladdinRegister(tech_node=node, width=16).area
    return Component(
        "bfp_logic",
        _BFP_LOGIC_PJ_22NM,
        area_m2 * UM2_PER_M2,
        22.0,
        "estimate: 35-45 fJ per element from NeuroSim V1.3 primitives (docs/energy.md), midpoint; "
        "area estimate 2 x 8-bit adder + 16-bit register (Aladdin, hwcomponents-library)",
    )


def digital_components(dac_bits: int, node_nm: float) -> dict[str, Component]:
    """Array, DAC, sample-and-hold, shift-add and BFP logic at ``node_nm``."""
    parts = (
        cell_component(),
        dac_component(dac_bits),
        sample_hold_component(),
        shift_add_component(),
        bfp_logic_component(),
    )
    return {p.name: p.at_node(node_nm) for p in parts}
