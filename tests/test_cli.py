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
