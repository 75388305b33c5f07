"""CIMConfig: the crossbar and ADC settings of docs/spec.md, validated on construction."""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass
from typing import Any

from bfpdse.cim.adc import scheme_names

WEIGHT_MAPPINGS = ("differential", "balanced", "offset")
ROUNDINGS = ("nearest", "floor")

#: (low, high) of every integer field; dac_bits and input_mantissa_bits are bounded by input_bits
_INT_RANGES: dict[str, tuple[int, int]] = {
    "rows": (1, 4096),
    "cols": (1, 4096),
    "cell_bits": (1, 4),
    "weight_bits": (2, 16),
    "input_bits": (1, 16),
    "block": (1, 4096),
}
ADC_BITS_MAX = 24


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _pmax(rows: int, cell_bits: int, dac_bits: int) -> int:
    return rows * ((1 << cell_bits) - 1) * ((1 << dac_bits) - 1)


def _check_int(name: str, value: Any) -> int:
    # bool is an int subclass in Python; True as a bit width is a mistake, not a 1
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name}={value!r} must be an int, got {type(value).__name__}")
    return int(value)


def _check_range(name: str, value: int, low: int, high: int, why: str = "") -> None:
    if not low <= value <= high:
        raise ValueError(f"{name}={value} is out of range: allowed {low} … {high}{why}")


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name}={value!r} is unknown: allowed {', '.join(allowed)}")


@dataclass(frozen=True)
class CIMConfig:
    """One crossbar design: array shape, bit widths, weight mapping and ADC (docs/spec.md).

    ``adc_bits=None`` resolves to the full resolution F (the bit length of ``pmax``), so a
    default config is exact. Invalid values raise ``ValueError`` naming the field, the value and
    what is allowed.
    """

    rows: int = 128
    cols: int = 128
    cell_bits: int = 2
    weight_bits: int = 8
    input_bits: int = 8
    dac_bits: int = 1
    input_signed: bool = False
    weight_mapping: str = "differential"
    adc: str = "bfp"
    adc_bits: int | None = None
    block: int = 8
    rounding: str = "nearest"
    input_mantissa_bits: int | None = None

    def __post_init__(self) -> None:
        for name, (low, high) in _INT_RANGES.items():
            value = _check_int(name, getattr(self, name))
            _check_range(name, value, low, high)
            object.__setattr__(self, name, value)
        ab = self.input_bits
        d = _check_int("dac_bits", self.dac_bits)
        _check_range("dac_bits", d, 1, ab, f" (at most input_bits={ab})")
        object.__setattr__(self, "dac_bits", d)
        if not isinstance(self.input_signed, bool):
            raise ValueError(
                f"input_signed={self.input_signed!r} must be a bool (True or False), "
                f"got {type(self.input_signed).__name__}"
            )
        if self.input_signed and d != 1:
            raise ValueError(
                f"dac_bits={d} is not allowed with input_signed=True: signed inputs need dac_bits=1"
            )
        _check_choice("weight_mapping", self.weight_mapping, WEIGHT_MAPPINGS)
        _check_choice("adc", self.adc, scheme_names())
        _check_choice("rounding", self.rounding, ROUNDINGS)
        self._check_adc_bits()
        self._check_input_mantissa_bits()

    def _check_adc_bits(self) -> None:
        full = self.full_bits
        if self.adc_bits is None:
            object.__setattr__(self, "adc_bits", full)
            return
        b = _check_int("adc_bits", self.adc_bits)
        # the default F may exceed 24 for huge arrays; it stays valid when given explicitly
        high = max(ADC_BITS_MAX, full)
        why = f" (or up to the full resolution F={full})" if full > ADC_BITS_MAX else ""
        _check_range("adc_bits", b, 1, high, why)
        object.__setattr__(self, "adc_bits", b)

    def _check_input_mantissa_bits(self) -> None:
        m = self.input_mantissa_bits
        if m is None:
            return
        m = _check_int("input_mantissa_bits", m)
        ab = self.input_bits
        _check_range("input_mantissa_bits", m, 1, ab, f" (or None; at most input_bits={ab})")
        if self.input_signed:
            raise ValueError(
                f"input_mantissa_bits={m} is not allowed with input_signed=True: "
                "input blocks need unsigned inputs (use None)"
            )
        object.__setattr__(self, "input_mantissa_bits", m)

    @property
    def pmax(self) -> int:
        """Largest partial sum: rows * (2^cell_bits - 1) * (2^dac_bits - 1)."""
        return _pmax(self.rows, self.cell_bits, self.dac_bits)

    @property
    def full_bits(self) -> int:
        """F, the bit length of pmax: the ADC resolution at which every scheme is exact."""
        return self.pmax.bit_length()

    @property
    def n_planes(self) -> int:
        """P, input planes per vector: ceil(input_bits / dac_bits) (input_bits when signed)."""
        if self.input_signed:
            return self.input_bits
        return _ceil_div(self.input_bits, self.dac_bits)

    @property
    def n_slices(self) -> int:
        """S, weight slices: ceil((Wb - 1) / c), or ceil(Wb / c) for the offset mapping."""
        if self.weight_mapping == "offset":
            return _ceil_div(self.weight_bits, self.cell_bits)
        return _ceil_div(self.weight_bits - 1, self.cell_bits)

    @property
    def n_polarities(self) -> int:
        """ADC conversions per slice and output: 2 for differential, 1 otherwise."""
        return 2 if self.weight_mapping == "differential" else 1

    @property
    def columns_per_weight(self) -> int:
        """Physical bit lines per slice of one weight: 2 (differential, balanced), 1 (offset)."""
        return 1 if self.weight_mapping == "offset" else 2

    def to_dict(self) -> dict[str, Any]:
        """Plain field -> value dict (adc_bits resolved); ``CIMConfig(**d)`` rebuilds it."""
        return asdict(self)
