"""What browser tests ask of the real page, written once: how a page is opened and watched, the
conditions they wait for, and the JavaScript that reads back what was computed and drawn
(window.ifealid: `state` is what the page is doing, `view` the view model, `records` the frames
and moves, `renderer` the renderer).

Pages are opened by open_tab (through the fixtures `open_page` and `open_module_page` of
conftest.py): each in a browser context of its own, so no service worker, cache or storage
passes from one tab to the next, with the page's Content-Security-Policy in force unless the
caller says why not. Every tab is watched: uncaught exceptions (`pageerror`, the page's and its
workers'), the policy's `securitypolicyviolation` events of every document it shows, and the
console messages in which the browser reports what the policy blocked. After each test the
fixtures fail it on any of these that it did not declare with expect_problems.
"""
from __future__ import annotations

import base64
import re
import time
from pathlib import Path

import numpy as np

# The worker has finished booting (or failed to): the page is ready for a file.
READY = "!!(window.ifealid && (window.ifealid.state.boot.ready || window.ifealid.state.boot.error))"
# The newest open has finished: a dataset is on screen, or it was refused.
LOADED = ("!!(window.ifealid && window.ifealid.state.loading === null"
          " && (window.ifealid.view.state.dataset !== null || window.ifealid.state.error !== null))")
# ... and its first full-resolution frame is drawn (records.shownAt is reset by forget_shown()).
SHOWN = ("!!(window.ifealid && window.ifealid.state.loading === null"
         " && (window.ifealid.records.shownAt !== null || window.ifealid.state.error !== null))")

# Resolves once the renderer has nothing left to draw (the full frame is on screen).
IDLE_JS = """() => new Promise((resolve) => {
  const r = window.ifealid.renderer;
  const check = () => (r.idle ? resolve() : requestAnimationFrame(check));
  requestAnimationFrame(check);
})"""

# Little-endian bytes of a typed array as base64 (binary data crosses page.evaluate this way).
TO_BASE64_JS = """(a) => {
  const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000));
  return btoa(s);
}"""

READ_MAP_JS = f"() => ({TO_BASE64_JS})(window.ifealid.renderer.readMap())"
READ_CANVAS_JS = f"() => ({TO_BASE64_JS})(window.ifealid.renderer.readCanvas())"
# sha-256 of bytes (an ArrayBuffer or a view of one) as hex.
SHA256_JS = """async (bytes) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))]
  .map((b) => b.toString(16).padStart(2, '0')).join('')"""
# sha-256 of the decoded layers the page holds (compared with the CPython decode's).
LAYERS_DIGEST_JS = f"() => ({SHA256_JS})(window.ifealid.view.state.dataset.layers)"
# Canvas drawing-buffer position of map point (x, y) (a pixel's top-left corner at integers).
TO_CANVAS_JS = """([x, y]) => { const c = window.ifealid.view.state.camera;
  return [c.offsetX + x * c.scale, c.offsetY + y * c.scale]; }"""


def wait_for(page, expression: str, timeout: float = 120.0, interval: float = 0.02):
    """Poll `expression` with page.evaluate until it is truthy. Unlike wait_for_function with an
    expression string, which compiles it with eval, this works under the page's Content-Security-Policy."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true within {timeout} s: {expression}")
        time.sleep(interval)


def forget_shown(page):
    """Before opening another file: the next SHOWN waits for that file's first frame."""
    page.evaluate("window.ifealid.state.error = null; window.ifealid.records.shownAt = null")


def wait_idle(page):
    page.evaluate(IDLE_JS)


def read_map(page, shape) -> np.ndarray:
    """renderer.readMap(): what the view shows before colouring, (H, W) float64."""
    raw = base64.b64decode(page.evaluate(READ_MAP_JS))
    return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float64)


def read_canvas(page) -> np.ndarray:
    """The canvas drawn now as (h, w, 4) bytes, row 0 at the top."""
    w, h = page.evaluate("[window.ifealid.renderer.canvas.width, window.ifealid.renderer.canvas.height]")
    return np.frombuffer(base64.b64decode(page.evaluate(READ_CANVAS_JS)), dtype=np.uint8).reshape(h, w, 4)


def map_point(page, x: float, y: float) -> tuple[float, float]:
    """Page (CSS) coordinates of map point (x, y); (x + 0.5, y + 0.5) is pixel (x, y)'s centre."""
    box = page.locator("#map").bounding_box()
    cx, cy = page.evaluate(TO_CANVAS_JS, [x, y])
    dpr = page.evaluate("(() => { const c = document.getElementById('map'); return c.width / c.clientWidth; })()")
    return box["x"] + cx / dpr, box["y"] + cy / dpr


def open_file(page, path: Path | str, until: str = SHOWN):
    """Choose `path` in the page's file input and wait for `until` (SHOWN: its first full frame
    is drawn; LOADED: it is decoded and on screen); returns state.error (None: it opened)."""
    forget_shown(page)
    page.evaluate("window.__ifealidBefore = window.ifealid.view.state.dataset")
    page.set_input_files("#file-input", str(path))
    # ... and only once this file has opened (a new dataset on screen) or been refused.
    wait_for(page, f"({until}) && (window.ifealid.state.error !== null"
                   " || window.ifealid.view.state.dataset !== window.__ifealidBefore)")
    return page.evaluate("window.ifealid.state.error")


