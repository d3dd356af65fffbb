"""Float64 reference maths (app/similarity.py) on hand-checked tiny examples."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ifealid import similarity as S
from ifealid.format import hwc_to_layers

pytestmark = pytest.mark.runtimes  # CPython and the worker's Pyodide (tests/runtimes.py)


def grid(*pixels):
    """One row of pixels -> (1, W, C) values."""
    return np.array([pixels], dtype=np.float64)


def test_orthogonal_parallel_and_45_degrees():
    v = grid([1, 0], [0, 1], [2, 0], [1, 1], [0.5, 0])
    s = S.angular_similarity(v, 0, 0)[0]
    assert s[0] == 1.0            # itself
    assert s[1] == 0.0            # orthogonal
    assert s[2] == 1.0            # parallel, other length
    assert s[3] == pytest.approx(0.5, abs=1e-15)   # 45 degrees = half of 90
    assert s[4] == 1.0
    c = S.cosine_similarity(v, 0, 0)[0]
    assert c.tolist() == pytest.approx([1.0, 0.0, 1.0, math.sqrt(0.5), 1.0], abs=1e-15)


def test_60_degrees():
    # cos = 0.5 -> angle 60 degrees -> s = 1 - 60/90.
    v = grid([1, 0, 0], [0.5, math.sqrt(3) / 2, 0])
    assert S.angular_similarity(v, 0, 0)[0, 1] == pytest.approx(1 / 3, abs=1e-15)
    assert S.cosine_similarity(v, 0, 0)[0, 1] == pytest.approx(0.5, abs=1e-15)


def test_zero_vector_pixel_gets_zero():
    v = grid([1, 2], [0, 0], [2, 4])
    assert S.angular_similarity(v, 0, 0)[0].tolist() == [1.0, 0.0, 1.0]
    assert S.cosine_similarity(v, 0, 0)[0].tolist() == pytest.approx([1.0, 0.0, 1.0], abs=1e-15)


def test_zero_reference_gives_zero_everywhere():
    v = grid([1, 2], [0, 0], [2, 4])
    for f in (S.angular_similarity, S.cosine_similarity, S.cosine):
        out = f(v, 1, 0)
        assert out.tolist() == [[0.0, 0.0, 0.0]]


def test_negative_cos_clamps_to_zero():
    # Feature values are non-negative, but the definition still clamps.
    v = grid([1, 0], [-1, 0.1])
    assert S.angular_similarity(v, 0, 0)[0, 1] == 0.0
    assert S.cosine_similarity(v, 0, 0)[0, 1] == 0.0
    assert S.cosine(v, 0, 0)[0, 1] < 0


def test_no_nan_anywhere():
    v = np.zeros((3, 4, 5))
    v[1, 1, 2] = 1e-300   # tiny but non-zero
    v[2, 3] = 1.0
    for x, y in [(0, 0), (1, 1), (3, 2)]:
        for metric in ("angular", "cosine"):
            out = S.similarity_map(v, x, y, metric)
            assert np.isfinite(out).all()
            assert out.min() >= 0.0 and out.max() <= 1.0


def test_agrees_with_the_literal_acos_formula():
    # The reference uses angle = 2 asin(|p^ - r^| / 2); the original's formula is
    # 1 - clamp(acos(cos) / (pi/2), 0, 1). Same maths; in float64 they agree closely.
    rng = np.random.default_rng(0)
    v = rng.random((6, 7, 9)) * (rng.random((6, 7, 9)) < 0.7)
    v[2, 2] = 0
    for x, y in [(0, 0), (3, 4), (6, 5)]:
        r = v[y, x]
        dot = v @ r
        n = np.einsum("...c,...c->...", v, v) * (r @ r)
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = np.clip(dot / np.sqrt(n), -1, 1)
        literal = np.where(n > 0, 1 - np.clip(np.arccos(cos) / (np.pi / 2), 0, 1), 0.0)
        assert np.abs(S.angular_similarity(v, x, y) - literal).max() < 1e-7


def test_stretch():
    s = np.array([[0.2, 0.6], [1.0, 0.4]])
    v, lo, hi = S.stretch(s, "relative")
    assert (lo, hi) == (0.2, 1.0)
    assert np.allclose(v, [[0.0, 0.5], [1.0, 0.25]], rtol=0, atol=1e-15)
    v, lo, hi = S.stretch(s, "absolute")
    assert (lo, hi) == (0.0, 1.0)
    assert v.tolist() == s.tolist()
    # A flat map has no contrast: v = 0, not NaN.
    v, lo, hi = S.stretch(np.full((2, 3), 0.7), "relative")
    assert (lo, hi) == (0.7, 0.7) and np.all(v == 0.0)
    with pytest.raises(ValueError):
        S.stretch(s, "log")


def test_channel_map_and_layers_to_values():
    stored = np.zeros((2, 3, 5), dtype=np.uint16)  # C = 5: two layers, the second padded
    stored[:, :, 1] = 65535
    stored[1, 2, 4] = 13107           # channel 4 at (x=2, y=1)
    layers = hwc_to_layers(stored, 16)
    values = S.layers_to_values(layers, 16, 5)
    assert values.shape == (2, 3, 5)
    assert np.array_equal(values, stored / 65535.0)
    assert S.layers_to_values(layers, 16).shape == (2, 3, 8)  # without C: the padding too
    assert np.all(S.channel_map(values, 1) == 1.0)
    assert S.channel_map(values, 4)[1, 2] == pytest.approx(0.2)
    assert S.channel_map(values, 4).sum() == pytest.approx(0.2)
    with pytest.raises(IndexError):
        S.channel_map(values, 5)


def test_similarity_map_rejects_unknown_metric():
    with pytest.raises(ValueError):
        S.similarity_map(grid([1, 0]), 0, 0, "euclidean")
