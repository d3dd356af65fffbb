"""The page boots Pyodide in its worker and decodes datasets into the same arrays as CPython."""
import hashlib
import io
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

import ifealid
from corpus import png_chunk
from ifealid.errors import DatasetError
from ifealid.analysis import channel_stats
from pagekit import LOADED, READY, SHA256_JS, open_file as choose_file, wait_for
from zipkit import dataset_entries, jpeg_bytes, random_values, zip_bytes

ROOT = Path(__file__).resolve().parents[2]

# What the page holds of the dataset on screen (the DATASET message), its arrays as sha-256.
DIGEST_JS = """async () => {
  const d = window.ifealid.view.state.dataset, hex = %s;
  return {
    info: d.info, overlaySize: d.overlaySize, arrayType: d.layers.constructor.name,
    length: d.layers.length, layers: await hex(d.layers),
    overlay: d.overlay ? await hex(d.overlay) : null,
    stats: {mean: Array.from(d.stats.mean), std: Array.from(d.stats.std)},
    quick: d.quick,
  };
}""" % SHA256_JS


@pytest.fixture(scope="module")
def page(open_module_page, base_url):
    """One page for the module: booted once, then fed file after file like a user would."""
    return open_module_page(f"{base_url}/index.html", viewport=None)


def open_file(page, path):
    """Open `path`; returns the refusal (None: decoded and on screen)."""
    return choose_file(page, path, until=LOADED)


def test_worker_boots_pyodide_with_numpy_and_pillow(page):
    boot = page.evaluate("window.ifealid.state.boot")
    assert boot["error"] is None and boot["ready"]
    assert boot["versions"] == {"pyodide": "0.27.7", "python": "3.12.7", "numpy": "2.0.2",
                                "pillow": "10.2.0", "ifealid": ifealid.__version__}
    assert "Ready" in page.text_content("#boot-status")


def _expect_same_as_cpython(page, path, quick=True):
    """The page holds what CPython decodes; `quick`: decoded the quick way (pyworker/quick-open.js),
    not by the worker's Python (None: either)."""
    dataset = ifealid.load_dataset(path)
    got = page.evaluate(DIGEST_JS)
    if quick is not None:
        assert got["quick"] is quick
    assert got["arrayType"] == {8: "Uint8Array", 16: "Uint16Array", 32: "Uint32Array"}[dataset.precision]
    assert got["length"] == dataset.layers.size
    assert got["layers"] == hashlib.sha256(dataset.layers.tobytes()).hexdigest()
    expected_overlay = hashlib.sha256(dataset.overlay_bytes).hexdigest() if dataset.overlay_bytes else None
    assert got["overlay"] == expected_overlay
    info = dataset.info
    assert got["info"] == {"name": info.name, "width": info.width, "height": info.height,
                           "features": info.features, "precision": info.precision, "overlay": info.overlay,
                           "range": list(info.range) if info.range else None,
                           "pngCount": info.png_count, "layerCount": info.layer_count}
    assert got["overlaySize"] == (list(dataset.overlay_size) if dataset.overlay_size else None)
    # Each channel's statistics of the stored integers, as the CPython reference computes them.
    stats = channel_stats(dataset.layers, info.features)
    assert got["stats"]["mean"] == list(stats["mean"]) and got["stats"]["std"] == list(stats["std"])


def test_real_fixtures_decode_to_the_cpython_arrays(page, original_example):
    assert open_file(page, original_example) is None
    _expect_same_as_cpython(page, original_example)
    assert page.text_content("#dataset-shape") == {
        "C1": "106×160×256 @ 8 bit", "C2": "52×80×512 @ 8 bit", "C3": "26×40×1024 @ 8 bit",
    }[original_example.name.split(".")[2]]
    assert page.is_hidden("#progress") and page.is_hidden("#error")


@pytest.mark.parametrize("precision, features", [(16, 5), (32, 3), (8, 255)])
def test_generated_datasets_decode_to_the_cpython_arrays(page, tmp_path, precision, features):
    path = tmp_path / f"gen{precision}.zip"
    values = random_values((7, 9, features), precision, seed=precision)
    overlay = jpeg_bytes(18, 14) if precision == 16 else None
    path.write_bytes(zip_bytes(dataset_entries(values, precision, name=f"gen {precision}", overlay=overlay)))
    assert open_file(page, path) is None
    _expect_same_as_cpython(page, path)


