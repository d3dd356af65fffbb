"""Security: the page's Content-Security-Policy (strict, no inline code, and no violation in normal
use), Pyodide under that policy sent as a header, and strings from datasets shown as text.

Other tests run with Playwright's bypass_csp (see conftest.py); these run under the policy, so
they wait by polling page.evaluate (wait_for_function would need eval, which the policy forbids).
"""
from __future__ import annotations

import re
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest

from sites import Server, serve
from zipkit import dataset_entries, jpeg_bytes, random_values, zip_bytes

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = "tests/fixtures/original/000000015746.jpg.C3.npz.8.zip"
SHOWN = ("!!(window.ifealid && window.ifealid.state.loading === null"
         " && (window.ifealid.state.shownAt !== null || window.ifealid.state.error || window.ifealid.state.boot.error))")
MARKUP = '<img src=x onerror="window.pwned=1">'
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(
  {directive: e.effectiveDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber}));
"""


class _Head(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []       # (tag, attrs) in document order
        self.script_text = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.script_text.append(data)


def page_policy() -> dict[str, list[str]]:
    parser = _Head()
    parser.feed((ROOT / "index.html").read_text())
    metas = [a for t, a in parser.tags if t == "meta" and a.get("http-equiv", "").lower() == "content-security-policy"]
    assert len(metas) == 1
    policy = {}
    for part in metas[0]["content"].split(";"):
        name, *values = part.split()
        policy[name] = values
    return policy


def test_the_page_has_a_strict_policy_and_no_inline_code():
    parser = _Head()
    parser.feed((ROOT / "index.html").read_text())
    # The policy comes before anything it governs.
    first_resource = next(i for i, (t, a) in enumerate(parser.tags) if t in ("link", "script", "style", "img"))
    csp_at = next(i for i, (t, a) in enumerate(parser.tags)
                  if t == "meta" and a.get("http-equiv", "").lower() == "content-security-policy")
    assert csp_at < first_resource
    policy = page_policy()
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'", "'wasm-unsafe-eval'"]  # no 'unsafe-eval', no 'unsafe-inline'
    assert policy["worker-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["connect-src"][0] == "'self'" and set(policy["connect-src"][1:]) <= {"https:", "http:"}
    # No inline code: scripts by src only, no event-handler or style attributes, no javascript: URLs.
    assert parser.script_text == []
    for tag, attrs in parser.tags:
        if tag == "script":
            assert attrs.get("src"), attrs
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name != "style", tag
            assert not (value or "").strip().lower().startswith("javascript:"), (tag, name)
    # Nor anything that builds code or markup from strings in the page's and workers' scripts.
    sources = [*ROOT.glob("glue/*.js"), ROOT / "pyworker" / "worker.js", ROOT / "sw.js"]
    pattern = re.compile(r"\beval\(|new Function\b|\.innerHTML\b|\.outerHTML\b|insertAdjacentHTML|document\.write")
    offenders = [f"{p.name}:{i + 1}" for p in sources if p.exists()
                 for i, line in enumerate(p.read_text().splitlines()) if pattern.search(line)]
    assert offenders == []


def wait_until(page, expression: str, timeout: float = 120.0):
    """Poll `expression` with page.evaluate (no eval in the page) until it is truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.evaluate(expression):
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {expression}")


@pytest.fixture(scope="module")
def other_origin():
    """Another origin (another port) that lets pages read its files (CORS), for a ?d= link."""
    server = Server(ROOT, cors="*")
    yield server
    server.stop()


def open_file(page, path: Path):
    page.evaluate("window.ifealid.state.error = null; window.ifealid.state.shownAt = null")
    page.set_input_files("#file-input", str(path))
    wait_until(page, SHOWN)
    return page.evaluate("window.ifealid.state.error")


