"""ENVI cubes (app/envi.py through app/inputs.py and app/cube.py), written by an independent
writer, Spectral Python's `spectral.envi.save_image`: every interleave × data type × byte order,
header offsets, reflectance scale factors, data ignore values, the channel axis and the overlay's
bands; the header's parsing rules; the pairing of a header with its data file."""
from __future__ import annotations

import io
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import spectral.io.envi as envi  # the `test` extra's Spectral Python: an independent ENVI writer

from ifealid import DatasetError, inputs
from ifealid.cube import read_array
from ifealid.envi import data_candidates, is_data_file_of, parse_header
from ifealid.format import layers_to_hwc
from ifealid.quantise import quantise


BUDGET = 1 << 30
DTYPES = {1: np.uint8, 2: np.int16, 3: np.int32, 4: np.float32, 5: np.float64, 12: np.uint16, 13: np.uint32,
          14: np.int64, 15: np.uint64}


def cube_values(dtype, shape=(7, 5, 6), seed=0) -> np.ndarray:
    """Values that use the type's range (its extremes too), so a wrong byte order or type shows."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is None:
        values = rng.normal(0, 1e3, size=shape).astype(dtype)
        values.flat[0], values.flat[1] = -3.5e4, 7.25e4
        return values
    values = rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    values.flat[0], values.flat[1] = info.min, info.max
    return values


def save(folder: Path, values, name="cube", **kwargs) -> Path:
    header = folder / f"{name}.hdr"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        envi.save_image(str(header), values, force=True, **kwargs)
    return header


def open_pair(header: Path, data: Path | None = None):
    data = data or header.with_suffix(".img")
    return inputs.identify([inputs.from_path(header), inputs.from_path(data)])


def converted(source, precision=8):
    result = inputs.convert_source(source, {"precision": precision}, budget=BUDGET)
    dataset = result.dataset
    return result, layers_to_hwc(dataset.layers, dataset.info.features)


def expected_quantised(values, precision=8, *, scale=None, ignore=None):
    """quantise() of the true values with the masked ones left out and stored as 0."""
    x = values.astype(np.float64)
    if scale is not None:
        x = x / scale
    bad = ~np.isfinite(x) if ignore is None else (~np.isfinite(x)) | (values == ignore)
    good = x[~bad]
    lo, hi = good.min(), good.max()
    filled = np.where(bad, lo, x)
    q = quantise(filled, precision).values
    q[bad] = 0
    return q, (float(lo), float(hi))


@pytest.mark.parametrize("byte_order", [0, 1])
@pytest.mark.parametrize("code", sorted(DTYPES))
@pytest.mark.parametrize("interleave", ["bsq", "bil", "bip"])
def test_every_interleave_type_and_byte_order_reads_equal_to_numpy(tmp_path, interleave, code, byte_order):
    values = cube_values(DTYPES[code], seed=code)
    header = save(tmp_path, values, interleave=interleave, byteorder=byte_order, dtype=DTYPES[code])
    text = header.read_text()
    assert f"data type = {code}" in text and f"interleave = {interleave}" in text and f"byte order = {byte_order}" in text
    source = open_pair(header)
    cube = source.cube({})
    assert cube.dtype.byteorder in ("<", ">", "|") and cube.shape == values.shape
    read = read_array(cube)
    assert read.dtype.kind == np.dtype(DTYPES[code]).kind and np.array_equal(read, values)
    result, q = converted(source, 16)
    assert np.array_equal(q, quantise(values, 16).values)  # bit for bit what `ifealid create` stores
    assert result.dataset.info.range == (float(values.min()), float(values.max()))


def test_blocks_smaller_than_a_row_and_than_the_cube_read_the_same(tmp_path, monkeypatch):
    """The cube is read in blocks (whole rows, or parts of one row when a row is too large)."""
    import ifealid.cube as cube_module

    values = cube_values(np.float32, shape=(9, 7, 5))
    for interleave in ("bsq", "bil", "bip"):
        header = save(tmp_path, values, name=interleave, interleave=interleave)
        for block in (1, 5, 12, 34, 1 << 20):
            monkeypatch.setattr(cube_module, "BLOCK_VALUES", block)
            source = open_pair(header)
            assert np.array_equal(read_array(source.cube({})), values), (interleave, block)
            assert np.array_equal(converted(source)[1], quantise(values, 8).values), (interleave, block)


@pytest.mark.parametrize("offset", [1, 512, 4099])
def test_header_offsets(tmp_path, offset):
    values = cube_values(np.int16)
    header = save(tmp_path, values, interleave="bil", byteorder=1)
    data = header.with_suffix(".img")
    data.write_bytes(b"\xab" * offset + data.read_bytes())
    header.write_text(header.read_text().replace("header offset = 0", f"header offset = {offset}"))
    source = open_pair(header)
    assert np.array_equal(read_array(source.cube({})), values)
    assert np.array_equal(converted(source)[1], quantise(values, 8).values)


@pytest.mark.parametrize("scale", [10000.0, 0.5, 1.0])
def test_reflectance_scale_factor_divides_the_values(tmp_path, scale):
    values = cube_values(np.uint16)
    header = save(tmp_path, values, metadata={"reflectance scale factor": scale})
    result, q = converted(open_pair(header))
    want, (lo, hi) = expected_quantised(values, scale=scale)
    assert np.array_equal(q, want)
    assert result.dataset.info.range == (lo, hi)
    assert lo == float(values.min()) / scale


@pytest.mark.parametrize("dtype, ignore", [(np.int16, -9999), (np.float32, -1.0), (np.uint8, 0)])
def test_data_ignore_value_is_masked(tmp_path, dtype, ignore):
    values = cube_values(dtype)
    values[0, :, :] = ignore  # a whole line of no data
    values[3, 2, 4] = ignore
    header = save(tmp_path, values, interleave="bip", metadata={"data ignore value": ignore})
    result, q = converted(open_pair(header))
    want, (lo, hi) = expected_quantised(values, ignore=ignore)
    assert np.array_equal(q, want) and (q[values == ignore] == 0).all()
    assert result.dataset.info.range == (lo, hi)
    count = int((values == ignore).sum())
    assert result.masked == count and any(f"{count} of {values.size} values" in n for n in result.notes)


def test_nan_in_a_float_cube_is_masked_with_the_ignore_value_and_scale(tmp_path):
    values = cube_values(np.float32)
    values[1, 1, :] = np.nan
    values[2, 3, 1] = np.inf
    values[4, 0, 0] = -5
    header = save(tmp_path, values, interleave="bsq", byteorder=1,
                  metadata={"data ignore value": -5, "reflectance scale factor": 100})
    result, q = converted(open_pair(header))
    want, _ = expected_quantised(values, scale=100.0, ignore=-5)
    assert np.array_equal(q, want)
    assert result.masked == 6 + 1 + 1


def test_wavelengths_fwhm_band_names_and_units_make_the_channel_axis(tmp_path):
    values = cube_values(np.int16, shape=(4, 3, 5))
    wavelengths = [0.45, 0.55, 0.65, 0.85, 1.6]
    header = save(tmp_path, values, metadata={
        "wavelength": wavelengths, "wavelength units": "Micrometers", "fwhm": [0.01] * 5,
        "band names": ["blue", "green", "red", "nir", "swir"]})
    result, _ = converted(open_pair(header))
    axis = result.dataset.info.channel_axis
    assert axis == {"name": "wavelength", "unit": "µm", "values": wavelengths, "labels": ["blue", "green", "red", "nir", "swir"],
                    "fwhm": [0.01] * 5}
    # natural colour: the bands nearest 640, 550, 460 nm
    assert result.dataset.overlay_bytes is not None and "nearest 640, 550 and 460 nm" in " ".join(result.notes)
    assert "channels 2 (0.65 µm), 1 (0.55 µm) and 0 (0.45 µm)" in " ".join(result.notes)


def test_band_names_alone_and_no_axis_without_them(tmp_path):
    values = cube_values(np.uint8, shape=(4, 3, 2))
    header = save(tmp_path, values, name="named", metadata={"band names": ["VV", "VH"]})
    assert converted(open_pair(header))[0].dataset.info.channel_axis == {"name": "band", "labels": ["VV", "VH"]}
    header = save(tmp_path, values, name="plain")
    assert converted(open_pair(header))[0].dataset.info.channel_axis is None


def test_index_units_are_not_wavelengths(tmp_path):
    """`wavelength units = Index`: the values are band numbers; nothing is made up."""
    values = cube_values(np.uint8, shape=(4, 3, 3))
    header = save(tmp_path, values, metadata={"wavelength": [1, 2, 3], "wavelength units": "Index"})
    result, _ = converted(open_pair(header))
    assert result.dataset.info.channel_axis is None and any("band numbers" in n for n in result.notes)


def test_overlay_from_default_bands_else_spread_over_the_range(tmp_path):
    from PIL import Image

    values = np.zeros((6, 4, 7), np.uint8)
    values[:, :, 6] = 200  # band 7 (1-based) bright: red with default bands {7, 1, 2}
    values[0, 0, :] = 1
    header = save(tmp_path, values, name="defaults", metadata={"default bands": [7, 1, 2]})
    result, _ = converted(open_pair(header))
    image = np.asarray(Image.open(io.BytesIO(result.dataset.overlay_bytes)).convert("RGB"), dtype=int)
    assert image.shape == (6, 4, 3) and image[2, 2, 0] > 200 and image[2, 2, 1] < 40
    assert "default bands channels 6, 0 and 1" in " ".join(result.notes)
    header = save(tmp_path, values, name="spread")
    result, _ = converted(open_pair(header))
    assert "spread over the range (at 5/6, 1/2 and 1/6): channels 5, 3 and 1" in " ".join(result.notes)
    header = save(tmp_path, values[:, :, :1], name="grey", metadata={"default bands": [1]})
    result, _ = converted(open_pair(header))
    assert Image.open(io.BytesIO(result.dataset.overlay_bytes)).mode == "L"


def test_a_cube_in_a_zip_deflated(tmp_path):
    values = cube_values(np.int32)
    header = save(tmp_path, values, interleave="bil")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(header, "folder/cube.hdr")
        archive.write(header.with_suffix(".img"), "folder/cube.img")
    source = inputs.identify([inputs.from_bytes("cube.zip", buffer.getvalue())])
    assert source.kind == "envi" and source.files == ["cube.zip", "folder/cube.hdr", "folder/cube.img"]
    assert np.array_equal(converted(source)[1], quantise(values, 8).values)


def test_data_file_names_pair_with_their_header(tmp_path):
    values = cube_values(np.uint8, shape=(2, 3, 2))
    header = save(tmp_path, values, name="bare", ext=None)  # data file "bare", no extension
    assert (tmp_path / "bare").is_file()
    assert open_pair(header, tmp_path / "bare").files == ["bare.hdr", "bare"]
    assert is_data_file_of("cube.img.hdr", "cube.img") and is_data_file_of("CUBE.HDR", "cube.dat")
    assert not is_data_file_of("cube.hdr", "other.img") and not is_data_file_of("cube.hdr", "cube.hdr")
    assert data_candidates("cube.hdr")[:3] == ["cube.img", "cube.dat", "cube.raw"] and data_candidates("cube.img.hdr")[0] == "cube.img"
    with pytest.raises(DatasetError, match="several files could be its data file"):
        inputs.identify([inputs.from_bytes("c.hdr", b"ENVI\n"), inputs.from_bytes("c.img", b""),
                         inputs.from_bytes("c.dat", b"")])


def test_header_syntax(tmp_path):
    text = (b"ENVI\n; a comment = not a key\ndescription = {multi\n line, with = signs}\n"
            b"Samples   =  4\nLINES = 3\nbands=2\ndata type = 2\ninterleave = BSQ\nnot a key line\n"
            b"band names = {\n a ,\n b }\n")
    h = parse_header(text, "x.hdr")
    assert h.fields["samples"] == "4" and h.fields["lines"] == "3" and h.fields["interleave"] == "BSQ"
    assert h.fields["band names"] == ["a", "b"] and "a comment" not in h.fields
    source = inputs.identify([inputs.from_bytes("x.hdr", text), inputs.from_bytes("x.img", bytes(48))])
    assert source.cube({}).shape == (3, 4, 2)
    assert any("byte order" in n for n in source.cube({}).notes)  # not given: read as 0, and said


def test_a_latin1_header_is_read_with_a_note():
    text = "ENVI\nsamples = 2\nlines = 1\nbands = 1\ndata type = 1\nwavelength units = µm\nwavelength = {0.5}\n"
    source = inputs.identify([inputs.from_bytes("l.hdr", text.encode("latin-1")), inputs.from_bytes("l.img", b"\x01\x02")])
    cube = source.cube({})
    assert cube.channel_axis == {"name": "wavelength", "unit": "µm", "values": [0.5]}
    assert any("not UTF-8" in n and "Latin-1" in n for n in cube.notes)


def test_the_budget_is_checked_before_reading(tmp_path):
    values = cube_values(np.uint8, shape=(8, 8, 8))
    source = open_pair(save(tmp_path, values))
    with pytest.raises(DatasetError, match="more than the memory budget") as caught:
        inputs.convert_source(source, {"precision": 32}, budget=1000)
    assert caught.value.rule == "too-large"


def test_a_data_file_longer_than_declared_is_read_with_a_note(tmp_path):
    values = cube_values(np.int16)
    header = save(tmp_path, values)
    data = header.with_suffix(".img")
    data.write_bytes(data.read_bytes() + b"trailer")
    result, q = converted(open_pair(header))
    assert np.array_equal(q, quantise(values, 8).values)
    assert any("7 bytes longer" in n for n in result.notes)


class FakeJsBuffer:
    """What app/browser.py sees of a JavaScript Uint8Array in Pyodide: length, subarray, assign_to."""

    def __init__(self, data: bytes, start: int = 0, stop: int | None = None):
        self.data, self.start, self.stop = data, start, len(data) if stop is None else stop
        self.length = self.stop - self.start
        self.copied = 0

    def subarray(self, a, b):
        return FakeJsBuffer(self.data, self.start + a, self.start + b)

    def assign_to(self, target):
        assert len(target) == self.length  # Pyodide's rule: the same size
        target[:] = self.data[self.start:self.stop]

    def to_bytes(self):
        return self.data[self.start:self.stop]


def test_the_worker_reads_the_browsers_buffers_without_copying_them_whole(tmp_path, monkeypatch):
    import ifealid.cube as cube_module
    from ifealid.browser import open_for_worker

    monkeypatch.setattr(cube_module, "BLOCK_VALUES", 40)
    values = cube_values(np.float64, shape=(9, 8, 7))
    header = save(tmp_path, values, interleave="bil", metadata={"wavelength": list(range(400, 470, 10))})
    names = ["cube.hdr", "cube.img"]
    buffers = [FakeJsBuffer(header.read_bytes()), FakeJsBuffer(header.with_suffix(".img").read_bytes())]
    asked = open_for_worker(names, buffers, {"ask": True})["choose"]
    assert asked["kind"] == "envi" and asked["shape"] == [9, 8, 7] and asked["envi"]["interleave"] == "bil"
    assert "wavelengths 400–460" in asked["text"]
    result = open_for_worker(names, buffers, {"precision": 16})
    assert np.array_equal(layers_to_hwc(result["layers"], 7), quantise(values, 16).values)
    assert result["info"]["channel_axis"]["values"] == [float(w) for w in range(400, 470, 10)]
    assert result["source"]["kind"] == "envi" and result["overlay"] is not None
