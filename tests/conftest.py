import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))  # tests import zipkit as a plain module

# The `runtime` parametrisation: modules marked `runtimes` run in CPython and in the worker's Pyodide.
pytest_plugins = ("runtimes",)

FIXTURES = TESTS / "fixtures" / "original"
ORIGINAL_EXAMPLES = sorted(FIXTURES.glob("*.zip"))


@pytest.fixture(params=ORIGINAL_EXAMPLES, ids=lambda p: p.name)
def original_example(request) -> Path:
    return request.param
