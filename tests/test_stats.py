"""Per-channel statistics of the stored integers (app/analysis.py channel_stats), which the worker
computes at load and sends as DATASET's `stats`: exact, for every precision, in bounded memory.
Runs in CPython and in the worker's Pyodide (tests/runtimes.py)."""
import math
import tracemalloc

import numpy as np
import pytest

from ifealid.analysis import channel_stats
from ifealid.format import hwc_to_layers
from zipkit import random_values

pytestmark = pytest.mark.runtimes  # CPython and the worker's Pyodide (tests/runtimes.py)


def exact(values: np.ndarray):
    """Each channel's mean and population std from exact integer sums (Python ints), correctly
    rounded: the definition channel_stats promises."""
    n = values.shape[0] * values.shape[1]
    means, stds = [], []
    for c in range(values.shape[2]):
        q = [int(v) for v in values[:, :, c].ravel()]
        s1, s2 = sum(q), sum(v * v for v in q)
        means.append(s1 / n)
        stds.append(math.sqrt((n * s2 - s1 * s1) / (n * n)))
    return np.array(means), np.array(stds)


@pytest.mark.parametrize("precision", [8, 16, 32])
@pytest.mark.parametrize("features", [1, 4, 7])
def test_stats_equal_the_exact_definition_and_numpy(precision, features):
    values = random_values((13, 17, features), precision, seed=precision + features)
    stats = channel_stats(hwc_to_layers(values, precision), features)
    mean, std = exact(values)
    assert stats["mean"].dtype == stats["std"].dtype == np.float64
    assert stats["mean"].shape == stats["std"].shape == (features,)
    assert np.array_equal(stats["mean"], mean) and np.array_equal(stats["std"], std)
    q = values.astype(np.float64)
    np.testing.assert_allclose(stats["mean"], q.mean(axis=(0, 1)), rtol=1e-14)
    np.testing.assert_allclose(stats["std"], q.std(axis=(0, 1)), rtol=1e-12)  # numpy's ddof=0


@pytest.mark.parametrize("precision", [8, 16, 32])
def test_extreme_values_neither_overflow_nor_lose_digits(precision):
    top = (1 << precision) - 1
    values = np.zeros((300, 200, 3), dtype=f"<u{precision // 8}")
    values[:, :, 0] = top                      # constant at the top: std exactly 0
    values[::2, :, 1] = top                    # half 0, half top: std = top / 2
    values[:, :, 2] = top - 1
    values[0, 0, 2] = top                      # one pixel off: a tiny std next to a huge mean
    stats = channel_stats(hwc_to_layers(values, precision), 3)
    mean, std = exact(values)
    assert np.array_equal(stats["mean"], mean) and np.array_equal(stats["std"], std)
    assert stats["mean"][0] == top and stats["std"][0] == 0.0
    assert stats["std"][1] == top / 2
    assert 0 < stats["std"][2] < 0.02


def test_padding_channels_are_left_out_and_features_default_to_all():
    values = random_values((5, 6, 5), 8, seed=9)
    layers = hwc_to_layers(values, 8)
    assert channel_stats(layers, 5)["mean"].shape == (5,)
    everything = channel_stats(layers)
    assert everything["mean"].shape == (8,) and not everything["mean"][5:].any()


@pytest.mark.parametrize("precision", [8, 16, 32])
def test_memory_stays_bounded_on_a_large_map(precision):
    """No full-size copy: the worker runs in 32-bit WebAssembly. A float64 copy of this map would
    take 64 MiB, one of a single layer 32 MiB; the peak stays under 8 MiB at every precision."""
    layers = np.random.default_rng(precision).integers(0, (1 << precision) - 1, size=(2, 1024, 1024, 4),
                                                       dtype=f"u{precision // 8}")
    tracemalloc.start()
    try:
        stats = channel_stats(layers)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 ** 2, f"{peak / 1024 ** 2:.1f} MiB"
    np.testing.assert_allclose(stats["mean"][:4], layers[0].reshape(-1, 4).mean(axis=0, dtype=np.float64),
                               rtol=1e-12)


@pytest.mark.parametrize("bad", [np.zeros((2, 3, 4), np.uint8), np.zeros((1, 2, 3, 4), np.int16),
                                 np.zeros((1, 2, 3, 4), np.float32), np.zeros((1, 2, 3, 3), np.uint8)])
def test_wrong_arrays_are_refused(bad):
    with pytest.raises(ValueError, match="layers must be"):
        channel_stats(bad)


def test_features_beyond_the_layers_are_refused():
    with pytest.raises(ValueError, match="features must be 1 … 4"):
        channel_stats(np.zeros((1, 2, 2, 4), np.uint8), 5)
