"""The float64 reference of the page's analyses (app/analysis.py): values settings, metrics,
references (pixels and regions), combining, masks and 4-connected components, each against an
independent formula (numpy written out, np.corrcoef, scipy.ndimage.label)."""
import io

import numpy as np
import pytest
from scipy import ndimage

import ifealid
from ifealid import analysis, similarity
from zipkit import dataset_entries, random_values, zip_bytes

METRICS = ("angular", "cosine", "correlation", "euclidean", "dot")
VALUES = ("stored", "true", "centred", "zscore")


def saved(array, precision=8) -> bytes:
    buffer = io.BytesIO()
    ifealid.save_dataset(array, buffer, precision=precision, name="t")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def features():
    """Signed features (as a CNN's stage output), so the range matters."""
    return np.random.default_rng(7).normal(0.4, 1.0, size=(12, 15, 6))


# --------------------------------------------------------------------------- values

@pytest.mark.parametrize("precision", [8, 16, 32])
def test_values_settings_follow_their_definitions(features, precision):
    dataset = ifealid.read_dataset(saved(features, precision))
    q = dataset.values().astype(np.float64)
    top = (1 << precision) - 1
    lo, hi = dataset.range
    stored = q / top
    true = lo + stored * (hi - lo)
    assert np.array_equal(analysis.value_array(dataset, "stored"), stored)
    assert np.array_equal(analysis.value_array(dataset, "true"), true)
    centred = true - true.mean(axis=(0, 1))
    np.testing.assert_allclose(analysis.value_array(dataset, "centred"), centred, rtol=0, atol=1e-12)
    np.testing.assert_allclose(analysis.value_array(dataset, "zscore"), centred / true.std(axis=(0, 1)),
                               rtol=0, atol=1e-9)


def test_centred_and_zscore_use_the_stored_values_without_a_range():
    values = random_values((6, 7, 5), 16, seed=3)
    dataset = ifealid.read_dataset(zip_bytes(dataset_entries(values, 16)))
    stored = values / 65535.0
    centred = stored - stored.mean(axis=(0, 1))
    np.testing.assert_allclose(analysis.value_array(dataset, "centred"), centred, rtol=0, atol=1e-14)
    np.testing.assert_allclose(analysis.value_array(dataset, "zscore"), centred / stored.std(axis=(0, 1)),
                               rtol=0, atol=1e-11)
    with pytest.raises(ValueError, match="values='true' needs the dataset's range"):
        analysis.value_array(dataset, "true")
    with pytest.raises(ValueError, match="needs the dataset's range"):
        ifealid.similarity_map(dataset, refs=[(1, 1)], values="true")


def test_a_constant_channel_is_zero_after_centring_and_in_zscore():
    values = random_values((5, 4, 3), 8, seed=1)
    values[:, :, 1] = 77
    dataset = ifealid.read_dataset(zip_bytes(dataset_entries(values, 8)))
    for setting in ("centred", "zscore"):
        v = analysis.value_array(dataset, setting)
        assert not v[:, :, 1].any()
        assert v[:, :, 0].any()
    array = np.random.default_rng(2).random((5, 4, 3))
    array[:, :, 2] = 0.1  # a constant whose float mean is not exactly 0.1
    for setting in ("centred", "zscore"):
        assert not analysis.value_array(array, setting)[:, :, 2].any()


def test_an_array_is_taken_as_the_values_themselves(features):
    assert np.array_equal(analysis.value_array(features, "stored"), features)
    assert np.array_equal(analysis.value_array(features, "true"), features)
    centred = features - features.mean(axis=(0, 1))
    np.testing.assert_allclose(analysis.value_array(features, "centred"), centred, atol=1e-15)
    np.testing.assert_allclose(analysis.value_array(features, "zscore"), centred / features.std(axis=(0, 1)),
                               atol=1e-13)


def test_dataset_path_bytes_and_array_agree(tmp_path, features):
    data = saved(features, 16)
    (tmp_path / "d.zip").write_bytes(data)
    dataset = ifealid.read_dataset(data)
    expected = ifealid.similarity_map(dataset, refs=[(3, 2)], metric="cosine", values="true")
    for source in (tmp_path / "d.zip", str(tmp_path / "d.zip"), data):
        assert np.array_equal(ifealid.similarity_map(source, refs=[(3, 2)], metric="cosine", values="true"), expected)
    as_array = dataset.as_float(np.float64, true_values=True)
    assert np.array_equal(ifealid.similarity_map(as_array, refs=[(3, 2)], metric="cosine"), expected)


# --------------------------------------------------------------------------- metrics

