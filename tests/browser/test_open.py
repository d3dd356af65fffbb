"""Opening datasets: drag and drop, one after another (the first one's memory freed), a file
chosen before Python is up, and ?d= links with every way they fail.

The links point at servers of tests/browser/sites.py: the page's own site (with its own
datasets/), a second origin with CORS headers, a third without, and a socket that closes.
"""
from __future__ import annotations

import base64
import hashlib
import zipfile
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest

import ifealid
from corpus import png_chunk
from pagekit import LAYERS_DIGEST_JS, READY, SHOWN, forget_shown, open_file as choose_file, wait_for
from sites import ClosingServer, Server, make_site
from zipkit import dataset_entries, jpeg_bytes, random_values, zip_bytes

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "original" / "000000015746.jpg.C3.npz.8.zip"
HTML_PAGE = b"<!doctype html><html><head><title>Datasets</title></head><body><a href='x.zip'>x</a></body></html>"


def small_dataset(seed: int, precision: int = 8, shape=(10, 12, 6), overlay: bool = True, name: str = "") -> bytes:
    values = random_values(shape, precision, seed=seed)
    return zip_bytes(dataset_entries(values, precision, name=name or f"small {seed}",
                                     overlay=jpeg_bytes(shape[1] * 2, shape[0] * 2) if overlay else None))


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    site = make_site(tmp_path_factory.mktemp("open") / "site", {
        "small.zip": small_dataset(1),
        "other.zip": small_dataset(2, precision=16, shape=(7, 9, 5), overlay=False, name="other"),
        "fixture.zip": FIXTURE.read_bytes(),
        "page.html": HTML_PAGE,
    })
    page, cors, plain, closing = Server(site), Server(site, cors="*"), Server(site), ClosingServer()
    yield {"page": page, "cors": cors, "plain": plain, "closing": closing, "site": site}
    for server in (page, cors, plain, closing):
        server.stop()


@pytest.fixture(scope="module")
def tab(open_module_page, servers):
    """One tab for the module; each test navigates it (a fresh page and worker every time)."""
    return open_module_page()


def visit(page, servers, d: str | None = None):
    url = f"{servers['page'].url}/index.html" + (f"?d={quote(d, safe='')}" if d is not None else "")
    page.goto(url)
    wait_for(page, SHOWN if d is not None else READY)
    return page.evaluate("window.ifealid.state.error")


def picker_is_available(page):
    """A refused link leaves the start screen with its file picker."""
    assert page.is_visible("#start") and page.is_hidden("#explorer")
    assert page.is_visible('#start label[for="file-input"]')
    assert page.is_visible("#error")


def expect_dataset(page, path_or_bytes):
    """The page shows this dataset: its info, the very layers CPython decodes, a frame drawn."""
    dataset = ifealid.load_dataset(path_or_bytes)
    assert page.evaluate("window.ifealid.state.error") is None
    info = page.evaluate("window.ifealid.view.state.dataset.info")
    assert (info["name"], info["width"], info["height"], info["features"]) == (
        dataset.info.name, dataset.info.width, dataset.info.height, dataset.info.features)
    assert page.evaluate(LAYERS_DIGEST_JS) == hashlib.sha256(dataset.layers.tobytes()).hexdigest()
    assert page.evaluate("window.ifealid.records.shownAt") is not None


# ------------------------------------------------------------------ local files


def drop(page, path: Path, target: str = "body"):
    """Drag `path` over the page and drop it, as the OS would; returns whether the drop target
    was visible while dragging and hidden after the drop."""
    data = base64.b64encode(path.read_bytes()).decode()
    transfer = page.evaluate_handle("""([data, name]) => {
      const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], name, { type: 'application/zip' }));
      return transfer;
    }""", [data, path.name])
    page.dispatch_event(target, "dragenter", {"dataTransfer": transfer})
    page.dispatch_event(target, "dragover", {"dataTransfer": transfer})
    shown_while_dragging = page.is_visible("#drop-target")
    page.dispatch_event(target, "drop", {"dataTransfer": transfer})
    return shown_while_dragging, page.is_hidden("#drop-target")


