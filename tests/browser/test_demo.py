"""The built-in demos open from the start screen's buttons and from their ?d= links, and draw a
heat map that matches the float64 reference of the data."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

import ifealid
from ifealid import similarity as S
from pagekit import LAYERS_DIGEST_JS, SHOWN, read_canvas, read_map, wait_for

ROOT = Path(__file__).resolve().parents[2]
DEMOS = {
    "demo-cnn-button": "demo-astronaut-efficientnet-lite0.zip",
    "demo-texture-button": "demo-astronaut-texture.zip",
}


@pytest.fixture(scope="module")
def tab(open_module_page):
    return open_module_page()


def expect_heat_map(page, path: Path):
    assert page.evaluate("window.ifealid.state.error") is None
    assert page.evaluate("window.ifealid.records.shownAt") > 0  # the first full heat-map frame
    dataset = ifealid.load_dataset(path)
    assert page.evaluate(LAYERS_DIGEST_JS) == hashlib.sha256(dataset.layers.tobytes()).hexdigest()
    ref = page.evaluate("window.ifealid.view.state.reference")
    h, w, _ = dataset.shape
    got = read_map(page, (h, w))
    want = S.angular_similarity(dataset.as_float(np.float64), ref["x"], ref["y"])
    assert np.abs(got - want).max() <= 1e-4
    assert want.std() > 0.01  # a map with something to see
    # The canvas shows it: the frame is not one flat colour.
    pixels = read_canvas(page)
    assert pixels.reshape(-1, 4)[:, :3].std(axis=0).max() > 5


@pytest.mark.parametrize("button", DEMOS)
def test_demo_button_opens_the_demo_and_draws_a_heat_map(tab, base_url, button):
    tab.goto(f"{base_url}/index.html")
    tab.click(f"#{button}")
    wait_for(tab, SHOWN)
    expect_heat_map(tab, ROOT / "datasets" / DEMOS[button])
    assert tab.url.endswith(f"?d={DEMOS[button]}")  # the link to share


def test_demo_link_opens_at_once(tab, base_url):
    tab.goto(f"{base_url}/?d={DEMOS['demo-cnn-button']}")
    wait_for(tab, SHOWN)
    expect_heat_map(tab, ROOT / "datasets" / DEMOS["demo-cnn-button"])
    assert tab.text_content("#dataset-title").startswith("Astronaut: EfficientNet-Lite0")
