"""The page fixtures themselves (pagekit.py, conftest.py): a tab reports page errors and policy
violations, takes only what a test declared, and turns the policy off only with a reason."""
from __future__ import annotations

import pytest

import pagekit
from pagekit import expect_problems, wait_for

# A page with the app's kind of policy (meta element), served by a route: no Python boots.
PROBE = """<!doctype html><html><head>
<meta http-equiv="Content-Security-Policy" content="default-src 'self'; script-src 'self'; img-src 'self'">
<title>probe</title></head><body></body></html>"""
MISBEHAVE_JS = """() => {
  setTimeout(() => { throw new Error('probe failure'); });
  const img = document.createElement('img'); img.src = 'https://example.invalid/probe.png';
  document.body.append(img);
}"""


def probe(open_page, base_url, **options):
    page = open_page(**options)
    page.route("**/probe.html", lambda route: route.fulfill(body=PROBE, content_type="text/html"))
    page.goto(f"{base_url}/probe.html")
    return page


def test_a_tab_reports_errors_violations_and_refusals(open_page, base_url):
    page = probe(open_page, base_url)
    assert pagekit.problems(page) == []
    page.evaluate(MISBEHAVE_JS)
    wait_for(page, "window.__ifealidViolations.length >= 1")
    page.wait_for_timeout(200)  # let the console message and the page error arrive
    lines = pagekit.problems(page)
    assert "pageerror: probe failure" in lines, lines
    assert any(line.startswith("csp: img-src https://example.invalid/probe.png ") for line in lines), lines
    assert any(line.startswith("console: ") and "probe.png" in line for line in lines), lines
    # Undeclared, all of them are reported (what the autouse check fails a test on) ...
    assert len(page.watch.take()) == len(lines) == 3
    # ... declared, none is; and a declaration that did not happen is reported instead.
    page.evaluate(MISBEHAVE_JS)
    wait_for(page, "window.__ifealidViolations.length >= 2")
    page.wait_for_timeout(200)
    expect_problems(page, r"^pageerror: probe failure$", r"probe\.png", r"never happens")
    assert page.watch.take() == ["declared with expect_problems but did not happen: 'never happens'"]
    assert pagekit.problems(page) == [] and page.watch.expected == []


def test_the_policy_is_off_only_with_a_reason(open_page, base_url):
    with pytest.raises(ValueError):
        open_page(bypass_csp=True)
    data_image = "() => { const i = document.createElement('img'); i.src = 'data:,'; document.body.append(i); }"
    # img-src 'self' refuses a data: image under the policy ...
    page = probe(open_page, base_url)
    page.evaluate(data_image)
    wait_for(page, "window.__ifealidViolations.length >= 1")
    expect_problems(page, r"^csp: img-src data", r"^console: .*Content Security Policy")
    # ... and lets it through with the policy bypassed.
    page = probe(open_page, base_url, bypass_csp="checks that bypassing turns the policy off")
    page.evaluate(data_image)
    page.wait_for_timeout(200)
    assert pagekit.problems(page) == []
    assert page.evaluate("window.__ifealidViolations") == []


def test_every_tab_has_a_fresh_context(open_page):
    a, b = open_page(), open_page()
    assert a.context is not b.context
    assert a.requests == [] and b.requests == []
