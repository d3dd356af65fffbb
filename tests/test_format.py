"""The dataset format: counts, byte layout per the spec, round trips, the original examples."""
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

import ifealid
from ifealid.format import hwc_to_layers, layer_count, layers_to_hwc, png_count
from zipkit import random_values, zip_bytes, dataset_entries

pytestmark = pytest.mark.runtimes  # CPython and the worker's Pyodide (tests/runtimes.py)


@pytest.mark.parametrize("features, precision, expected", [
    (256, 8, 64), (256, 16, 128), (256, 32, 256), (255, 8, 64), (1, 8, 1), (1, 16, 1), (3, 16, 2),
    (5, 8, 2), (257, 8, 65), (257, 16, 129), (257, 32, 257),
])
def test_png_count_is_ceil_c_times_p_over_32(features, precision, expected):
    assert png_count(features, precision) == expected


def _png_pixels(zip_data: bytes, k: int) -> np.ndarray:
    with zipfile.ZipFile(io.BytesIO(zip_data)) as archive:
        with Image.open(io.BytesIO(archive.read(f"{k}.png"))) as image:
            assert image.mode == "RGBA"
            return np.asarray(image)


def _write(values, precision, **kw) -> bytes:
    buffer = io.BytesIO()
    ifealid.write_quantised(buffer, values, precision, name="t", **kw)
    return buffer.getvalue()


def test_8_bit_png_k_holds_channels_4k_to_4k3_with_zero_padding():
    values = random_values((3, 5, 7), 8)
    data = _write(values, 8)
    first, second = _png_pixels(data, 0), _png_pixels(data, 1)
    assert np.array_equal(first, values[:, :, 0:4])
    assert np.array_equal(second[:, :, :3], values[:, :, 4:7])
    assert not second[:, :, 3].any()  # channel 7 is padding


def test_16_bit_png_k_holds_channels_2k_and_2k1_little_endian():
    values = random_values((4, 3, 5), 16, seed=1)
    data = _write(values, 16)
    for k in range(3):
        pixels = _png_pixels(data, k).astype(np.uint32)
        low = pixels[:, :, 0] | (pixels[:, :, 1] << 8)
        high = pixels[:, :, 2] | (pixels[:, :, 3] << 8)
        assert np.array_equal(low, values[:, :, 2 * k])
        if 2 * k + 1 < 5:
            assert np.array_equal(high, values[:, :, 2 * k + 1])
        else:
            assert not high.any()  # the padding channel of an odd count


def test_32_bit_png_k_holds_channel_k_bits_0_to_31():
    values = random_values((2, 3, 3), 32, seed=2)
    values[0, 0, 0] = 0xFFFFFFFF
    data = _write(values, 32)
    for k in range(3):
        p = _png_pixels(data, k).astype(np.uint64)
        assert np.array_equal(p[..., 0] | p[..., 1] << 8 | p[..., 2] << 16 | p[..., 3] << 24, values[:, :, k])


@pytest.mark.parametrize("precision", [8, 16, 32])
@pytest.mark.parametrize("features", [1, 3, 5, 255, 257])
def test_write_then_read_gives_values_bit_for_bit(precision, features):
    values = random_values((3, 4, features), precision, seed=features)
    dataset = ifealid.read_dataset(_write(values, precision))
    assert dataset.info.png_count == png_count(features, precision)
    got = dataset.values()
    assert got.dtype == np.dtype(f"<u{precision // 8}")
    assert np.array_equal(got, values)
    assert dataset.layers.shape == (layer_count(features), 3, 4, 4)


@pytest.mark.parametrize("precision", [8, 16, 32])
def test_float_view_is_q_over_2p_minus_1(precision):
    values = random_values((2, 2, 6), precision, seed=3)
    values[0, 0, 0] = (1 << precision) - 1
    values[0, 0, 1] = 0
    view = ifealid.read_dataset(_write(values, precision)).as_float(np.float64)
    assert view[0, 0, 0] == 1.0 and view[0, 0, 1] == 0.0
    assert np.allclose(view, values.astype(np.float64) / ((1 << precision) - 1), rtol=0, atol=0)


def test_layers_layout_is_layer_major_rgba_channels():
    values = random_values((2, 3, 6), 16, seed=4)
    layers = hwc_to_layers(values, 16)
    assert layers.shape == (2, 2, 3, 4) and layers.dtype == np.dtype("<u2")
    assert np.array_equal(layers[1, :, :, :2], values[:, :, 4:6])
    assert not layers[1, :, :, 2:].any()
    assert np.array_equal(layers_to_hwc(layers, 6), values)


def test_entries_in_any_order_and_deflate_are_read():
    values = random_values((5, 4, 9), 8, seed=5)
    entries = list(dataset_entries(values, 8).items())
    shuffled = entries[::-1]
    dataset = ifealid.read_dataset(zip_bytes(shuffled, compression=zipfile.ZIP_DEFLATED))
    assert np.array_equal(dataset.values(), values)


def test_alpha_zero_pixels_keep_their_colour_bytes():
    # Premultiplied decoding would zero R, G, B wherever A (a data channel) is 0.
    values = np.zeros((2, 2, 4), dtype=np.uint8)
    values[..., :3] = 200
    assert np.array_equal(ifealid.read_dataset(_write(values, 8)).values(), values)


def test_original_examples_decode(original_example):
    dataset = ifealid.load_dataset(original_example)
    info = dataset.info
    expected = {  # from the paper's table: ResNet101 conv2_x, conv3_x, conv4_x of a 427×640 image
        "000000015746.jpg.C1.npz.8.zip": (160, 106, 256),
        "000000015746.jpg.C2.npz.8.zip": (80, 52, 512),
        "000000015746.jpg.C3.npz.8.zip": (40, 26, 1024),
    }[original_example.name]
    assert info.shape == expected
    assert info.precision == 8 and info.overlay and info.name == original_example.name[:-len(".8.zip")]
    values = dataset.values()
    assert values.shape == expected and values.dtype == np.uint8
    # Global min-max quantisation: both ends of the range are used.
    assert values.min() == 0 and values.max() == 255
    floats = dataset.as_float()
    assert floats.dtype == np.float32 and floats.min() == 0.0 and floats.max() == 1.0
    image = dataset.overlay_image()
    assert image.mode == "RGB" and image.size == (427, 640) == dataset.overlay_size
    # ReLU features: many exact zeros, never all.
    assert 0.1 < (values == 0).mean() < 0.9
