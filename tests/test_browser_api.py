"""app/browser.py, the worker's entry point, run in CPython (the worker runs the same code)."""
import io

import numpy as np
import pytest

import ifealid
from ifealid.browser import decode_for_worker, runtime_versions
from ifealid.format import hwc_to_layers
from zipkit import dataset_entries, random_values, zip_bytes


def test_decode_returns_layers_in_the_gpu_layout():
    values = random_values((3, 4, 6), 16)
    result = decode_for_worker(zip_bytes(dataset_entries(values, 16, name="n")))
    # The names the page uses (pyworker/protocol.js, DATASET): the worker posts this dict as it is.
    assert result["info"] == {"name": "n", "width": 4, "height": 3, "features": 6, "precision": 16,
                              "overlay": False, "range": None, "pngCount": 3, "layerCount": 2}
    layers = result["layers"]
    assert layers.dtype == np.dtype("<u2") and np.array_equal(layers, hwc_to_layers(values, 16))
    assert result["overlay"] is None and result["overlaySize"] is None
    assert set(result) == {"info", "layers", "stats", "overlay", "overlaySize", "decodeMs"}


def test_decode_passes_the_range_in_info():
    x = np.random.default_rng(3).normal(size=(3, 4, 5))
    buffer = io.BytesIO()
    ifealid.save_dataset(x, buffer, precision=16, name="r")
    info = decode_for_worker(buffer.getvalue())["info"]
    assert info["range"] == [x.min(), x.max()] and all(type(v) is float for v in info["range"])


@pytest.mark.parametrize("precision", [8, 16, 32])
def test_decode_sends_each_channels_stats_of_the_stored_integers(precision):
    values = random_values((9, 11, 7), precision, seed=precision)
    stats = decode_for_worker(zip_bytes(dataset_entries(values, precision)))["stats"]
    assert set(stats) == {"mean", "std"}
    q = values.astype(np.float64)
    for key, expected in (("mean", q.mean(axis=(0, 1))), ("std", q.std(axis=(0, 1)))):
        assert stats[key].dtype == np.float64 and stats[key].shape == (7,)  # C, not the padded 4·L
        np.testing.assert_allclose(stats[key], expected, rtol=1e-13, atol=0)


def test_decode_reports_refusals_as_data_not_exceptions():
    result = decode_for_worker(b"not a zip")
    assert result == {"error": {"message": result["error"]["message"], "rule": "not-zip", "entry": None}}


def test_decode_reports_progress(original_example):
    calls = []
    result = decode_for_worker(original_example.read_bytes(), lambda d, t: calls.append((d, t)))
    assert calls[-1] == (result["info"]["pngCount"],) * 2
    dataset = ifealid.load_dataset(original_example)
    assert result["overlay"] == dataset.overlay_bytes
    assert result["overlaySize"] == list(dataset.overlay_size)


def test_runtime_versions():
    versions = runtime_versions()
    assert set(versions) == {"python", "numpy", "pillow", "ifealid"}


def test_colormaps_for_the_page_start_with_the_default_fire():
    from ifealid.browser import colormaps
    from ifealid.colormaps import COLORMAPS

    tables = colormaps()
    assert list(tables)[0] == "fire" and set(tables) == set(COLORMAPS)
    assert all(len(t) == 768 for t in tables.values())
    assert tables["fire"] == COLORMAPS["fire"].tobytes()
