"""The PCA reference (app/pca.py, ``ifealid.pca``, ``ifealid pca``) against independent formulas:
numpy's SVD of the centred data for the components, scipy's principal angles, numpy's
percentile, the sample rule worked out by hand, a generated dataset with a known foreground, and
a semantic check on a real hyperspectral cube (Indian Pines)."""
import importlib.util
import io
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.linalg import subspace_angles

import ifealid
from ifealid import analysis, cli, exports
from ifealid.colormaps import apply_colormap
from ifealid.pca import N_MAX, sample_positions, signed

EXE = Path(sys.executable).parent / "ifealid"


def saved(array, precision=8, name="t") -> bytes:
    buffer = io.BytesIO()
    ifealid.save_dataset(array, buffer, precision=precision, name=name)
    return buffer.getvalue()


def planted(shape=(40, 50), sds=(10, 6, 3.5, 2, 1.2, 0.8, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02), seed=0):
    """(H, W, C) data with known, well separated variances sds² along a random orthonormal basis,
    plus an offset (so that centring matters)."""
    rng = np.random.default_rng(seed)
    channels = len(sds)
    basis, _ = np.linalg.qr(rng.normal(size=(channels, channels)))
    z = rng.normal(size=(shape[0] * shape[1], channels)) * np.asarray(sds)
    return (z @ basis.T + rng.normal(5, 2, size=channels)).reshape(*shape, channels)


def sign_rule(v: np.ndarray) -> np.ndarray:
    """Written out again: each column times the sign of its first entry of largest |value|."""
    out = v.copy()
    for k in range(v.shape[1]):
        column = v[:, k]
        biggest = next(i for i, x in enumerate(np.abs(column)) if x == np.abs(column).max())
        out[:, k] *= 1.0 if column[biggest] > 0 else -1.0
    return out


def reference(rows: np.ndarray):
    """(mean, eigenvalues descending, components by the sign rule) from numpy's SVD of the
    centred (n, C) rows: Σ = XᵀX / n = V S² Vᵀ / n."""
    mean = rows.mean(axis=0)
    _, s, vt = np.linalg.svd(rows - mean, full_matrices=False)
    return mean, s ** 2 / len(rows), sign_rule(vt.T)


def assert_components_match(result, rows, index=(1, 2, 3)):
    """The API's fit against the SVD reference: principal angles of the shown subspace ≤ 1e-10,
    each vector ≤ 1e-10 (same sign), eigenvalue ratios 1 ± 1e-12, explained = λ / trace."""
    mean, lam, vecs = reference(rows)
    columns = [k - 1 for k in index]
    assert max(subspace_angles(result.components, vecs[:, columns])) <= 1e-10
    np.testing.assert_allclose(result.components, vecs[:, columns], rtol=0, atol=1e-10)
    np.testing.assert_allclose(result.eigenvalues / lam[columns], 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.explained, lam[columns] / lam.sum(), rtol=1e-12, atol=0)
    np.testing.assert_allclose(result.mean, mean, rtol=0, atol=1e-12 * np.abs(mean).max())
    # Every eigenvalue: the small ones only to rounding of λ_1 (Σ's eigenvalues, not the SVD's).
    np.testing.assert_allclose(result.spectrum, lam, rtol=0, atol=1e-12 * lam[0])


# --------------------------------------------------------------------------- the fit

@pytest.mark.parametrize("index", [(1, 2, 3), (2, 3, 4), (5,), (3, 1, 2)])
def test_the_components_are_numpys_svd_of_the_centred_data(index):
    data = planted()
    result = ifealid.pca(data, components=index)
    rows = data.reshape(-1, data.shape[2])
    assert_components_match(result, rows, index)
    assert result.index == index and result.fit_count == result.fit_size == 2000 and not result.sampled
    assert result.fit_mask.all() and result.fit_mask.shape == (40, 50)
    # Scores of every pixel: (t_p − m)·v_k, pixels row-major, in the components' order.
    expected = ((rows - rows.mean(axis=0)) @ reference(rows)[2][:, [k - 1 for k in index]])
    np.testing.assert_allclose(result.scores.reshape(-1, len(index)), expected, rtol=0, atol=1e-9)
    assert result.scores.shape == (40, 50, len(index))
    assert result.rgb.shape == ((40, 50, 3) if len(index) == 3 else (40, 50))


