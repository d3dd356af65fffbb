"""metadata.json's optional "range" ([lo, hi], the float range the values were quantised from):
written by every writer, read and validated, the true values from it, and still a dataset that the
original's checks accept. The malformed values are corpus cases (tests/corpus.py, range-*). Runs
in CPython and in the worker's Pyodide (tests/runtimes.py)."""
import io
import json
import math
import warnings
import zipfile

import numpy as np
import pytest

import ifealid
from ifealid import ConstantDataWarning, DatasetError
from ifealid.browser import page_info
from ifealid.format import png_count
from zipkit import dataset_entries, random_values, zip_bytes

pytestmark = pytest.mark.runtimes  # CPython and the worker's Pyodide (tests/runtimes.py)


def _metadata(data: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return json.loads(archive.read("metadata.json"))


def _saved(array, precision=8, **kw) -> bytes:
    buffer = io.BytesIO()
    ifealid.save_dataset(array, buffer, precision=precision, **kw)
    return buffer.getvalue()


@pytest.mark.parametrize("precision", [8, 16, 32])
def test_save_dataset_writes_the_range_and_the_true_values_come_back(precision):
    x = np.random.default_rng(precision).normal(3.0, 2.0, size=(5, 7, 6))
    data = _saved(x, precision)
    meta = _metadata(data)
    assert meta["range"] == [float(x.min()), float(x.max())]  # exact: JSON keeps float64's digits
    dataset = ifealid.read_dataset(data)
    assert dataset.range == dataset.info.range == (x.min(), x.max())
    true = dataset.as_float(np.float64, true_values=True)
    step = (x.max() - x.min()) / ((1 << precision) - 1)
    assert np.abs(true - x).max() <= step / 2 * (1 + 1e-9)  # within half a quantisation step
    # the formula exactly: lo + q / (2^P - 1) · (hi - lo), in float64
    q = dataset.values().astype(np.float64)
    assert np.array_equal(true, x.min() + q / ((1 << precision) - 1) * (x.max() - x.min()))
    assert true[np.unravel_index(np.argmin(x), x.shape)] == x.min()
    top = true[np.unravel_index(np.argmax(x), x.shape)]  # lo + (hi - lo): hi to rounding
    assert abs(top - x.max()) <= 4 * np.spacing(max(abs(x.max()), abs(x.min())))


def test_stored_values_are_unchanged_by_the_range():
    x = np.random.default_rng(1).normal(size=(3, 4, 5))
    dataset = ifealid.read_dataset(_saved(x, 16))
    assert np.array_equal(dataset.as_float(np.float64), dataset.values() / 65535.0)
    assert dataset.as_float().dtype == np.float32
    assert dataset.as_float(true_values=True).dtype == np.float32


def test_a_constant_array_records_its_value_twice():
    with pytest.warns(ConstantDataWarning):
        data = _saved(np.full((2, 3, 4), -1.25))
    assert _metadata(data)["range"] == [-1.25, -1.25]
    dataset = ifealid.read_dataset(data)
    assert not dataset.values().any()
    assert np.array_equal(dataset.as_float(np.float64, true_values=True), np.full((2, 3, 4), -1.25))


def test_integer_arrays_write_their_range_as_numbers():
    x = np.arange(24, dtype=np.int16).reshape(2, 3, 4) - 5
    assert _metadata(_saved(x))["range"] == [-5.0, 18.0]


def test_write_quantised_writes_the_range_it_is_given_and_none_without():
    values = random_values((3, 4, 5), 8, seed=2)
    with_range, without = io.BytesIO(), io.BytesIO()
    info = ifealid.write_quantised(with_range, values, 8, name="r", value_range=(np.float32(-2.5), 4))
    ifealid.write_quantised(without, values, 8, name="n")
    assert info.range == (-2.5, 4.0)
    assert _metadata(with_range.getvalue())["range"] == [-2.5, 4.0]
    assert "range" not in _metadata(without.getvalue())
    assert ifealid.read_dataset(without.getvalue()).range is None


@pytest.mark.parametrize("bad, rule", [
    ((1, 0), "field-range"), ((0, float("nan")), "field-range"), ((0, math.inf), "field-range"),
    ((0,), "field-type"), ("01", "field-type"), ((True, 2), "field-type"), ((0, 1, 2), "field-type"),
])
def test_write_quantised_refuses_a_malformed_range(bad, rule):
    with pytest.raises(DatasetError) as caught:
        ifealid.write_quantised(io.BytesIO(), random_values((2, 2, 2), 8), 8, name="x", value_range=bad)
    assert caught.value.rule == rule and "value range" in caught.value.message


def test_true_values_without_a_range_are_refused_clearly():
    dataset = ifealid.read_dataset(zip_bytes(dataset_entries(random_values((2, 3, 4), 8), 8, name="old")))
    assert dataset.range is None and dataset.info.range is None
    with pytest.raises(ValueError, match="does not record the range") as caught:
        dataset.as_float(true_values=True)
    assert isinstance(caught.value, DatasetError) and caught.value.rule == "no-range"


@pytest.mark.parametrize("value, expected", [
    ([0, 1], (0.0, 1.0)), ([-3.5, 2e10], (-3.5, 2e10)), ([7, 7], (7.0, 7.0)), ([-1e308, 1e308], (-1e308, 1e308)),
    ([1.0, 2], (1.0, 2.0)), (None, None),  # null counts as absent
])
def test_reader_accepts_valid_ranges(value, expected):
    data = zip_bytes(dataset_entries(random_values((2, 3, 4), 8), 8, meta_overrides={"range": value}))
    dataset = ifealid.read_dataset(data)
    assert dataset.range == expected
    assert all(type(v) is float for v in dataset.range or ())


def test_reader_refusals_name_the_key_and_the_rule():
    # Every malformed kind is a corpus case; here the reader's own words for two of them.
    for value, rule, phrase in [([2, 1], "field-range", "must have lo ≤ hi, not [2, 1]"),
                                (["0", 1], "field-type", "must be a list of two numbers [lo, hi]")]:
        data = zip_bytes(dataset_entries(random_values((2, 3, 4), 8), 8, meta_overrides={"range": value}))
        with pytest.raises(DatasetError) as caught:
            ifealid.read_dataset(data)
        error = caught.value
        assert (error.rule, error.entry) == (rule, "metadata.json")
        assert error.message.startswith("metadata.json field 'range' ") and phrase in error.message


def test_page_info_passes_the_range_under_its_metadata_name():
    with_range = ifealid.read_dataset(_saved(np.linspace(-1, 3, 24).reshape(2, 3, 4))).info
    assert page_info(with_range)["range"] == [-1.0, 3.0]
    without = ifealid.read_dataset(zip_bytes(dataset_entries(random_values((2, 3, 4), 8), 8))).info
    assert page_info(without)["range"] is None
    assert json.loads(json.dumps(page_info(with_range)))["range"] == [-1.0, 3.0]


def originals_checks(data: bytes) -> None:
    """The original app's checks, in its order (../shared/spec/dataset-format.md, "Validation"): it
    reads only its six keys and counts every entry but metadata.json (and overlay.jpg when the
    overlay is on) as a feature PNG. Raises AssertionError where the original would refuse."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert "metadata.json" in names
        meta = json.loads(archive.read("metadata.json"))
    for field in ("precision", "name", "height", "width", "features"):
        assert field in meta, field
    for field in ("precision", "height", "width", "features"):
        assert isinstance(meta[field], int) and not isinstance(meta[field], bool) and meta[field] > 0, field
    assert meta["precision"] in (8, 16, 32)
    count = png_count(meta["features"], meta["precision"])
    others = [n for n in names if n != "metadata.json" and not (meta.get("overlay") and n == "overlay.jpg")]
    assert len(others) == count, others
    if meta.get("overlay"):
        assert "overlay.jpg" in names
    assert all(f"{i}.png" in names for i in range(count))


@pytest.mark.parametrize("precision", [8, 16, 32])
def test_a_dataset_with_a_range_passes_the_originals_checks(precision):
    x = np.random.default_rng(4).normal(size=(4, 5, 9))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = _saved(x, precision, overlay=np.zeros((8, 10, 3), np.uint8))
    originals_checks(data)
    meta = _metadata(data)
    assert set(meta) == {"name", "width", "height", "features", "precision", "overlay", "range"}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:  # no extra files: only the original's entries
        assert archive.namelist() == ["overlay.jpg", *[f"{k}.png" for k in range(png_count(9, precision))],
                                      "metadata.json"]


def test_the_originals_checks_would_refuse_an_extra_file():
    """The check above is a real one: an extra entry (which the range must never become) fails it."""
    data = zip_bytes({**dataset_entries(random_values((2, 3, 4), 8), 8), "range.json": b"[0, 1]"})
    with pytest.raises(AssertionError):
        originals_checks(data)
