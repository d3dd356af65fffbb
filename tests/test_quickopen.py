"""app/quickopen.py, what the Pyodide worker runs before numpy is imported: it imports no numpy,
its check refuses what read_dataset refuses before decoding (with read_dataset's message) and
passes the rest, the entries it points at hold the PNGs' bytes, and its statistics from exact
sums are channel_stats'."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import corpus
from ifealid import DatasetError, read_dataset
from ifealid.analysis import channel_stats
from ifealid.browser import page_info
from ifealid.colormaps import COLORMAPS, lut_bytes
from ifealid.quickopen import check_for_worker, colormaps, overlay_for_worker, runtime_versions, stats_for_worker
from zipkit import dataset_entries, jpeg_bytes, random_values, zip_bytes

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "original" / "000000015746.jpg.C1.npz.8.zip"


def test_nothing_the_worker_runs_before_numpy_imports_numpy():
    script = f"""
import json, sys
import ifealid.quickopen as q
data = open({str(FIXTURE)!r}, 'rb').read()
checked = q.check_for_worker('a.zip', data)
overlay = q.overlay_for_worker(data)
stats = q.stats_for_worker(4, ['1', '2'], ['1', '4'])
tables = q.colormaps()
versions = q.runtime_versions()
print(json.dumps({{'numpy': 'numpy' in sys.modules, 'pngs': len(checked['pngs']), 'size': overlay['overlaySize'],
                  'tables': list(tables), 'versions': sorted(versions)}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT)
    got = json.loads(done.stdout)
    assert got == {"numpy": False, "pngs": 64, "size": [427, 640], "tables": ["fire", "cividis", "grey", "magma", "viridis"],
                   "versions": ["ifealid", "numpy", "pillow", "python"]}


def test_versions_are_those_of_the_installed_packages():
    import PIL

    versions = runtime_versions()
    assert versions["numpy"] == np.__version__ and versions["pillow"] == PIL.__version__
    assert versions["python"] == sys.version.split()[0]


def test_the_colour_tables_are_the_arrays_bytes():
    tables = colormaps()
    assert list(tables)[0] == "fire" and set(tables) == set(COLORMAPS)
    for name, table in tables.items():
        assert table == lut_bytes(name) == COLORMAPS[name].tobytes() and len(table) == 768


@pytest.mark.parametrize("case", corpus.CASES, ids=lambda c: c.id)
def test_every_corpus_case_is_refused_with_read_datasets_message_or_left_to_the_decoders(case):
    data = case.build()
    with pytest.raises(DatasetError) as expected:
        read_dataset(data, memory_budget=1024 ** 3)
    checked = check_for_worker("case.zip", data)
    if "error" in checked:
        assert checked["error"] == expected.value.to_dict()
        return
    overlay = overlay_for_worker(data)
    if "error" in overlay:
        assert overlay["error"] == expected.value.to_dict()
        return
    # What is left is wrong in a PNG: the decoders meet it (or refuse the PNG's form) and the
    # worker then gives read_dataset's message (tests/browser/test_corpus_page.py).
    assert expected.value.entry in {f"{k}.png" for k in range(len(checked["pngs"]))}, case.id


def test_a_valid_dataset_is_checked_and_its_entries_hold_the_pngs():
    values = random_values((9, 13, 11), 16, seed=3)
    entries = dataset_entries(values, 16, name="checked", overlay=jpeg_bytes(26, 18))
    for compression in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        data = zip_bytes(entries, compression=compression)
        checked = check_for_worker("valid.zip", data)
        dataset = read_dataset(data)
        assert checked["info"] == page_info(dataset.info)
        archive = zipfile.ZipFile(io.BytesIO(data))
        assert len(checked["pngs"]) == dataset.info.png_count
        for k, (offset, stored, method, crc, size) in enumerate(checked["pngs"]):
            info = archive.getinfo(f"{k}.png")
            assert (offset, stored, method, crc, size) == (info.header_offset, info.compress_size, compression, info.CRC, info.file_size)
            start = offset + 30 + len(info.filename) + len(info.extra)
            raw = data[start:start + stored]
            png = raw if method == zipfile.ZIP_STORED else __import__("zlib").decompress(raw, -15)
            assert png == entries[f"{k}.png"]
        overlay = overlay_for_worker(data)
        assert overlay == {"overlay": dataset.overlay_bytes, "overlaySize": list(dataset.overlay_size)}


def test_a_dataset_beyond_the_memory_budget_is_refused_before_anything_is_read():
    entries = dataset_entries(random_values((4, 4, 4), 8), 8)
    meta = json.loads(entries["metadata.json"])
    meta.update(width=65536, height=65536)
    entries["metadata.json"] = json.dumps(meta).encode()
    error = check_for_worker("large.zip", zip_bytes(entries))["error"]
    assert error["rule"] == "too-large" and "memory budget" in error["message"]


@pytest.mark.parametrize("precision, features", [(8, 9), (16, 5), (32, 7)])
def test_statistics_from_exact_sums_are_channel_stats(precision, features):
    values = random_values((23, 19, features), precision, seed=features)
    values[0, 0, :] = 2 ** precision - 1  # the largest value, where q² leaves float range
    dataset = read_dataset(zip_bytes(dataset_entries(values, precision)))
    q = dataset.layers.reshape(-1, dataset.layers.shape[1] * dataset.layers.shape[2], 4)
    sums = [str(sum(int(v) for v in q[c // 4, :, c % 4])) for c in range(features)]
    squares = [str(sum(int(v) ** 2 for v in q[c // 4, :, c % 4])) for c in range(features)]
    got = stats_for_worker(23 * 19, sums, squares)
    expected = channel_stats(dataset.layers, features)
    assert got["mean"] == list(expected["mean"]) and got["std"] == list(expected["std"])


def test_sums_that_no_unsigned_values_give_are_refused():
    with pytest.raises(ValueError):
        stats_for_worker(2, ["3"], ["1"])  # Σq² < (Σq)² / n
    with pytest.raises(ValueError):
        stats_for_worker(0, ["0"], ["0"])


def test_what_the_quick_way_takes_is_what_identify_reads_as_a_dataset_zip(tmp_path):
    """Every file the quick way takes, app/inputs.py identify() reads as a dataset ZIP (it then
    gives read_dataset's result); the others go the full way, whatever they are."""
    from ifealid.inputs import from_bytes, identify

    dataset = zip_bytes(dataset_entries(random_values((3, 4, 5), 8), 8))
    npz = io.BytesIO()
    np.savez(npz, a=np.zeros((2, 3, 4)))
    envi_zip = zip_bytes({"cube.hdr": b"ENVI\nsamples = 1\nlines = 1\nbands = 1\ndata type = 1\ninterleave = bsq\n",
                          "cube.img": b"\x00"})
    hdf5 = bytearray(dataset)
    hdf5[512:520] = b"\x89HDF\r\n\x1a\n"
    no_metadata = zip_bytes({"0.png": b"x"})
    files = {
        "dataset.zip": dataset, "dataset": dataset, "dataset.ZIP": dataset, "dataset.npz": dataset,
        "dataset.mat": dataset, "dataset.h5": dataset, "dataset.npy": dataset, "dataset.hdr": dataset,
        "arrays.npz": npz.getvalue(), "arrays.zip": npz.getvalue(), "cube.zip": envi_zip, "hdf5.zip": bytes(hdf5),
        "other.zip": no_metadata, "notes.txt": b"hello",
    }
    taken = set()
    for name, data in files.items():
        checked = check_for_worker(name, data)
        if "other" in checked:
            continue
        taken.add(name)
        try:
            kind = identify([from_bytes(name, data)])
        except DatasetError as exc:
            kind = exc
        assert kind is None, (name, kind)
    assert taken == {"dataset.zip", "dataset", "dataset.ZIP"}
