"""The committed demo datasets: valid, small, made from real data; the run command prints their links."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import ifealid
from test_range import originals_checks

ROOT = Path(__file__).resolve().parent.parent
CNN = ROOT / "datasets" / "demo-astronaut-efficientnet-lite0.zip"
TEXTURE = ROOT / "datasets" / "demo-astronaut-texture.zip"


def test_demos_are_valid_small_datasets_with_the_photo():
    cnn, texture = ifealid.load_dataset(CNN), ifealid.load_dataset(TEXTURE)
    assert cnn.shape == (64, 64, 112) and "EfficientNet-Lite0" in cnn.name
    assert texture.shape == (256, 256, 72) and "multiscale basic features" in texture.name
    for dataset in (cnn, texture):
        assert dataset.overlay_size == (512, 512)
        assert dataset.values().std() > 1  # not a constant array
        lo, hi = dataset.range  # they carry the range they were quantised from: true values too
        assert lo < 0 < hi  # signed features (a linear bottleneck; texture filters' edges)
    for path in (CNN, TEXTURE):
        originals_checks(path.read_bytes())  # and still open in the original app
    assert CNN.stat().st_size + TEXTURE.stat().st_size < 4e6


def test_serve_prints_the_demo_links(tmp_path):
    spec = importlib.util.spec_from_file_location("serve_for_demo_test", ROOT / "scripts" / "serve.py")
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    assert serve.demo_links(ROOT, "http://127.0.0.1:8000/") == [
        "http://127.0.0.1:8000/?d=demo-astronaut-efficientnet-lite0.zip#values=centred&metric=cosine",
        "http://127.0.0.1:8000/?d=demo-astronaut-texture.zip#values=centred&metric=cosine",
    ]


def test_the_demo_buttons_open_the_views_the_links_do():
    """index.html's demo buttons carry the fragments scripts/serve.py prints: one view per demo."""
    from html.parser import HTMLParser

    spec = importlib.util.spec_from_file_location("serve_for_demo_buttons", ROOT / "scripts" / "serve.py")
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    buttons = {}

    class Buttons(HTMLParser):
        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "button" and a.get("data-link", "").startswith("demo-"):
                buttons[a["data-link"]] = a.get("data-view")

    Buttons().feed((ROOT / "index.html").read_text())
    assert buttons == serve.DEMO_VIEWS
