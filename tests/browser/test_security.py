"""Security: the page's Content-Security-Policy (strict, no inline code, and no violation in normal
use), Pyodide under that policy sent as a header, and strings from datasets shown as text.

Every browser test runs under the policy unless it says why not, and fails on a violation
(conftest.py, pagekit.py); these check the policy itself, that it is really in force, and that it
also holds as a header.
"""
from __future__ import annotations

import re
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest

from pagekit import SHOWN, expect_problems, open_file, problems, wait_for
from sites import Server, serve
from zipkit import dataset_entries, jpeg_bytes, random_values, zip_bytes

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = "tests/fixtures/original/000000015746.jpg.C3.npz.8.zip"
MARKUP = '<img src=x onerror="window.pwned=1">'


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
    sources = [*ROOT.glob("glue/**/*.js"), *ROOT.glob("pyworker/*.js"), ROOT / "sw.js"]
    assert len(sources) >= 20 and ROOT / "glue" / "ui" / "explorer.js" in sources  # the glob finds the modules
    pattern = re.compile(r"\beval\(|new Function\b|\.innerHTML\b|\.outerHTML\b|insertAdjacentHTML|document\.write")
    offenders = [f"{p.name}:{i + 1}" for p in sources if p.exists()
                 for i, line in enumerate(p.read_text().splitlines()) if pattern.search(line)]
    assert offenders == []


@pytest.fixture(scope="module")
def other_origin():
    """Another origin (another port) that lets pages read its files (CORS), for a ?d= link."""
    server = Server(ROOT, cors="*")
    yield server
    server.stop()


def test_normal_use_breaks_no_rule_of_the_policy(open_page, base_url, other_origin, tmp_path):
    page = open_page()  # under the policy, as every test is unless it says why not
    responses = []
    page.context.on("response", lambda response: responses.append(response.url))
    link = f"{other_origin.url}/{FIXTURE}"
    page.goto(f"{base_url}/index.html?d={quote(link, safe='')}")
    wait_for(page, SHOWN)
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
    wait_for(page, "window.ifealid.state.loading === null && window.ifealid.view.state.dataset?.info.features === 256")
    wait_for(page, "window.ifealid.offline !== null")
    assert page.evaluate("Promise.resolve(window.ifealid.offline).then((r) => r !== null)")  # registered
    # No violation, no refusal on the console, no page error so far.
    assert problems(page) == []
    # Only the page's own origin and the ?d= address were asked for.
    own = urlparse(base_url).netloc
    others = {u for u in page.requests if urlparse(u).netloc != own and not u.startswith(("data:", "blob:"))}
    assert others == {link}, others

    # The policy is in force: inline handlers and foreign images are refused, and reported both
    # as events and on the console (which is how the fixtures see them).
    page.evaluate("""() => {
      const div = document.createElement('div');
      div.setAttribute('onclick', 'window.pwned = 1'); div.click();
      const img = document.createElement('img'); img.src = 'https://example.invalid/x.png';
      document.body.append(img);
    }""")
    wait_for(page, "window.__ifealidViolations.length >= 2", timeout=30)
    expect_problems(page, r"^csp: script-src-attr inline ", r"^csp: img-src https://example\.invalid/x\.png ",
                    r"^console: .*inline event handler.*Content Security Policy",
                    r"^console: .*'https://example\.invalid/x\.png'.*Content Security Policy")
    assert page.evaluate("window.pwned") is None
    assert not [u for u in responses if "example.invalid" in u]  # asked for (the log shows it), then blocked


class _HeaderHandler(serve.StaticHandler):
    """Sends the page's policy as an HTTP header, which (unlike the meta element) also governs
    the worker: Pyodide's WebAssembly needs 'wasm-unsafe-eval' there, and nothing more."""
    policy = ""

    def end_headers(self):
        self.send_header("Content-Security-Policy", self.policy)
        super().end_headers()


def test_pyodide_runs_under_the_policy_as_a_header_without_unsafe_eval(open_page, tmp_path):
    policy = page_policy()
    assert "'unsafe-eval'" not in policy["script-src"]
    handler = type("Handler", (_HeaderHandler,), {"policy": "; ".join(" ".join([k, *v]) for k, v in policy.items())})
    httpd = serve.make_server(ROOT, port=0, handler_class=handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        # Under the policy (no bypass); a violation fails the test (the fixture's check).
        page = open_page(f"http://127.0.0.1:{httpd.server_address[1]}/index.html", viewport=None)
        assert page.evaluate("window.ifealid.state.boot.error") is None
        assert open_file(page, ROOT / FIXTURE) is None
        assert problems(page) == []
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_strings_from_datasets_are_shown_as_text(open_page, base_url, tmp_path):
    page = open_page(f"{base_url}/index.html", viewport=None, timeout_ms=120_000,
                     bypass_csp="markup inserted as HTML must really run here (the policy would block "
                                "its onerror), so that window.pwned shows it")
    assert page.evaluate("window.ifealid.state.boot.error") is None
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
