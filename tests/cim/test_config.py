"""CIMConfig validation, defaults and derived properties; crossbar_mvm's argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from bfpdse.cim import CIMConfig, calibrate_window, crossbar_mvm, get_scheme, scheme_names

# -- CIMConfig: every ValueError names the field, the bad value and what is allowed -------------


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("rows", 0, "1 … 4096"),
        ("rows", 4097, "1 … 4096"),
        ("cols", 0, "1 … 4096"),
        ("cols", 5000, "1 … 4096"),
        ("cell_bits", 0, "1 … 4"),
        ("cell_bits", 5, "1 … 4"),
        ("weight_bits", 1, "2 … 16"),
        ("weight_bits", 17, "2 … 16"),
        ("input_bits", 0, "1 … 16"),
        ("input_bits", 17, "1 … 16"),
        ("dac_bits", 0, "1 … 8"),
        ("dac_bits", 9, "1 … 8"),  # more than input_bits = 8
        ("adc_bits", 0, "1 … 24"),
        ("adc_bits", 25, "1 … 24"),
        ("block", 0, "1 … 4096"),
        ("block", 4097, "1 … 4096"),
        ("input_mantissa_bits", 0, "1 … 8"),
        ("input_mantissa_bits", 9, "1 … 8"),
    ],
)
def test_out_of_range(field: str, value: int, allowed: str) -> None:
    with pytest.raises(ValueError, match=f"{field}={value} is out of range: allowed {allowed}"):
        CIMConfig(**{field: value})


@pytest.mark.parametrize(
    ("field", "value", "names"),
    [
        ("adc", "log", "ideal, linear, calibrated, rar, bfp"),
        ("weight_mapping", "twos", "differential, balanced, offset"),
        ("rounding", "even", "nearest, floor"),
        ("adc", 3, "ideal, linear, calibrated, rar, bfp"),
    ],
)
def test_unknown_choice(field: str, value: object, names: str) -> None:
    with pytest.raises(ValueError, match=f"{field}={value!r} is unknown: allowed {names}"):
        CIMConfig(**{field: value})


@pytest.mark.parametrize("field", ["rows", "cell_bits", "adc_bits", "block", "input_bits"])
@pytest.mark.parametrize("value", [True, 2.0, "8"])
def test_int_fields_reject_bool_float_str(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"{field}={value!r} must be an int"):
        CIMConfig(**{field: value})


@pytest.mark.parametrize("value", [1, 0, "yes", None])
def test_input_signed_must_be_bool(value: object) -> None:
    with pytest.raises(ValueError, match=f"input_signed={value!r} must be a bool"):
        CIMConfig(input_signed=value)


def test_signed_inputs_need_one_dac_bit() -> None:
    with pytest.raises(ValueError, match="dac_bits=2 is not allowed with input_signed=True"):
        CIMConfig(input_signed=True, dac_bits=2)


def test_input_blocks_need_unsigned_inputs() -> None:
    with pytest.raises(ValueError, match="input_mantissa_bits=4 is not allowed with input_signed"):
        CIMConfig(input_signed=True, input_mantissa_bits=4)


def test_numpy_ints_are_accepted_and_normalised() -> None:
    cfg = CIMConfig(rows=np.int64(64), adc_bits=np.int32(5))
    assert cfg.rows == 64 and type(cfg.rows) is int
    assert cfg.adc_bits == 5 and type(cfg.adc_bits) is int
    assert cfg == CIMConfig(rows=64, adc_bits=5)


# -- defaults and properties --------------------------------------------------------------------


def test_defaults_are_spec_values_and_adc_bits_is_full_resolution() -> None:
    cfg = CIMConfig()
    assert (cfg.rows, cfg.cols, cfg.cell_bits, cfg.weight_bits, cfg.input_bits) == (
        128,
        128,
        2,
        8,
        8,
    )
    assert (cfg.dac_bits, cfg.input_signed, cfg.weight_mapping) == (1, False, "differential")
    assert (cfg.adc, cfg.block, cfg.rounding, cfg.input_mantissa_bits) == (
        "bfp",
        8,
        "nearest",
        None,
    )
    assert cfg.pmax == 128 * 3 * 1
    assert cfg.full_bits == 9  # 384 = 0b110000000
    assert cfg.adc_bits == cfg.full_bits


@pytest.mark.parametrize(
    ("kw", "pmax", "full"),
    [
        ({"rows": 4, "cell_bits": 2, "dac_bits": 1}, 12, 4),  # SPEC worked example
        ({"rows": 1, "cell_bits": 1, "dac_bits": 1}, 1, 1),
        ({"rows": 256, "cell_bits": 4, "dac_bits": 2}, 256 * 15 * 3, 14),
        ({"rows": 4096, "cell_bits": 4, "input_bits": 16, "dac_bits": 16}, 4096 * 15 * 65535, 32),
    ],
)
def test_pmax_and_full_bits(kw: dict, pmax: int, full: int) -> None:
    cfg = CIMConfig(**kw)
    assert cfg.pmax == pmax
    assert cfg.full_bits == full == pmax.bit_length()
    assert cfg.adc_bits == full  # the default resolves to F, even above 24
    assert CIMConfig(**cfg.to_dict()) == cfg  # and stays valid when given back


@pytest.mark.parametrize(
    ("mapping", "wb", "c", "slices", "pol", "cols"),
    [
        ("differential", 8, 2, 4, 2, 2),
        ("balanced", 8, 2, 4, 1, 2),
        ("offset", 8, 2, 4, 1, 1),
        ("differential", 8, 3, 3, 2, 2),  # ceil(7 / 3)
        ("offset", 8, 3, 3, 1, 1),  # ceil(8 / 3)
        ("offset", 9, 4, 3, 1, 1),  # ceil(9 / 4), while differential needs ceil(8 / 4) = 2
        ("differential", 9, 4, 2, 2, 2),
    ],
)
def test_slices_polarities_columns(mapping, wb, c, slices, pol, cols) -> None:
    cfg = CIMConfig(weight_mapping=mapping, weight_bits=wb, cell_bits=c)
    assert (cfg.n_slices, cfg.n_polarities, cfg.columns_per_weight) == (slices, pol, cols)


@pytest.mark.parametrize(
    ("kw", "planes"),
    [({"input_bits": 8}, 8), ({"input_bits": 8, "dac_bits": 3}, 3), ({"input_bits": 7}, 7),
     ({"input_bits": 6, "input_signed": True}, 6), ({"input_bits": 16, "dac_bits": 16}, 1)],
)  # fmt: skip
def test_planes(kw: dict, planes: int) -> None:
    assert CIMConfig(**kw).n_planes == planes


def test_to_dict_is_plain_and_round_trips() -> None:
    cfg = CIMConfig(adc="rar", adc_bits=None, rows=64)
    d = cfg.to_dict()
    assert d["adc_bits"] == cfg.full_bits == 8
    assert set(d) == {
        "rows", "cols", "cell_bits", "weight_bits", "input_bits", "dac_bits", "input_signed",
        "weight_mapping", "adc", "adc_bits", "block", "rounding", "input_mantissa_bits",
    }  # fmt: skip
    assert CIMConfig(**d) == cfg


def test_frozen_and_hashable() -> None:
    a, b = CIMConfig(adc="linear", adc_bits=5), CIMConfig(adc="linear", adc_bits=5)
    assert hash(a) == hash(b) and len({a, b, CIMConfig()}) == 2
    with pytest.raises(AttributeError):
        a.rows = 64  # type: ignore[misc]


def test_scheme_registry_lists_valid_names() -> None:
    assert scheme_names() == ("ideal", "linear", "calibrated", "rar", "bfp")
    assert get_scheme("calibrated").needs_window and not get_scheme("rar").needs_window
    with pytest.raises(ValueError, match="adc='nope' is unknown: allowed ideal, linear"):
        get_scheme("nope")


# -- crossbar_mvm / calibrate_window argument checks ---------------------------------------------

X = np.arange(12, dtype=np.int64).reshape(2, 6)
W = np.ones((6, 3), dtype=np.int64)
CFG = CIMConfig(rows=4, adc="linear", adc_bits=3)


@pytest.mark.parametrize(
    ("x", "w", "message"),
    [
        (X[0], W, r"x must be 2-D, got shape \(6,\)"),
        (X, W[:, 0], r"w must be 2-D, got shape \(6,\)"),
        (X[:, :, None], W, r"x must be 2-D, got shape \(2, 6, 1\)"),
        (X, W[:5], r"shapes do not match: x is \(2, 6\) and w is \(5, 3\)"),
        (X.astype(np.float64), W, "x must be a 2-D array of integers, got dtype float64"),
        (X, W.astype(bool), "w must be a 2-D array of integers, got dtype bool"),
        (X - 1, W, r"x has values in -1 … 10, outside what input_bits=8 \(unsigned\) allows"),
        (X * 30, W, r"x has values in 0 … 330, outside .* allows: 0 … 255"),
        (X, W * 200, r"w has values in 200 … 200, outside what weight_bits=8 allows: -127 … 127"),
        (X, -W * 128, r"w has values in -128 … -128, outside .* allows: -127 … 127"),
    ],
)  # fmt: skip
def test_mvm_rejects_bad_arrays(x, w, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        crossbar_mvm(x, w, CFG)
    with pytest.raises(ValueError, match=message):
        calibrate_window(x, w, CFG)


def test_signed_input_range() -> None:
    cfg = CIMConfig(rows=4, input_bits=4, input_signed=True, adc="ideal")
    x = np.array([[-8, 7, 0, 1, 2, 3]])
    np.testing.assert_array_equal(crossbar_mvm(x, W, cfg), x @ W)
    with pytest.raises(ValueError, match=r"input_bits=4 \(signed\) allows: -8 … 7"):
        crossbar_mvm(x - 1, W, cfg)


def test_any_integer_dtype_is_accepted() -> None:
    cfg = CIMConfig(rows=4, adc="ideal")
    ref = X @ W
    for dt in (np.uint8, np.int8, np.uint16, np.int32, np.uint64):
        np.testing.assert_array_equal(crossbar_mvm(X.astype(dt), W.astype(np.int8), cfg), ref)
    y = crossbar_mvm(X.tolist(), W.tolist(), cfg)  # nested lists of ints too
    assert y.dtype == np.int64 and y.shape == (2, 3)


def test_calibrated_needs_a_window_in_range() -> None:
    cfg = CIMConfig(rows=4, adc="calibrated", adc_bits=2)  # F = 4: windows 0 … 2
    with pytest.raises(ValueError, match="adc='calibrated' needs window=: an int in 0 … 2"):
        crossbar_mvm(X, W, cfg)
    for bad in (-1, 3):
        with pytest.raises(ValueError, match=f"window={bad} is out of range: allowed 0 … 2"):
            crossbar_mvm(X, W, cfg, window=bad)
    for bad in (1.0, True):
        with pytest.raises(ValueError, match=f"window={bad!r} must be an int in 0 … 2"):
            crossbar_mvm(X, W, cfg, window=bad)
    k = calibrate_window(X, W, cfg)
    assert isinstance(k, int) and 0 <= k <= 2
    assert crossbar_mvm(X, W, cfg, window=k).shape == (2, 3)


def test_window_is_refused_by_other_schemes() -> None:
    with pytest.raises(ValueError, match="window=1 is only used by adc='calibrated'"):
        crossbar_mvm(X, W, CFG, window=1)


def test_cfg_must_be_a_config() -> None:
    with pytest.raises(TypeError, match="cfg must be a CIMConfig, got dict"):
        crossbar_mvm(X, W, {"rows": 4})  # type: ignore[arg-type]


def test_empty_shapes() -> None:
    cfg = CIMConfig(rows=4, adc="rar", adc_bits=2)
    y, st = crossbar_mvm(np.zeros((0, 6), np.int64), W, cfg, return_stats=True)
    assert y.shape == (0, 3) and st.conversions_dense == 0
    y = crossbar_mvm(np.zeros((2, 0), np.int64), np.zeros((0, 3), np.int64), cfg)
    np.testing.assert_array_equal(y, np.zeros((2, 3), np.int64))