# ------------------------------------------------------------------ opening and watching pages

# Runs before the page's own scripts in every document (an init script is not subject to the
# policy): each violation goes to Python at once (a navigation loses nothing) and is kept in the
# document too, so that a test can wait for it there.
REPORT_VIOLATIONS_JS = """
window.__ifealidViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  const v = {directive: e.effectiveDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber};
  window.__ifealidViolations.push(v);
  window.__ifealidViolation(v);
});
"""
# How Chromium words, on the console, what a policy blocked ("... violates the following Content
# Security Policy directive ..."), also where no document sees an event.
POLICY_CONSOLE = re.compile(r"Content[ -]Security[ -]Policy", re.I)

WATCHED: list = []  # pages opened by open_tab whose problems are still to be checked


class Watch:
    """What went wrong in one tab, as it happened; `expected`: what the running test declared."""

    def __init__(self, label: str):
        self.label = label
        self.errors: list[str] = []       # pageerror: uncaught exceptions of the page and its workers
        self.violations: list[dict] = []  # securitypolicyviolation events, every document
        self.refusals: list[str] = []     # console messages reporting what the policy blocked
        self.expected: list[re.Pattern] = []
        self.closed = False

    def problems(self) -> list[str]:
        return ([f"pageerror: {e}" for e in self.errors]
                + [f"csp: {v['directive']} {v['blocked']} (at {v['source']}:{v['line']})" for v in self.violations]
                + [f"console: {text}" for text in self.refusals])

    def take(self) -> list[str]:
        """What is wrong since the last take: every problem no declaration matches, and every
        declaration that matched nothing. Forgets the problems and the declarations."""
        problems = self.problems()
        wrong = [p for p in problems if not any(e.search(p) for e in self.expected)]
        wrong += [f"declared with expect_problems but did not happen: {e.pattern!r}"
                  for e in self.expected if not any(e.search(p) for p in problems)]
        self.errors.clear()
        self.violations.clear()
        self.refusals.clear()
        self.expected.clear()
        return wrong


def open_tab(browser, url: str | None = None, *, viewport: tuple[int, int] | None = (900, 600),
             timeout_ms: int = 90_000, until: str | None = READY, bypass_csp: str | None = None,
             init_script: str | None = None):
    """A watched page in a fresh context. With `url`: navigated there, then waited for `until`
    (READY by default; None: not waited for). `viewport` None: Playwright's default size.
    `bypass_csp`: turns the page's policy off; give the reason as the value. The page has
    `.watch` (its Watch) and `.requests` (the URL of every request of its context, in order:
    the page's, its workers' and the service worker's)."""
    if bypass_csp is not None and not (isinstance(bypass_csp, str) and bypass_csp.strip()):
        raise ValueError("bypass_csp takes the reason why this test runs without the page's policy")
    options = {"bypass_csp": bypass_csp is not None}
    if viewport:
        options["viewport"] = {"width": viewport[0], "height": viewport[1]}
    context = browser.new_context(**options)
    watch = Watch(url or "a tab")
    context.expose_binding("__ifealidViolation", lambda source, v: watch.violations.append(v))
    context.add_init_script(REPORT_VIOLATIONS_JS)
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    page.watch, page.requests = watch, []
    context.on("request", lambda request: page.requests.append(request.url))
    page.on("pageerror", lambda exc: watch.errors.append(str(exc)))
    page.on("console", lambda msg: watch.refusals.append(msg.text) if POLICY_CONSOLE.search(msg.text) else None)
    WATCHED.append(page)
    if url:
        try:
            page.goto(url)
            if until:
                wait_for(page, until, timeout=timeout_ms / 1000)
        except BaseException:
            close_tab(page)
            raise
    return page


def close_tab(page):
    if not page.watch.closed:
        page.watch.closed = True
        page.context.close()


def expect_problems(page, *patterns: str):
    """Declare what the running test makes go wrong in `page` on purpose: regular expressions
    (re.search) over the problem lines ("pageerror: …", "csp: <directive> <blocked URI> …",
    "console: …"). Each must match a problem that happens before the test ends, and every
    problem must match one of them."""
    page.watch.expected += [re.compile(p) for p in patterns]


def problems(page) -> list[str]:
    """The problems seen in `page` so far in this test (declared or not)."""
    return page.watch.problems()


def check_pages(pages=None):
    """Fail on anything wrong in the watched pages (all of them by default) since the last check;
    closed pages are checked one last time and then forgotten."""
    report = []
    for page in list(WATCHED if pages is None else pages):
        report += [f"{page.watch.label}: {line}" for line in page.watch.take()]
        if page.watch.closed and page in WATCHED:
            WATCHED.remove(page)
    assert not report, "the page went wrong:\n  " + "\n  ".join(report)