@pytest.mark.parametrize("precision", [8, 16, 32])
def test_a_datasets_values_settings(precision, tmp_path):
    """From a ZIP at each precision: stored against the SVD of q / (2^P − 1); true, centred give
    the same components (PCA centres; true is stored times (hi − lo) plus lo), true's eigenvalues
    (hi − lo)² times larger; zscore is the PCA of analysis.value_array's z-scores."""
    data = planted((20, 24), sds=(3, 2, 1, 0.5, 0.25, 0.1), seed=precision)
    dataset = ifealid.read_dataset(saved(data, precision))
    stored = dataset.values().astype(np.float64).reshape(-1, 6) / ((1 << precision) - 1)
    result = {values: ifealid.pca(dataset, values=values) for values in analysis.VALUES}
    assert_components_match(result["stored"], stored)
    lo, hi = dataset.range
    for values in ("true", "centred"):
        assert max(subspace_angles(result[values].components, result["stored"].components)) <= 1e-10
        np.testing.assert_allclose(result[values].components, result["stored"].components, atol=1e-10)
    np.testing.assert_allclose(result["true"].eigenvalues, result["stored"].eigenvalues * (hi - lo) ** 2, rtol=1e-12)
    np.testing.assert_allclose(result["true"].explained, result["stored"].explained, rtol=1e-12)
    assert_components_match(result["zscore"], analysis.value_array(dataset, "zscore").reshape(-1, 6))
    # A ZIP's bytes or path work as well as a loaded dataset.
    zipped = saved(data, precision)
    np.testing.assert_array_equal(ifealid.pca(zipped).scores, result["stored"].scores)
    (tmp_path / "d.zip").write_bytes(zipped)
    np.testing.assert_array_equal(ifealid.pca(tmp_path / "d.zip").scores, result["stored"].scores)


def test_the_sign_rule():
    """Each component's entry of largest magnitude is positive, the first one on a tie; so
    negating the data keeps the components and negates the scores."""
    data = planted((16, 16), sds=(4, 3, 2, 1, 0.5), seed=3)
    result = ifealid.pca(data)
    v = result.components
    assert (v[np.argmax(np.abs(v), axis=0), range(3)] > 0).all()
    negated = ifealid.pca(-data)
    np.testing.assert_allclose(negated.components, v, atol=1e-12)
    np.testing.assert_allclose(negated.scores, -result.scores, atol=1e-9)
    # Exact ties (as in (1, −1)/√2): the first of the equal entries decides.
    tie = np.array([[-0.5, 0.5, 0.0], [0.5, -0.5, -1.0], [0.5, 0.5, 0.0], [-0.5, 0.5, 0.0]])
    np.testing.assert_array_equal(signed(tie), tie * np.array([-1.0, 1.0, -1.0]))
    np.testing.assert_array_equal(signed(tie), sign_rule(tie))


# --------------------------------------------------------------------------- the sample

def test_the_sample_rule_by_hand():
    # n = 10, 4 picks: round(0.618…·10) = 6 shares 2 with 10, 7 does not: s = 7,
    # {0, 7, 14, 21} mod 10 = {0, 7, 4, 1}.
    assert sample_positions(10, 4).tolist() == [0, 1, 4, 7]
    # n = 12, 5 picks: round(7.416) = 7, coprime with 12: {0, 7, 14, 21, 28} mod 12 = {0, 7, 2, 9, 4}.
    assert sample_positions(12, 5).tolist() == [0, 2, 4, 7, 9]
    # n = 100, 7 picks: round(61.80) = 62 (even), 63 (coprime): {0, 63, 26, 89, 52, 15, 78}.
    assert sample_positions(100, 7).tolist() == [0, 15, 26, 52, 63, 78, 89]
    assert sample_positions(5, 5).tolist() == [0, 1, 2, 3, 4]  # at most max_fit: every position
    assert sample_positions(3).tolist() == [0, 1, 2]
    big = sample_positions(1_000_003)  # distinct, ascending, N_MAX of them
    assert N_MAX == 16384 and len(big) == N_MAX and (np.diff(big) > 0).all() and big[-1] < 1_000_003
    for bad in (-1, 2.5, True, "3"):
        with pytest.raises(ValueError, match="integer"):
            sample_positions(bad)
    with pytest.raises(ValueError, match="max_fit"):
        sample_positions(10, 0)


def test_a_large_fit_set_is_the_fixed_sample():
    """max_fit lowered to 300 of 2000 pixels: the fit uses exactly sample_positions' pixels (the
    covariance is theirs), scores still cover every pixel."""
    data = planted()
    rows = data.reshape(-1, data.shape[2])
    result = ifealid.pca(data, max_fit=300)
    assert result.sampled and result.fit_count == 300 and result.fit_size == 2000
    assert_components_match(result, rows[sample_positions(2000, 300)])
    assert result.scores.shape == (40, 50, 3)
    # Through a region: positions in the region's ascending pixel list (p = y·W + x).
    region = ifealid.pca(data, fit="region", regions=[(10, 5, 39, 24)], max_fit=100)
    pixels = np.array([y * 50 + x for y in range(5, 25) for x in range(10, 40)])
    assert region.fit_size == 600 and region.fit_count == 100
    assert_components_match(region, rows[pixels[sample_positions(600, 100)]])
    assert not ifealid.pca(data, max_fit=2000).sampled  # n == max_fit: no sample


# --------------------------------------------------------------------------- fit sets

