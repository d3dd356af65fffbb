"""The Python core's tests, run in CPython and in Pyodide inside the page's own worker: one source.

A test module opts in with ``pytestmark = pytest.mark.runtimes``. Each of its tests then takes a
``runtime`` parameter, ``cpython`` or ``pyodide``, as pytest-pyodide's do, and the same function runs
in both: ``[cpython]`` here, as any test; ``[pyodide]`` inside the Web Worker that the app starts
(pyworker/worker.js, with the ifealid modules it loads by the runtime's manifest), in headless
Chromium, under real pytest (8.1.1, Pyodide 0.27.7's version, from runtime/test-packages/, which
`scripts/build_runtime.py --test-packages` puts there). The first [pyodide] item of a module runs
all of that module's selected [pyodide] items there at once; each item then reports its own outcome
here, a failure with the traceback from Pyodide. One browser and one worker serve the whole session,
and the sources go in once. No network: the files come from this machine's static server.

A test that cannot run in Pyodide says why with ``@pytest.mark.cpython_only("why")`` and runs as
``[cpython]`` only. The ``runtime`` fixture tells any test where it runs (``cpython`` elsewhere).

This module is loaded by tests/conftest.py here, and by the runner inside Pyodide, where only the
parametrisation and run_here() are used.
"""
from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import importlib.util
import io
import json
import os
import queue
import sys
import threading
import time
from pathlib import Path

import pytest

HERE = "pyodide" if sys.platform == "emscripten" else "cpython"
RUNTIMES = ("cpython", "pyodide")
ROOT = Path(__file__).resolve().parents[1]

# Shipped beside the test modules: data they read (the fixtures tests/conftest.py globs at import,
# the manifest tests/test_runtimes.py compares the worker's package with).
DATA_GLOBS = ("tests/fixtures/original/*.zip", "runtime/ifealid-manifest.json")
# app/ modules the worker does not load (the manifest lists what the browser runs) but the tests
# import: the float64 reference maths, against which the tests check the page's similarity.
TEST_ONLY_APP_MODULES = ("similarity.py",)
TEST_PACKAGES = ROOT / "runtime" / "test-packages"
HARNESS = "tests/browser/worker_harness.html"
BOOT_TIMEOUT_S = 300      # Chromium, Python, numpy and Pillow on a busy 2-core machine
RUN_TIMEOUT_S = 900       # one module's tests
PYODIDE_HOME = "/home/pyodide/ifealid-tests"  # in the worker's file system


# ------------------------------------------------------------------ the parametrisation (both sides)

def pytest_configure(config):
    config.addinivalue_line("markers", "runtimes: run each test of the module in CPython and in Pyodide, "
                                       "in the page's worker (tests/runtimes.py)")
    config.addinivalue_line("markers", "cpython_only(why): a test of a `runtimes` module that cannot run "
                                       "in Pyodide, and why")


@pytest.fixture(autouse=True)
def runtime(request) -> str:
    """Where this test runs: 'cpython' or 'pyodide'."""
    return getattr(request, "param", HERE)


@pytest.hookimpl(tryfirst=True)  # first, so that the runtime leads every parameter id: [pyodide-8-1]
def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("runtimes") is None:
        return
    cpython_only = metafunc.definition.get_closest_marker("cpython_only")
    if cpython_only is not None:
        if not cpython_only.args:
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: cpython_only needs the reason it cannot run in Pyodide")
        params = ("cpython",)
    else:
        # In Pyodide only the [pyodide] items are asked for; their ids must be the ones here.
        params = RUNTIMES if HERE == "cpython" else ("pyodide",)
    metafunc.parametrize("runtime", params, indirect=True)


