"""The page's pure JavaScript modules (view model, layout, camera, phases, scheduler, formulas,
read-outs, formatters), tested in Node with its built-in test runner: tests/js/*.test.mjs.
Each Node test is one pytest item, so a failure names it."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted((ROOT / "tests" / "js").glob("*.test.mjs"))
_RESULTS: dict[Path, tuple[int, str]] = {}


def run(path: Path) -> tuple[int, str]:
    if path not in _RESULTS:
        node = shutil.which("node")
        assert node, "node is needed for the JavaScript unit tests"
        done = subprocess.run([node, "--test", "--test-reporter=tap", str(path)], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        _RESULTS[path] = (done.returncode, done.stdout + done.stderr)
    return _RESULTS[path]


def test_every_module_has_its_tests_found():
    assert len(FILES) >= 8


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_js_module(path):
    code, out = run(path)
    passed = re.search(r"^# pass (\d+)", out, re.M)
    failed = re.findall(r"^not ok \d+ - (.*)$", out, re.M)
    assert code == 0 and not failed, f"failed: {failed}\n{out[-4000:]}"
    assert passed and int(passed.group(1)) > 0, out[-2000:]
