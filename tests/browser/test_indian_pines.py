"""The hyperspectral demo through the page: Indian Pines (AVIRIS, 200 bands; the `tensorly`
wheel's cube and ground truth). For a pixel of each of a few large classes, the map the page
computes in the demo's view is on average higher over the pixel's own class than over the other
labelled classes; the page's map is the float64 reference's; the chart speaks in wavelengths."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import ifealid
from pagekit import SHOWN, wait_for, wait_idle

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import make_demos  # noqa: E402
from serve import DEMO_VIEWS  # noqa: E402

DEMO = "demo-indian-pines.zip"
LARGE_CLASSES = (2, 10, 11, 14)  # corn-notill, soybean-notill, soybean-mintill, woods: 1428, 972, 2455, 1265 pixels


@pytest.fixture(scope="module")
def truth():
    return make_demos.indian_pines()[1]


def read_map(page) -> np.ndarray:
    out = page.evaluate("""() => { const m = window.ifealid.readMap();
      return {w: m.width, h: m.height, v: Array.from(m.values)}; }""")
    return np.array(out["v"], dtype=np.float64).reshape(out["h"], out["w"])


def test_each_pixel_is_more_like_its_own_class(open_page, base_url, truth):
    page = open_page(f"{base_url}/index.html", viewport=(1000, 700))
    page.click("#demo-pines-button")  # the start screen's button, in the demo's view
    wait_for(page, SHOWN)
    assert page.evaluate("window.ifealid.state.error") is None
    view = dict(part.split("=") for part in DEMO_VIEWS[DEMO].split("&"))
    assert page.evaluate("[window.ifealid.view.state.values, window.ifealid.view.state.metric]") == [
        view["values"], view["metric"]]
    dataset = ifealid.load_dataset(ROOT / "datasets" / DEMO)
    rng = np.random.default_rng(17)
    labelled = truth > 0
    for label in LARGE_CLASSES:
        y, x = (int(v) for v in np.argwhere(truth == label)[rng.integers((truth == label).sum())])
        page.evaluate("([x, y]) => window.ifealid.view.set({reference: {x, y}, locked: true})", [x, y])
        wait_idle(page)
        got = read_map(page)
        own = got[truth == label].mean()
        others = got[labelled & (truth != label)].mean()
        assert own > others, (label, x, y, own, others)
        if label == LARGE_CLASSES[0]:
            want = ifealid.similarity_map(dataset, refs=[(x, y)], metric=view["metric"], values=view["values"])
            assert np.abs(got - want).max() <= 1e-5
    ticks = page.evaluate("window.ifealid.explorer.panels.chart.ticks")
    assert ticks[0] == {"k": 0, "text": "400.02 nm"} and ticks[-1]["k"] == 199
    # The data's attribution on the page.
    assert "CC BY 3.0" in page.text_content("#start") and "doi:10.4231/R7RX991C" in page.text_content("#start")