def _runtime_of(item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("runtime") if callspec else None


def _delegated(item) -> bool:
    return HERE == "cpython" and _runtime_of(item) == "pyodide"


# ------------------------------------------------------------------ CPython: [pyodide] items

class PyodideFailure(Exception):
    """A test that failed inside Pyodide; its text is what pytest reported there."""


_RESULTS = pytest.StashKey[dict]()
_TIMES = pytest.StashKey[dict]()


def pytest_collection_modifyitems(items):
    for item in items:
        if _delegated(item):
            item.add_marker(pytest.mark.browser)  # it drives headless Chromium: `-m "not browser"` leaves it out


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    if not _delegated(pyfuncitem):
        return None
    phases = _pyodide_result(pyfuncitem)
    for phase in phases:
        if phase["outcome"] == "failed":
            raise PyodideFailure(_describe_failure(pyfuncitem, phase))
    call = next((p for p in phases if p["when"] == "call"), None)
    if call is not None and call["outcome"] == "skipped":
        pytest.skip(f"in Pyodide: {call['longrepr']}")
    return True  # ran there; nothing to run here


def _describe_failure(item, phase) -> str:
    text = [f"{item.nodeid} failed in Pyodide ({phase['when']}), in the page's worker:", "", phase["longrepr"]]
    for title, content in phase["sections"]:
        text += ["", f"{'-' * 20} {title} (Pyodide) {'-' * 20}", content.rstrip()]
    return "\n".join(text)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if call.excinfo is not None and call.excinfo.errisinstance(PyodideFailure):
        report.longrepr = str(call.excinfo.value)  # Pyodide's traceback, not this module's frames
    return report


def _pyodide_result(item) -> list[dict]:
    results = item.config.stash.setdefault(_RESULTS, {})
    if item.nodeid not in results:
        # This module's selected [pyodide] items, in one pytest run in the worker.
        batch = [i for i in item.session.items if i.path == item.path and _delegated(i) and i.nodeid not in results]
        outcome = _worker(item.config).run_tests(item.session, batch)
        times = item.config.stash.setdefault(_TIMES, {"tests": 0.0, "ship": 0.0, "count": 0})
        times["tests"] += outcome["run_s"]
        times["ship"] += outcome["ship_s"]
        times["count"] += len(batch)
        for i in batch:
            results[i.nodeid] = outcome["reports"].get(i.nodeid) or [{
                "when": "collect", "outcome": "failed", "sections": [], "longrepr": _not_run(i, outcome)}]
    return results[item.nodeid]


def _not_run(item, outcome) -> str:
    function = item.nodeid.split("[", 1)[0]
    ids = [nodeid for nodeid in outcome["collected"] if nodeid.split("[", 1)[0] == function]
    return "\n".join([
        "pytest in Pyodide has no test of this id, so it did not run.",
        *([f"Its ids for {function}: {', '.join(n[len(function):] for n in ids)} (pytest {outcome['pytest']} "
           "there; an id pytest writes differently in another version, such as one made from a value of "
           "over 100 characters, needs an explicit id)"] if ids else []),
        *outcome["errors"],
        f"Its output:\n{outcome['output']}",
    ])


def pytest_terminal_summary(terminalreporter, config):
    times = config.stash.get(_TIMES, None)
    if times and _WORKER is not None:
        terminalreporter.write_line(
            f"Pyodide leg: {times['count']} tests in {times['tests']:.1f} s, after {_WORKER.boot_s:.1f} s to start "
            f"Chromium and the worker (pytest included) and {times['ship']:.1f} s to send the sources")


_WORKER: PyodideWorker | None = None


@pytest.fixture(scope="session")
def pyodide_worker(request) -> PyodideWorker:
    """The worker the [pyodide] items run in, for tests that talk to it themselves."""
    return _worker(request.config)


def _worker(config) -> PyodideWorker:
    """The process's one worker (an in-process pytester session uses it too). One that failed to
    start is not started again: every [pyodide] item fails at once with the reason."""
    global _WORKER
    if _WORKER is None or _WORKER.closed:
        _WORKER = PyodideWorker()
        config.add_cleanup(_WORKER.close)
    if _WORKER.broken is not None:
        raise RuntimeError(f"the Pyodide worker is not running: {_WORKER.broken}")
    return _WORKER


def _load_file_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class PyodideWorker:
    """Headless Chromium with one page, tests/browser/worker_harness.html, which starts the app's
    worker; runs code in that worker's Python. Playwright's sync API allows one instance per thread
    (the browser tests hold one in the main thread), so this one lives in a thread of its own, and
    every call is a job for that thread."""

    def __init__(self):
        self.broken: BaseException | None = None
        self.closed = False
        self.boot_s = 0.0
        self._jobs: queue.Queue = queue.Queue()
        self._roots: dict[Path, str] = {}
        self._shipped: set[tuple[Path, str]] = set()
        self._booted = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._serve, name="pyodide-worker", daemon=True)
        self._thread.start()
        try:
            self._booted.result(timeout=BOOT_TIMEOUT_S)
        except BaseException as exc:  # noqa: BLE001 - kept, and reported by every item that needs it
            self.broken = exc

    def _serve(self):
        server = None
        try:
            from playwright.sync_api import sync_playwright

            # One definition of how Chromium is launched here, and of the static server: the browser
            # tests' (loaded as scripts/benchmark.py does; it imports its helpers from its folder).
            browser_tests = str(ROOT / "tests" / "browser")
            if browser_tests not in sys.path:
                sys.path.append(browser_tests)
            browser_conftest = _load_file_module("ifealid_browser_conftest", ROOT / "tests" / "browser" / "conftest.py")
            server = browser_conftest._load_serve_module().make_server(ROOT, port=0)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            base = f"http://127.0.0.1:{server.server_address[1]}"
            started = time.perf_counter()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=browser_conftest.CHROMIUM, headless=True,
                                                     args=browser_conftest.CHROMIUM_ARGS)
                page = browser.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                with page.expect_worker(timeout=BOOT_TIMEOUT_S * 1000) as worker_info:
                    page.goto(f"{base}/{HARNESS}")
                worker = worker_info.value
                page.wait_for_function("window.harness && (window.harness.ready || window.harness.failed)",
                                       timeout=BOOT_TIMEOUT_S * 1000)
                failed = page.evaluate("window.harness.failed")
                if failed:
                    raise RuntimeError(f"the worker did not start: {failed} {errors}")
                self._install(worker, base)
                self.boot_s = time.perf_counter() - started
                self._booted.set_result(True)
                while (job := self._jobs.get()) is not None:
                    fn, future = job
                    try:
                        future.set_result(fn(page, worker))
                    except BaseException as exc:  # noqa: BLE001 - handed to the caller
                        future.set_exception(exc)
                browser.close()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            if not self._booted.done():
                self._booted.set_exception(exc)
            self.broken = exc
            while True:  # fail whatever still waits
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    job[1].set_exception(RuntimeError(f"the Pyodide worker is gone: {exc}"))
        finally:
            if server is not None:
                server.shutdown()
                server.server_close()

    def _call(self, fn, timeout: float):
        if self.broken is not None:
            raise RuntimeError(f"the Pyodide worker is gone: {self.broken}")
        future = concurrent.futures.Future()
        self._jobs.put((fn, future))
        return future.result(timeout=timeout)

    def close(self):
        self.closed = True
        self._jobs.put(None)
        self._thread.join(timeout=60)

    def _install(self, worker, base: str):
        """pytest's wheels into the worker's site-packages, and this module onto its path."""
        wheels = sorted(p.name for p in TEST_PACKAGES.glob("*.whl"))
        if not any(name.startswith("pytest-") for name in wheels):
            raise RuntimeError(f"no pytest wheel in {TEST_PACKAGES}: run `scripts/build_runtime.py --test-packages` "
                               "(scripts/test does)")
        support = f"{PYODIDE_HOME}/support"
        worker.evaluate(INSTALL_JS, {
            "wheels": [f"{base}/runtime/test-packages/{name}" for name in wheels],
            "files": [[f"{support}/runtimes.py", _b64(Path(__file__).read_bytes())]],
            "python": INSTALL_PY.replace("SUPPORT", repr(support)),
        })

    def evaluate(self, js: str, arg=None, timeout: float = RUN_TIMEOUT_S):
        """page.evaluate on the harness page (its window.harness talks to the worker)."""
        return self._call(lambda page, worker: page.evaluate(js, arg), timeout)

    def run_tests(self, session, items) -> dict:
        root = Path(session.config.rootpath)
        sources = self._sources(session, root)

        def job(page, worker):
            started = time.perf_counter()
            if root not in self._roots:
                self._roots[root] = f"{PYODIDE_HOME}/{len(self._roots)}"
            where = self._roots[root]
            fresh = [(target, path) for target, path in sources if (root, target) not in self._shipped]
            if fresh:  # each file once per session
                worker.evaluate(WRITE_JS, [[target if target.startswith("package:") else f"{where}/{target}",
                                            _b64(path.read_bytes())] for target, path in fresh])
                self._shipped.update((root, target) for target, _ in fresh)
            shipped = time.perf_counter()
            outcome = json.loads(worker.evaluate(RUN_JS, {
                "root": where, "paths": sorted({i.path.relative_to(root).as_posix() for i in items}),
                "nodeids": [i.nodeid for i in items]}))
            return {**outcome, "ship_s": shipped - started, "run_s": time.perf_counter() - shipped}

        return self._call(job, RUN_TIMEOUT_S)

    @staticmethod
    def _sources(session, root: Path) -> list[tuple[str, Path]]:
        """(where, file) of what the [pyodide] items need: a path relative to the root, or
        "package:NAME" for the test-only app modules."""
        paths: set[Path] = set()
        for item in session.items:
            if not _delegated(item):
                continue
            paths.add(item.path)
            folder = item.path.parent
            paths.update(p for p in folder.glob("*.py") if not p.name.startswith("test_") and p.name != "runtimes.py")
            while folder != root and root in folder.parents:  # the conftest.py files up to the root
                paths.update(folder.glob("conftest.py"))
                folder = folder.parent
        if session.config.inipath and root in session.config.inipath.parents:
            paths.add(session.config.inipath)
        for pattern in DATA_GLOBS:
            paths.update(root.glob(pattern))
        return sorted((p.relative_to(root).as_posix(), p) for p in paths) + \
            [(f"package:{name}", ROOT / "app" / name) for name in TEST_ONLY_APP_MODULES]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# In the worker (self.ifealid.pyodide is its Python). Wheels come from the static server; other
