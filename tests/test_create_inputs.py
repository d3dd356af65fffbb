"""`ifealid create` and `ifealid validate` on the inputs the page converts too: ENVI cubes (the
header, its data file found beside it) and .npy/.npz arrays with --key and --layout, run as users
run them (the installed script in a subprocess)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import spectral.io.envi as envi  # the `test` extra's Spectral Python: an independent ENVI writer

import ifealid
from ifealid.quantise import quantise

EXE = shutil.which("ifealid", path=str(Path(sys.executable).parent)) or "ifealid"


def run(*args):
    return subprocess.run([EXE, *map(str, args)], capture_output=True, text=True)


@pytest.fixture
def cube(tmp_path):
    values = np.random.default_rng(3).integers(0, 4000, size=(8, 6, 5)).astype(np.int16)
    values[0, 0, :] = -1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        envi.save_image(str(tmp_path / "scene.hdr"), values, interleave="bil", ext=None, metadata={
            "wavelength": [450, 550, 650, 750, 850], "wavelength units": "nm", "data ignore value": -1,
            "reflectance scale factor": 10000, "default bands": [5, 3, 2]})
    return tmp_path / "scene.hdr", values


def test_create_an_envi_cube(cube):
    header, values = cube
    result = run("create", header, "-p", "16")
    assert result.returncode == 0, result.stderr
    out = header.with_name("scene.hdr.16.zip")
    assert str(out) in result.stdout and "wavelength axis, with overlay" in result.stdout
    assert "5 of 240 values" in result.stderr and "default bands" in result.stderr
    dataset = ifealid.load_dataset(out)
    assert dataset.shape == (8, 6, 5) and dataset.name == "scene.hdr" and dataset.overlay_size == (6, 8)
    assert dataset.info.channel_axis == {"name": "wavelength", "unit": "nm", "values": [450.0, 550.0, 650.0, 750.0, 850.0]}
    good = values[values != -1] / 10000
    assert dataset.range == (good.min(), good.max())
    assert (dataset.values()[0, 0] == 0).all()


def test_validate_an_envi_cube_and_its_missing_data_file(cube):
    header, _ = cube
    result = run("validate", header)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("scene.hdr: envi 8×6×5 (H×W×C) int16") and "5 masked" in result.stdout
    assert "wavelength axis" in result.stdout
    header.with_name("scene").unlink()
    result = run("validate", header)
    assert result.returncode == 1 and "the data file is missing" in result.stderr and "Traceback" not in result.stderr


def test_create_npz_with_key_and_layout(tmp_path):
    a = np.random.default_rng(1).normal(size=(12, 5, 7)).astype(np.float32)  # (C, H, W), ambiguous
    np.savez_compressed(tmp_path / "t.npz", first=np.zeros(3), second=a, third=a[:2])
    result = run("create", tmp_path / "t.npz")
    assert result.returncode == 1 and "choose one with --key" in result.stderr and "second, third" in result.stderr
    result = run("create", tmp_path / "t.npz", "--key", "second", "--layout", "chw", "--out", tmp_path / "t.zip")
    assert result.returncode == 0, result.stderr
    dataset = ifealid.load_dataset(tmp_path / "t.zip")
    assert dataset.shape == (5, 7, 12) and np.array_equal(dataset.values(), quantise(a.transpose(1, 2, 0), 8).values)
    result = run("create", tmp_path / "t.npz", "--key", "second", "--out", tmp_path / "u.zip")
    assert result.returncode == 0 and "could be (H, W, C) or (C, H, W)" in result.stderr
    assert ifealid.load_dataset(tmp_path / "u.zip").shape == (12, 5, 7)
    result = run("validate", tmp_path / "t.npz", "--key", "second")
    assert result.returncode == 0 and "t.npz[second]: npz 12×5×7" in result.stdout


def test_create_masks_nan_and_validate_reads_the_data(tmp_path):
    x = np.random.default_rng(2).random((4, 4, 3))
    x[1, 1, 1] = np.nan
    np.save(tmp_path / "n.npy", x)
    result = run("create", tmp_path / "n.npy")
    assert result.returncode == 0 and "1 of 48 values (NaN or ±inf)" in result.stderr
    np.save(tmp_path / "all.npy", np.full((2, 2, 2), np.nan))
    result = run("validate", tmp_path / "all.npy")
    assert result.returncode == 1 and "nothing to show" in result.stderr


def test_create_refuses_a_dataset_zip_and_hdf5(tmp_path, original_example):
    result = run("create", original_example)
    assert result.returncode == 1 and "is a dataset ZIP already" in result.stderr
    (tmp_path / "x.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    result = run("create", tmp_path / "x.h5")
    assert result.returncode == 1 and "no h5py wheel" in result.stderr
