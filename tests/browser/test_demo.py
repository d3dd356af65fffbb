"""The built-in demos open from the start screen's buttons and from their ?d= links, and draw a
heat map that matches the float64 reference of the data."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

import ifealid
from ifealid import similarity as S
from pagekit import LAYERS_DIGEST_JS, SHOWN, read_canvas, read_map, wait_for, wait_idle

ROOT = Path(__file__).resolve().parents[2]
DEMOS = {
    "demo-cnn-button": "demo-astronaut-efficientnet-lite0.zip",
    "demo-texture-button": "demo-astronaut-texture.zip",
}


@pytest.fixture(scope="module")
def tab(open_module_page):
    return open_module_page()


def expect_heat_map(page, path: Path, values="stored", metric="angular"):
    assert page.evaluate("window.ifealid.state.error") is None
    assert page.evaluate("window.ifealid.records.shownAt") > 0  # the first full heat-map frame
    dataset = ifealid.load_dataset(path)
    assert page.evaluate(LAYERS_DIGEST_JS) == hashlib.sha256(dataset.layers.tobytes()).hexdigest()
    wait_for(page, f"window.ifealid.view.state.values === '{values}' && window.ifealid.view.state.metric === '{metric}'")
    wait_idle(page)
    ref = page.evaluate("window.ifealid.view.state.reference")
    h, w, _ = dataset.shape
    got = read_map(page, (h, w))
    want = ifealid.similarity_map(dataset, refs=[(ref["x"], ref["y"])], metric=metric, values=values)
    assert np.abs(got - want).max() <= 1e-5
    if values == "stored" and metric == "angular":  # the round-1 reference agrees
        assert np.abs(got - S.angular_similarity(dataset.as_float(np.float64), ref["x"], ref["y"])).max() <= 1e-4
    assert want.std() > 0.01  # a map with something to see
    # The canvas shows it: the frame is not one flat colour.
    pixels = read_canvas(page)
    assert pixels.reshape(-1, 4)[:, :3].std(axis=0).max() > 5


@pytest.mark.parametrize("button", DEMOS)
def test_demo_button_opens_the_demo_and_draws_a_heat_map(tab, base_url, button):
    tab.goto(f"{base_url}/index.html")
    tab.click(f"#{button}")
    wait_for(tab, SHOWN)
    # Each demo opens in the view that shows its structure best (README, "The demos").
    expect_heat_map(tab, ROOT / "datasets" / DEMOS[button], values="centred", metric="cosine")
    wait_for(tab, "location.hash === '#values=centred&metric=cosine'")  # the link to share
    assert tab.evaluate("location.href").endswith(f"?d={DEMOS[button]}#values=centred&metric=cosine")


def test_demo_link_opens_at_once(tab, base_url):
    tab.goto(f"{base_url}/?d={DEMOS['demo-cnn-button']}")  # a plain link: the stored values' angular map
    wait_for(tab, SHOWN)
    expect_heat_map(tab, ROOT / "datasets" / DEMOS["demo-cnn-button"])
    assert tab.text_content("#dataset-title").startswith("Astronaut: EfficientNet-Lite0")