def test_drag_and_drop_opens_a_file_anywhere_on_the_page(tab, servers):
    visit(tab, servers)
    assert tab.is_hidden("#drop-target")
    # A drag that carries no file (text) is not ours: no drop target.
    text = tab.evaluate_handle("() => { const t = new DataTransfer(); t.setData('text/plain', 'hi'); return t; }")
    tab.dispatch_event("body", "dragenter", {"dataTransfer": text})
    assert tab.is_hidden("#drop-target")

    while_dragging, after = drop(tab, FIXTURE)
    assert while_dragging and after
    wait_for(tab, SHOWN)
    expect_dataset(tab, FIXTURE)
    # Dropped onto the explorer, the next file replaces the first.
    other = servers["site"] / "datasets" / "other.zip"
    forget_shown(tab)
    while_dragging, after = drop(tab, other, target="#map")
    assert while_dragging and after
    wait_for(tab, SHOWN)
    expect_dataset(tab, other)
    assert tab.text_content("#dataset-title") == "other"


def open_file(page, path: Path):
    assert choose_file(page, path) is None


# The textures the renderer made for the dataset on screen: its data arrays, the norms, the map
# targets (plain, phased, the reduction's pair) and the similarity source's reference.
# (gpuSide(): the layers' textures are made on first use; under software WebGL, where the CPU
# computes the maps, a dataset never needs them.)
TEXTURES_JS = """() => {
  const tile = window.ifealid.renderer.gpuSide().tiles[0], t = tile.targets;
  return [...tile.data.data, tile.data.norm, t.full.tex, t.phased?.tex, ...t.red.map((r) => r.tex),
          tile.sources.gpu.refTarget.tex].filter(Boolean);
}"""


def test_a_second_dataset_replaces_the_first_and_frees_its_textures(tab, servers):
    visit(tab, servers)
    open_file(tab, FIXTURE)
    first = tab.evaluate_handle(TEXTURES_JS)
    stats = tab.evaluate("window.ifealid.renderer.stats()")
    assert tab.evaluate("(ts) => ts.length", first) >= 3
    assert tab.evaluate("(ts) => ts.every((t) => window.ifealid.renderer.gl.isTexture(t))", first)

    open_file(tab, servers["site"] / "datasets" / "small.zip")
    expect_dataset(tab, servers["site"] / "datasets" / "small.zip")
    # Every texture of the first dataset is deleted, and nothing is left over.
    assert tab.evaluate("(ts) => ts.every((t) => !window.ifealid.renderer.gl.isTexture(t))", first)
    tab.evaluate(TEXTURES_JS)
    assert tab.evaluate("window.ifealid.renderer.stats()") == stats
    # And back: the same dataset again gives the same GL object counts.
    open_file(tab, FIXTURE)
    tab.evaluate(TEXTURES_JS)
    assert tab.evaluate("window.ifealid.renderer.stats()") == stats


def test_where_the_cpu_computes_the_maps_the_layers_are_never_uploaded(tab, servers):
    visit(tab, servers)
    open_file(tab, FIXTURE)
    assert tab.evaluate("window.ifealid.renderer.computeOn") == "cpu"  # software WebGL here
    hover_somewhere = "window.ifealid.view.set({hover: {x: 3, y: 4}, reference: {x: 3, y: 4}}); window.ifealid.renderer.renderNow(); true"
    tab.evaluate(hover_somewhere)
    assert tab.evaluate("window.ifealid.renderer.uploaded") is False
    # The shader path, asked for, uploads them then.
    tab.evaluate("window.ifealid.explorer.setCompute('gpu')")
    tab.evaluate(hover_somewhere)
    assert tab.evaluate("window.ifealid.renderer.uploaded && window.ifealid.renderer.computeOn === 'gpu'")


SPY = """
import weakref, ifealid.browser as _browser
_ifealid_test_refs = []
if not hasattr(_browser, '_unspied_read_dataset'):
    _browser._unspied_read_dataset = _browser.read_dataset
def _spy(*args, **kwargs):
    dataset = _browser._unspied_read_dataset(*args, **kwargs)
    _ifealid_test_refs.append(weakref.ref(dataset.layers))
    return dataset
_browser.read_dataset = _spy
"""
ALIVE = "import gc; gc.collect(); sum(r() is not None for r in _ifealid_test_refs)"


