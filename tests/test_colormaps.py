"""Colour tables: Fire as ImageJ builds it, matplotlib's tables, grey, the index rule."""
from __future__ import annotations

import numpy as np
import pytest

from ifealid.colormaps import (
    COLORMAPS,
    DEFAULT_COLORMAP,
    apply_colormap,
    colormap_index,
    get_colormap,
    lut_bytes,
)

FIRE_R = [0, 0, 1, 25, 49, 73, 98, 122, 146, 162, 173, 184, 195, 207, 217, 229, 240, 252,
          255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255]
FIRE_G = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 14, 35, 57, 79, 101, 117, 133, 147, 161,
          175, 190, 205, 219, 234, 248, 255, 255, 255, 255]
FIRE_B = [0, 61, 96, 130, 165, 192, 220, 227, 210, 181, 151, 122, 93, 64, 35, 5, 0, 0, 0,
          0, 0, 0, 0, 35, 98, 160, 223, 255, 255, 255, 255, 255]


def test_tables_are_256_rgb_uint8():
    assert set(COLORMAPS) == {"fire", "viridis", "magma", "cividis", "grey"}
    for name, table in COLORMAPS.items():
        assert table.shape == (256, 3), name
        assert table.dtype == np.uint8, name
        assert not table.flags.writeable, name
    assert DEFAULT_COLORMAP == "fire"
    assert get_colormap() is COLORMAPS["fire"]
    assert get_colormap("Gray") is COLORMAPS["grey"]
    with pytest.raises(KeyError, match="unknown colour map"):
        get_colormap("jet")


def test_fire_hand_computed_entries():
    fire = COLORMAPS["fire"]
    # Entries worked out by hand from ImageJ's rule: i1 = i // 8, f = (i % 8) / 8,
    # value = trunc((1 - f) * c[i1] + f * c[i1 + 1]).
    assert tuple(fire[0]) == (0, 0, 0)
    assert tuple(fire[4]) == (0, 0, 30)          # b: 0.5 * 0 + 0.5 * 61 = 30.5
    assert tuple(fire[8]) == (0, 0, 61)          # control point 1
    assert tuple(fire[100]) == (201, 7, 78)      # 12.5: (195+207)/2, 14/2, (93+64)/2 = 78.5
    # 107 * 32/256 = 13.375: r = 0.625*207 + 0.375*217 = 210.75, g = 0.625*14 + 0.375*35
    # = 21.875, b = 0.625*64 + 0.375*35 = 53.125, all truncated.
    assert tuple(fire[107]) == (210, 21, 53)
    assert tuple(fire[150]) == (255, 129, 0)     # 18.75: g = 0.25*117 + 0.75*133 = 129
    assert tuple(fire[33]) == (52, 0, 168)       # 4.125: r = 0.875*49 + 0.125*73 = 52, b = 168.375
    assert tuple(fire[255]) == (255, 255, 255)   # i1 = i2 = 31


def _imagej_fire_independent():
    # ImageJ LutLoader.interpolate written out again, vectorised, for comparison.
    i = np.arange(256)
    pos = i * (32 / 256)
    i1 = np.floor(pos).astype(int)
    i2 = np.minimum(i1 + 1, 31)
    f = pos - i1
    out = []
    for c in (FIRE_R, FIRE_G, FIRE_B):
        c = np.asarray(c, dtype=np.float64)
        out.append(np.trunc((1 - f) * c[i1] + f * c[i2]).astype(np.uint8))
    return np.stack(out, axis=1)


def test_fire_matches_imagej_interpolation():
    assert np.array_equal(COLORMAPS["fire"], _imagej_fire_independent())
    # Control points land on every 8th entry unchanged.
    assert np.array_equal(COLORMAPS["fire"][::8], np.stack([FIRE_R, FIRE_G, FIRE_B], axis=1))


@pytest.mark.parametrize("name", ["viridis", "magma", "cividis"])
def test_matplotlib_tables(name):
    matplotlib = pytest.importorskip("matplotlib")
    colors = np.asarray(matplotlib.colormaps[name].colors, dtype=np.float64)[:, :3]
    assert colors.shape == (256, 3)
    assert np.array_equal(COLORMAPS[name], np.round(255 * colors).astype(np.uint8))


def test_grey():
    grey = COLORMAPS["grey"]
    assert np.array_equal(grey[:, 0], np.arange(256))
    assert np.array_equal(grey[:, 0], grey[:, 1]) and np.array_equal(grey[:, 1], grey[:, 2])


def test_index_rule():
    # min(255, floor(v * 256)): 256 equal bins, v = 1 in the last one.
    v = np.array([0.0, 1 / 256 - 1e-12, 1 / 256, 0.5, 255 / 256 - 1e-12, 255 / 256, 1.0])
    assert colormap_index(v).tolist() == [0, 0, 1, 128, 254, 255, 255]
    # Out of range and NaN never index outside the table.
    assert colormap_index([-0.5, 1.5, np.nan, np.inf, -np.inf]).tolist() == [0, 255, 0, 255, 0]


def test_apply_colormap():
    v = np.linspace(0, 1, 12).reshape(3, 4)
    rgb = apply_colormap(v, "viridis")
    assert rgb.shape == (3, 4, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb, COLORMAPS["viridis"][np.minimum(255, np.floor(v * 256).astype(int))])
    assert np.array_equal(apply_colormap(0.0), COLORMAPS["fire"][0])
    assert np.array_equal(apply_colormap(1.0), COLORMAPS["fire"][255])


def test_lut_bytes():
    raw = lut_bytes("magma")
    assert isinstance(raw, bytes) and len(raw) == 768
    assert raw[3:6] == bytes(COLORMAPS["magma"][1])