def _rewrite_pngs(entries, change):
    """The entries with every k.png replaced by change(png bytes)."""
    return {name: change(data) if name.endswith(".png") else data for name, data in entries.items()}


def _with_chunk(png: bytes, chunk: bytes) -> bytes:
    """The PNG with `chunk` right after IHDR (8 + 25 bytes)."""
    return png[:33] + chunk + png[33:]


def _interlaced(png: bytes, values) -> bytes:
    """The same pixels as an Adam7-interlaced PNG (Pillow cannot write one; this writes one by hand)."""
    import struct
    import zlib

    from PIL import Image

    width, height = Image.open(io.BytesIO(png)).size
    rgba = np.asarray(Image.open(io.BytesIO(png)))
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        sub = rgba[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\x00" + row.tobytes() for row in sub)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 1)
    return (png[:8] + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


@pytest.mark.parametrize("precision", [8, 16, 32])
def test_deflated_entries_decode_the_quick_way_to_the_cpython_arrays(page, tmp_path, precision):
    path = tmp_path / f"deflated{precision}.zip"
    values = random_values((33, 21, 7), precision, seed=precision + 1)
    path.write_bytes(zip_bytes(dataset_entries(values, precision, overlay=jpeg_bytes(40, 60)), compression=zipfile.ZIP_DEFLATED))
    assert open_file(page, path) is None
    _expect_same_as_cpython(page, path, quick=True)


@pytest.mark.parametrize("kind", ["text-chunk", "interlaced"])
def test_pngs_the_quick_way_does_not_read_are_decoded_by_python_to_the_same_arrays(page, tmp_path, kind):
    values = random_values((12, 17, 6), 8, seed=5)
    entries = dataset_entries(values, 8)
    if kind == "text-chunk":  # an ancillary chunk Pillow reads: the decoders take only IHDR, IDAT, IEND
        entries = _rewrite_pngs(entries, lambda png: _with_chunk(png, png_chunk(b"tEXt", b"Comment\x00made by hand")))
    else:
        entries = _rewrite_pngs(entries, lambda png: _interlaced(png, values))
    path = tmp_path / f"{kind}.zip"
    path.write_bytes(zip_bytes(entries))
    assert open_file(page, path) is None
    _expect_same_as_cpython(page, path, quick=False)


@pytest.mark.parametrize("damage, rule, phrase", [
    ("idat", "png-damaged", "is a damaged PNG"),
    ("entry-crc", "damaged-entry", "Bad CRC-32"),
])
def test_damage_the_quick_way_meets_gets_pythons_message(page, tmp_path, damage, rule, phrase):
    values = random_values((10, 12, 8), 8, seed=9)
    entries = dataset_entries(values, 8)
    png = bytearray(entries["1.png"])
    start = png.index(b"IDAT") + 4
    png[start + 2: start + 40] = bytes(38)  # the zlib stream's first blocks overwritten
    if damage == "idat":
        entries["1.png"] = bytes(png)
        data = zip_bytes(entries)
    else:  # the ZIP's CRC of 1.png no longer matches its bytes (stored, so the bytes are there to change)
        data = bytearray(zip_bytes(entries))
        info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("1.png")
        at = info.header_offset + 30 + len(info.filename) + len(info.extra)
        data[at + info.file_size // 2] ^= 0xFF
        data = bytes(data)
    path = tmp_path / f"damaged-{damage}.zip"
    path.write_bytes(data)
    with pytest.raises(DatasetError) as cpython:
        ifealid.load_dataset(path)
    error = open_file(page, path)
    assert error["rule"] == rule == cpython.value.rule and error["entry"] == "1.png"
    assert error["message"] == str(cpython.value) and phrase in error["message"]


def test_broken_zip_shows_its_message_and_the_next_file_opens(page, tmp_path, original_example):
    data = original_example.read_bytes()
    broken = tmp_path / "broken.zip"
    broken.write_bytes(data[: len(data) // 3])
    error = open_file(page, broken)
    assert error["rule"] == "not-zip"
    assert page.is_visible("#error")
    text = page.text_content("#error")
    assert "broken.zip" in text and "not a readable ZIP archive" in text
    # The app is still ready: the next file opens in the same page.
    assert open_file(page, original_example) is None
    assert page.is_hidden("#error")
    _expect_same_as_cpython(page, original_example)


def test_invalid_dataset_reports_rule_and_entry(page, tmp_path):
    entries = dataset_entries(random_values((4, 4, 8), 8), 8)
    del entries["1.png"]
    path = tmp_path / "missing.zip"
    path.write_bytes(zip_bytes(entries))
    error = open_file(page, path)
    assert error["rule"] == "missing-png" and error["entry"] == "1.png"
    assert "missing '1.png'" in page.text_content("#error")


def test_dataset_name_is_shown_as_text_not_html(page, tmp_path):
    name = '<img src=x onerror="window.pwned=1">'
    path = tmp_path / "markup.zip"
    path.write_bytes(zip_bytes(dataset_entries(random_values((3, 3, 4), 8), 8, name=name)))
    assert open_file(page, path) is None
    assert page.text_content("#dataset-title") == name
    assert page.evaluate("window.pwned") is None
    assert page.locator("#summary img").count() == 0


def test_no_request_leaves_127_0_0_1(page):
    requests = page.requests
    assert requests, "the request log is empty"
    hosts = {urlparse(url).hostname for url in requests if not url.startswith(("data:", "blob:"))}
    assert hosts == {"127.0.0.1"}, hosts
    # The worker's own fetches are in the log too: the runtime and the package sources.
    paths = {urlparse(url).path for url in requests}
    assert {"/runtime/pyodide.asm.wasm", "/app/reader.py", "/runtime/site-packages.bin"} <= paths, paths


def test_example_button_opens_the_bundled_example(page):
    page.reload()  # back to the start screen
    wait_for(page, READY)
    page.click("#example-button")
    wait_for(page, LOADED)
    assert page.evaluate("window.ifealid.state.error") is None
    _expect_same_as_cpython(page, ROOT / "datasets" / "000000015746.jpg.C1.npz.8.zip")


def test_every_boot_restores_the_shipped_python_snapshot_and_decodes_the_same(open_page, base_url):
    example = ROOT / "tests" / "fixtures" / "original" / "000000015746.jpg.C3.npz.8.zip"
    page = open_page(viewport=None)  # a context of its own: empty caches, as on a first visit
    kinds = []
    for _ in range(2):
        page.goto(f"{base_url}/index.html")
        wait_for(page, READY)
        assert page.evaluate("window.ifealid.state.boot.error") is None
        kinds.append(page.evaluate("window.ifealid.bridge.bootStages.snapshot"))
    # The snapshot scripts/build_runtime.py made under Node.js is valid in Chromium's worker.
    assert kinds == ["restored", "restored"], kinds
    assert f"{base_url}/runtime/python-snapshot.bin" in page.requests
    assert open_file(page, example) is None
    _expect_same_as_cpython(page, example)


def _build_id_changed(snapshot: bytes) -> bytes:
    """The shipped snapshot, as if another build of the core had made it: Pyodide's header holds
    the build id in bytes 16 to 47 (after magic, offset, length and a spare word)."""
    import gzip
    raw = bytearray(gzip.decompress(snapshot))
    raw[16:48] = bytes(32 - i for i in range(32))
    return bytes(raw)


@pytest.mark.parametrize("served, kind", [
    ("another build", "refused"), ("damaged", "refused"), ("missing", "missing"),
])
def test_a_snapshot_of_another_build_is_refused_and_python_starts_afresh(open_page, base_url, served, kind):
    example = ROOT / "tests" / "fixtures" / "original" / "000000015746.jpg.C3.npz.8.zip"
    shipped = (ROOT / "runtime" / "python-snapshot.bin").read_bytes()
    body = {"another build": _build_id_changed(shipped), "damaged": shipped[: len(shipped) // 3],
            "missing": None}[served]
    page = open_page(viewport=None)
    page.context.route("**/runtime/python-snapshot.bin", lambda route: route.fulfill(status=404, body="")
                       if body is None else route.fulfill(status=200, body=body,
                                                          headers={"Content-Type": "application/octet-stream"}))
    page.goto(f"{base_url}/index.html")
    wait_for(page, READY)
    assert page.evaluate("window.ifealid.state.boot.error") is None
    assert page.evaluate("window.ifealid.bridge.bootStages.snapshot") == kind
    assert open_file(page, example) is None
    _expect_same_as_cpython(page, example)
