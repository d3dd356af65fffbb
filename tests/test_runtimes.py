"""tests/runtimes.py, the `runtime` parametrisation: each variant runs where it says, in the
page's own worker with the modules the runtime's manifest lists, and a failure inside Pyodide
fails its item here with Pyodide's traceback."""
from __future__ import annotations

import base64
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from zipkit import dataset_entries, jpeg_bytes, random_values, zip_bytes

pytestmark = pytest.mark.runtimes
pytest_plugins = ("pytester",)

ROOT = Path(__file__).resolve().parents[1]


def test_each_variant_runs_where_it_says(runtime):
    assert (sys.platform == "emscripten") == (runtime == "pyodide")


def test_the_worker_loaded_only_the_manifests_modules(runtime):
    import ifealid

    listed = {f["path"][:-3] for f in json.loads((ROOT / "runtime" / "ifealid-manifest.json").read_text())["files"]}
    assert "browser" in listed and "extract" not in listed
    present = {name for name in ("cli", "extract", "__main__", *listed)
               if importlib.util.find_spec(f"ifealid.{name}" if name != "__init__" else "ifealid")}
    if runtime == "pyodide":  # the package the worker installed, from the manifest's files
        assert ifealid.__file__.startswith("/home/pyodide/")
        assert present == listed
    else:
        assert {"cli", "extract"} <= present


@pytest.mark.cpython_only("it starts an inner pytest session, which drives the worker from CPython")
@pytest.mark.browser  # drives headless Chromium
def test_a_failure_in_pyodide_fails_its_item_with_pyodides_traceback(pytester):
    pytester.makepyfile(test_inner='''
        import sys
        import pytest

        pytestmark = pytest.mark.runtimes


        def where():
            return sys.platform


        def test_platform():
            assert where() != "emscripten", "failing on purpose in " + where()
    ''')
    result = pytester.runpytest_inprocess("-p", "runtimes")
    result.assert_outcomes(passed=1, failed=1)  # [cpython] passes, [pyodide] fails
    text = result.stdout.str()
    # Pyodide's own report: the source line, the assertion's message and values, the file and line.
    expected = ["test_inner.py::test_platform[pyodide] failed in Pyodide (call)",
                '>       assert where() != "emscripten", "failing on purpose in " + where()',
                "E       AssertionError: failing on purpose in emscripten",
                "E        +  where 'emscripten' = where()",
                "test_inner.py:12: AssertionError"]
    positions = [text.find(line) for line in expected]
    assert -1 not in positions and positions == sorted(positions), text


@pytest.mark.cpython_only("it compares the worker's message with CPython's decode")
@pytest.mark.browser  # drives headless Chromium
def test_the_dataset_message_carries_the_python_info_as_it_is(pyodide_worker):
    from ifealid.browser import decode_for_worker

    data = zip_bytes(dataset_entries(random_values((3, 5, 6), 16), 16, name="n", overlay=jpeg_bytes(10, 6)))
    message = pyodide_worker.evaluate("(b64) => window.harness.decode(b64)", base64.b64encode(data).decode())
    expected = decode_for_worker(data)
    assert message["type"] == "dataset"
    assert message["info"] == expected["info"]  # the names the page uses, from Python, unchanged
    assert message["overlaySize"] == expected["overlaySize"] == [10, 6]
    assert message["layers"] == {"type": "Uint16Array", "length": expected["layers"].size}
    assert message["overlay"] == {"type": "Uint8Array", "length": len(expected["overlay"])}
    assert isinstance(message["decodeMs"], float)


@pytest.mark.cpython_only("it starts a worker of its own from CPython")
@pytest.mark.browser  # drives headless Chromium
def test_without_pytests_wheels_the_worker_says_how_to_get_them(monkeypatch, tmp_path):
    import runtimes

    monkeypatch.setattr(runtimes, "TEST_PACKAGES", tmp_path)  # an empty runtime/test-packages/
    worker = runtimes.PyodideWorker()
    try:
        assert "scripts/build_runtime.py --test-packages" in str(worker.broken)
    finally:
        worker.close()