# files are passed as base64 (the tests' files may live outside the served folder).
INSTALL_JS = """async ({ wheels, files, python }) => {
  const py = self.ifealid.pyodide;
  py.FS.mkdirTree('/tmp/wheels');
  for (const url of wheels) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    py.FS.writeFile('/tmp/wheels/' + url.split('/').pop(), new Uint8Array(await response.arrayBuffer()));
  }
  for (const [path, data] of files) {
    py.FS.mkdirTree(path.replace(/\\/[^/]*$/, ''));
    py.FS.writeFile(path, Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
  }
  py.runPython(python);
}"""

INSTALL_PY = """
import glob, importlib, site, sys, zipfile
for wheel in sorted(glob.glob('/tmp/wheels/*.whl')):
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site.getsitepackages()[0])
sys.path.insert(0, SUPPORT)
importlib.invalidate_caches()
"""

# "package:NAME" goes into the ifealid package the worker imported, beside the manifest's modules.
WRITE_JS = """(files) => {
  const py = self.ifealid.pyodide;
  const packageDir = py.runPython('import os, ifealid; os.path.dirname(ifealid.__file__)');
  for (const [target, data] of files) {
    const path = target.startsWith('package:') ? `${packageDir}/${target.slice(8)}` : target;
    py.FS.mkdirTree(path.replace(/\\/[^/]*$/, ''));
    py.FS.writeFile(path, Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
  }
  py.runPython('import importlib; importlib.invalidate_caches()');
}"""

