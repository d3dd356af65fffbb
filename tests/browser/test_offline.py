"""Offline: after one visit the service worker starts the page from its cache, with the server
gone; a ?d= dataset opened before opens again; the cache is versioned and an edit still shows.

Every test has its own server (a site of tests/browser/sites.py) and its own page in a browser
context of its own (the open_page fixture), which starts with no service worker and no caches.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pagekit import READY, SHOWN, forget_shown, wait_for
from sites import Server, make_site
from test_open import FIXTURE, expect_dataset, small_dataset


@pytest.fixture
def site(tmp_path):
    folder = make_site(tmp_path / "site", {"small.zip": small_dataset(1), "other.zip": small_dataset(3)},
                       copy=("index.html", "runtime/offline-manifest.json"))
    server = Server(folder)
    yield folder, server
    server.stop()


@pytest.fixture
def page(open_page):
    """A tab of its own: no service worker, no caches yet."""
    return open_page()


def first_visit(page, server, query="?d=small.zip"):
    """A first visit; returns when the service worker has cached everything and the dataset
    opened by the link is kept too."""
    page.goto(f"{server.url}/{query}")
    assert page.evaluate("navigator.serviceWorker.controller") is None
    assert page.evaluate("navigator.serviceWorker.getRegistrations().then((r) => r.length)") == 0
    wait_for(page, SHOWN if query else READY)
    assert page.evaluate("window.ifealid.state.error") is None
    wait_for(page, "!!window.ifealid.offline")
    assert page.evaluate("window.ifealid.offline.then((r) => r !== null)")
    if query:
        wait_for(page, "window.ifealid.datasetCache.entries().then((e) => e.length > 0)", interval=0.2)


def cache_names(page):
    """The service worker's caches and the dataset cache (not the worker's Python snapshot)."""
    return {n for n in page.evaluate("caches.keys()") if n != "ifealid-python-snapshot"}


def runtime_version(folder: Path) -> str:
    return json.loads((folder / "runtime" / "offline-manifest.json").read_text())["version"]


def test_the_page_works_offline_after_one_visit(site, page):
    folder, server = site
    first_visit(page, server)
    version = runtime_version(folder)
    assert cache_names(page) == {"ifealid-shell-v1", f"ifealid-runtime-{version}", "ifealid-datasets-v1"}
    [entry] = page.evaluate("window.ifealid.datasetCache.entries()")
    assert entry["url"] == f"{server.url}/datasets/small.zip" and entry["size"] == len(small_dataset(1))

    server.stop()
    page.context.set_offline(True)
    page.reload()  # the address still holds ?d=small.zip
    wait_for(page, SHOWN)
    assert page.evaluate("navigator.serviceWorker.controller !== null")
    assert page.evaluate("window.ifealid.state.boot.ready")
    # The service worker leaves the page's own caches alone: the worker's Python snapshot too.
    assert page.evaluate("window.ifealid.bridge.bootStages.snapshot") == "restored"
    expect_dataset(page, small_dataset(1))

    # A local file opens offline.
    forget_shown(page)
    page.set_input_files("#file-input", str(FIXTURE))
    wait_for(page, SHOWN)
    expect_dataset(page, FIXTURE)

    # A link never opened before cannot be: it says so, and the picker stays.
    page.evaluate("window.ifealid.openLink('other.zip')")
    wait_for(page, SHOWN)
    error = page.evaluate("window.ifealid.state.error")
    assert error["rule"] in ("offline", "network") and "no offline copy" in error["message"]


def test_a_repeat_visit_starts_from_the_cache(site, page):
    folder, server = site
    first_visit(page, server, query="")
    server.paths.clear()
    page.reload()
    wait_for(page, READY)
    assert page.evaluate("window.ifealid.state.boot.ready")
    # Only the shell (network-first) and the version check reached the server; the runtime
    # came from the cache.
    runtime = [p for p in server.paths if p.startswith("/runtime/")]
    assert sorted(set(runtime)) == ["/runtime/ifealid-manifest.json", "/runtime/offline-manifest.json"], runtime
    assert "/index.html" in server.paths or "/" in server.paths


def test_an_edit_shows_at_once_while_online(site, page):
    folder, server = site
    first_visit(page, server, query="")
    index = folder / "index.html"
    index.write_text(index.read_text().replace("<title>IFeaLiD</title>", "<title>IFeaLiD edited</title>"))
    page.reload()
    wait_for(page, READY)
    assert page.title() == "IFeaLiD edited"
    assert page.evaluate("navigator.serviceWorker.controller !== null")


def test_an_edit_reaches_the_offline_copy_once_the_page_is_up(tmp_path, open_page):
    """The shell is not written into the cache on the way (that made repeat visits slow); the
    page's 'keep' message refreshes the copies whose answer changed, so the edit opens offline."""
    folder = make_site(tmp_path / "site", copy=("index.html", "glue/style.css", "runtime/offline-manifest.json"))
    server = Server(folder)
    page = open_page()
    try:
        first_visit(page, server, query="")
        css = folder / "glue" / "style.css"
        css.write_text(css.read_text() + "\n/* edited for the offline test */\n")
        os.utime(css, (css.stat().st_atime + 5, css.stat().st_mtime + 5))  # a new Last-Modified
        page.reload()
        wait_for(page, "!!window.ifealid.offline")
        kept = page.evaluate("window.ifealid.offline.then((r) => r && r.kept)")
        assert kept >= 1
        cached = page.evaluate("""caches.open('ifealid-shell-v1')
            .then((c) => c.match(new URL('glue/style.css', location.href).href)).then((r) => r.text())""")
        assert "edited for the offline test" in cached
        server.stop()
        page.context.set_offline(True)
        page.reload()
        wait_for(page, READY)
        assert page.evaluate("""fetch('glue/style.css').then((r) => r.text())""").endswith("/* edited for the offline test */\n")
    finally:
        server.stop()


def test_a_new_runtime_version_replaces_the_old_cache(site, page):
    folder, server = site
    first_visit(page, server, query="")
    old = runtime_version(folder)
    path = folder / "runtime" / "offline-manifest.json"
    manifest = json.loads(path.read_text())
    manifest["version"] = "0000000000000test"
    path.write_text(json.dumps(manifest))
    page.reload()
    wait_for(page, READY)
    assert page.evaluate("window.ifealid.state.boot.ready")
    wait_for(page, """caches.keys().then((k) => k.includes('ifealid-runtime-0000000000000test')
                      && !k.includes('ifealid-runtime-%s'))""" % old, interval=0.2)
    # The new cache holds the whole runtime.
    count = page.evaluate("caches.open('ifealid-runtime-0000000000000test').then((c) => c.keys()).then((k) => k.length)")
    assert count == len(manifest["runtime"])


def test_the_dataset_cache_evicts_the_least_recently_used(site, page):
    folder, server = site
    page.goto(f"{server.url}/index.html")
    result = page.evaluate("""async () => {
      const { DatasetCache } = await import('./glue/data/dataset-cache.js');
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