def literal(p: np.ndarray, r: np.ndarray, metric: str) -> np.ndarray:
    """Each metric written out plainly, per pixel (no shared code with app/analysis.py)."""
    h, w, _ = p.shape
    out = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            a = p[y, x]
            if metric == "euclidean":
                out[y, x] = np.linalg.norm(a - r)
            elif metric == "dot":
                out[y, x] = float(np.sum(a * r))
            elif metric == "correlation":
                if np.ptp(a) == 0 or np.ptp(r) == 0:
                    continue
                out[y, x] = np.corrcoef(a, r)[0, 1]
            else:
                na, nr = np.linalg.norm(a), np.linalg.norm(r)
                if na == 0 or nr == 0:
                    continue
                c = np.clip(np.dot(a, r) / (na * nr), -1, 1)
                out[y, x] = c if metric == "cosine" else 1 - np.arccos(c) / (np.pi / 2)
    return out


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("values", VALUES)
def test_each_metric_and_values_setting_against_the_literal_formula(features, metric, values):
    dataset = ifealid.read_dataset(saved(features, 16))
    v = analysis.value_array(dataset, values)
    for x, y in [(0, 0), (14, 11), (6, 5)]:
        got = ifealid.similarity_map(dataset, refs=[(x, y)], metric=metric, values=values)
        expected = literal(v, v[y, x], metric)
        if metric in ("euclidean", "dot"):
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
        else:
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-7 if metric == "angular" else 1e-12)
            assert got.min() >= -1 and got.max() <= 1
        if metric in ("angular", "cosine", "correlation"):
            assert got[y, x] == pytest.approx(1.0, abs=1e-15)
        if metric == "euclidean":
            assert got[y, x] == 0.0


def test_angular_is_stable_at_every_angle():
    # Vectors at known angles θ from [1, 0]: (cos θ, sin θ); tiny angles and nearly opposite ones too.
    thetas = np.array([0.0, 1e-9, 1e-6, 0.3, np.pi / 2, 2.0, np.pi - 1e-6, np.pi - 1e-9, np.pi])
    values = np.stack([np.cos(thetas), np.sin(thetas)], axis=-1)[None, :, :] * 3.0
    values = np.concatenate([values, np.zeros((1, 1, 2))], axis=1)  # and a zero vector
    got = ifealid.similarity_map(values, refs=[(0, 0)], metric="angular")[0]
    np.testing.assert_allclose(got[:-1], 1 - 2 * thetas / np.pi, rtol=0, atol=1e-15)
    assert got[-1] == 0.0
    assert got[0] == 1.0 and got[-2] == -1.0


