"""The analyses of issue 13 in the renderer (glue/render/, glue/compute/), on both compute paths,
against the float64 reference app/analysis.py: every values setting × metric × precision, pins
combined by max and by mean, region references, masks and their `connected` rule.

Tolerances (the issue's): max abs error 1e-5 for angular, cosine and correlation; for euclidean
and dot 1e-5 relative to the map's largest magnitude.
"""
from __future__ import annotations

import numpy as np
import pytest

import ifealid
from ifealid.analysis import channel_stats, similarity_mask
from ifealid.format import DatasetInfo
from test_renderer import h, make_values, module_page, to_layers  # noqa: F401 (fixtures)

METRICS = ("angular", "cosine", "correlation", "euclidean", "dot")
VALUES = ("stored", "true", "centred", "zscore")
RANGE = (-1.5, 2.5)
H, W, C = 11, 13, 13  # C: not a multiple of 4, so the last layer has padding channels


def dataset(precision: int, seed: int = 1):
    values = make_values(seed * 100 + precision, H, W, C, precision)
    layers = to_layers(values, precision)
    info = DatasetInfo(name="t", width=W, height=H, features=C, precision=precision, overlay=False, range=RANGE)
    ds = ifealid.Dataset(info=info, layers=layers)
    return ds, layers, channel_stats(layers, C)


def error(got: np.ndarray, want: np.ndarray, metric: str) -> float:
    err = float(np.abs(got - want).max())
    if metric in ("euclidean", "dot"):
        err /= max(1e-300, float(np.abs(want).max()))
    return err


def loaded(h, precision, seed=1):
    ds, layers, stats = dataset(precision, seed)
    h.create(canvas=(26, 22))
    h.load(layers, C, precision, range_=RANGE, stats=stats)
    return ds


PATHS = [(8, "gpu"), (8, "cpu"), (16, "gpu"), (16, "cpu"), (32, "gpu")]


@pytest.mark.parametrize("precision,path", PATHS)
def test_every_values_setting_and_metric_matches_float64(h, precision, path):
    ds = loaded(h, precision)
    assert h.call("cpu", path == "cpu")["on"] == path
    worst = {}
    for values in VALUES:
        for metric in METRICS:
            for x, y in [(0, 0), (6, 5), (1, 0), (12, 10)]:  # (1, 0): a zero vector in the stored values
                got = h.similarity(reference=[x, y], metric=metric, values=values, channel=None, pins=[], regions=[])
                want = ifealid.similarity_map(ds, refs=[(x, y)], metric=metric, values=values)
                worst[values, metric] = max(worst.get((values, metric), 0.0), error(got, want, metric))
    bad = {k: v for k, v in worst.items() if v > 1e-5}
    assert not bad, bad


@pytest.mark.parametrize("precision,path", [(8, "gpu"), (8, "cpu"), (16, "gpu"), (32, "gpu")])
def test_pins_and_regions_combined_by_max_and_mean(h, precision, path):
    ds = loaded(h, precision, seed=2)
    h.call("cpu", path == "cpu")
    pins, regions = [(2, 3), (11, 8), (5, 9)], [(3, 1, 6, 4), (9, 9, 12, 10)]
    for values in ("stored", "centred", "zscore"):
        for metric in METRICS:
            for combine in ("max", "mean"):
                for pointer in (True, False):
                    state = dict(values=values, metric=metric, combine=combine, pointer=pointer, reference=[7, 2],
                                 pins=[list(p) for p in pins], regions=[list(r) for r in regions], channel=None)
                    got = h.similarity(**state)
                    refs = ([(7, 2)] if pointer else []) + pins
                    want = ifealid.similarity_map(ds, refs=refs, regions=regions, metric=metric, values=values,
                                                  combine=combine)
                    assert error(got, want, metric) <= 1e-5, (values, metric, combine, pointer)
    # Only regions, and no reference at all (a map of zeros).
    got = h.similarity(values="stored", metric="angular", pointer=False, pins=[], regions=[[0, 0, 12, 10]])
    assert error(got, ifealid.similarity_map(ds, regions=[(0, 0, 12, 10)]), "angular") <= 1e-5
    assert not h.similarity(pointer=False, regions=[]).any()


@pytest.mark.parametrize("path", ["gpu", "cpu"])
def test_masks_and_the_connected_rule_equal_numpy(h, path):
    ds = loaded(h, 8, seed=3)
    h.call("cpu", path == "cpu")
    for metric, threshold in (("angular", 0.6), ("euclidean", 0.9), ("correlation", 0.1)):
        for connected in (False, True):
            state = dict(values="centred", metric=metric, reference=[4, 4], pins=[[10, 2]], regions=[[1, 8, 3, 10]],
                         pointer=True, threshold=threshold, connected=connected, channel=None)
            got = h.mask(**state)
            smap = ifealid.similarity_map(ds, refs=[(4, 4), (10, 2)], regions=[(1, 8, 3, 10)], metric=metric,
                                          values="centred")
            want = similarity_mask(smap, threshold, metric, connected=connected, refs=[(4, 4), (10, 2)],
                                   regions=[(1, 8, 3, 10)])
            # Pixels within 1e-6 of the threshold may fall either side (float32 against float64).
            unsure = np.abs(smap - threshold) <= 1e-6
            if not connected:
                assert np.array_equal(got[~unsure], want[~unsure]), (metric, connected)
            else:
                assert unsure.any() or np.array_equal(got, want), (metric, connected)
            assert got.any() and not got.all(), "a threshold that splits the map"
    # No threshold: no mask.
    assert h.page.evaluate("(() => { harness.model.set({threshold: null}); return harness.renderer.readMask(); })()") is None


def test_the_mask_is_drawn_over_the_map(h):
    """Inside the mask the canvas is tinted (35 % of the fill colour) or, along the mask's edge,
    outlined in white; outside it is the plain map."""
    ds = loaded(h, 8, seed=4)
    h.create(canvas=(52, 44))
    _, layers, stats = dataset(8, seed=4)
    h.load(layers, C, 8, range_=RANGE, stats=stats)
    view = {"scale": 4, "offsetX": 0, "offsetY": 0}
    plain, _ = h.render(view=view, reference=[5, 5], metric="angular", values="stored", threshold=None)
    masked, _ = h.render(threshold=0.7)
    inside = h.mask(threshold=0.7)
    smap = ifealid.similarity_map(ds, refs=[(5, 5)])
    assert np.array_equal(inside, smap >= 0.7) or (np.abs(smap - 0.7) <= 1e-6).any()
    big = np.repeat(np.repeat(inside, 4, axis=0), 4, axis=1)
    assert np.array_equal(masked[~big], plain[~big])
    fill = np.array([0.25, 0.85, 1.0]) * 255
    tinted = np.abs(masked[big][:, :3] - (plain[big][:, :3] * 0.65 + fill * 0.35)).max(axis=-1) <= 2
    outline = np.all(masked[big][:, :3] == 255, axis=-1)
    assert np.all(tinted | outline)
    assert tinted.sum() > 0 and outline.sum() > 0
    # The outline runs only where a neighbouring map pixel is outside the mask.
    centre = (slice(1, 3), slice(1, 3))  # the middle of each 4 x 4 block is never an edge
    for y, x in zip(*np.nonzero(inside)):
        block = masked[4 * y:4 * y + 4, 4 * x:4 * x + 4][centre]
        assert not np.all(block[..., :3] == 255) or np.all(plain[4 * y + 1, 4 * x + 1, :3] == 255)
