"""Hostile inputs through the real page: every corpus case (tests/corpus.py) through the file
input into the Pyodide worker, a valid dataset after each in the same page; worker crashes;
markup shown as text."""
from __future__ import annotations

import time

import pytest

import corpus
from tabs import READY

SETTLED = "window.ifealid.state.loading === null && (window.ifealid.state.dataset || window.ifealid.state.error)"
SHOWN = "window.ifealid.state.loading === null && (window.ifealid.state.shownAt !== null || window.ifealid.state.error)"
CASE_TIMEOUT_MS = 120_000  # a bound, not a speed claim: only a hang reaches it


@pytest.fixture(scope="module")
def app(browser, base_url):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(CASE_TIMEOUT_MS)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base_url}/index.html")
    page.wait_for_function(READY)
    assert page.evaluate("window.ifealid.state.boot.error") is None
    yield page, errors
    context.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus-page")
    corpus.write(out)
    return out


def open_file(page, path, until=SETTLED):
    page.evaluate("window.ifealid.state.dataset = null; window.ifealid.state.error = null;"
                  "window.ifealid.state.shownAt = null")
    page.set_input_files("#file-input", str(path))
    page.wait_for_function(until)
    return page.evaluate("window.ifealid.state.error")


def expect_valid_opens(page, files):
    assert open_file(page, files / "valid.zip", SHOWN) is None
    assert page.text_content("#dataset-title") == "valid after corpus"
    assert page.is_visible("#map") and page.is_hidden("#error")


def test_every_corpus_case_in_one_page(app, files):
    page, errors = app
    slow = []
    for case in corpus.CASES:
        started = time.perf_counter()
        error = open_file(page, files / f"{case.id}.zip")
        slow.append((time.perf_counter() - started, case.id))
        assert error is not None, case.id
        assert error["rule"] == case.rule, (case.id, error)
        if case.entry is not ...:
            assert error["entry"] == case.entry, (case.id, error)
        shown = page.text_content("#error")
        assert case.phrase in shown, (case.id, shown)
        assert shown.startswith(f"{case.id}.zip: "), shown
        assert page.is_visible("#error")
        # Shown as text: markup in names and values never becomes elements.
        assert page.evaluate("document.getElementById('error').children.length") == 0
        assert page.evaluate("window.pwned") is None
        assert page.evaluate("window.ifealid.bridge.restarts") == 0, f"{case.id} crashed the worker"
        expect_valid_opens(page, files)
    assert errors == []
    slow.sort(reverse=True)
    print("\nslowest corpus cases in the page (informative):",
          ", ".join(f"{name} {seconds:.2f} s" for seconds, name in slow[:3]))


@pytest.mark.parametrize("how", ["throw", "fatal"])
def test_worker_crash_is_reported_and_a_fresh_worker_opens_the_next_file(app, files, how):
    page, errors = app
    expect_valid_opens(page, files)
    restarts = page.evaluate("window.ifealid.bridge.restarts")
    old_worker = page.evaluate("window.__oldWorker = window.ifealid.bridge.worker, 1")
    assert old_worker == 1
    assert page.evaluate(f"window.ifealid.bridge.simulateCrash('{how}')") == restarts + 1
    page.wait_for_function("window.ifealid.state.error !== null")
    error = page.evaluate("window.ifealid.state.error")
    assert error["rule"] == "worker-crashed"
    text = page.text_content("#error")
    assert "The Python worker crashed" in text and "fresh" in text
    assert page.evaluate("window.ifealid.bridge.worker !== window.__oldWorker")
    # The dataset on screen stays usable; the next file is decoded by the fresh worker.
    assert page.is_visible("#map")
    expect_valid_opens(page, files)
    error = open_file(page, files / "png-rgb.zip")
    assert error["rule"] == "png-mode"
    assert errors == []


def test_crash_while_decoding_fails_that_file_with_a_message(app, files):
    """A request in flight when the worker dies is answered with the crash, not left hanging."""
    page, _ = app
    expect_valid_opens(page, files)
    page.evaluate("window.ifealid.state.error = null")
    page.set_input_files("#file-input", str(files / "valid.zip"))
    # Crash right away: the DECODE is queued behind or racing the crash; either way the page settles.
    page.evaluate("window.ifealid.bridge.worker.postMessage({type: 'crash', id: 0, how: 'throw'})")
    page.wait_for_function(SHOWN)
    error = page.evaluate("window.ifealid.state.error")
    if error is not None:
        assert error["rule"] == "worker-crashed", error
    expect_valid_opens(page, files)
