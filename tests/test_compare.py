"""ifealid.compare (issue 16): one transform across datasets, references from any of them, best
matches, and `ifealid map --ref-from`."""
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ifealid
from ifealid import analysis, compare

EXE = Path(sys.executable).with_name("ifealid")


def zip_bytes(array, precision=8, name="t", value_range=True) -> bytes:
    buffer = io.BytesIO()
    ifealid.save_dataset(array, buffer, precision=precision, name=name)
    data = buffer.getvalue()
    if value_range:
        return data
    # The original's files record no range: rewrite metadata.json without it.
    import json
    import zipfile
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            content = src.read(info)
            if info.filename == "metadata.json":
                meta = json.loads(content)
                meta.pop("range", None)
                content = json.dumps(meta).encode()
            dst.writestr(info, content)
    return out.getvalue()


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(16)
    return [rng.normal(0.3, 1.0, size=(9, 11, 5)), rng.normal(-0.5, 2.0, size=(6, 7, 5)),
            rng.normal(1.0, 0.5, size=(4, 13, 5))]


@pytest.mark.parametrize("values", ["stored", "true", "centred", "zscore"])
def test_one_dataset_is_its_own_values(arrays, values):
    d = ifealid.read_dataset(zip_bytes(arrays[0], 16))
    np.testing.assert_allclose(compare.joint_values([d], values)[0], analysis.value_array(d, values),
                               rtol=0, atol=1e-12)


def test_centred_and_zscore_pool_every_datasets_pixels(arrays):
    data = [zip_bytes(a, p) for a, p in zip(arrays, (8, 16, 8))]
    base = [analysis.value_array(ifealid.read_dataset(b), "true") for b in data]
    everything = np.concatenate([b.reshape(-1, 5) for b in base])
    mean, std = everything.mean(axis=0), everything.std(axis=0)
    centred = compare.joint_values(data, "centred")
    zscore = compare.joint_values(data, "zscore")
    for b, c, z in zip(base, centred, zscore):
        np.testing.assert_allclose(c, b - mean, rtol=0, atol=1e-12)
        np.testing.assert_allclose(z, (b - mean) / std, rtol=0, atol=1e-12)
    # Arrays are their own base, pooled the same way.
    pooled = compare.joint_values(arrays, "zscore")
    together = np.concatenate([a.reshape(-1, 5) for a in arrays])
    np.testing.assert_allclose(pooled[1], (arrays[1] - together.mean(axis=0)) / together.std(axis=0), atol=1e-12)


def test_without_every_range_the_stored_values_are_compared(arrays):
    data = [zip_bytes(arrays[0], 8), zip_bytes(arrays[1], 16, value_range=False)]
    stored = [analysis.value_array(ifealid.read_dataset(b), "stored") for b in data]
    everything = np.concatenate([s.reshape(-1, 5) for s in stored])
    for s, c in zip(stored, compare.joint_values(data, "centred")):
        np.testing.assert_allclose(c, s - everything.mean(axis=0), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="needs every dataset's range, and 't' records none"):
        compare.joint_values(data, "true")


def test_channel_counts_must_agree(arrays):
    with pytest.raises(ValueError, match="same channel count, not 5, 4"):
        compare.joint_values([arrays[0], arrays[1][..., :4]], "stored")


@pytest.mark.parametrize("metric", ["angular", "cosine", "correlation", "euclidean", "dot"])
@pytest.mark.parametrize("values", ["true", "centred"])
def test_a_reference_from_any_dataset_applies_to_every_map(arrays, metric, values):
    data = [zip_bytes(a, p) for a, p in zip(arrays, (8, 16, 8))]
    vals = compare.joint_values(data, values)
    for k, (x, y) in enumerate([(3, 2), (6, 5), (12, 0)]):
        maps = compare.similarity_maps(data, refs=[(k, x, y)], metric=metric, values=values)
        for v, m in zip(vals, maps):
            np.testing.assert_allclose(m, analysis.metric_map(v, vals[k][y, x], metric), rtol=0, atol=1e-12)
    # A region of dataset 1 and a pixel of dataset 2 combined by their mean.
    both = compare.similarity_maps(data, refs=[(2, 1, 1)], regions=[(1, 0, 0, 2, 3)], metric=metric,
                                   values=values, combine="mean")
    region = analysis._prepared(vals[1][0:4, 0:3].reshape(-1, 5), metric).mean(axis=0)
    expected = (analysis.metric_map(vals[0], vals[2][1, 1], metric) + analysis.metric_map(vals[0], region, metric)) / 2
    np.testing.assert_allclose(both[0], expected, rtol=0, atol=1e-12)