def test_repeated_opens_do_not_grow_the_workers_memory(tab, servers, tmp_path):
    visit(tab, servers)
    [worker] = [w for w in tab.workers if w.url.endswith("/pyworker/worker.js")]
    heap = "self.ifealid.pyodide._module.HEAP8.length"
    decoded = ifealid.load_dataset(FIXTURE).layers.nbytes
    # The quick way (the decoders): Python never holds the PNGs or the decoded array.
    worker.evaluate(f"self.ifealid.pyodide.runPython({SPY!r})")
    before = worker.evaluate(heap)
    for _ in range(3):
        open_file(tab, FIXTURE)
    assert worker.evaluate("self.ifealid.pyodide.runPython('len(_ifealid_test_refs)')") == 0
    assert worker.evaluate(heap) - before < decoded
    # The full way (a PNG the decoders leave to Pillow): Python decodes, and lets go.
    with zipfile.ZipFile(FIXTURE) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    png = entries["0.png"]
    entries["0.png"] = png[:33] + png_chunk(b"tEXt", b"Comment\x00by hand") + png[33:]
    full = tmp_path / "full-way.zip"
    full.write_bytes(zip_bytes(entries))
    sizes = []
    for _ in range(5):
        open_file(tab, full)
        sizes.append(worker.evaluate(heap))
        # Python keeps no reference to the decoded array once the page has it.
        assert worker.evaluate(f"self.ifealid.pyodide.runPython({ALIVE!r})") == 0
    assert worker.evaluate("self.ifealid.pyodide.runPython('len(_ifealid_test_refs)')") == 5
    # The WebAssembly heap never shrinks; it grows to the peak of one decode and stays there
    # (a leak would add at least the decoded array, 1.1 MB here, per open).
    assert sizes[-1] - sizes[1] < decoded, sizes


@contextmanager
def python_held_back(tab):
    """Hold the worker's request for the app sources, so Python cannot finish booting, until
    the block ends; then let it through (after waiting for it to have been made)."""
    held = []
    tab.context.route("**/runtime/ifealid-manifest.json", lambda route: held.append(route))
    try:
        yield
        for _ in range(600):  # let the held request arrive (route handlers run while we wait)
            if held:
                break
            tab.wait_for_timeout(100)
    finally:
        for route in held:
            route.continue_()
        tab.context.unroute("**/runtime/ifealid-manifest.json")
    assert held, "the worker's manifest request was not seen"


def test_a_file_chosen_before_python_is_up_is_queued(tab, servers):
    with python_held_back(tab):
        tab.goto(f"{servers['page'].url}/index.html")
        wait_for(tab, "window.ifealid !== undefined")
        # The start screen works already: the picker, drag and drop, the demo buttons.
        assert tab.is_enabled("#demo-cnn-button") and tab.is_visible('#start label[for="file-input"]')
        chosen = tab.evaluate("performance.now()")
        tab.set_input_files("#file-input", str(FIXTURE))
        # Queued for Python; its PNGs are decoded meanwhile (the quick way's decoders need no Python).
        wait_for(tab, "['Waiting for Python', 'Decoding'].includes(window.ifealid.state.loading?.stage)")
        pngs = ifealid.read_info(FIXTURE).png_count
        wait_for(tab, f"window.ifealid.state.loading?.stage === 'Decoding' && window.ifealid.state.loading.total === {pngs}"
                      f" && window.ifealid.state.loading.done === {pngs}")
        decoded = tab.evaluate("performance.now()")
        assert tab.evaluate("window.ifealid.state.boot.ready") is False
        assert f"Decoding {pngs} / {pngs}" in tab.text_content("#progress-text")
        tab.wait_for_timeout(2000)  # Python is held back a while longer
    wait_for(tab, SHOWN)
    expect_dataset(tab, FIXTURE)
    assert tab.evaluate("window.ifealid.view.state.dataset.quick") is True
    # "Decoded in" counts the decoding, all of it done before Python was let through; not the
    # wait for Python, which was longer (≥ 2 s after the last PNG).
    assert tab.evaluate("window.ifealid.view.state.dataset.decodeMs") < decoded - chosen + 100


# ------------------------------------------------------------------ ?d= links


def test_relative_link_loads_from_datasets_beside_the_page(tab, servers):
    assert visit(tab, servers, "small.zip") is None
    expect_dataset(tab, servers["site"] / "datasets" / "small.zip")
    assert f"{servers['page'].url}/datasets/small.zip" in tab.requests
    assert tab.text_content("#dataset-title") == "small 1"
    # The address keeps the link, so that a reload opens it again.
    assert urlparse(tab.url).query == "d=small.zip"


def test_absolute_link_with_cors_headers_opens(tab, servers):
    url = f"{servers['cors'].url}/datasets/other.zip"
    assert visit(tab, servers, url) is None
    expect_dataset(tab, servers["site"] / "datasets" / "other.zip")


def test_absolute_link_without_cors_headers_says_so(tab, servers):
    url = f"{servers['plain'].url}/datasets/other.zip"
    tab.requests.clear()
    error = visit(tab, servers, url)
    assert error["rule"] == "cors", error
    text = tab.text_content("#error")
    assert "CORS" in text and "Access-Control-Allow-Origin" in text and url in text
    picker_is_available(tab)
    # Nothing but the page's own origin and the ?d= address is asked for.
    assert {u for u in tab.requests if not u.startswith(servers["page"].url)} == {url}


