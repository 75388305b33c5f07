"""Design points: dotted keys, validation messages, canonical settings and ids."""

import pytest

from bfpdse.errors import SpecError
from bfpdse.spec.point import known_keys, make_point, parse_set


def test_defaults_fill_every_key():
    point = make_point({})
    settings = point.settings()
    assert set(settings) == set(known_keys())
    assert settings["model"] == "resnet20" and settings["samples"] == 1000
    assert point.cim.adc_bits == point.cim.full_bits  # docs/spec.md: the default config is exact


def test_parse_set_reads_values_as_yaml():
    got = parse_set(["cim.adc=rar", "cim.adc_bits=5", "cim.input_mantissa_bits=null"])
    assert got == {"cim.adc": "rar", "cim.adc_bits": 5, "cim.input_mantissa_bits": None}


@pytest.mark.parametrize(
    ("item", "needle"),
    [
        ("cim.adc_bit=5", "did you mean 'cim.adc_bits'"),
        ("cim=5", "is a section"),
        ("adc_bits", "expected KEY=VALUE"),
        ("nonsense.key=1", "unknown setting 'nonsense.key'"),
    ],
)
def test_parse_set_errors(item, needle):
    with pytest.raises(SpecError, match=needle):
        parse_set([item])


def test_bad_value_names_section_field_and_value():
    with pytest.raises(SpecError) as err:
        make_point({"cim.adc_bits": 0, "cim.adc": "linear"})
    assert "cim" in str(err.value) and "adc_bits" in str(err.value) and "0" in str(err.value)


@pytest.mark.parametrize(
    ("key", "value"), [("samples", 0), ("seed", -1), ("samples", "many"), ("model", "")]
)
def test_bad_top_level_values(key, value):
    with pytest.raises(SpecError, match=key):
        make_point({key: value})


def test_irrelevant_settings_collapse_to_one_point():
    a = make_point({"cim.adc": "rar", "cim.adc_bits": 5, "cim.block": 4})
    b = make_point({"cim.adc": "rar", "cim.adc_bits": 5, "cim.block": 64})
    assert a.point_id == b.point_id
    assert a.settings()["cim.block"] is None
    c = make_point({"cim.adc": "bfp", "cim.adc_bits": 5, "cim.block": 4})
    d = make_point({"cim.adc": "bfp", "cim.adc_bits": 5, "cim.block": 64})
    assert c.point_id != d.point_id


def test_irrelevant_setting_may_hold_any_value():
    # a block too large for bfp is not an error on a point that does not use blocks
    point = make_point({"cim.adc": "ideal", "cim.block": 10**9, "cim.adc_bits": 99})
    assert point.settings()["cim.adc_bits"] is None


def test_point_id_depends_on_relevant_settings():
    assert make_point({"cim.rows": 64}).point_id != make_point({"cim.rows": 128}).point_id
    assert make_point({"seed": 1}).point_id != make_point({"seed": 2}).point_id


def test_quantization_settings_collapse_where_unused():
    # sigmas only shapes the data-free ("bn") scales, percentile only the calibrated ones
    bn = [make_point({"quant.percentile": p, "quant.calib_samples": n}) for p, n in
          ((99.0, 64), (99.9, 128))]  # fmt: skip
    assert bn[0].point_id == bn[1].point_id
    assert bn[0].settings()["quant.sigmas"] == 8.0
    assert bn[0].settings()["quant.percentile"] is None
    cal = [make_point({"quant.act_scales": "calibrate", "quant.sigmas": s}) for s in (4.0, 6.0)]
    assert cal[0].point_id == cal[1].point_id
    assert cal[0].settings()["quant.sigmas"] is None
    assert make_point({"quant.act_scales": "calibrate", "quant.percentile": 99.0}).point_id != (
        make_point({"quant.act_scales": "calibrate", "quant.percentile": 99.9}).point_id
    )


def test_calib_samples_applies_to_the_calibrated_adc_too():
    # the calibrated ADC finds its windows on quant.calib_samples images, even with "bn" scales
    points = [make_point({"cim.adc": "calibrated", "quant.calib_samples": n}) for n in (64, 128)]
    assert points[0].point_id != points[1].point_id
    assert points[0].settings()["quant.calib_samples"] == 64
    rar = [make_point({"cim.adc": "rar", "quant.calib_samples": n}) for n in (64, 128)]
    assert rar[0].point_id == rar[1].point_id
