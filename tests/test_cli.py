"""The command line, run as users run it: the installed `ifealid` script in a subprocess."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ifealid

EXE = shutil.which("ifealid", path=str(Path(sys.executable).parent)) or "ifealid"


def run(*args, cwd=None):
    return subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_create_uses_the_originals_default_name_and_output(tmp_path):
    source = tmp_path / "image.jpg.C1.npz"
    x = np.random.default_rng(1).random((6, 5, 7)).astype(np.float32)
    np.savez(source, x)
    result = run("create", source)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "image.jpg.C1.npz.8.zip"
    dataset = ifealid.load_dataset(out)
    assert dataset.name == "image.jpg.C1.npz" and dataset.shape == (6, 5, 7) and dataset.precision == 8
    assert str(out) in result.stdout


def test_create_with_all_options(tmp_path):
    source = tmp_path / "f.npy"
    np.save(source, np.random.rand(4, 3, 5))
    Image.new("RGBA", (30, 40), (200, 0, 0, 100)).save(tmp_path / "o.png")
    result = run("create", source, "-n", "My layer", "-p", "16", "-o", tmp_path / "o.png", "--out", tmp_path / "x.zip")
    assert result.returncode == 0, result.stderr
    dataset = ifealid.load_dataset(tmp_path / "x.zip")
    assert (dataset.name, dataset.precision, dataset.overlay_size) == ("My layer", 16, (30, 40))


def test_create_refuses_a_2d_array_with_a_clear_message(tmp_path):
    np.save(tmp_path / "flat.npy", np.zeros((4, 5)))
    result = run("create", tmp_path / "flat.npy")
    assert result.returncode != 0
    assert "3 dimensions" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "flat.npy.8.zip").exists()


def test_create_warns_about_a_constant_array(tmp_path):
    np.save(tmp_path / "c.npy", np.ones((2, 2, 2)))
    result = run("create", tmp_path / "c.npy")
    assert result.returncode == 0 and "constant" in result.stderr


def test_create_npz_with_several_arrays_needs_a_key(tmp_path):
    np.savez(tmp_path / "m.npz", a=np.random.rand(2, 2, 2), b=np.random.rand(3, 3, 3))
    result = run("create", tmp_path / "m.npz")
    assert result.returncode != 0 and "--key" in result.stderr
    assert run("create", tmp_path / "m.npz", "--key", "b").returncode == 0
    assert ifealid.load_dataset(tmp_path / "m.npz.8.zip").shape == (3, 3, 3)


def test_create_missing_input(tmp_path):
    result = run("create", tmp_path / "nope.npy")
    assert result.returncode != 0 and "no such file" in result.stderr


def test_validate_valid_dataset_prints_a_summary(original_example):
    result = run("validate", original_example)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    assert "000000015746.jpg.C" in lines[0] and "@ 8 bit" in lines[0] and "overlay 427×640" in lines[0]


def test_validate_invalid_dataset_exits_non_zero_with_the_message(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 truncated")
    result = run("validate", bad)
    assert result.returncode == 1
    assert "not a readable ZIP" in result.stderr and "Traceback" not in result.stderr


def test_python_m_ifealid_works(tmp_path):
    result = subprocess.run([sys.executable, "-m", "ifealid", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "validate" in result.stdout


def test_create_writes_the_range_and_passes_the_originals_checks(tmp_path):
    from test_range import originals_checks

    x = np.random.default_rng(5).normal(-2.0, 3.0, size=(6, 5, 7)).astype(np.float32)
    np.save(tmp_path / "f.npy", x)
    Image.new("RGB", (10, 12), (1, 2, 3)).save(tmp_path / "o.jpg")
    result = run("create", tmp_path / "f.npy", "-p", "16", "-o", tmp_path / "o.jpg", "--out", tmp_path / "f.zip")
    assert result.returncode == 0, result.stderr
    data = (tmp_path / "f.zip").read_bytes()
    originals_checks(data)  # the original app's checks still accept it (the range is a key, not a file)
    dataset = ifealid.load_dataset(tmp_path / "f.zip")
    assert dataset.range == (float(x.min()), float(x.max()))
    assert np.abs(dataset.as_float(np.float64, true_values=True) - x).max() <= (x.max() - x.min()) / 65535


# --- ifealid map -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mapped(tmp_path_factory):
    folder = tmp_path_factory.mktemp("map")
    rng = np.random.default_rng(11)
    yy, xx = np.mgrid[0:14, 0:18]
    waves = [np.sin(a * xx + b * yy + c) for a, b, c in rng.uniform(0.2, 0.9, size=(9, 3))]
    x = np.stack(waves, axis=-1) + rng.normal(0, 0.2, size=(14, 18, 9))  # smooth: masks have parts
    ifealid.save_dataset(x, folder / "d.zip", precision=16)
    return folder / "d.zip"


def test_map_npy_equals_similarity_map(mapped, tmp_path):
    result = run("map", mapped, "--ref", "3,4", "--ref", "17,0", "--region", "10,12,5,9", "--metric", "correlation",
                 "--values", "centred", "--combine", "mean", "--out", tmp_path / "m.npy")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1 and "correlation map of centred values" in result.stdout
    got = np.load(tmp_path / "m.npy")
    expected = ifealid.similarity_map(mapped, refs=[(3, 4), (17, 0)], regions=[(10, 12, 5, 9)],
                                      metric="correlation", values="centred", combine="mean")
    assert got.dtype == np.float32 and np.array_equal(got, expected.astype(np.float32))


def test_map_defaults_are_angular_stored_max(mapped, tmp_path):
    assert run("map", mapped, "--ref", "1,1", "--ref", "2,2", "--out", tmp_path / "m.npy").returncode == 0
    expected = ifealid.similarity_map(mapped, refs=[(1, 1), (2, 2)], metric="angular", values="stored", combine="max")
    assert np.array_equal(np.load(tmp_path / "m.npy"), expected.astype(np.float32))


def test_map_png_and_mask_are_the_encoders_bytes(mapped, tmp_path):
    from ifealid import exports

    smap = ifealid.similarity_map(mapped, refs=[(5, 5)], metric="euclidean", values="true")
    threshold = f"{np.quantile(smap, 0.3):.4g}"
    result = run("map", mapped, "--ref", "5,5", "--metric", "euclidean", "--values", "true", "--threshold", threshold,
                 "--connected", "--out", tmp_path / "m.png", "--mask", tmp_path / "k.png")
    assert result.returncode == 0, result.stderr
    mask = ifealid.similarity_mask(smap, float(threshold), "euclidean", connected=True, refs=[(5, 5)])
    assert (tmp_path / "m.png").read_bytes() == exports.encode_map_png16(smap, "euclidean", "true")
    assert (tmp_path / "k.png").read_bytes() == exports.encode_mask_png(mask)
    with Image.open(tmp_path / "m.png") as image:
        assert image.text["ifealid:metric"] == "euclidean" and image.text["ifealid:values"] == "true"
        assert float(image.text["ifealid:min"]) == float(smap.astype(np.float32).min()) == 0.0
    with Image.open(tmp_path / "k.png") as image:
        assert image.mode == "L" and np.array_equal(np.asarray(image) == 255, mask)
    assert f"{int(mask.sum())} of {mask.size} pixels" in result.stdout and f"≤ {threshold}" in result.stdout
    assert 0 < mask.sum() < (smap <= float(threshold)).sum()  # connected dropped the far components


def test_map_mask_npy(mapped, tmp_path):
    result = run("map", mapped, "--region", "0,0,3,3", "--threshold", "0.9", "--out", tmp_path / "m.npy",
                 "--mask", tmp_path / "k.npy")
    assert result.returncode == 0, result.stderr
    smap = ifealid.similarity_map(mapped, regions=[(0, 0, 3, 3)])
    mask = np.load(tmp_path / "k.npy")
    assert mask.dtype == bool and np.array_equal(mask, smap >= 0.9)


@pytest.mark.parametrize("args, phrase", [
    (["--out", "m.npy"], "no reference"),
    (["--ref", "3", "--out", "m.npy"], "--ref '3' must be 2 integers X,Y"),
    (["--ref", "a,b", "--out", "m.npy"], "must be 2 integers X,Y"),
    (["--region", "1,2,3", "--out", "m.npy"], "--region '1,2,3' must be 4 integers x0,y0,x1,y1"),
    (["--ref", "18,0", "--out", "m.npy"], "reference pixel (18, 0) is outside the 18×14 map"),
    (["--region", "30,30,40,40", "--out", "m.npy"], "lies outside the 18×14 map"),
    (["--ref", "1,1", "--metric", "l1", "--out", "m.npy"], "--metric 'l1' is not one of angular, cosine"),
    (["--ref", "1,1", "--values", "raw", "--out", "m.npy"], "--values 'raw' is not one of stored, true"),
    (["--ref", "1,1", "--combine", "sum", "--out", "m.npy"], "--combine 'sum' is not one of max, mean"),
    (["--ref", "1,1", "--out", "m.tif"], "must end in .npy or .png"),
    (["--ref", "1,1", "--out", "m.npy", "--mask", "k.tif", "--threshold", "1"], "must end in .npy or .png"),
    (["--ref", "1,1", "--out", "m.npy", "--connected"], "--connected needs --threshold T"),
    (["--ref", "1,1", "--out", "m.npy", "--mask", "k.png"], "--mask needs --threshold T"),
    (["--ref", "1,1", "--out", "m.npy", "--threshold", "0.5"], "give --mask"),
    (["--ref", "1,1", "--out", "m.npy", "--mask", "k.png", "--threshold", "nan"], "must be a finite number"),
    (["--ref", "1,1", "--out", "m.npy", "--mask", "k.png", "--threshold", "high"], "must be a finite number"),
    (["--ref", "1,1", "--out", "nowhere/m.npy"], "cannot write"),
])
def test_map_refuses_bad_arguments_with_one_line(mapped, tmp_path, args, phrase):
    result = run("map", mapped, *args, cwd=tmp_path)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert phrase in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "m.npy").exists()


def test_map_of_a_dataset_without_a_range_refuses_true_values(original_example, tmp_path):
    result = run("map", original_example, "--ref", "1,1", "--values", "true", "--out", tmp_path / "m.npy")
    assert result.returncode == 1 and "needs the dataset's range" in result.stderr
    assert run("map", original_example, "--ref", "1,1", "--values", "centred", "--out",
               tmp_path / "m.npy").returncode == 0


def test_map_of_a_broken_dataset_names_the_rule(tmp_path):
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    result = run("map", tmp_path / "bad.zip", "--ref", "0,0", "--out", tmp_path / "m.npy")
    assert result.returncode == 1 and "not a readable ZIP" in result.stderr
