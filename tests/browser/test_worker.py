"""The page boots Pyodide in its worker and decodes datasets into the same arrays as CPython."""
import hashlib
from pathlib import Path
from urllib.parse import urlparse

import pytest

import ifealid
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


def _expect_same_as_cpython(page, path):
    dataset = ifealid.load_dataset(path)
    got = page.evaluate(DIGEST_JS)
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
