"""Recovery in the real page: a lost WebGL context comes back with the same heat map; a dataset
larger than the device allows is refused with a message saying what fits, and the app goes on."""
from __future__ import annotations

from pathlib import Path

import pytest

from pagekit import READ_CANVAS_JS, READ_MAP_JS, TO_CANVAS_JS, open_file as choose_file, wait_for, wait_idle
from zipkit import dataset_entries, jpeg_bytes, random_values, zip_bytes

# The view state as text, the dataset by its info (its arrays would make megabytes of JSON; the
# test checks that the very same dataset object stays on screen).
VIEW_JS = "JSON.stringify({...window.ifealid.view.state, dataset: window.ifealid.view.state.dataset.info})"


@pytest.fixture(scope="module")
def page(open_module_page, base_url):
    return open_module_page(f"{base_url}/index.html")


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
    error = choose_file(page, path)
    wait_idle(page)
    return error


def test_lost_webgl_context_comes_back_with_the_same_heat_map(page, datasets):
    assert open_file(page, datasets / "overlay16.zip") is None
    # A state worth restoring: a reference away from the centre, another colour map, cosine.
    assert "viridis" in page.evaluate("[...document.querySelectorAll('#colormap option')].map((o) => o.value)")
    page.evaluate(f"""() => {{
      const e = window.ifealid.explorer, [x, y] = ({TO_CANVAS_JS})([4.5, 3.5]);
      e.hoverAt(x / e.dpr, y / e.dpr);
      window.ifealid.view.set({{colormap: 'viridis', metric: 'cosine'}});
      window.__shownDataset = window.ifealid.view.state.dataset;
    }}""")
    wait_idle(page)
    view = page.evaluate(VIEW_JS)
    reference = page.evaluate("window.ifealid.view.state.reference")
    assert reference == {"x": 4, "y": 3}
    before_map = page.evaluate(READ_MAP_JS)
    before_canvas = page.evaluate(READ_CANVAS_JS)
    stats = page.evaluate("window.ifealid.renderer.stats()")

    page.evaluate("window.loseExt = window.ifealid.renderer.gl.getExtension('WEBGL_lose_context');"
                  "window.loseExt.loseContext()")
    wait_for(page, "window.ifealid.renderer.isContextLost()")
    assert page.evaluate("window.ifealid.explorer.contextLosses") == 1
    assert "graphics context was lost" in page.text_content("#readout")
    page.evaluate("window.loseExt.restoreContext()")
    wait_for(page, "window.ifealid.explorer.contextRestores === 1")
    wait_idle(page)

    # Re-uploaded from the DATASET message the page kept: the same objects, view and numbers.
    assert page.evaluate("window.ifealid.renderer.isContextLost()") is False
    after = page.evaluate("window.ifealid.renderer.stats()")
    after.pop("buffer"), stats.pop("buffer")  # pixel-pack buffers are pooled on demand
    assert after == stats
    assert page.evaluate("window.ifealid.view.state.reference") == reference
    assert page.evaluate(VIEW_JS) == view
    assert page.evaluate("window.ifealid.view.state.dataset === window.__shownDataset")
    assert page.evaluate(READ_MAP_JS) == before_map
    assert page.evaluate(READ_CANVAS_JS) == before_canvas
    assert "graphics context was lost" not in page.text_content("#readout")
    # Still interactive, and the next file opens.
    page.evaluate("window.ifealid.explorer.hoverAt(5, 5)")
    assert open_file(page, datasets / "small8.zip") is None


def test_dataset_beyond_the_device_is_refused_and_the_app_goes_on(page, datasets):
    assert open_file(page, datasets / "small8.zip") is None
    # This device allows itself 1 MiB here: the 60×40×120 @ 32 bit dataset needs about 1.2 MB (16 bit too).
    budget = page.evaluate("() => { const l = window.ifealid.renderer.limits;"
                           " const old = l.memoryBudget; l.memoryBudget = 1024 ** 2; return old; }")
    try:
        error = open_file(page, datasets / "wide32.zip")
        assert error["rule"] == "gpu-limits", error
        text = page.text_content("#error")
        assert "wide32.zip: This dataset (60×40×120 @ 32 bit) needs about" in text
        assert "It would load at 8 bit" in text and "a crop of at most" in text
        # Nothing changed on screen: the dataset before is still shown and usable.
        assert page.text_content("#dataset-title") == "small"
        assert page.evaluate("window.ifealid.view.state.dataset.info.name") == "small"
        assert page.evaluate("window.ifealid.renderer.dataset.width") == 7
    finally:
        page.evaluate(f"window.ifealid.renderer.limits.memoryBudget = {budget}")
    assert open_file(page, datasets / "wide32.zip") is None
    assert page.text_content("#dataset-title") == "too big for the budget"
