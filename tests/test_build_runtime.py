"""scripts/build_runtime.py, run for real in a subprocess against temporary folders.

One good build per session (the registry source reuses the 77 MB download
cached in .cache/wheel-source/); the other tests take the wheels from that
build as a local-folder source, so nothing is downloaded twice.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "build_runtime.py"
CORE_FILES = ["pyodide.js", "pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm",
              "python_stdlib.zip", "pyodide-lock.json"]


def run_build(*args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k != "IFEALID_WHEELS_FROM"}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)],
                          capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                          timeout=600)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


@pytest.fixture(scope="session")
def good_build(tmp_path_factory) -> Path:
    """A complete runtime built with the default wheel source (honours IFEALID_WHEELS_FROM)."""
    parent = tmp_path_factory.mktemp("good")
    # As in the repository: a package.json that makes .js files ES modules for Node.js
    # must not stop the build from running the core under Node.js.
    (parent / "package.json").write_text('{"type": "module"}\n')
    out = parent / "runtime"
    env = {"IFEALID_WHEELS_FROM": os.environ["IFEALID_WHEELS_FROM"]} \
        if os.environ.get("IFEALID_WHEELS_FROM") else None
    result = run_build("--out", out, env_extra=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.fixture(scope="session")
def wheel_entries(good_build) -> dict[str, dict]:
    lock = json.loads((good_build / "pyodide-lock.json").read_text())
    return {name: lock["packages"][name] for name in ("numpy", "pillow")}


@pytest.fixture
def wheel_folder(good_build, wheel_entries, tmp_path) -> Path:
    """A local-folder wheel source holding good copies of the numpy and Pillow wheels."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    for entry in wheel_entries.values():
        shutil.copy(good_build / entry["file_name"], folder / entry["file_name"])
    return folder


def test_good_build_has_core_and_verified_wheels(good_build, wheel_entries):
    for name in CORE_FILES:
        assert (good_build / name).is_file(), name
        assert (good_build / name).stat().st_size > 0, name
        assert sha256(good_build / name) == sha256(ROOT / "node_modules" / "pyodide" / name), name
    lock = json.loads((good_build / "pyodide-lock.json").read_text())
    assert lock["info"]["version"] == "0.27.7"
    for entry in wheel_entries.values():
        assert sha256(good_build / entry["file_name"]) == entry["sha256"]
    assert not list(good_build.glob("*.part")) and not list(good_build.glob(".*.part"))


PY312_MAGIC = (3531).to_bytes(2, "little") + b"\r\n"  # CPython 3.12's bytecode (Pyodide 0.27)


def read_bundle(path: Path) -> tuple[dict, bytes]:
    raw = gzip.decompress(path.read_bytes())
    length = int.from_bytes(raw[:4], "little")
    return json.loads(raw[4:4 + length]), raw[4 + length:]


def test_bundle_holds_the_wheels_extracted_and_compiled(good_build, wheel_entries):
    """The worker loads site-packages.bin, not the wheels: their files, less the unused ones,
    with bytecode from the runtime's own Python (3.12) that is never checked against sources."""
    index, data = read_bundle(good_build / "site-packages.bin")
    assert index["packages"] == {"numpy": wheel_entries["numpy"]["version"],
                                 "Pillow": wheel_entries["pillow"]["version"]}
    files = {path: data[offset:offset + size] for path, offset, size in index["files"]}
    assert sum(size for _, _, size in index["files"]) == len(data)
    with zipfile.ZipFile(good_build / wheel_entries["numpy"]["file_name"]) as wheel:
        assert files["numpy/__init__.py"] == wheel.read("numpy/__init__.py")
        so = "numpy/_core/_multiarray_umath.cpython-312-wasm32-emscripten.so"
        assert files[so] == wheel.read(so)
    assert "PIL/Image.py" in files and "numpy-2.0.2.dist-info/METADATA" in files
    assert not [p for p in files if p.endswith((".pyi", ".h", ".a", ".pxd", ".c"))]
    sources = [p for p in files if p.endswith(".py")]
    for source in sources:
        folder, name = source.rsplit("/", 1)
        pyc = files[f"{folder}/__pycache__/{name[:-3]}.cpython-312.pyc"]
        assert pyc[:4] == PY312_MAGIC, source
        assert int.from_bytes(pyc[4:8], "little") == 0b01, source  # hash-based, unchecked
    # The offline copy holds what the page loads: the bundle, not the wheels.
    offline = json.loads((good_build / "offline-manifest.json").read_text())
    paths = [entry["path"] for entry in offline["runtime"]]
    assert "runtime/site-packages.bin" in paths
    assert not [p for p in paths if p.endswith(".whl")]