def test_regions_and_masks():
    """Corners in any order, clipped to the map, their union with a mask; the fit is the SVD of
    exactly those pixels; scores are still every pixel's."""
    data = planted((30, 40), sds=(5, 3, 2, 1, 0.5, 0.25), seed=5)
    mask = np.zeros((30, 40), dtype=bool)
    mask[25:, :3] = True
    result = ifealid.pca(data, fit="region", regions=[(12, 8, 2, 1), (35, 20, 45, 40)], mask=mask)
    expected = mask.copy()
    expected[1:9, 2:13] = True
    expected[20:30, 35:40] = True
    np.testing.assert_array_equal(result.fit_mask, expected)
    assert_components_match(result, data[expected])
    assert result.scores.shape == (30, 40, 3)
    only_mask = ifealid.pca(data, fit="region", mask=mask.astype(np.uint8))  # 0/1 counts as bool
    assert_components_match(only_mask, data[mask])
    single = ifealid.pca(data, fit="region", regions=(0, 0, 5, 5))  # one region as a bare tuple
    assert single.fit_count == 36


def foreground_data(seed=11):
    """40×40×6: a background of small noise and a 16×16 square (rows 10…25, columns 14…29) offset
    by 6 along d (whose largest entry is positive, so the sign rule makes its PC1 score positive)
    with its own large variances along u and w; returns (data, square mask, d, u)."""
    rng = np.random.default_rng(seed)
    d = np.array([3.0, 1.0, -1.0, 0.5, 0.0, 0.2])
    d /= np.linalg.norm(d)
    basis, _ = np.linalg.qr(np.column_stack([d, rng.normal(size=(6, 5))]))
    u, w = basis[:, 1], basis[:, 2]
    data = rng.normal(0, 0.1, size=(40, 40, 6)) + 0.3 * rng.normal(size=(40, 40, 1)) * basis[:, 3]
    square = np.zeros((40, 40), dtype=bool)
    square[10:26, 14:30] = True
    n = square.sum()
    data[square] += 6 * d + 2.0 * rng.normal(size=(n, 1)) * u + 1.0 * rng.normal(size=(n, 1)) * w
    return data, square, d, u


def test_foreground_fitting_finds_a_known_foreground():
    data, square, d, u = foreground_data()
    first = ifealid.pca(data, components=1)
    assert abs(first.components[:, 0] @ d) > 0.99  # PC1 over all pixels: foreground vs background
    result = ifealid.pca(data, fit="foreground")
    np.testing.assert_array_equal(result.fit_mask, square)
    assert_components_match(result, data[square])  # refitted on the foreground alone
    assert abs(result.components[:, 0] @ u) > 0.99  # its own largest variance, not the offset
    # flip = −1 takes the other side of PC1: the background.
    np.testing.assert_array_equal(ifealid.pca(data, fit="foreground", flip=-1).fit_mask, ~square)
    # The threshold T on z = flip · s_1 / sqrt(λ_1) of the first fit, strictly greater.
    for threshold, flip in ((0.7, 1), (-0.2, 1), (0.3, -1)):
        z = flip * first.scores[:, :, 0] / math.sqrt(first.eigenvalues[0])
        fitted = ifealid.pca(data, fit="foreground", threshold=threshold, flip=flip)
        np.testing.assert_array_equal(fitted.fit_mask, z > threshold)
        assert fitted.fit_size == int((z > threshold).sum())
    # Strictly: a pixel whose z is exactly T is left out (T taken from the API's own scores).
    z = first.scores[:, :, 0] / math.sqrt(first.eigenvalues[0])
    at = float(z[15, 20])  # a pixel inside the square
    fitted = ifealid.pca(data, fit="foreground", threshold=at)
    assert (z == at).sum() >= 1 and not fitted.fit_mask[z == at].any()
    np.testing.assert_array_equal(fitted.fit_mask, z > at)


def test_foregrounds_first_fit_is_sampled_too():
    """max_fit 500 of 1600 pixels: the first fit (PC1, its λ) is the sample's; the refit samples
    the foreground's pixels."""
    data, square, _, _ = foreground_data()
    rows = data.reshape(-1, 6)
    mean, lam, vecs = reference(rows[sample_positions(1600, 500)])
    z = (rows - mean) @ vecs[:, 0] / math.sqrt(lam[0])
    result = ifealid.pca(data, fit="foreground", threshold=0.5, max_fit=500)
    np.testing.assert_array_equal(result.fit_mask.ravel(), z > 0.5)
    # The foreground (256 pixels here) is under max_fit: all of it; with max_fit 100 a sample.
    foreground = np.flatnonzero(z > 0.5)
    assert_components_match(result, rows[foreground])
    small = ifealid.pca(data, fit="foreground", threshold=0.5, max_fit=100)
    assert small.sampled and small.fit_count == 100
    mean, lam, vecs = reference(rows[sample_positions(1600, 100)])  # the first fit, sampled to 100
    z = (rows - mean) @ vecs[:, 0] / math.sqrt(lam[0])
    pool = np.flatnonzero(z > 0.5)
    assert_components_match(small, rows[pool[sample_positions(len(pool), 100)]])


# --------------------------------------------------------------------------- scaling