def test_bad_references_are_refused(arrays):
    with pytest.raises(ValueError, match="dataset 3 does not exist: there are 3"):
        compare.similarity_maps(arrays, refs=[(3, 0, 0)])
    with pytest.raises(ValueError, match=r"outside the 7×6 map"):
        compare.similarity_maps(arrays, refs=[(1, 7, 0)])
    with pytest.raises(ValueError, match=r"is \(k, x, y\)"):
        compare.similarity_maps(arrays, refs=[(1, 2)])
    with pytest.raises(ValueError, match="no reference"):
        compare.similarity_maps(arrays)


def test_best_matches_take_the_nearest_first_and_keep_their_distance():
    m = np.zeros((5, 6))
    m[1, 1], m[1, 2], m[4, 5], m[0, 5] = 0.9, 0.95, 0.8, 0.95
    assert compare.best_matches(m) == [(5, 0, 0.95)]  # a tie goes to the first in row-major order
    assert compare.best_matches(m, k=3) == [(5, 0, 0.95), (2, 1, 0.95), (1, 1, 0.9)]
    # radius 1: (1, 1) is next to (2, 1), so the third is (5, 4)
    assert compare.best_matches(m, k=3, radius=1) == [(5, 0, 0.95), (2, 1, 0.95), (5, 4, 0.8)]
    # euclidean: the smallest distances
    d = 1 - m
    assert compare.best_matches(d, "euclidean", k=2) == [(5, 0, 1 - 0.95), (2, 1, 1 - 0.95)]
    with pytest.raises(ValueError, match="k must be at least 1"):
        compare.best_matches(m, k=0)
    with pytest.raises(ValueError, match="radius must be a finite number"):
        compare.best_matches(m, radius=-1)


def test_joint_pca_uses_the_pooled_transform(arrays):
    a, b = arrays[0], arrays[2]
    joint = ifealid.pca([a, b], values="zscore")
    pooled = compare.joint_values([a, b], "zscore")
    rows = np.concatenate([p.reshape(-1, 5) for p in pooled])
    rows = rows - rows.mean(axis=0)
    np.testing.assert_allclose(joint[1].scores.reshape(-1, 3),
                               (pooled[1].reshape(-1, 5) - joint[1].mean) @ joint[1].components, atol=1e-10)
    w, v = np.linalg.eigh(rows.T @ rows / len(rows))
    np.testing.assert_allclose(joint[0].eigenvalues, w[::-1][:3], rtol=1e-10)


def test_cli_map_takes_a_reference_from_another_dataset(tmp_path, arrays):
    a, b = tmp_path / "a.zip", tmp_path / "b.zip"
    a.write_bytes(zip_bytes(arrays[0], 8))
    b.write_bytes(zip_bytes(arrays[1], 16))
    out = tmp_path / "m.npy"
    result = subprocess.run([EXE, "map", b, "--ref-from", f"{a}:3,2", "--ref", "1,1", "--values", "centred",
                             "--metric", "cosine", "--out", out], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    expected = compare.similarity_maps([b, a], refs=[(0, 1, 1), (1, 3, 2)], metric="cosine", values="centred")[0]
    np.testing.assert_allclose(np.load(out), expected.astype(np.float32), rtol=0, atol=0)
    assert "2 references" in result.stdout
    c = tmp_path / "c.zip"
    c.write_bytes(zip_bytes(arrays[1][..., :4], 8))
    bad = subprocess.run([EXE, "map", b, "--ref-from", f"{c}:0,0", "--out", out], capture_output=True, text=True)
    assert bad.returncode != 0 and f"{b} has 5 channels, {c} has 4" in bad.stderr
    wrong = subprocess.run([EXE, "map", b, "--ref-from", "0,0", "--out", out], capture_output=True, text=True)
    assert wrong.returncode != 0 and "must be OTHER.zip:X,Y" in wrong.stderr
    outside = subprocess.run([EXE, "map", b, "--ref-from", f"{a}:11,0", "--out", out], capture_output=True, text=True)
    assert outside.returncode != 0 and "outside the 11×9 map" in outside.stderr