def test_the_python_snapshot_is_made_by_the_runtime_and_kept_for_offline_use(good_build):
    """python-snapshot.bin: Pyodide's memory snapshot of the started Python, made by this very
    core (its build id inside), gzipped, listed with its hash for the service worker. (That
    Chromium's worker restores it, and falls back when it cannot: tests/browser/test_worker.py.)"""
    raw = gzip.decompress((good_build / "python-snapshot.bin").read_bytes())
    magic, header_end = int.from_bytes(raw[:4], "little"), int.from_bytes(raw[4:8], "little")
    assert magic == 0x706E7300  # Pyodide's snapshot magic
    assert len(raw) - header_end >= 16 * 2**20  # the heap: the interpreter, started
    # The build id in it (eight 32-bit words) is the core's own, which pyodide.mjs checks against.
    words = [int.from_bytes(raw[i:i + 4], "little") for i in range(16, 48, 4)]
    build_id = "".join(f"{w:08x}" for w in words)
    assert f'"{build_id}"' in (good_build / "pyodide.mjs").read_text("utf-8"), build_id
    offline = json.loads((good_build / "offline-manifest.json").read_text())
    [entry] = [e for e in offline["runtime"] if e["path"] == "runtime/python-snapshot.bin"]
    assert entry["sha256"] == sha256(good_build / "python-snapshot.bin")


def test_corrupt_wheel_stops_the_build(wheel_folder, wheel_entries, tmp_path):
    numpy_wheel = wheel_folder / wheel_entries["numpy"]["file_name"]
    data = bytearray(numpy_wheel.read_bytes())
    data[len(data) // 2] ^= 0xFF
    numpy_wheel.write_bytes(bytes(data))
    out = tmp_path / "out"

    result = run_build("--out", out, "--wheels-from", wheel_folder)

    assert result.returncode != 0
    message = result.stderr
    assert wheel_entries["numpy"]["file_name"] in message
    assert "does not match" in message
    assert str(numpy_wheel) in message  # which source
    assert wheel_entries["numpy"]["sha256"] in message  # expected
    assert hashlib.sha256(data).hexdigest() in message  # actual
    assert not (out / wheel_entries["numpy"]["file_name"]).exists()
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]


def test_missing_wheel_stops_the_build(wheel_folder, wheel_entries, tmp_path):
    (wheel_folder / wheel_entries["pillow"]["file_name"]).unlink()

    result = run_build("--out", tmp_path / "out", "--wheels-from", wheel_folder)

    assert result.returncode != 0
    assert wheel_entries["pillow"]["file_name"] in result.stderr
    assert str(wheel_folder) in result.stderr
    assert "not found" in result.stderr


def test_missing_source_folder_is_reported_when_a_wheel_is_needed(tmp_path):
    result = run_build("--out", tmp_path / "out", "--wheels-from", tmp_path / "nowhere")

    assert result.returncode != 0
    assert str(tmp_path / "nowhere") in result.stderr
    assert "numpy" in result.stderr


def test_second_run_fetches_nothing_and_touches_nothing(wheel_folder, wheel_entries, tmp_path):
    out = tmp_path / "out"
    app = tmp_path / "app"  # a fixed app/, so that edits to the real one cannot interfere
    app.mkdir()
    (app / "__init__.py").write_text("")
    first = run_build("--out", out, "--wheels-from", wheel_folder, "--app-dir", app)
    assert first.returncode == 0, first.stdout + first.stderr
    before = mtimes(out)

    # Neither the CLI option nor the environment variable's source is needed now.
    second = run_build("--out", out, "--wheels-from", "/nonexistent", "--app-dir", app)
    third = run_build("--out", out, "--app-dir", app,
                      env_extra={"IFEALID_WHEELS_FROM": "/nonexistent"})

    for result in (second, third):
        assert result.returncode == 0, result.stdout + result.stderr
        assert "fetched" not in result.stdout and "copied" not in result.stdout
    assert mtimes(out) == before
    assert {*CORE_FILES, *(e["file_name"] for e in wheel_entries.values()),
            "ifealid-manifest.json", "site-packages.bin", "python-snapshot.bin"} <= set(before)