RUN_JS = """({ root, paths, nodeids }) => {
  const runtimes = self.ifealid.pyodide.pyimport('runtimes');
  try {
    return runtimes.run_here(root, JSON.stringify(paths), JSON.stringify(nodeids));
  } finally {
    runtimes.destroy();
  }
}"""


# ------------------------------------------------------------------ Pyodide: the run

class _Collector:
    """Runs only the wanted tests of the modules collected (a test id this pytest does not know is
    then reported as such, rather than stopping the run), and keeps every phase's report by test
    id, as data that crosses into JavaScript and back."""

    def __init__(self, wanted: set[str]):
        self.wanted = wanted
        self.collected: list[str] = []
        self.reports: dict[str, list[dict]] = {}
        self.errors: list[str] = []

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items):
        self.collected = [item.nodeid for item in items]
        config.hook.pytest_deselected(items=[item for item in items if item.nodeid not in self.wanted])
        items[:] = [item for item in items if item.nodeid in self.wanted]

    def pytest_runtest_logreport(self, report):
        self.reports.setdefault(report.nodeid, []).append({
            "when": report.when, "outcome": report.outcome, "longrepr": report.longreprtext,
            "sections": [list(section) for section in report.sections],
        })

    def pytest_collectreport(self, report):
        if report.failed:
            self.errors.append(f"collecting {report.nodeid or 'the tests'} failed:\n{report.longreprtext}")


def run_here(root: str, paths_json: str, nodeids_json: str) -> str:
    """Run these tests of these modules with pytest in this interpreter (Pyodide's); JSON of the
    reports."""
    collector = _Collector(set(json.loads(nodeids_json)))
    output = io.StringIO()
    os.chdir(root)
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        code = pytest.main(["-q", "-p", "no:cacheprovider", "--rootdir", root, *json.loads(paths_json)],
                           plugins=[sys.modules[__name__], collector])
    return json.dumps({"exit": int(code), "pytest": pytest.__version__, "collected": collector.collected,
                       "reports": collector.reports, "errors": collector.errors,
                       "output": output.getvalue()[-20_000:]})
