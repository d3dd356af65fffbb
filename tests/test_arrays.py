"""NumPy arrays as dataset sources (app/arrays.py, app/inputs.py, app/cube.py): every dtype and
byte order, every layout and the rule that tells them apart, .npz members, masking of NaN and
±inf, and the worker's entry point (asking first, converting, saving the result as a ZIP)."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

import ifealid
from ifealid import DatasetError, inputs
from ifealid.arrays import layout_of
from ifealid.browser import encode_dataset_for_worker, open_for_worker
from ifealid.cube import read_array
from ifealid.format import layers_to_hwc
from ifealid.quantise import quantise
from zipkit import dataset_entries, random_values, zip_bytes

BUDGET = 1 << 30
DTYPES = ["?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"]


def npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def npz(compressed=False, **arrays) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def source_of(name, data):
    return inputs.identify([inputs.from_bytes(name, data)])


def convert(name, data, **options):
    result = inputs.convert_source(source_of(name, data), options, budget=BUDGET)
    return result, layers_to_hwc(result.dataset.layers, result.dataset.info.features)


def values_of(dtype, shape=(5, 6, 7), seed=1):
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) > 0.5
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        out = rng.integers(info.min, info.max, size=shape, dtype=dtype.newbyteorder("="), endpoint=True)
        out.flat[0], out.flat[1] = info.min, info.max
        return out.astype(dtype)
    return (rng.normal(0, 100, size=shape)).astype(dtype)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("code", DTYPES)
def test_every_dtype_and_byte_order_reads_equal_to_numpy(code, order):
    dtype = np.dtype(code).newbyteorder(order) if np.dtype(code).itemsize > 1 else np.dtype(code)
    values = values_of(dtype)
    source = source_of("x.npy", npy(values))
    assert np.array_equal(read_array(source.cube({})), values)
    for precision in (8, 16, 32):
        result, q = convert("x.npy", npy(values), precision=precision)
        assert np.array_equal(q, quantise(values, precision).values), precision  # `ifealid create`'s numbers
        assert result.dataset.info.range == (float(values.min()), float(values.max()))


def test_the_layout_rule():
    assert layout_of((64, 20, 20), "x") == layout_of((64, 20, 20), "x")
    assert (layout_of((64, 20, 20), "x").default, layout_of((64, 20, 20), "x").ambiguous) == ("chw", False)
    assert (layout_of((20, 20, 64), "x").default, layout_of((20, 20, 64), "x").ambiguous) == ("hwc", False)
    assert (layout_of((256, 160, 106), "x").default, layout_of((256, 160, 106), "x").ambiguous) == ("hwc", True)
    assert layout_of((4, 4, 4), "x").ambiguous
    assert layout_of((1, 64, 20, 20), "x").default == "chw"  # a batch of one: the 1 dropped
    assert layout_of((1, 20, 20, 3), "x").default == "hwc"
    assert layout_of((256, 160, 106), "x").shape("chw") == (160, 106, 256)


@pytest.mark.parametrize("fortran", [False, True])
@pytest.mark.parametrize("shape, layout, hwc", [
    ((6, 6, 9), None, "hwc"),             # (H, W, C): the two equal axes are the map's
    ((9, 6, 6), None, "chw"),             # (C, H, W), square map
    ((1, 9, 6, 6), None, "chw"),          # (1, C, H, W)
    ((5, 6, 7), None, "hwc"),             # ambiguous: (H, W, C)
    ((5, 6, 7), "chw", "chw"),            # ... unless chosen
    ((9, 6, 6), "hwc", "hwc"),            # the rule overridden
])
def test_every_layout_with_c_and_fortran_order(shape, layout, hwc, fortran):
    values = values_of("f4", shape=shape)
    if fortran:
        values = np.asfortranarray(values)
    result, q = convert("x.npy", npy(values), layout=layout)
    three = values.reshape(shape[-3:])
    want = three if hwc == "hwc" else three.transpose(1, 2, 0)
    assert np.array_equal(q, quantise(want, 8).values)
    assert result.dataset.info.shape == want.shape
    ambiguous = len(set(shape[-3:])) == 3 and layout is None
    assert any("could be (H, W, C) or (C, H, W)" in n for n in result.notes) == ambiguous


def test_nan_and_infinities_are_masked():
    values = values_of("f8", shape=(4, 5, 6))
    values[0, 0, :] = np.nan
    values[1, 2, 3] = np.inf
    values[2, 2, 2] = -np.inf
    result, q = convert("x.npy", npy(values))
    good = values[np.isfinite(values)]
    assert result.dataset.info.range == (good.min(), good.max())
    bad = ~np.isfinite(values)
    assert (q[bad] == 0).all() and result.masked == 8
    filled = np.where(bad, good.min(), values)
    assert np.array_equal(q[~bad], quantise(filled, 8).values[~bad])
    assert any("8 of 120 values (NaN or ±inf) were left out of the range and stored as 0" in n for n in result.notes)


def test_a_constant_array_is_stored_as_zeros_with_a_note():
    result, q = convert("c.npy", npy(np.full((2, 3, 4), 2.5)))
    assert (q == 0).all() and result.constant and result.dataset.info.range == (2.5, 2.5)
    assert any("constant" in n for n in result.notes)


def test_npz_one_usable_array_is_taken_several_need_a_choice():
    features = values_of("f4", shape=(4, 4, 9))
    data = npz(features=features, labels=np.arange(16))
    source = source_of("m.npz", data)
    assert source.kind == "npz" and source.required({}) == []
    described = source.describe()
    assert described["key"] == "features"
    assert [a["usable"] for a in described["arrays"]] == [True, False]
    assert "3 dimensions" in described["arrays"][1]["problem"]
    result, q = convert("m.npz", data)
    assert result.dataset.info.name == "m.npz[features]" and np.array_equal(q, quantise(features, 8).values)

    several = npz(compressed=True, a=values_of("f4", (3, 3, 5)), b=values_of("i2", (6, 6, 2)))
    source = source_of("s.npz", several)
    assert source.required({}) == ["key"] and source.describe()["required"] == ["key"]
    result, q = convert("s.npz", several, key="b")
    assert result.dataset.info.shape == (6, 6, 2)
    with pytest.raises(DatasetError, match="has no array 'c'; it has 'a', 'b'"):
        convert("s.npz", several, key="c")


def test_sizes_are_checked_from_the_header_before_reading():
    header_only = npy(np.zeros((2, 2, 2), np.float32))[:128]  # the header, then nothing
    with pytest.raises(DatasetError, match="cut short"):
        source_of("x.npy", header_only)
    with pytest.raises(DatasetError, match="more than the memory budget") as caught:
        inputs.convert_source(source_of("x.npy", npy(np.zeros((30, 30, 30)))), {"precision": 32}, budget=10_000)
    assert caught.value.rule == "too-large"


def test_options_are_checked():
    source = source_of("x.npy", npy(np.zeros((2, 2, 2))))
    with pytest.raises(DatasetError, match="8, 16 or 32"):
        inputs.convert_source(source, {"precision": 12}, budget=BUDGET)
    with pytest.raises(DatasetError, match="layout must be one of"):
        inputs.convert_source(source, {"layout": "whc"}, budget=BUDGET)


def test_the_worker_asks_first_then_converts_with_the_choice():
    values = values_of("f4", shape=(5, 6, 7))
    data = npy(values)
    asked = open_for_worker(["x.npy"], [data], {"ask": True})["choose"]
    assert asked["kind"] == "npy" and asked["arrays"][0]["ambiguous"] and asked["arrays"][0]["layout"] == "hwc"
    assert [c["shape"] for c in asked["arrays"][0]["layouts"]] == [[5, 6, 7], [6, 7, 5]]
    assert asked["precisions"] == [8, 16, 32] and asked["text"] == "x.npy: float32 (5, 6, 7)"
    result = open_for_worker(["x.npy"], [data], {"precision": 16, "layout": "chw"})
    assert result["info"]["width"] == 7 and result["info"]["features"] == 5 and result["info"]["precision"] == 16
    assert np.array_equal(layers_to_hwc(result["layers"], 5), quantise(values.transpose(1, 2, 0), 16).values)
    assert result["stats"]["mean"].shape == (5,) and result["overlay"] is None
    assert result["source"]["kind"] == "npy" and result["notes"] == []
    # an .npz with several arrays asks even without `ask`
    several = npz(a=values_of("f4", (3, 3, 5)), b=values_of("f4", (4, 4, 2)))
    assert open_for_worker(["s.npz"], [several], {})["choose"]["required"] == ["key"]
    assert open_for_worker(["s.npz"], [several], {"key": "a"})["info"]["features"] == 5


def test_a_dataset_zip_is_decoded_as_before_whatever_is_asked():
    values = random_values((4, 5, 6), 8, seed=2)
    result = open_for_worker(["d.zip"], [zip_bytes(dataset_entries(values, 8, name="d"))], {"ask": True})
    assert result["info"]["name"] == "d" and result["source"] is None and result["notes"] == []


def test_saved_zip_round_trips_and_validates():
    """'Save as dataset ZIP': the worker writes what the page holds; the reader (and the
    original's checks) accept it, with the range and the channel axis."""
    from test_range import originals_checks

    values = values_of("f4", shape=(6, 5, 7))
    result = open_for_worker(["x.npy"], [npy(values)], {"precision": 16})
    info = dict(result["info"], channel_axis={"name": "wavelength", "unit": "nm", "values": list(range(7))})
    data = encode_dataset_for_worker(info, result["layers"].tobytes(), None)
    originals_checks(data)
    dataset = ifealid.load_dataset(data)
    assert np.array_equal(dataset.layers, result["layers"]) and dataset.range == tuple(result["info"]["range"])
    assert dataset.info.channel_axis == {"name": "wavelength", "unit": "nm", "values": [float(v) for v in range(7)]}
    assert dataset.name == "x.npy" and dataset.info.overlay is False
    with pytest.raises(DatasetError, match="channel_axis"):
        encode_dataset_for_worker(dict(info, channel_axis={"name": "wavelength", "values": [1]}),
                                  result["layers"].tobytes())


# --- the channel_axis key -----------------------------------------------------------------------------

AXIS = {"name": "wavelength", "unit": "nm", "values": [400.5, 500, 600.25]}


def dataset_zip(axis) -> bytes:
    return zip_bytes(dataset_entries(random_values((2, 3, 3), 8), 8, meta_overrides={"channel_axis": axis}))


@pytest.mark.parametrize("axis", [
    AXIS,
    {"name": "band", "labels": ["B1", "B2", "B3"]},
    {"name": "wavelength", "values": [1, 2, 3], "labels": ["a", "b", "c"], "fwhm": [0.1, 0.2, 0]},
    {"name": "time", "unit": "s", "values": [0, 1, 2], "extra": "ignored"},
    None,
])
def test_valid_channel_axes_are_read(axis):
    info = ifealid.load_dataset(dataset_zip(axis)).info
    if axis is None:
        assert info.channel_axis is None
    else:
        assert info.channel_axis == {k: ([float(x) for x in v] if k in ("values", "fwhm") else v)
                                     for k, v in axis.items() if k != "extra"}


@pytest.mark.parametrize("axis, rule, phrase", [
    ("wavelength", "field-type", "must be an object"),
    ([400, 500, 600], "field-type", "must be an object"),
    ({"values": [1, 2, 3]}, "field-type", 'must have a "name"'),
    ({"name": "", "values": [1, 2, 3]}, "field-type", 'must have a "name"'),
    ({"name": "x" * 100, "values": [1, 2, 3]}, "field-range", "longer than 64"),
    ({"name": "wavelength"}, "field-type", 'must have "values"'),
    ({"name": "wavelength", "values": [1, 2]}, "field-range", 'has 2 "values" for 3 channels'),
    ({"name": "wavelength", "values": "1,2,3"}, "field-type", 'as a list of 3 numbers'),
    ({"name": "wavelength", "values": [1, "2", 3]}, "field-range", "3 finite numbers"),
    ({"name": "wavelength", "values": [1, True, 3]}, "field-range", "3 finite numbers"),
    ({"name": "wavelength", "values": [1, float("nan"), 3]}, "field-range", "3 finite numbers"),
    ({"name": "wavelength", "values": [1, 10 ** 400, 3]}, "field-range", "3 finite numbers"),
    ({"name": "band", "labels": ["a", 2, "c"]}, "field-type", "3 strings"),
    ({"name": "band", "labels": ["a", "b", "c" * 300]}, "field-range", "longer than 256"),
    ({"name": "wavelength", "values": [1, 2, 3], "fwhm": [1, -1, 1]}, "field-range", '"fwhm" ≥ 0'),
    ({"name": "wavelength", "unit": 5, "values": [1, 2, 3]}, "field-type", '"unit" as a string'),
])
def test_malformed_channel_axes_are_refused_naming_the_key(axis, rule, phrase):
    with pytest.raises(DatasetError) as caught:
        ifealid.load_dataset(dataset_zip(axis))
    assert caught.value.rule == rule and caught.value.entry == "metadata.json"
    assert "'channel_axis'" in caught.value.message and phrase in caught.value.message


def test_the_writer_keeps_the_axis_and_drops_labels_that_would_not_fit(tmp_path):
    values = np.random.default_rng(0).random((2, 2, 3))
    ifealid.save_dataset(values, tmp_path / "a.zip", channel_axis=AXIS)
    assert ifealid.load_dataset(tmp_path / "a.zip").info.channel_axis == {**AXIS, "values": [400.5, 500.0, 600.25]}
    many = np.random.default_rng(0).random((2, 2, 400))
    axis = {"name": "wavelength", "values": list(range(400)), "labels": ["L" * 200] * 400}
    with pytest.warns(UserWarning, match="does not fit"):
        ifealid.save_dataset(many, tmp_path / "b.zip", channel_axis=axis)
    kept = ifealid.load_dataset(tmp_path / "b.zip").info.channel_axis
    assert kept == {"name": "wavelength", "values": [float(v) for v in range(400)]}
    with zipfile.ZipFile(tmp_path / "b.zip") as archive:
        assert "channel_axis" in json.loads(archive.read("metadata.json"))


def test_conversion_holds_one_block_not_a_copy_of_the_array(monkeypatch):
    """Memory: the array is read in blocks straight from the file; the peak is the result and a
    block, far below one float64 copy of the array (8 MB here) and below the file itself (4 MB)."""
    import tracemalloc

    import ifealid.cube as cube_module

    monkeypatch.setattr(cube_module, "BLOCK_VALUES", 1 << 16)
    values = np.random.default_rng(0).normal(size=(64, 64, 256)).astype(np.float32)
    data = npy(values)
    file = inputs.InputFile("big.npy", len(data), lambda: __import__("contextlib").nullcontext(io.BytesIO(data)))
    source = inputs.identify([file])
    tracemalloc.start()
    try:
        result = inputs.convert_source(source, {"precision": 8}, budget=BUDGET)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    layers = result.dataset.layers.nbytes  # 1 MB at 8 bit
    assert peak < layers + 2 * 1024 ** 2, peak
    assert np.array_equal(layers_to_hwc(result.dataset.layers, 256), quantise(values, 8).values)