def test_normal_use_breaks_no_rule_of_the_policy(browser, base_url, other_origin, tmp_path):
    context = browser.new_context(bypass_csp=False, viewport={"width": 900, "height": 600})
    context.add_init_script(RECORD_VIOLATIONS)
    requests, responses = [], []
    context.on("request", lambda request: requests.append(request.url))
    context.on("response", lambda response: responses.append(response.url))
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        link = f"{other_origin.url}/{FIXTURE}"
        page.goto(f"{base_url}/index.html?d={quote(link, safe='')}")
        wait_until(page, SHOWN)
        assert page.evaluate("window.ifealid.state.boot.error") is None
        assert page.evaluate("window.ifealid.state.error") is None
        assert page.text_content("#dataset-shape") == "26×40×1024 @ 8 bit"
        # Hover, a file with an overlay, a built-in dataset, the service worker: all as usual.
        box = page.locator("#map").bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.move(box["x"] + box["width"] / 3, box["y"] + box["height"] / 3)
        path = tmp_path / "overlay.zip"
        path.write_bytes(zip_bytes(dataset_entries(random_values((8, 9, 6), 8), 8, name="with overlay",
                                                   overlay=jpeg_bytes(18, 16))))
        assert open_file(page, path) is None
        page.click("#open-button")  # the file picker opens (and is dismissed by Playwright)
        page.evaluate("window.ifealid.openLink('000000015746.jpg.C1.npz.8.zip')")
        wait_until(page, "window.ifealid.state.loading === null && window.ifealid.state.dataset?.info.features === 256")
        wait_until(page, "window.ifealid.offline !== null")
        assert page.evaluate("Promise.resolve(window.ifealid.offline).then((r) => r !== null)")  # registered
        assert page.evaluate("window.__violations") == []
        assert errors == []
        # Only the page's own origin and the ?d= address were asked for.
        own = urlparse(base_url).netloc
        others = {u for u in requests if urlparse(u).netloc != own and not u.startswith(("data:", "blob:"))}
        assert others == {link}, others

        # The policy is in force: inline handlers and foreign images are refused (and reported).
        page.evaluate(f"""() => {{
          const div = document.createElement('div');
          div.setAttribute('onclick', 'window.pwned = 1'); div.click();
          const img = document.createElement('img'); img.src = 'https://example.invalid/x.png';
          document.body.append(img);
        }}""")
        wait_until(page, "window.__violations.length >= 2", timeout=30)
        directives = {v["directive"] for v in page.evaluate("window.__violations")}
        assert {"script-src-attr", "img-src"} <= directives, directives
        assert page.evaluate("window.pwned") is None
        assert not [u for u in responses if "example.invalid" in u]  # asked for (the log shows it), then blocked
    finally:
        context.close()


class _HeaderHandler(serve.StaticHandler):
    """Sends the page's policy as an HTTP header, which (unlike the meta element) also governs
    the worker: Pyodide's WebAssembly needs 'wasm-unsafe-eval' there, and nothing more."""
    policy = ""

    def end_headers(self):
        self.send_header("Content-Security-Policy", self.policy)
        super().end_headers()


def test_pyodide_runs_under_the_policy_as_a_header_without_unsafe_eval(browser, tmp_path):
    policy = page_policy()
    assert "'unsafe-eval'" not in policy["script-src"]
    handler = type("Handler", (_HeaderHandler,), {"policy": "; ".join(" ".join([k, *v]) for k, v in policy.items())})
    httpd = serve.make_server(ROOT, port=0, handler_class=handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    context = browser.new_context(bypass_csp=False)
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    try:
        page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/index.html")
        wait_until(page, "!!(window.ifealid && (window.ifealid.state.boot.ready || window.ifealid.state.boot.error))")
        assert page.evaluate("window.ifealid.state.boot.error") is None
        assert open_file(page, ROOT / FIXTURE) is None
        assert page.evaluate("window.__violations") == []
    finally:
        context.close()
        httpd.shutdown()
        httpd.server_close()


def test_strings_from_datasets_are_shown_as_text(browser, base_url, tmp_path):
    """Run without the policy (bypass_csp), so that markup taken as HTML would really run."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(120_000)
    try:
        page.goto(f"{base_url}/index.html")
        page.wait_for_function("window.ifealid && window.ifealid.state.boot.ready")
        folder = tmp_path / "x"
        folder.mkdir()
        named = folder / f"{MARKUP}.zip"  # markup in the file name, the dataset name and a message
        named.write_bytes(zip_bytes(dataset_entries(random_values((3, 4, 5), 8), 8, name=MARKUP)))
        error = open_file(page, named)
        assert error is None
        assert page.text_content("#dataset-title") == MARKUP
        broken = dataset_entries(random_values((3, 4, 5), 8), 8, name=MARKUP)
        broken[f"{MARKUP}.png"] = b"x"
        named.write_bytes(zip_bytes(broken))
        error = open_file(page, named)
        assert error["rule"] == "unexpected-entry"
        text = page.text_content("#error")
        assert text.startswith(f"{MARKUP}.zip: ") and f"'{MARKUP}.png'" in text
        for where in ("#error", "#dataset-title", "#dataset-shape", "#summary", "#readout"):
            assert page.locator(f"{where} img").count() == 0, where
        assert page.evaluate("window.pwned") is None
    finally:
        context.close()
