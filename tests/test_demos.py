"""The committed demo datasets: valid, small, made from real data; the run command prints their links."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import ifealid

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
    assert CNN.stat().st_size + TEXTURE.stat().st_size < 4e6


def test_serve_prints_the_demo_links(tmp_path):
    spec = importlib.util.spec_from_file_location("serve_for_demo_test", ROOT / "scripts" / "serve.py")
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    assert serve.demo_links(ROOT, "http://127.0.0.1:8000/") == [
        "http://127.0.0.1:8000/?d=demo-astronaut-efficientnet-lite0.zip",
        "http://127.0.0.1:8000/?d=demo-astronaut-texture.zip",
    ]