def test_robust_scaling_uses_numpys_percentiles():
    data = planted((30, 30), sds=(4, 3, 2, 1), seed=8)
    result = ifealid.pca(data)
    for k in range(3):
        s = result.scores[:, :, k]
        lo, hi = np.percentile(s, [1, 99])
        assert (result.lo[k], result.hi[k]) == (lo, hi)  # exactly numpy's (linear) percentiles
        np.testing.assert_array_equal(result.rgb[:, :, k], np.clip((s - lo) / (hi - lo), 0, 1))
    assert result.rgb.min() == 0.0 and result.rgb.max() == 1.0
    assert ((result.rgb == 0).mean(axis=(0, 1)) >= 0.01).all()  # ≥ 1 % clipped at each end


def test_minmax_and_sigmoid_scaling():
    data = planted((30, 30), sds=(4, 3, 2, 1), seed=9)
    minmax = ifealid.pca(data, scale="minmax")
    s = minmax.scores
    np.testing.assert_array_equal(minmax.lo, s.min(axis=(0, 1)))
    np.testing.assert_array_equal(minmax.hi, s.max(axis=(0, 1)))
    np.testing.assert_allclose(minmax.rgb, (s - s.min(axis=(0, 1))) / (s.max(axis=(0, 1)) - s.min(axis=(0, 1))),
                               rtol=0, atol=1e-15)
    sigmoid = ifealid.pca(data, scale="sigmoid")
    # 1 / (1 + exp(−2·s / sqrt(λ))), to rounding (the code multiplies by 2 / sqrt(λ) once)
    np.testing.assert_allclose(sigmoid.rgb, 1 / (1 + np.exp(-2 * s / np.sqrt(sigmoid.eigenvalues))), rtol=1e-13)
    assert np.isnan(sigmoid.lo).all() and np.isnan(sigmoid.hi).all()
    # A pixel outside the fit (the sample of 100) far out: exp(2·|s|/sqrt(λ)) overflows to inf,
    # which gives exactly 0 (or 1) without a warning.
    far = planted((100, 100), sds=(1, 0.5, 0.25), seed=2)
    assert 1 not in sample_positions(10000, 100)
    far[0, 1] = 1e6
    with np.errstate(all="raise"):
        out = ifealid.pca(far, scale="sigmoid", max_fit=100).rgb
    assert np.isfinite(out).all() and 0 <= out.min() and out.max() <= 1
    assert set(out[0, 1].tolist()) <= {0.0, 1.0}


def test_a_component_whose_robust_range_is_empty_is_zero():
    """hi == lo (≥ 99 % of the scores equal): v = 0 everywhere, not a division by zero."""
    data = np.zeros((20, 20, 2))
    data[0, 0] = (1.0, 0.0)
    data[0, 1] = (0.0, 1.0)
    data[0, 2] = (0.0, -1.0)
    with np.errstate(all="raise"):
        result = ifealid.pca(data, components=(1,))
    assert result.lo[0] == result.hi[0] and not result.rgb.any()
    assert ifealid.pca(data, components=(1,), scale="minmax").rgb.max() == 1.0


# --------------------------------------------------------------------------- refusals

