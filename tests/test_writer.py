"""The creator: quantisation without the original's defects, overlays, names, the Python API."""
import io
import warnings
import zipfile

import numpy as np
import pytest
from PIL import Image

import ifealid
from ifealid import ConstantDataWarning, DatasetError
from ifealid.quantise import quantise


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


def test_archive_layout_is_the_originals(tmp_path):
    ifealid.save_dataset(np.random.rand(4, 3, 9), tmp_path / "d.zip", overlay=np.zeros((8, 6, 3), np.uint8), name="N")
    with zipfile.ZipFile(tmp_path / "d.zip") as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == ["overlay.jpg", "0.png", "1.png", "2.png", "metadata.json"]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
        import json
        assert json.loads(archive.read("metadata.json")) == {
            "name": "N", "width": 3, "height": 4, "features": 9, "precision": 8, "overlay": True}


def test_rgba_overlay_is_converted_to_rgb_jpeg(tmp_path):
    overlay = Image.new("RGBA", (10, 8), (10, 200, 30, 128))
    ifealid.save_dataset(np.random.rand(4, 5, 2), tmp_path / "d.zip", overlay=overlay)
    dataset = ifealid.load_dataset(tmp_path / "d.zip")
    with Image.open(io.BytesIO(dataset.overlay_bytes)) as image:
        assert image.format == "JPEG" and image.mode == "RGB" and image.size == (10, 8)


def test_jpeg_overlay_file_is_kept_byte_for_byte(tmp_path):
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (12, 9), (1, 2, 3)).save(path, quality=70)
    ifealid.save_dataset(np.random.rand(3, 4, 2), tmp_path / "d.zip", overlay=path)
    assert ifealid.load_dataset(tmp_path / "d.zip").overlay_bytes == path.read_bytes()


def test_png_overlay_with_alpha_from_path(tmp_path):
    path = tmp_path / "photo.png"
    Image.new("RGBA", (12, 9), (1, 2, 3, 0)).save(path)
    ifealid.save_dataset(np.random.rand(3, 4, 2), tmp_path / "d.zip", overlay=path)
    assert ifealid.load_dataset(tmp_path / "d.zip").overlay_size == (12, 9)


def test_overlay_that_is_not_an_image(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(DatasetError, match="not an image"):
        ifealid.save_dataset(np.random.rand(3, 4, 2), tmp_path / "d.zip", overlay=path)


def test_channels_first_tensor_like_objects_are_accepted(tmp_path):
    class FakeTensor:  # the duck type save_dataset accepts from torch, without importing torch
        def __init__(self, array):
            self.array = array
            self.ndim = array.ndim
            self.shape = array.shape
        def detach(self): return self
        def cpu(self): return self
        def float(self): return self
        def numpy(self): return self.array
        def __getitem__(self, i): return FakeTensor(self.array[i])

    chw = np.random.rand(1, 5, 3, 4).astype(np.float32)
    ifealid.save_dataset(FakeTensor(chw), tmp_path / "t.zip")
    assert ifealid.load_dataset(tmp_path / "t.zip").shape == (3, 4, 5)


def test_writing_to_a_file_object():
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ifealid.save_dataset(np.random.rand(2, 2, 3), buffer, name="mem")
    assert ifealid.load_dataset(buffer.getvalue()).name == "mem"