def test_damaged_wheel_in_place_is_replaced(wheel_folder, wheel_entries, tmp_path):
    out = tmp_path / "out"
    assert run_build("--out", out, "--wheels-from", wheel_folder).returncode == 0
    target = out / wheel_entries["pillow"]["file_name"]
    target.write_bytes(b"not a wheel")

    without_source = run_build("--out", out, "--wheels-from", "/nonexistent")
    assert without_source.returncode != 0
    assert wheel_entries["pillow"]["file_name"] in without_source.stderr

    repaired = run_build("--out", out, "--wheels-from", wheel_folder)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert sha256(target) == wheel_entries["pillow"]["sha256"]


def test_url_source(wheel_folder, wheel_entries, tmp_path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(wheel_folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        out = tmp_path / "out"
        result = run_build("--out", out, "--wheels-from", base)
        assert result.returncode == 0, result.stdout + result.stderr
        for entry in wheel_entries.values():
            assert sha256(out / entry["file_name"]) == entry["sha256"]

        (wheel_folder / wheel_entries["numpy"]["file_name"]).unlink()
        (out / wheel_entries["numpy"]["file_name"]).unlink()
        missing = run_build("--out", out, "--wheels-from", base)
        assert missing.returncode != 0
        assert base + wheel_entries["numpy"]["file_name"] in missing.stderr
        assert "404" in missing.stderr
    finally:
        server.shutdown()
        server.server_close()


def expected_manifest(app_dir: Path, names: list[str]) -> dict:
    return {"package": "ifealid", "files": [{"path": name, "sha256": sha256(app_dir / name)} for name in names]}


# Run with only the manifest's files as the package: the worker's entry points, as the worker calls
# them. Prints the package's modules that were loaded.
BROWSER_ONLY = """
import json, sys
import ifealid, ifealid.browser as browser
assert ifealid.__file__.startswith(sys.argv[1]), ifealid.__file__
browser.runtime_versions()
assert list(browser.colormaps())[0] == "fire"
data = open(sys.argv[2], "rb").read()
result = browser.decode_for_worker(data)
assert "error" not in result, result
assert browser.encode_for_worker("mask-png", bytes([0, 1]), "Uint8Array", [1, 2]).startswith(b"\\x89PNG")
assert browser.encode_dataset_for_worker(result["info"], result["layers"].tobytes()).startswith(b"PK")
import ifealid.quickopen as quick  # what the worker runs before numpy (pyworker/worker.js)
assert "info" in quick.check_for_worker("fixture.zip", data) and "error" not in quick.overlay_for_worker(data)
print(json.dumps(sorted(m for m in sys.modules if m == "ifealid" or m.startswith("ifealid."))))
"""


def test_manifest_lists_what_the_browser_runs_and_nothing_else(good_build, tmp_path):
    result = run_build("--out", good_build, "--wheels-from", "/nonexistent")  # app/ may have changed
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((good_build / "ifealid-manifest.json").read_text())
    names = [f["path"] for f in manifest["files"]]
    assert manifest == expected_manifest(ROOT / "app", names)
    # The command line, torch's feature extraction and the tests' float64 reference maths stay out.
    assert not {"__main__.py", "cli.py", "extract.py", "similarity.py"} & set(names)
    assert {"__init__.py", "browser.py"} <= set(names)

    package = tmp_path / "site" / "ifealid"
    package.mkdir(parents=True)
    for name in names:
        shutil.copy(ROOT / "app" / name, package / name)
    env = {**os.environ, "PYTHONPATH": str(package.parent)}
    run = subprocess.run([sys.executable, "-c", BROWSER_ONLY, str(package),
                          str(ROOT / "tests" / "fixtures" / "original" / "000000015746.jpg.C3.npz.8.zip")],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr  # nothing the browser runs is missing
    loaded = {"__init__.py" if m == "ifealid" else m.split(".", 1)[1] + ".py" for m in json.loads(run.stdout)}
    assert loaded == set(names)  # and every module shipped is used

    # The offline copy keeps exactly those sources.
    offline = json.loads((good_build / "offline-manifest.json").read_text())
    assert [p for p in offline["shell"] if p.startswith("app/")] == [f"app/{name}" for name in names]


def test_manifest_follows_the_imports_and_is_rewritten_only_when_they_change(wheel_folder, tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "__init__.py").write_text("from .core import CORE\n\n\ndef __getattr__(name):\n"
                                     "    from . import lazy  # on demand only: not shipped\n"
                                     "    return getattr(lazy, name)\n")
    (app / "core.py").write_text("CORE = 1\n")
    (app / "browser.py").write_text("from . import __version__\n\n\ndef f():\n    from .b import B\n")
    (app / "b.py").write_text("B = 1\n")
    (app / "lazy.py").write_text("L = 1\n")
    (app / "cli.py").write_text("from .b import B\n")  # imports browser modules, imported by none
    (app / "notes.txt").write_text("not a source")
    out = tmp_path / "out"
    args = ("--out", out, "--wheels-from", wheel_folder, "--app-dir", app)
    manifest_path = out / "ifealid-manifest.json"

    assert run_build(*args).returncode == 0
    assert json.loads(manifest_path.read_text()) == \
        expected_manifest(app, ["__init__.py", "b.py", "browser.py", "core.py"])
    stamp = manifest_path.stat().st_mtime_ns

    assert run_build(*args).returncode == 0
    (app / "cli.py").write_text("from .b import B  # changed\n")
    assert run_build(*args).returncode == 0
    assert manifest_path.stat().st_mtime_ns == stamp  # nothing the browser runs changed

    (app / "a.py").write_text("A = 1\n")
    (app / "b.py").write_text("import ifealid.a\nB = 2\n")  # the absolute spelling counts too
    assert run_build(*args).returncode == 0
    assert json.loads(manifest_path.read_text()) == \
        expected_manifest(app, ["__init__.py", "a.py", "b.py", "browser.py", "core.py"])


def test_an_import_of_a_missing_module_stops_the_build(wheel_folder, tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "browser.py").write_text("from .gone import X\n")
    result = run_build("--out", tmp_path / "out", "--wheels-from", wheel_folder, "--app-dir", app)
    assert result.returncode != 0
    assert "browser.py imports ifealid.gone" in result.stderr


def _build_module():
    spec = importlib.util.spec_from_file_location("build_runtime_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_test_packages_are_pinned_verified_and_kept_apart(wheel_folder, tmp_path):
    """pytest for the tests' Pyodide leg: in runtime/test-packages/, not where the page looks."""
    pins = {wheel: digest for _, _, wheel, digest in _build_module().TEST_PACKAGES}
    out = tmp_path / "out"
    args = ("--out", out, "--wheels-from", wheel_folder)
    assert run_build(*args).returncode == 0
    assert not (out / "test-packages").exists()  # only when asked for

    first = run_build(*args, "--test-packages")
    assert first.returncode == 0, first.stdout + first.stderr
    folder = out / "test-packages"
    assert {p.name: sha256(p) for p in folder.iterdir()} == pins
    with zipfile.ZipFile(folder / next(w for w in pins if w.startswith("pytest-"))) as wheel:
        assert "_pytest/python.py" in wheel.namelist()
    offline = (out / "offline-manifest.json").read_text()
    assert "test-packages" not in offline and ".whl" not in offline

    damaged = folder / next(iter(pins))
    damaged.write_bytes(b"not a wheel")
    (folder / "stale-0.1-py3-none-any.whl").write_bytes(b"left by an older pin")
    repaired = run_build(*args, "--test-packages")  # from .cache/test-packages/, no download
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "downloading" not in repaired.stdout
    assert {p.name: sha256(p) for p in folder.iterdir()} == pins


def test_help_describes_the_sources():
    result = run_build("--help")
    assert result.returncode == 0
    for word in ("--wheels-from", "IFEALID_WHEELS_FROM", "registry", "--out", "--quiet", "--test-packages"):
        assert word in result.stdout
