"""scripts/benchmark.py without a browser: a dataset the page refuses (the device's limits, the
memory budget) is recorded with the page's message and reported, not a crash; the large rows
are opt-in; the load table separates a first visit from repeat visits."""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MESSAGE = ("This dataset (512×512×2048 @ 8 bit) needs about 2.3 GB of GPU memory, more than the "
           "2.15 GB IFeaLiD allows itself on this device.")


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    # The script imports the browser tests' conftest as `conftest`, a name this run's own
    # tests/conftest.py holds: lend it the browser one while the script loads.
    browser_tests = str(ROOT / "tests" / "browser")
    if browser_tests not in sys.path:
        sys.path.append(browser_tests)
    saved = sys.modules.get("conftest")
    sys.modules["conftest"] = _load("ifealid_browser_conftest", ROOT / "tests" / "browser" / "conftest.py")
    try:
        return _load("ifealid_benchmark", ROOT / "scripts" / "benchmark.py")
    finally:
        if saved is None:
            del sys.modules["conftest"]
        else:
            sys.modules["conftest"] = saved


class FakePage:
    def __init__(self, result):
        self.result, self.closed = result, False

    def set_default_timeout(self, ms): pass
    def goto(self, url, wait_until=None): pass
    def wait_for_function(self, expression, polling=None): pass
    def evaluate(self, script): return self.result
    def close(self): self.closed = True


class FakeContext:
    def __init__(self, page):
        self.page = page

    def new_page(self):
        return self.page


def test_a_refused_load_raises_refused_with_the_pages_message(bench):
    page = FakePage({"error": MESSAGE})
    with pytest.raises(bench.Refused, match="needs about 2.3 GB"):
        bench.load(FakeContext(page), "http://127.0.0.1/index.html?d=bench/x.zip")
    assert page.closed


def test_a_refused_row_is_summarised_and_reported_with_its_message(bench, tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "BENCH_DIR", tmp_path)
    spec = next(s for s in bench.DATASETS if s.key == "512x512x2048-8")
    spec.path.write_bytes(b"0" * 1024)
    acc = bench.new_accumulator()
    acc.update(refused=MESSAGE, chromium="156")
    acc["peaks"].append((2**30, 2**29, 5))
    row = bench.summarize(spec, acc)
    assert row["refused"] == MESSAGE
    args = argparse.Namespace(argv=["--large"], boost=0, renderer_sync=False, runs=1, moves=12, motion=2.0)
    machine = {"cpu": "test CPU", "cores": 2, "arch": "x86_64", "ram_gib": 23.5, "load": (1.0, 1.0, 1.0)}
    text = bench.report([row], machine, args, 60.0)
    assert f"| 512×512×2048 @8 synthetic | 0.0 | refused: {MESSAGE} |" in text
    assert "load: first visit (cold) / repeat (cached) / 3rd s" in text


def test_the_large_rows_are_opt_in(bench):
    large = {s.key for s in bench.DATASETS if s.opt_in}
    assert large == {"512x512x1024-8", "1024x1024x512-8", "512x512x2048-8", "512x9216x32-8"}
    shapes = {(s.height, s.width, s.features, s.precision) for s in bench.DATASETS if s.opt_in}
    assert shapes == {(512, 512, 1024, 8), (1024, 1024, 512, 8), (512, 512, 2048, 8), (512, 9216, 32, 8)}
    # The tiled row is wider than SwiftShader's largest texture (8192), so the page draws it in tiles.
    assert max(s.width for s in bench.DATASETS if s.key == "512x9216x32-8") > 8192
