"""Recovery in the real page: a lost WebGL context comes back with the same heat map; a dataset
larger than the device allows is refused with a message saying what fits, and the app goes on."""
from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

from zipkit import dataset_entries, jpeg_bytes, random_values, zip_bytes
from tabs import open_tab

SHOWN = "window.ifealid.state.loading === null && (window.ifealid.state.shownAt !== null || window.ifealid.state.error)"
IDLE = """() => new Promise((resolve) => {
  const r = window.ifealid.explorer.renderer;
  const check = () => !r.idle
    ? requestAnimationFrame(check) : resolve();
  requestAnimationFrame(check);
})"""
READ_MAP = """() => {
  const a = window.ifealid.explorer.renderer.readSimilarity();
  let s = ''; const b = new Uint8Array(a.buffer);
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000));
  return btoa(s);
}"""
READ_CANVAS = """() => {
  const px = window.ifealid.explorer.renderer.readCanvas();
  let s = '';
  for (let i = 0; i < px.length; i += 0x8000) s += String.fromCharCode.apply(null, px.subarray(i, i + 0x8000));
  return btoa(s);
}"""


@pytest.fixture(scope="module")
def app(browser, base_url):
    with open_tab(browser, f"{base_url}/index.html") as page:
        yield page, page.errors


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    out = tmp_path_factory.mktemp("recovery")
    values = random_values((19, 23, 21), 16, seed=3)
    (out / "overlay16.zip").write_bytes(zip_bytes(dataset_entries(values, 16, name="recover me",
                                                                   overlay=jpeg_bytes(46, 38))))
    (out / "small8.zip").write_bytes(zip_bytes(dataset_entries(random_values((6, 7, 5), 8, seed=4), 8,
                                                               name="small")))
    (out / "wide32.zip").write_bytes(zip_bytes(dataset_entries(random_values((40, 60, 120), 32, seed=5), 32,
                                                               name="too big for the budget")))
    return out


def open_file(page, path: Path):
    page.evaluate("window.ifealid.state.error = null; window.ifealid.state.shownAt = null")
    page.set_input_files("#file-input", str(path))
    page.wait_for_function(SHOWN)
    page.evaluate(IDLE)
    return page.evaluate("window.ifealid.state.error")


def test_lost_webgl_context_comes_back_with_the_same_heat_map(app, datasets):
    page, errors = app
    assert open_file(page, datasets / "overlay16.zip") is None
    # A state worth restoring: a reference away from the centre, another colour map, zoomed.
    page.evaluate("""() => {
      const e = window.ifealid.explorer;
      e.hoverAt(...(() => { const p = e.renderer.pixelToCanvas(4.5, 3.5); return [p.x / e.dpr, p.y / e.dpr]; })());
      e.setColormap('viridis' in e.colormaps ? 'viridis' : Object.keys(e.colormaps).at(-1));
      e.setMetric('cosine');
    }""")
    page.evaluate(IDLE)
    view = page.evaluate("JSON.stringify(window.ifealid.state.view)")
    reference = page.evaluate("window.ifealid.explorer.renderer.reference")
    assert reference == {"x": 4, "y": 3}
    before_map = page.evaluate(READ_MAP)
    before_canvas = page.evaluate(READ_CANVAS)
    stats = page.evaluate("window.ifealid.explorer.renderer.stats()")

    page.evaluate("window.loseExt = window.ifealid.explorer.renderer.gl.getExtension('WEBGL_lose_context');"
                  "window.loseExt.loseContext()")
    page.wait_for_function("window.ifealid.explorer.renderer.isContextLost()")
    assert page.evaluate("window.ifealid.explorer.contextLosses") == 1
    assert "graphics context was lost" in page.text_content("#readout")
    page.evaluate("window.loseExt.restoreContext()")
    page.wait_for_function("window.ifealid.explorer.contextRestores === 1")
    page.evaluate(IDLE)

    # Re-uploaded from the DATASET message the page kept: the same objects, view and numbers.
    assert page.evaluate("window.ifealid.explorer.renderer.isContextLost()") is False
    after = page.evaluate("window.ifealid.explorer.renderer.stats()")
    after.pop("buffer"), stats.pop("buffer")  # pixel-pack buffers are pooled on demand
    assert after == stats
    assert page.evaluate("window.ifealid.explorer.renderer.reference") == reference
    assert page.evaluate("JSON.stringify(window.ifealid.state.view)") == view
    assert page.evaluate(READ_MAP) == before_map
    assert page.evaluate(READ_CANVAS) == before_canvas
    assert "graphics context was lost" not in page.text_content("#readout")
    # Still interactive, and the next file opens.
    page.evaluate("window.ifealid.explorer.hoverAt(5, 5)")
    assert open_file(page, datasets / "small8.zip") is None
    assert errors == []


def test_dataset_beyond_the_device_is_refused_and_the_app_goes_on(app, datasets):
    page, errors = app
    assert open_file(page, datasets / "small8.zip") is None
    # This device allows itself 1 MiB here: the 60×40×120 @ 32 bit dataset needs about 1.2 MB (16 bit too).
    budget = page.evaluate("() => { const l = window.ifealid.explorer.renderer.limits;"
                           " const old = l.memoryBudget; l.memoryBudget = 1024 ** 2; return old; }")
    try:
        error = open_file(page, datasets / "wide32.zip")
        assert error["rule"] == "gpu-limits", error
        text = page.text_content("#error")
        assert "wide32.zip: This dataset (60×40×120 @ 32 bit) needs about" in text
        assert "It would load at 8 bit" in text and "a crop of at most" in text
        # Nothing changed on screen: the dataset before is still shown and usable.
        assert page.text_content("#dataset-title") == "small"
        assert page.evaluate("window.ifealid.state.dataset.info.name") == "small"
        assert page.evaluate("window.ifealid.explorer.renderer.dataset.width") == 7
    finally:
        page.evaluate(f"window.ifealid.explorer.renderer.limits.memoryBudget = {budget}")
    assert open_file(page, datasets / "wide32.zip") is None
    assert page.text_content("#dataset-title") == "too big for the budget"
    assert errors == []
