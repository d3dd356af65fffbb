"""Offline: after one visit the service worker starts the page from its cache, with the server
gone; a ?d= dataset opened before opens again; the cache is versioned and an edit still shows.

Every test has its own server (a site of tests/browser/sites.py) and its own browser context,
which starts with no service worker and no caches.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from sites import ROOT, Server, make_site
from test_open import FIXTURE, READY, SETTLED, expect_dataset, small_dataset

SHOWN_OR_FAILED = SETTLED


@pytest.fixture
def site(tmp_path):
    folder = make_site(tmp_path / "site", {"small.zip": small_dataset(1), "other.zip": small_dataset(3)},
                       copy=("index.html", "runtime/offline-manifest.json"))
    server = Server(folder)
    yield folder, server
    server.stop()


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport={"width": 900, "height": 600})
    yield context
    context.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    page.set_default_timeout(90_000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    assert errors == []


def first_visit(page, server, query="?d=small.zip"):
    """A first visit; returns when the service worker has cached everything and the dataset
    opened by the link is kept too."""
    page.goto(f"{server.url}/{query}")
    assert page.evaluate("navigator.serviceWorker.controller") is None
    assert page.evaluate("navigator.serviceWorker.getRegistrations().then((r) => r.length)") == 0
    page.wait_for_function(SETTLED if query else READY)
    assert page.evaluate("window.ifealid.state.error") is None
    page.wait_for_function("window.ifealid.offline")
    assert page.evaluate("window.ifealid.offline.then((r) => r !== null)")
    if query:
        page.wait_for_function("window.ifealid.datasetCache.entries().then((e) => e.length > 0)", polling=200)


def cache_names(page):
    """The service worker's caches and the dataset cache (not the worker's Python snapshot)."""
    return {n for n in page.evaluate("caches.keys()") if n != "ifealid-python-snapshot"}


def runtime_version(folder: Path) -> str:
    return json.loads((folder / "runtime" / "offline-manifest.json").read_text())["version"]


def test_the_page_works_offline_after_one_visit(site, context, page):
    folder, server = site
    first_visit(page, server)
    version = runtime_version(folder)
    assert cache_names(page) == {"ifealid-shell-v1", f"ifealid-runtime-{version}", "ifealid-datasets-v1"}
    [entry] = page.evaluate("window.ifealid.datasetCache.entries()")
    assert entry["url"] == f"{server.url}/datasets/small.zip" and entry["size"] == len(small_dataset(1))

    server.stop()
    context.set_offline(True)
    page.reload()  # the address still holds ?d=small.zip
    page.wait_for_function(SETTLED)
    assert page.evaluate("navigator.serviceWorker.controller !== null")
    assert page.evaluate("window.ifealid.state.boot.ready")
    # The service worker leaves the page's own caches alone: the worker's Python snapshot too.
    assert page.evaluate("window.ifealid.bridge.bootStages.snapshot") == "restored"
    expect_dataset(page, small_dataset(1))

    # A local file opens offline.
    page.evaluate("window.ifealid.state.shownAt = null")
    page.set_input_files("#file-input", str(FIXTURE))
    page.wait_for_function(SETTLED)
    expect_dataset(page, FIXTURE)

    # A link never opened before cannot be: it says so, and the picker stays.
    page.evaluate("window.ifealid.openLink('other.zip')")
    page.wait_for_function(SETTLED)
    error = page.evaluate("window.ifealid.state.error")
    assert error["rule"] in ("offline", "network") and "no offline copy" in error["message"]


def test_a_repeat_visit_starts_from_the_cache(site, context, page):
    folder, server = site
    first_visit(page, server, query="")
    server.paths.clear()
    page.reload()
    page.wait_for_function(READY)
    assert page.evaluate("window.ifealid.state.boot.ready")
    # Only the shell (network-first) and the version check reached the server; the runtime
    # came from the cache.
    runtime = [p for p in server.paths if p.startswith("/runtime/")]
    assert sorted(set(runtime)) == ["/runtime/ifealid-manifest.json", "/runtime/offline-manifest.json"], runtime
    assert "/index.html" in server.paths or "/" in server.paths


def test_an_edit_shows_at_once_while_online(site, context, page):
    folder, server = site
    first_visit(page, server, query="")
    index = folder / "index.html"
    index.write_text(index.read_text().replace("<title>IFeaLiD</title>", "<title>IFeaLiD edited</title>"))
    page.reload()
    page.wait_for_function(READY)
    assert page.title() == "IFeaLiD edited"
    assert page.evaluate("navigator.serviceWorker.controller !== null")


def test_a_new_runtime_version_replaces_the_old_cache(site, context, page):
    folder, server = site
    first_visit(page, server, query="")
    old = runtime_version(folder)
    path = folder / "runtime" / "offline-manifest.json"
    manifest = json.loads(path.read_text())
    manifest["version"] = "0000000000000test"
    path.write_text(json.dumps(manifest))
    page.reload()
    page.wait_for_function(READY)
    assert page.evaluate("window.ifealid.state.boot.ready")
    page.wait_for_function("""caches.keys().then((k) => k.includes('ifealid-runtime-0000000000000test')
                              && !k.includes('ifealid-runtime-%s'))""" % old, polling=200)
    # The new cache holds the whole runtime.
    count = page.evaluate("caches.open('ifealid-runtime-0000000000000test').then((c) => c.keys()).then((k) => k.length)")
    assert count == len(manifest["runtime"])


def test_the_dataset_cache_evicts_the_least_recently_used(site, page):
    folder, server = site
    page.goto(f"{server.url}/index.html")
    result = page.evaluate("""async () => {
      const { DatasetCache } = await import('./glue/dataset-cache.js');
      const cache = new DatasetCache({ name: 'ifealid-test-lru', limitBytes: 1000 });
      const bytes = (n, v) => new Uint8Array(n).fill(v);
      const tick = () => new Promise((r) => setTimeout(r, 5));
      const u = (name) => new URL(`datasets/${name}`, location.href).href;
      const log = {};
      await cache.put(u('a'), bytes(400, 1)); await tick();
      await cache.put(u('b'), bytes(400, 2)); await tick();
      log.a = new Uint8Array((await cache.get(u('a'))).buffer)[0]; await tick();  // a is now the newer
      await cache.put(u('c'), bytes(400, 3)); await tick();                         // b goes
      log.afterC = (await cache.entries()).map((e) => e.url.split('/').pop());
      log.b = await cache.get(u('b'));
      log.tooBig = await cache.put(u('d'), bytes(1001, 4));
      log.afterD = (await cache.entries()).map((e) => e.url.split('/').pop());
      await cache.put(u('a'), bytes(900, 5));                                        // replaces a, c goes
      log.afterA = (await cache.entries()).map((e) => [e.url.split('/').pop(), e.size]);
      await cache.clear();
      return log;
    }""")
    assert result == {"a": 1, "afterC": ["c", "a"], "b": None, "tooBig": False, "afterD": ["c", "a"],
                      "afterA": [["a", 900]]}
