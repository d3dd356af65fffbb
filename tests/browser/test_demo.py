"""The built-in demos open from the start screen's buttons and from their ?d= links, and draw a
heat map that matches the float64 reference of the data."""
from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import numpy as np
import pytest

import ifealid
from ifealid import similarity as S
from tabs import READY

ROOT = Path(__file__).resolve().parents[2]
SETTLED = ("window.ifealid && window.ifealid.state.loading === null"
           " && (window.ifealid.state.shownAt !== null || window.ifealid.state.error !== null)")
DEMOS = {
    "demo-cnn-button": "demo-astronaut-efficientnet-lite0.zip",
    "demo-texture-button": "demo-astronaut-texture.zip",
}


@pytest.fixture(scope="module")
def tab(browser):
    context = browser.new_context(viewport={"width": 900, "height": 600})
    page = context.new_page()
    page.set_default_timeout(90_000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == []


def similarity_map(page, shape) -> np.ndarray:
    raw = page.evaluate("""() => {
      const a = window.ifealid.explorer.renderer.readSimilarity();
      let s = ''; const b = new Uint8Array(a.buffer);
      for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000));
      return btoa(s);
    }""")
    return np.frombuffer(base64.b64decode(raw), dtype="<f4").reshape(shape).astype(np.float64)


def expect_heat_map(page, path: Path):
    assert page.evaluate("window.ifealid.state.error") is None
    assert page.evaluate("window.ifealid.state.shownAt") > 0  # the first full heat-map frame
    dataset = ifealid.load_dataset(path)
    digest = page.evaluate("""async () => [...new Uint8Array(await crypto.subtle.digest('SHA-256',
        window.ifealid.state.dataset.layers))].map((b) => b.toString(16).padStart(2, '0')).join('')""")
    assert digest == hashlib.sha256(dataset.layers.tobytes()).hexdigest()
    ref = page.evaluate("window.ifealid.explorer.renderer.reference")
    h, w, _ = dataset.shape
    got = similarity_map(page, (h, w))
    want = S.angular_similarity(dataset.as_float(np.float64), ref["x"], ref["y"])
    assert np.abs(got - want).max() <= 1e-4
    assert want.std() > 0.01  # a map with something to see
    # The canvas shows it: the frame is not one flat colour.
    pixels = np.array(page.evaluate("Array.from(window.ifealid.explorer.renderer.readCanvas())"), dtype=np.uint8)
    assert pixels.reshape(-1, 4)[:, :3].std(axis=0).max() > 5


@pytest.mark.parametrize("button", DEMOS)
def test_demo_button_opens_the_demo_and_draws_a_heat_map(tab, base_url, button):
    tab.goto(f"{base_url}/index.html")
    tab.click(f"#{button}")
    tab.wait_for_function(SETTLED)
    expect_heat_map(tab, ROOT / "datasets" / DEMOS[button])
    assert tab.url.endswith(f"?d={DEMOS[button]}")  # the link to share


def test_demo_link_opens_at_once(tab, base_url):
    tab.goto(f"{base_url}/?d={DEMOS['demo-cnn-button']}")
    tab.wait_for_function(SETTLED)
    expect_heat_map(tab, ROOT / "datasets" / DEMOS["demo-cnn-button"])
    assert tab.text_content("#dataset-title").startswith("Astronaut: EfficientNet-Lite0")
