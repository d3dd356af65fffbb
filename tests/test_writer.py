"""The creator: the archive the original reads, overlays, names, the Python API (quantisation:
tests/test_quantise.py)."""
import io
import warnings
import zipfile

import numpy as np
import pytest
from PIL import Image

import ifealid
from ifealid import DatasetError


def test_archive_layout_is_the_originals(tmp_path):
    x = np.random.rand(4, 3, 9)
    ifealid.save_dataset(x, tmp_path / "d.zip", overlay=np.zeros((8, 6, 3), np.uint8), name="N")
    with zipfile.ZipFile(tmp_path / "d.zip") as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == ["overlay.jpg", "0.png", "1.png", "2.png", "metadata.json"]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
        import json
        # The original's six fields, and this project's "range" (a key the original ignores).
        assert json.loads(archive.read("metadata.json")) == {
            "name": "N", "width": 3, "height": 4, "features": 9, "precision": 8, "overlay": True,
            "range": [x.min(), x.max()]}


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
