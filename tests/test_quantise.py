"""Quantisation without the original's defects: one global min and max, float64 maths, no wrap at
32 bit, constant and broken arrays. Runs in CPython and in the worker's Pyodide (tests/runtimes.py)."""
import numpy as np
import pytest

import ifealid
from ifealid import ConstantDataWarning, DatasetError
from ifealid.quantise import quantise

pytestmark = pytest.mark.runtimes  # CPython and the worker's Pyodide (tests/runtimes.py)


def test_global_min_max_quantisation_matches_the_formula():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 6, 7)).astype(np.float32)
    for precision in (8, 16):
        q = quantise(x, precision).values
        x64 = x.astype(np.float64)  # the maths is float64 throughout
        expected = np.round((x64 - x64.min()) / (x64.max() - x64.min()) * (2 ** precision - 1))
        assert np.array_equal(q, expected.astype(q.dtype))


def test_32_bit_float32_maximum_does_not_wrap_to_zero():
    # In float32, (max - min) / (max - min) * (2^32 - 1) rounds to 2^32, which wrapped to 0 in the original.
    x = np.array([[[0.1, 0.7, 0.3]]], dtype=np.float32)
    q = quantise(x, 32)
    assert q.values.dtype == np.dtype("<u4")
    assert q.values[0, 0, 1] == 2 ** 32 - 1 and q.values[0, 0, 0] == 0
    assert 0 < q.values[0, 0, 2] < 2 ** 32 - 1


def test_constant_array_is_stored_as_zeros_with_a_warning(tmp_path):
    with pytest.warns(ConstantDataWarning, match="constant"):
        result = ifealid.save_dataset(np.full((3, 4, 5), 2.5), tmp_path / "c.zip")
    assert result.constant
    assert not ifealid.load_dataset(tmp_path / "c.zip").values().any()


@pytest.mark.parametrize("bad, phrase", [
    (np.zeros((4, 5)), "3 dimensions"),
    (np.zeros((2, 3, 4, 5)), "3 dimensions"),
    (np.zeros((0, 3, 4)), "empty"),
    (np.array([[["a"]]]), "numeric"),
])
def test_wrong_input_arrays_are_refused(tmp_path, bad, phrase):
    with pytest.raises(DatasetError, match=phrase):
        ifealid.save_dataset(bad, tmp_path / "x.zip")
    assert not list(tmp_path.iterdir())  # nothing half-written is left behind


def test_nan_is_refused(tmp_path):
    x = np.ones((2, 2, 2))
    x[0, 0, 0] = np.nan
    with pytest.raises(DatasetError, match="NaN"):
        ifealid.save_dataset(x, tmp_path / "x.zip")


def test_bad_precision_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="8, 16 or 32"):
        ifealid.save_dataset(np.ones((2, 2, 2)), tmp_path / "x.zip", precision=12)


@pytest.mark.parametrize("precision", [8, 16, 32])
def test_save_then_load_round_trip(tmp_path, precision):
    x = np.random.default_rng(precision).random((7, 9, 13))
    result = ifealid.save_dataset(x, tmp_path / "d.zip", precision=precision)
    dataset = ifealid.load_dataset(tmp_path / "d.zip")
    assert dataset.name == "d"
    assert np.array_equal(dataset.values(), result.values)
    assert np.abs(dataset.as_float(np.float64) - (x - x.min()) / (x.max() - x.min())).max() <= 0.5 / (2 ** precision - 1) + 1e-12
