"""One way for browser tests to open the app in a tab of its own: a fresh context, a
generous default timeout, and logs of the requests and page errors it saw."""
from __future__ import annotations

from contextlib import contextmanager

# The worker has finished booting (or failed to): the page is ready for a file.
READY = "window.ifealid && (window.ifealid.state.boot.ready || window.ifealid.state.boot.error)"


@contextmanager
def open_tab(browser, url: str | None = None, *, viewport=(900, 600), timeout_ms: int = 90_000):
    """Yield a page (with .requests and .errors lists); with ``url``, navigated and booted."""
    size = {"width": viewport[0], "height": viewport[1]} if viewport else None
    context = browser.new_context(viewport=size) if size else browser.new_context()
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    page.requests, page.errors = [], []
    context.on("request", lambda request: page.requests.append(request.url))
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    try:
        if url:
            page.goto(url)
            page.wait_for_function(READY)
        yield page
    finally:
        context.close()
