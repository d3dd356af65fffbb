"""Shared fixtures for browser tests: one static server and one Chromium per session, and the one
way tests open pages (pagekit.open_tab, here as the fixtures `open_page` and `open_module_page`).

Chromium is Debian's (/usr/bin/chromium), never a downloaded build; WebGL 2 runs
on SwiftShader. Background networking is off so the browser itself sends nothing.
"""
from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

import pytest

import pagekit

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("IFEALID_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def _load_serve_module():
    spec = importlib.util.spec_from_file_location("ifealid_serve", ROOT / "scripts" / "serve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def base_url():
    """URL of the repository root served statically on 127.0.0.1 (a free port)."""
    server = _load_serve_module().make_server(ROOT, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    yield f"http://{host}:{port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's `chromium` (the test command does)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _opener(browser, opened):
    def open_page(url=None, **options):
        page = pagekit.open_tab(browser, url, **options)
        opened.append(page)
        return page
    return open_page


@pytest.fixture
def open_page(browser):
    """open_page(url=None, *, viewport=(900, 600), timeout_ms=90_000, until=READY,
    bypass_csp=None, init_script=None): a watched page in a context of its own (see
    pagekit.open_tab), closed when the test ends."""
    opened = []
    yield _opener(browser, opened)
    for page in opened:
        pagekit.close_tab(page)


@pytest.fixture(scope="module")
def open_module_page(browser):
    """Like open_page, for a page that the tests of a module share (closed after the last)."""
    opened = []
    yield _opener(browser, opened)
    for page in opened:
        pagekit.close_tab(page)
    pagekit.check_pages(opened)


@pytest.fixture(autouse=True)
def _pages_went_right():
    """After every test (its own pages closed by then): no page error and no policy violation
    in any open or just closed page, other than those the test declared (expect_problems)."""
    yield
    pagekit.check_pages()
