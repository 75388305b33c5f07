"""EnergyConfig: defaults, validation messages, round trip."""

from __future__ import annotations

import pytest

from bfpdse.energy import COMPONENTS, EnergyConfig


def test_defaults_and_round_trip() -> None:
    cfg = EnergyConfig()
    assert cfg.preset == "default"
    assert cfg.tech_node_nm == 32
    assert cfg.adc_throughput_hz == 1.28e9
    assert cfg.cols_per_adc == 8
    assert cfg.freq_hz == 1e9
    assert cfg.rho == 1.0
    assert cfg.exponent_search_pj is None
    assert dict(cfg.overrides) == {}
    other = EnergyConfig(preset="isaac", tech_node_nm=22, overrides={"dac": 0.3}, rho=0.5)
    assert EnergyConfig(**other.to_dict()) == other
    assert other.to_dict()["overrides"] == {"dac": 0.3}
    # hashable despite the mapping field, and frozen
    assert hash(EnergyConfig()) == hash(EnergyConfig())
    with pytest.raises(AttributeError):
        cfg.rho = 0.5  # type: ignore[misc]


def test_overrides_are_copied_and_read_only() -> None:
    given = {"array": 0.001}
    cfg = EnergyConfig(overrides=given)
    given["array"] = 5.0
    assert cfg.overrides["array"] == 0.001
    with pytest.raises(TypeError):
        cfg.overrides["array"] = 1.0  # type: ignore[index]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"preset": "cacti"}, ["preset", "'cacti'", "default, isaac, isaac_exp, neurosim, table"]),
        ({"preset": 1}, ["preset", "1", "default"]),
        ({"tech_node_nm": 3}, ["tech_node_nm", "3", "7 … 130"]),
        ({"tech_node_nm": 500}, ["tech_node_nm", "500", "7 … 130"]),
        ({"tech_node_nm": "32nm"}, ["tech_node_nm", "'32nm'", "number"]),
        ({"tech_node_nm": True}, ["tech_node_nm", "True", "number"]),
        ({"adc_throughput_hz": 1.28}, ["adc_throughput_hz", "1.28", "Hz"]),
        ({"adc_throughput_hz": float("nan")}, ["adc_throughput_hz", "nan", "finite"]),
        ({"freq_hz": 0}, ["freq_hz", "0", "Hz"]),
        ({"freq_hz": float("inf")}, ["freq_hz", "inf", "finite"]),
        ({"rho": 1.5}, ["rho", "1.5", "0 … 1"]),
        ({"rho": -0.1}, ["rho", "-0.1", "0 … 1"]),
        ({"cols_per_adc": 0}, ["cols_per_adc", "0", "1 … 4096"]),
        ({"cols_per_adc": 8.0}, ["cols_per_adc", "8.0", "int"]),
        ({"cols_per_adc": True}, ["cols_per_adc", "True", "int"]),
        ({"exponent_search_pj": -1.0}, ["exponent_search_pj", "-1.0", ">= 0"]),
        ({"exponent_search_pj": "x"}, ["exponent_search_pj", "'x'", "number"]),
        ({"overrides": {"adcs": 1.0}}, ["'adcs'", *COMPONENTS]),
        ({"overrides": {"adc": -1.0}}, ["overrides['adc']", "-1.0", ">= 0"]),
        ({"overrides": {"adc": "cheap"}}, ["overrides['adc']", "'cheap'", "number"]),
        ({"overrides": [("adc", 1.0)]}, ["overrides", "mapping"]),
        (
            {"exponent_search_pj": 1.0, "overrides": {"exponent_search": 2.0}},
            ["exponent_search_pj", "overrides['exponent_search']", "only one"],
        ),
    ],
)
def test_every_bad_value_is_named(kwargs: dict, words: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        EnergyConfig(**kwargs)
    msg = str(info.value)
    for word in words:
        assert word in msg, (word, msg)


def test_search_price_from_either_field() -> None:
    assert EnergyConfig().search_pj() is None
    assert EnergyConfig(exponent_search_pj=0.5).search_pj() == 0.5
    assert EnergyConfig(overrides={"exponent_search": 0.25}).search_pj() == 0.25