def test_the_download_runs_while_python_starts(tab, servers):
    with python_held_back(tab):
        tab.goto(f"{servers['page'].url}/index.html?d=other.zip")
        # Downloaded while Python cannot have finished booting (its app sources are held back).
        wait_for(tab, "window.ifealid?.state.loading?.stage === 'Waiting for Python'")
        assert tab.evaluate("window.ifealid.state.boot.ready") is False
        assert f"{servers['page'].url}/datasets/other.zip" in tab.requests
    wait_for(tab, SHOWN)
    expect_dataset(tab, servers["site"] / "datasets" / "other.zip")


@pytest.mark.parametrize("status, words", [
    (404, "no file at this address"), (403, "refuses"), (500, "server failed"),
])
def test_http_errors_name_the_status(tab, servers, status, words):
    url = f"{servers['cors'].url}/status/{status}"
    error = visit(tab, servers, url)
    assert (error["rule"], error.get("status")) == ("http", status), error
    text = tab.text_content("#error")
    assert f"HTTP {status}" in text and words in text
    picker_is_available(tab)


def test_relative_link_to_a_missing_file_is_a_404(tab, servers):
    error = visit(tab, servers, "nothing-here.zip")
    assert (error["rule"], error.get("status")) == ("http", 404)
    assert f"{servers['page'].url}/datasets/nothing-here.zip" in tab.text_content("#error")
    picker_is_available(tab)


def test_html_page_is_not_a_dataset(tab, servers):
    error = visit(tab, servers, f"{servers['cors'].url}/datasets/page.html")
    assert error["rule"] == "not-zip", error
    assert "web page (HTML), not a dataset ZIP" in tab.text_content("#error")
    picker_is_available(tab)


@pytest.mark.parametrize("link", ["ftp://example.com/data.zip", "file:///etc/passwd", "javascript:alert(1)",
                                  "data:application/zip;base64,UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="])
def test_other_schemes_are_refused(tab, servers, link):
    tab.requests.clear()
    error = visit(tab, servers, link)
    assert error["rule"] == "scheme", error
    assert "accepts only http and https" in tab.text_content("#error")
    assert not [u for u in tab.requests if not u.startswith(servers["page"].url)], tab.requests
    picker_is_available(tab)


def test_network_failure(tab, servers):
    url = f"{servers['closing'].url}/datasets/small.zip"
    error = visit(tab, servers, url)
    assert error["rule"] == "network", error
    assert "network error" in tab.text_content("#error")
    picker_is_available(tab)
    # The picker still works after a failed link.
    open_file(tab, servers["site"] / "datasets" / "small.zip")


@pytest.mark.parametrize("length", [True, False])
def test_download_progress_in_bytes_and_percent(tab, servers, length):
    servers["cors"].gate.clear()  # the server sends half the file, then waits for the gate
    link = f"{servers['cors'].url}/slow/fixture.zip?length={int(length)}"
    tab.goto(f"{servers['page'].url}/index.html?d={quote(link, safe='')}")
    try:
        wait_for(tab, "window.ifealid?.state.loading?.bytes && window.ifealid.state.loading.done > 0")
        size = FIXTURE.stat().st_size
        text = tab.text_content("#progress-text")
        assert text.startswith("Downloading fixture.zip: ")
        value = tab.get_attribute("#progress-bar", "value")
        if length:
            assert f"of {size / 1e3:.0f} kB" in text and "%" in text, text
            assert 0 < float(value) < 1
        else:
            assert " of " not in text and "%" not in text and "kB" in text, text
            assert value is None  # indeterminate
    finally:
        servers["cors"].gate.set()
    wait_for(tab, SHOWN)
    expect_dataset(tab, FIXTURE)


def test_a_new_open_cancels_a_running_download(tab, servers):
    servers["cors"].gate.clear()
    link = f"{servers['cors'].url}/slow/fixture.zip?length=1"
    tab.goto(f"{servers['page'].url}/index.html?d={quote(link, safe='')}")
    wait_for(tab, "window.ifealid?.state.loading?.bytes && window.ifealid.state.loading.done > 0")
    tab.set_input_files("#file-input", str(servers["site"] / "datasets" / "small.zip"))
    servers["cors"].gate.set()
    wait_for(tab, SHOWN)
    expect_dataset(tab, servers["site"] / "datasets" / "small.zip")
    # A local file takes the link out of the address.
    assert "d=" not in urlparse(tab.url).query
