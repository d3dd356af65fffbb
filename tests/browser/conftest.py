"""Shared fixtures for browser tests: one static server and one Chromium per session.

Chromium is Debian's (/usr/bin/chromium), never a downloaded build; WebGL 2 runs
on SwiftShader. Background networking is off so the browser itself sends nothing.
"""
from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

import pytest

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
        # The page's Content-Security-Policy forbids eval, and Playwright's wait_for_function
        # evaluates its predicate with eval: contexts bypass the policy unless a test asks for it
        # (tests/browser/test_security.py runs the page under its policy with bypass_csp=False).
        new_context = browser.new_context
        browser.new_context = lambda **kwargs: new_context(**{"bypass_csp": True, **kwargs})
        yield browser
        browser.close()


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport={"width": 1000, "height": 700})
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    page.close()
