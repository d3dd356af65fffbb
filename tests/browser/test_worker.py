"""The page boots Pyodide in its worker and decodes datasets into the same arrays as CPython."""
import hashlib
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

import ifealid
from zipkit import dataset_entries, jpeg_bytes, random_values, zip_bytes
from tabs import READY, open_tab

ROOT = Path(__file__).resolve().parents[2]
SETTLED = "window.ifealid.state.loading === null && (window.ifealid.state.dataset || window.ifealid.state.error)"

DIGEST_JS = """async () => {
  const d = window.ifealid.state.dataset;
  const hex = async (view) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', view))]
    .map((b) => b.toString(16).padStart(2, '0')).join('');
  return {
    info: d.info, overlaySize: d.overlaySize, arrayType: d.layers.constructor.name,
    length: d.layers.length, layers: await hex(d.layers),
    overlay: d.overlay ? await hex(d.overlay) : null,
  };
}"""


@pytest.fixture(scope="module")
def app(browser, base_url):
    """One page for the module: booted once, then fed file after file like a user would."""
    with open_tab(browser, f"{base_url}/index.html", viewport=None) as page:
        yield page, page.requests, page.errors


def open_file(page, path):
    page.evaluate("window.ifealid.state.dataset = null; window.ifealid.state.error = null")
    page.set_input_files("#file-input", str(path))
    page.wait_for_function(SETTLED)
    return page.evaluate("window.ifealid.state.error")


def test_worker_boots_pyodide_with_numpy_and_pillow(app):
    page, _, errors = app
    boot = page.evaluate("window.ifealid.state.boot")
    assert boot["error"] is None and boot["ready"]
    assert boot["versions"] == {"pyodide": "0.27.7", "python": "3.12.7", "numpy": "2.0.2",
                                "pillow": "10.2.0", "ifealid": ifealid.__version__}
    assert "Ready" in page.text_content("#boot-status")
    assert errors == []


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
                           "pngCount": info.png_count, "layerCount": info.layer_count}
    assert got["overlaySize"] == (list(dataset.overlay_size) if dataset.overlay_size else None)


def test_real_fixtures_decode_to_the_cpython_arrays(app, original_example):
    page, _, _ = app
    assert open_file(page, original_example) is None
    _expect_same_as_cpython(page, original_example)
    assert page.text_content("#dataset-shape") == {
        "C1": "106×160×256 @ 8 bit", "C2": "52×80×512 @ 8 bit", "C3": "26×40×1024 @ 8 bit",
    }[original_example.name.split(".")[2]]
    assert page.is_hidden("#progress") and page.is_hidden("#error")


@pytest.mark.parametrize("precision, features", [(16, 5), (32, 3), (8, 255)])
def test_generated_datasets_decode_to_the_cpython_arrays(app, tmp_path, precision, features):
    page, _, _ = app
    path = tmp_path / f"gen{precision}.zip"
    values = random_values((7, 9, features), precision, seed=precision)
    overlay = jpeg_bytes(18, 14) if precision == 16 else None
    path.write_bytes(zip_bytes(dataset_entries(values, precision, name=f"gen {precision}", overlay=overlay)))
    assert open_file(page, path) is None
    _expect_same_as_cpython(page, path)


def test_broken_zip_shows_its_message_and_the_next_file_opens(app, tmp_path, original_example):
    page, _, _ = app
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


def test_invalid_dataset_reports_rule_and_entry(app, tmp_path):
    page, _, _ = app
    entries = dataset_entries(random_values((4, 4, 8), 8), 8)
    del entries["1.png"]
    path = tmp_path / "missing.zip"
    path.write_bytes(zip_bytes(entries))
    error = open_file(page, path)
    assert error["rule"] == "missing-png" and error["entry"] == "1.png"
    assert "missing '1.png'" in page.text_content("#error")


def test_dataset_name_is_shown_as_text_not_html(app, tmp_path):
    page, _, _ = app
    name = '<img src=x onerror="window.pwned=1">'
    path = tmp_path / "markup.zip"
    path.write_bytes(zip_bytes(dataset_entries(random_values((3, 3, 4), 8), 8, name=name)))
    assert open_file(page, path) is None
    assert page.text_content("#dataset-title") == name
    assert page.evaluate("window.pwned") is None
    assert page.locator("#summary img").count() == 0


def test_no_request_leaves_127_0_0_1(app):
    _, requests, _ = app
    assert requests, "the request log is empty"
    hosts = {urlparse(url).hostname for url in requests if not url.startswith(("data:", "blob:"))}
    assert hosts == {"127.0.0.1"}, hosts
    # The worker's own fetches are in the log too: the runtime and the package sources.
    paths = {urlparse(url).path for url in requests}
    assert {"/runtime/pyodide.asm.wasm", "/app/reader.py", "/runtime/site-packages.bin"} <= paths, paths


def test_example_button_opens_the_bundled_example(app):
    page, _, _ = app
    page.reload()  # back to the start screen
    page.wait_for_function(READY)
    page.click("#example-button")
    page.wait_for_function(SETTLED)
    assert page.evaluate("window.ifealid.state.error") is None
    _expect_same_as_cpython(page, ROOT / "datasets" / "000000015746.jpg.C1.npz.8.zip")


def test_later_boots_restore_the_python_snapshot_and_decode_the_same(browser, base_url):
    example = ROOT / "tests" / "fixtures" / "original" / "000000015746.jpg.C3.npz.8.zip"
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(90_000)
    kinds = []
    for _ in range(3):  # the snapshot is written during the first boot; later boots restore it
        page.goto(f"{base_url}/index.html")
        page.wait_for_function(READY)
        assert page.evaluate("window.ifealid.state.boot.error") is None
        kinds.append(page.evaluate("window.ifealid.bridge.bootStages.snapshot"))
    assert kinds[0] == "created" and kinds[-1] == "restored", kinds
    assert open_file(page, example) is None
    _expect_same_as_cpython(page, example)
    context.close()