def test_undefined_values_are_zero_never_nan():
    values = np.array([[[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [2.0, 2.0, 2.0], [-1.0, -2.0, -3.0]]])
    for metric in ("angular", "cosine"):
        m = ifealid.similarity_map(values, refs=[(1, 0)], metric=metric)
        assert m[0, 0] == 0.0 and m[0, 3] == -1.0
        assert not ifealid.similarity_map(values, refs=[(0, 0)], metric=metric).any()  # a zero reference
    corr = ifealid.similarity_map(values, refs=[(1, 0)], metric="correlation")
    assert corr[0, 0] == 0.0 and corr[0, 2] == 0.0 and corr[0, 3] == pytest.approx(-1.0)
    assert not ifealid.similarity_map(values, refs=[(2, 0)], metric="correlation").any()  # constant reference
    single = np.random.default_rng(0).random((3, 3, 1))  # C = 1: every vector is constant
    assert not ifealid.similarity_map(single, refs=[(1, 1)], metric="correlation").any()
    for metric in METRICS:
        for values_setting in VALUES:
            assert np.isfinite(ifealid.similarity_map(values, refs=[(1, 0)], metric=metric,
                                                      values=values_setting)).all()


@pytest.mark.parametrize("precision", [8, 16, 32])
def test_stored_angular_and_cosine_equal_the_round_1_reference(precision):
    values = random_values((9, 10, 7), precision, seed=precision)
    values[2, 3] = 0  # a zero vector
    dataset = ifealid.read_dataset(zip_bytes(dataset_entries(values, precision)))
    stored = dataset.as_float(np.float64)
    for x, y in [(0, 0), (9, 8), (4, 4), (3, 2)]:
        np.testing.assert_allclose(ifealid.similarity_map(dataset, refs=[(x, y)]),
                                   similarity.angular_similarity(stored, x, y), rtol=0, atol=1e-12)
        np.testing.assert_allclose(ifealid.similarity_map(dataset, refs=[(x, y)], metric="cosine"),
                                   similarity.cosine_similarity(stored, x, y), rtol=0, atol=1e-12)


def test_metric_map_is_the_public_single_reference_form(features):
    r = features[3, 4]
    for metric in METRICS:
        assert np.array_equal(analysis.metric_map(features, r, metric),
                              ifealid.similarity_map(features, refs=[(4, 3)], metric=metric))


# --------------------------------------------------------------------------- references

def test_region_corners_are_inclusive_in_any_order_and_clipped(features):
    for region in [(2, 3, 5, 7), (5, 7, 2, 3), (5, 3, 2, 7), (2, 7, 5, 3)]:
        r = ifealid.reference_vectors(features, regions=[region], metric="dot")
        np.testing.assert_allclose(r[:, 0], features[3:8, 2:6].reshape(-1, 6).mean(axis=0), rtol=1e-14)
    clipped = ifealid.reference_vectors(features, regions=[(-4, 10, 100, 40)], metric="euclidean")
    np.testing.assert_allclose(clipped[:, 0], features[10:, :].reshape(-1, 6).mean(axis=0), rtol=1e-14)
    one = ifealid.reference_vectors(features, regions=[(4, 4, 4, 4)], metric="dot")
    assert np.array_equal(one[:, 0], features[4, 4])


def test_region_means_normalise_first_for_angular_cosine_and_correlation(features):
    block = features[1:4, 2:7].reshape(-1, 6)
    unit = block / np.linalg.norm(block, axis=1, keepdims=True)
    centred = block - block.mean(axis=1, keepdims=True)
    centred_unit = centred / np.linalg.norm(centred, axis=1, keepdims=True)
    for metric, expected in [("angular", unit.mean(0)), ("cosine", unit.mean(0)),
                             ("correlation", centred_unit.mean(0)), ("euclidean", block.mean(0)),
                             ("dot", block.mean(0))]:
        got = ifealid.reference_vectors(features, regions=[(2, 1, 6, 3)], metric=metric)
        np.testing.assert_allclose(got[:, 0], expected, rtol=1e-13, atol=1e-15)
        # and the map is the metric against that vector
        np.testing.assert_allclose(ifealid.similarity_map(features, regions=[(2, 1, 6, 3)], metric=metric),
                                   analysis.metric_map(features, got[:, 0], metric), rtol=0, atol=1e-14)


def test_zero_vectors_in_a_region_contribute_zero_but_count(features):
    values = features.copy()
    values[0, 0] = 0
    got = ifealid.reference_vectors(values, regions=[(0, 0, 1, 0)], metric="cosine")[:, 0]
    np.testing.assert_allclose(got, values[0, 1] / np.linalg.norm(values[0, 1]) / 2, rtol=1e-14)


def test_reference_vectors_are_columns_pixels_first(features):
    r = ifealid.reference_vectors(features, refs=[(1, 2), (3, 4)], regions=[(0, 0, 1, 1)], metric="dot")
    assert r.shape == (6, 3)
    assert np.array_equal(r[:, 0], features[2, 1]) and np.array_equal(r[:, 1], features[4, 3])
    np.testing.assert_allclose(r[:, 2], features[:2, :2].reshape(-1, 6).mean(0))
    assert ifealid.reference_vectors(features, refs=(1, 2)).shape == (6, 1)  # one pixel on its own


# --------------------------------------------------------------------------- combining

@pytest.mark.parametrize("metric", METRICS)
def test_combining_by_max_and_mean(features, metric):
    refs, regions = [(0, 0), (9, 9)], [(3, 3, 5, 6)]
    maps = [ifealid.similarity_map(features, refs=[ref], metric=metric) for ref in refs]
    maps.append(ifealid.similarity_map(features, regions=regions, metric=metric))
    best = np.min(maps, axis=0) if metric == "euclidean" else np.max(maps, axis=0)  # "near any of these"
    assert np.array_equal(ifealid.similarity_map(features, refs=refs, regions=regions, metric=metric), best)
    np.testing.assert_allclose(ifealid.similarity_map(features, refs=refs, regions=regions, metric=metric,
                                                      combine="mean"), np.mean(maps, axis=0), rtol=1e-15, atol=1e-15)


# --------------------------------------------------------------------------- masks

def test_the_threshold_includes_its_value_and_euclidean_turns_it_round():
    smap = np.array([[0.1, 0.5, 0.9]])
    assert ifealid.similarity_mask(smap, 0.5).tolist() == [[False, True, True]]
    assert ifealid.similarity_mask(smap, 0.5, "euclidean").tolist() == [[True, True, False]]


@pytest.mark.parametrize("seed", range(6))
def test_components_equal_scipys_4_connected_labelling(seed):
    rng = np.random.default_rng(seed)
    shape = [(1, 1), (1, 40), (37, 1), (30, 45), (64, 64), (17, 90)][seed]
    mask = rng.random(shape) < [0.3, 0.5, 0.55, 0.6, 0.45, 0.7][seed]
    labels, count = ifealid.label_components(mask)
    expected, expected_count = ndimage.label(mask)  # 4-connectivity: scipy's default structure
    assert count == expected_count
    assert np.array_equal(labels, expected)  # the same numbering too: raster order of first pixels


def test_components_of_awkward_shapes():
    spiral = np.zeros((21, 21), dtype=bool)  # one long path: a worst case for naive flooding
    spiral[::2, :] = True
    spiral[1::4, -1] = True
    spiral[3::4, 0] = True
    labels, count = ifealid.label_components(spiral)
    assert count == 1 and np.array_equal(labels > 0, spiral)
    diagonal = np.eye(5, dtype=bool)  # touching only at corners: 5 components under 4-connectivity
    assert ifealid.label_components(diagonal)[1] == 5
    assert ifealid.label_components(np.zeros((3, 4), bool))[1] == 0


@pytest.mark.parametrize("seed", range(4))
def test_connected_keeps_the_components_that_hold_a_reference(seed):
    rng = np.random.default_rng(seed)
    smap = ndimage.uniform_filter(rng.random((40, 50)), 3)
    threshold = float(np.quantile(smap, 0.5))
    refs = [tuple(int(v) for v in rng.integers(0, (50, 40))) for _ in range(3)]
    regions = [(5, 5, 12, 9)]
    mask = smap >= threshold
    labels, _ = ndimage.label(mask)
    keep = {labels[y, x] for x, y in refs} | set(np.unique(labels[5:10, 5:13]).tolist())
    keep.discard(0)
    expected = np.isin(labels, list(keep))
    got = ifealid.similarity_mask(smap, threshold, connected=True, refs=refs, regions=regions)
    assert np.array_equal(got, expected)
    assert np.array_equal(ifealid.similarity_mask(smap, threshold), mask)
    assert got.sum() < mask.sum()  # something was dropped (the test shows the option acts)


def test_a_reference_outside_the_mask_keeps_nothing_of_its_own():
    smap = np.array([[1.0, 0.0, 1.0]])
    assert ifealid.similarity_mask(smap, 0.5, connected=True, refs=[(1, 0)]).tolist() == [[False, False, False]]
    assert ifealid.similarity_mask(smap, 0.5, connected=True, refs=[(2, 0)]).tolist() == [[False, False, True]]


# --------------------------------------------------------------------------- refusals

@pytest.mark.parametrize("kwargs, phrase", [
    ({"metric": "manhattan"}, "unknown metric 'manhattan'"),
    ({"values": "raw"}, "unknown values setting 'raw'"),
    ({"combine": "min"}, "unknown combine 'min'"),
    ({"refs": [(15, 0)]}, "reference pixel (15, 0) is outside the 15×12 map"),
    ({"refs": [(0, -1)]}, "is outside the 15×12 map"),
    ({"refs": [(1.5, 2)]}, "must be an integer"),
    ({"refs": [(True, 2)]}, "must be an integer"),
    ({"refs": [(1, 2, 3)]}, "a reference pixel is (x, y)"),
    ({"refs": []}, "no reference"),
    ({"regions": [(20, 0, 30, 5)]}, "lies outside the 15×12 map"),
    ({"regions": [(0, 0, 1)]}, "a region is (x0, y0, x1, y1)"),
])
def test_bad_arguments_are_refused_clearly(features, kwargs, phrase):
    args = {"refs": [(1, 1)], **kwargs}
    with pytest.raises(ValueError) as caught:
        ifealid.similarity_map(features, **args)
    assert phrase in str(caught.value)


def test_bad_data_and_mask_arguments_are_refused(features):
    with pytest.raises(ValueError, match="an .H, W, C. array"):
        ifealid.similarity_map(np.zeros((3, 4)), refs=[(0, 0)])
    with pytest.raises(ValueError, match="NaN"):
        ifealid.similarity_map(np.full((2, 2, 2), np.nan), refs=[(0, 0)])
    with pytest.raises(ValueError, match="finite number"):
        ifealid.similarity_mask(np.zeros((2, 2)), float("nan"))
    with pytest.raises(ValueError, match="connected needs the references"):
        ifealid.similarity_mask(np.zeros((2, 2)), 0.5, connected=True)
    with pytest.raises(ValueError, match="outside"):
        ifealid.similarity_mask(np.zeros((2, 2)), 0.5, connected=True, refs=[(2, 0)])


def test_maps_computed_a_few_rows_at_a_time_are_the_same(features, monkeypatch):
    whole = {metric: ifealid.similarity_map(features, refs=[(2, 3), (9, 1)], metric=metric) for metric in METRICS}
    monkeypatch.setattr(analysis, "_METRIC_BLOCK", 7)  # fewer values than one row: one row per step
    for metric in METRICS:
        assert np.array_equal(ifealid.similarity_map(features, refs=[(2, 3), (9, 1)], metric=metric), whole[metric])