def test_refusals_name_the_problem():
    data = planted((10, 10), sds=(3, 2, 1, 0.5), seed=4)
    cases = [
        (dict(components=(1, 2)), "one or three"),
        (dict(components=(0, 1, 2)), "numbered from 1"),
        (dict(components=(1, 1, 2)), "must differ"),
        (dict(components="1,2,3"), "one or three"),
        (dict(components=(1.0, 2, 3)), "one or three"),
        (dict(components=(5,)), "component 5 is beyond the 4 channels"),
        (dict(values="raw"), "unknown values setting 'raw'"),
        (dict(fit="everything"), "unknown fit"),
        (dict(scale="log"), "unknown scale"),
        (dict(fit="foreground", threshold=float("nan")), "finite number"),
        (dict(fit="foreground", flip=0), "flip must be 1 or -1"),
        (dict(fit="foreground", flip=True), "flip must be 1 or -1"),
        (dict(threshold=0.5), "need fit='foreground'"),
        (dict(flip=-1), "need fit='foreground'"),
        (dict(regions=[(0, 0, 2, 2)]), "need fit='region'"),
        (dict(mask=np.ones((10, 10), bool)), "need fit='region'"),
        (dict(fit="region"), "needs regions"),
        (dict(fit="region", regions=[(20, 20, 30, 30)]), "lies outside the 10×10 map"),
        (dict(fit="region", mask=np.ones((9, 10), bool)), r"must be \(10, 10\)"),
        (dict(fit="region", mask=np.full((10, 10), 2)), "true/false"),
        (dict(max_fit=0), "max_fit"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            ifealid.pca(data, **kwargs)
    with pytest.raises(ValueError, match="no dataset"):
        ifealid.pca([])
    with pytest.raises(ValueError, match="values must be"):
        ifealid.pca(np.zeros((4, 4)))


def test_too_few_pixels_constant_data_and_empty_components_are_refused():
    data = planted((10, 10), sds=(3, 2, 1, 0.5), seed=4)
    # 3 pixels span at most 2 directions: PC3 needs 4.
    with pytest.raises(ValueError, match="the region.s fit set has 3 pixels, and PC3 needs at least 4"):
        ifealid.pca(data, fit="region", regions=[(0, 0, 2, 0)])
    assert ifealid.pca(data, fit="region", regions=[(0, 0, 3, 0)]).fit_count == 4
    assert ifealid.pca(data, components=(2,), fit="region", regions=[(0, 0, 2, 0)]).fit_count == 3
    with pytest.raises(ValueError, match="is constant"):
        ifealid.pca(np.full((6, 6, 3), 0.25))
    with pytest.warns(ifealid.ConstantDataWarning):  # stored as zeros
        constant = ifealid.read_dataset(saved(np.full((6, 6, 3), 7.0)))
    with pytest.raises(ValueError, match="the dataset is constant"):
        ifealid.pca(constant)
    # Five channels holding a 2-D subspace: PC3's eigenvalue is rounding (≤ λ_1·C·2⁻⁵²).
    flat = planted((12, 12), sds=(3, 1, 0, 0, 0), seed=6)
    assert ifealid.pca(flat, components=(2,)).eigenvalues[0] > 0.5
    with pytest.raises(ValueError, match="component 3 has no variance on the fit set"):
        ifealid.pca(flat)
    # An empty foreground (nothing above T): refused, saying which fit set.
    with pytest.raises(ValueError, match=r"the foreground \(standardised PC1 score z > 1000\) has 0 pixels"):
        ifealid.pca(data, fit="foreground", threshold=1000)
    with pytest.raises(ValueError, match="foreground's first fit\\) has 1 pixel, and PC1 needs at least 2"):
        ifealid.pca(np.ones((1, 1, 3)), fit="foreground")


# --------------------------------------------------------------------------- joint PCA

def test_joint_pca_is_one_fit_over_the_concatenated_fit_sets():
    a = planted((20, 30), sds=(4, 3, 2, 1, 0.5), seed=1)
    b = planted((16, 12), sds=(4, 3, 2, 1, 0.5), seed=2) + 1.0
    results = ifealid.pca([a, b])
    assert isinstance(results, list) and len(results) == 2
    rows = np.concatenate([a.reshape(-1, 5), b.reshape(-1, 5)])
    for result in results:
        assert_components_match(result, rows)
        assert result.fit_size == result.fit_count == 792
    assert results[0].scores.shape == (20, 30, 3) and results[1].scores.shape == (16, 12, 3)
    mean, _, vecs = reference(rows)
    np.testing.assert_allclose(results[1].scores.reshape(-1, 3), (b.reshape(-1, 5) - mean) @ vecs[:, :3], atol=1e-9)
    # One robust range over both datasets' scores, so a colour means the same in each.
    together = np.concatenate([r.scores.reshape(-1, 3) for r in results])
    np.testing.assert_array_equal(results[0].lo, np.percentile(together, 1, axis=0))
    np.testing.assert_array_equal(results[1].hi, np.percentile(together, 99, axis=0))
    np.testing.assert_array_equal(results[1].rgb, np.clip((results[1].scores - results[0].lo)
                                                          / (results[0].hi - results[0].lo), 0, 1))
    # The sample runs over the concatenated list (a's pixels, then b's).
    sampled = ifealid.pca([a, b], max_fit=150)
    assert_components_match(sampled[0], rows[sample_positions(792, 150)])
    assert sampled[1].sampled and sampled[1].fit_count == 150
    assert len(ifealid.pca((a,))) == 1  # a tuple is a joint PCA too, even of one


def test_joint_pca_regions_masks_foreground_and_values():
    a, square, _, _ = foreground_data(seed=11)
    b, _, _, _ = foreground_data(seed=12)
    both = ifealid.pca([a, b], fit="foreground")
    np.testing.assert_array_equal(both[0].fit_mask, square)
    np.testing.assert_array_equal(both[1].fit_mask, square)
    assert_components_match(both[0], np.concatenate([a[square], b[square]]))
    # Regions apply to every dataset; a list of masks gives one per dataset; an array is for each.
    regions = ifealid.pca([a, b], fit="region", regions=[(0, 0, 4, 4)])
    assert_components_match(regions[1], np.concatenate([a[:5, :5].reshape(-1, 6), b[:5, :5].reshape(-1, 6)]))
    first, second = np.zeros((40, 40), bool), np.zeros((40, 40), bool)
    first[0, :10], second[5, 5:9] = True, True
    masks = ifealid.pca([a, b], fit="region", mask=[first, second])
    assert_components_match(masks[0], np.concatenate([a[first], b[second]]))
    one = ifealid.pca([a, b], fit="region", mask=first)
    assert_components_match(one[0], np.concatenate([a[first], b[first]]))
    with pytest.raises(ValueError, match="one per dataset: 2, not 1"):
        ifealid.pca([a, b], fit="region", mask=[first])
    # Centred: both datasets minus the channel means pooled over both (one transform), so the
    # scores are those of the concatenation (PCA centres once more, on the fit set).
    centred = ifealid.pca([a, b + 0.5], values="centred")
    pooled = np.concatenate([a.reshape(-1, 6), (b + 0.5).reshape(-1, 6)])
    _, lam, vecs = reference(pooled)
    np.testing.assert_allclose(centred[0].components, vecs[:, :3], rtol=0, atol=1e-10)
    np.testing.assert_allclose(centred[0].eigenvalues / lam[:3], 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(centred[0].mean, 0.0, rtol=0, atol=1e-12)  # the pooled mean is off already
    np.testing.assert_allclose(centred[1].scores.reshape(-1, 3),
                               ((b + 0.5).reshape(-1, 6) - pooled.mean(axis=0)) @ centred[1].components, atol=1e-9)


def test_joint_pca_refuses_different_channel_counts_naming_them(tmp_path):
    a = tmp_path / "a.zip"
    a.write_bytes(saved(planted((6, 6), sds=(3, 2, 1, 0.5)), name="four"))
    b = ifealid.read_dataset(saved(planted((6, 6), sds=(3, 2, 1)), name="three"))
    with pytest.raises(ValueError, match=re.escape(f"same channel count, not '{a}' 4, 'three' 3, #3 4 channels")):
        ifealid.pca([str(a), b, planted((5, 5), sds=(3, 2, 1, 0.5))])


# --------------------------------------------------------------------------- encoders

def png_of(data: bytes):
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_the_pca_encoders():
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(5, 7, 3))
    loaded = np.load(io.BytesIO(exports.encode_pca_npy(scores)))
    assert loaded.dtype == np.float32 and loaded.shape == (5, 7, 3)
    np.testing.assert_array_equal(loaded, scores.astype(np.float32))
    picture = rng.random((5, 7, 3))
    picture[0, 0] = (0.5 / 255, 1.5 / 255, 1.0)  # halves round to even, as numpy's rint
    image = png_of(exports.encode_pca_png(picture, components=(2, 3, 4), values="zscore", fit="foreground:0.5",
                                          scale="robust", explained=(0.25, 0.125, 0.1)))
    assert image.mode == "RGB" and image.size == (7, 5)
    np.testing.assert_array_equal(np.asarray(image), np.rint(picture * 255).astype(np.uint8))
    assert np.asarray(image)[0, 0].tolist() == [0, 2, 255]
    assert image.text == {"ifealid:components": "2,3,4", "ifealid:values": "zscore", "ifealid:fit": "foreground:0.5",
                          "ifealid:scale": "robust", "ifealid:explained": "0.25,0.125,0.1"}
    heat = png_of(exports.encode_pca_png(picture[:, :, 0], cmap="Viridis"))
    np.testing.assert_array_equal(np.asarray(heat), apply_colormap(picture[:, :, 0], "viridis"))
    assert heat.text == {"ifealid:colormap": "viridis"}
    assert png_of(exports.encode_pca_png(picture[:, :, 1])).text == {"ifealid:colormap": "grey"}
    for bad, message in ((np.zeros((5, 7, 2)), r"\(H, W, 3\)"), (np.full((2, 2), 1.5), r"in \[0, 1\]"),
                         (np.full((2, 2), np.nan), "NaN")):
        with pytest.raises(ValueError, match=message):
            exports.encode_pca_png(bad)
    with pytest.raises(ValueError, match="colours one component"):
        exports.encode_pca_png(picture, cmap="fire")
    with pytest.raises(ValueError, match="unknown colour map"):
        exports.encode_pca_png(picture[:, :, 0], cmap="jet")
    for bad, message in ((np.zeros((5, 7)), r"\(H, W, k\)"), (np.full((2, 2, 1), 1e300), "float32"),
                         (np.array([[["a"]]]), "numbers")):
        with pytest.raises(ValueError, match=message):
            exports.encode_pca_npy(bad)


# --------------------------------------------------------------------------- the CLI

@pytest.fixture(scope="module")
def zips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pca")
    data, square, _, _ = foreground_data()
    paths = []
    for name, array in (("fg", data), ("other", foreground_data(seed=12)[0])):
        path = folder / f"{name}.zip"
        path.write_bytes(saved(array, 16, name=name))
        paths.append(path)
    return folder, paths, square


def run_cli(capsys, *args):
    """ifealid pca in-process (cli.main, as the script calls it): fast, and every line printed is
    checked; test_the_installed_script_has_the_subcommand runs the real script once."""
    code = cli.main(["pca", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_png_and_npy_are_the_apis(capsys, zips):
    folder, (fg, _), _ = zips
    code, out, err = run_cli(capsys, fg, "--out", folder / "p.png")
    assert code == 0, err
    api = ifealid.pca(ifealid.load_dataset(fg))
    image = png_of((folder / "p.png").read_bytes())
    np.testing.assert_array_equal(np.asarray(image), np.rint(api.rgb * 255).astype(np.uint8))
    assert image.text["ifealid:components"] == "1,2,3" and image.text["ifealid:fit"] == "all"
    assert image.text["ifealid:explained"] == ",".join(repr(float(r)) for r in api.explained)
    assert "fitted on 1600 pixels (all)" in out and f"PC1 {100 * api.explained[0]:.1f} %" in out
    code, out, err = run_cli(capsys, fg, "--components", "2,3,4", "--values", "zscore", "--scale", "sigmoid",
                             "--out", folder / "s.npy")
    assert code == 0, err
    api = ifealid.pca(ifealid.load_dataset(fg), components=(2, 3, 4), values="zscore", scale="sigmoid")
    scores = np.load(folder / "s.npy")
    assert scores.dtype == np.float32
    np.testing.assert_array_equal(scores, api.scores.astype(np.float32))
    assert "scores float32 (H, W, 3)" in out


def test_cli_fit_options(capsys, zips):
    folder, (fg, _), square = zips
    dataset = ifealid.load_dataset(fg)
    code, out, err = run_cli(capsys, fg, "--fit", "foreground:0.25", "--flip", "--components", "1",
                             "--cmap", "magma", "--out", folder / "f.png")
    assert code == 0, err
    api = ifealid.pca(dataset, components=(1,), fit="foreground", threshold=0.25, flip=-1)
    np.testing.assert_array_equal(np.asarray(png_of((folder / "f.png").read_bytes())), apply_colormap(api.rgb, "magma"))
    assert f"fitted on {api.fit_count} pixels (foreground:0.25)" in out and "PC1 through magma" in out
    code, _, err = run_cli(capsys, fg, "--fit", "region:0,0,9,9;30,30,39,39", "--out", folder / "r.npy")
    assert code == 0, err
    api = ifealid.pca(dataset, fit="region", regions=[(0, 0, 9, 9), (30, 30, 39, 39)])
    np.testing.assert_array_equal(np.load(folder / "r.npy"), api.scores.astype(np.float32))
    Image.fromarray(np.where(square, 255, 0).astype(np.uint8)).save(folder / "mask.png")  # as ifealid map --mask
    np.save(folder / "mask.npy", square)
    for mask_file in ("mask.png", "mask.npy"):
        code, _, err = run_cli(capsys, fg, "--fit", f"mask:{folder / mask_file}", "--out", folder / "m.npy")
        assert code == 0, err
        api = ifealid.pca(dataset, fit="region", mask=square)
        np.testing.assert_array_equal(np.load(folder / "m.npy"), api.scores.astype(np.float32))


def test_cli_joint_pca_writes_one_file_per_dataset(capsys, zips):
    folder, paths, _ = zips
    code, out, err = run_cli(capsys, *paths, "--out", folder / "joint-{name}.png")
    assert code == 0, err
    api = ifealid.pca([ifealid.load_dataset(p) for p in paths])
    for path, result in zip(paths, api):
        written = np.asarray(png_of((folder / f"joint-{path.stem}.png").read_bytes()))
        np.testing.assert_array_equal(written, np.rint(result.rgb * 255).astype(np.uint8))
    assert "joint, 2 datasets" in out and "fitted on 3200 pixels" in out
    code, out, err = run_cli(capsys, *paths, "--out", folder / "{index}.npy")
    assert code == 0, err
    np.testing.assert_array_equal(np.load(folder / "2.npy"), api[1].scores.astype(np.float32))


def test_cli_refusals_are_one_line(capsys, zips, tmp_path):
    folder, paths, _ = zips
    other = tmp_path / "five.zip"
    other.write_bytes(saved(planted((6, 6), sds=(3, 2, 1, 0.5, 0.2)), name="five"))
    cases = [
        ((paths[0], "--out", tmp_path / "x.png", "--components", "a,b"), "--components 'a,b' must be one or three"),
        ((paths[0], "--out", tmp_path / "x.png", "--components", "1,2"), "one or three component numbers"),
        ((paths[0], "--out", tmp_path / "x.png", "--components", "7"), "component 7 is beyond the 6 channels"),
        ((paths[0], "--out", tmp_path / "x.jpg"), "must end in .png or .npy"),
        ((paths[0], "--out", tmp_path / "x.png", "--values", "raw"), "--values 'raw' is not one of"),
        ((paths[0], "--out", tmp_path / "x.png", "--scale", "log"), "--scale 'log' is not one of"),
        ((paths[0], "--out", tmp_path / "x.png", "--fit", "some"), "--fit 'some' is not all, foreground"),
        ((paths[0], "--out", tmp_path / "x.png", "--fit", "foreground:x"), "must be a finite number"),
        ((paths[0], "--out", tmp_path / "x.png", "--fit", "region:1,2,3"), "must be 4 integers"),
        ((paths[0], "--out", tmp_path / "x.png", "--fit", "mask:" + str(tmp_path / "none.png")), "no such mask file"),
        ((paths[0], "--out", tmp_path / "x.png", "--flip"), "--flip flips PC1 for the foreground"),
        ((paths[0], "--out", tmp_path / "x.png", "--cmap", "fire"), "--cmap colours one component"),
        ((paths[0], "--out", tmp_path / "x.png", "--components", "1", "--cmap", "jet"), "unknown colour map"),
        ((*paths, "--out", tmp_path / "x.png"), "put {name}"),
        ((paths[0], paths[0], "--out", tmp_path / "{name}.png"), "the same file: use {index}"),
        ((paths[0], other, "--out", tmp_path / "{index}.png"), "same channel count, not 'fg' 6, 'five' 5 channels"),
        ((tmp_path / "missing.zip", "--out", tmp_path / "x.png"), "missing.zip"),
    ]
    for args, message in cases:
        code, out, err = run_cli(capsys, *args)
        assert code == 1 and message in err and err.count("\n") == 1, (args, err)
    assert not (tmp_path / "x.png").exists()


def test_the_installed_script_has_the_subcommand(zips):
    """The real `ifealid` entry point, once, as users run it (the others call cli.main)."""
    folder, (fg, _), _ = zips
    result = subprocess.run([str(EXE), "pca", str(fg), "--components", "3", "--out", str(folder / "script.png")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert png_of((folder / "script.png").read_bytes()).size == (40, 40)


def test_the_api_is_exported_and_documented():
    assert ifealid.pca is sys.modules["ifealid.pca"].pca and "pca" in ifealid.__all__
    assert isinstance(ifealid.pca(planted((6, 6), sds=(3, 2, 1))), ifealid.PCAResult)
    # help(ifealid.pca) shows the definitions (the function's name hides the module's).
    assert "N_MAX = 16384" in ifealid.pca.__doc__ and "sigmoid" in ifealid.pca.__doc__


# --------------------------------------------------------------------------- real data

def indian_pines():
    """Indian Pines (AVIRIS, 145×145 pixels, 200 bands after water-absorption removal, 16
    labelled classes; Baumgardner, Biehl & Landgrebe 2015, Purdue University Research Repository,
    doi:10.4231/R7RX991C, CC BY 3.0), as the tensorly 0.10.0 wheel ships it (the `test` extra
    installs it). Located without importing tensorly, which would load its backends."""
    spec = importlib.util.find_spec("tensorly")
    folder = Path(spec.origin).parent / "datasets" / "data"
    return np.load(folder / "Indian_pines_corrected.npy"), np.load(folder / "Indian_pines_gt.npy")


def rms_distances(x: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Root-mean-square distance between the points of the same class and between those of
    different classes, over all ordered pairs, exactly: for classes A, B the mean of
    |a − b|² over A × B is |μ_A − μ_B|² + tr Σ_A + tr Σ_B (population covariances)."""
    classes, counts = np.unique(labels, return_counts=True)
    means = np.array([x[labels == c].mean(axis=0) for c in classes])
    traces = np.array([x[labels == c].var(axis=0).sum() for c in classes])
    squared = ((means[:, None] - means[None]) ** 2).sum(axis=-1) + traces[:, None] + traces[None]
    pairs = counts[:, None] * counts[None]
    same = np.eye(len(classes), dtype=bool)
    return (math.sqrt((squared * pairs)[same].sum() / pairs[same].sum()),
            math.sqrt((squared * pairs)[~same].sum() / pairs[~same].sum()))


def test_indian_pines_classes_are_alike_in_the_pca_picture():
    """The default picture (PC1-3 of the stored values as RGB, robust scaling; 21025 pixels, so
    the fit is the fixed sample of 16384) of the 16-bit dataset made from the cube. Over its
    10249 labelled pixels: the RMS RGB distance between pixels of different classes is 1.80 times
    that within a class (0.576 against 0.319; 1.00 with the labels shuffled), and a
    nearest-class-centroid rule in RGB is right for 43 % of them (51 % averaged over the classes)
    where always guessing the largest class gets 24 % (1/16 = 6 % over the classes)."""
    cube, truth = indian_pines()
    assert cube.shape == (145, 145, 200) and truth.shape == (145, 145)
    result = ifealid.pca(ifealid.read_dataset(saved(cube, 16, name="Indian Pines")))
    assert result.sampled and result.fit_count == N_MAX and result.fit_size == 145 * 145
    assert result.explained.sum() > 0.9  # three components hold most of the spectra's variance
    labelled = truth > 0
    x, y = result.rgb[labelled], truth[labelled]
    within, between = rms_distances(x, y)
    assert between / within > 1.6
    shuffled = rms_distances(x, np.random.default_rng(0).permutation(y))  # the measure's chance level
    assert abs(shuffled[1] / shuffled[0] - 1) < 0.05
    classes = np.unique(y)
    centroids = np.array([x[y == c].mean(axis=0) for c in classes])
    predicted = classes[np.argmin(((x[:, None] - centroids[None]) ** 2).sum(axis=-1), axis=1)]
    accuracy = float(np.mean(predicted == y))
    balanced = float(np.mean([np.mean(predicted[y == c] == c) for c in classes]))
    majority = np.bincount(y).max() / len(y)
    assert accuracy > 1.5 * majority and balanced > 6 / len(classes)
