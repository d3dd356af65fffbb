"""Hostile inputs through the real page: every corpus case (tests/corpus.py) through the file
input into the Pyodide worker, a valid dataset after each in the same page; worker crashes;
markup shown as text."""
from __future__ import annotations

import time

import pytest

import corpus
from pagekit import LOADED, SHOWN, forget_shown, open_file, wait_for

CASE_TIMEOUT_MS = 120_000  # a bound, not a speed claim: only a hang reaches it


@pytest.fixture(scope="module")
def page(open_module_page, base_url):
    page = open_module_page(f"{base_url}/index.html", viewport=None, timeout_ms=CASE_TIMEOUT_MS)
    assert page.evaluate("window.ifealid.state.boot.error") is None
    return page


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus-page")
    corpus.write(out)
    return out


def expect_valid_opens(page, files):
    assert open_file(page, files / "valid.zip", SHOWN) is None
    assert page.text_content("#dataset-title") == "valid after corpus"
    assert page.is_visible("#map") and page.is_hidden("#error")


def test_every_corpus_case_in_one_page(page, files):
    slow = []
    for case in corpus.CASES:
        started = time.perf_counter()
        error = open_file(page, files / f"{case.id}.zip", LOADED)
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
    slow.sort(reverse=True)
    print("\nslowest corpus cases in the page (informative):",
          ", ".join(f"{name} {seconds:.2f} s" for seconds, name in slow[:3]))


@pytest.mark.parametrize("how", ["throw", "fatal"])
def test_worker_crash_is_reported_and_a_fresh_worker_opens_the_next_file(page, files, how):
    expect_valid_opens(page, files)
    restarts = page.evaluate("window.ifealid.bridge.restarts")
    old_worker = page.evaluate("window.__oldWorker = window.ifealid.bridge.worker, 1")
    assert old_worker == 1
    assert page.evaluate(f"window.ifealid.bridge.simulateCrash('{how}')") == restarts + 1
    wait_for(page, "window.ifealid.state.error !== null")
    error = page.evaluate("window.ifealid.state.error")
    assert error["rule"] == "worker-crashed"
    text = page.text_content("#error")
    assert "The Python worker crashed" in text and "fresh" in text
    assert page.evaluate("window.ifealid.bridge.worker !== window.__oldWorker")
    # The dataset on screen stays usable; the next file is decoded by the fresh worker.
    assert page.is_visible("#map")
    expect_valid_opens(page, files)
    error = open_file(page, files / "png-rgb.zip", LOADED)
    assert error["rule"] == "png-mode"


def test_crash_while_decoding_fails_that_file_with_a_message(page, files):
    """A request in flight when the worker dies is answered with the crash, not left hanging."""
    expect_valid_opens(page, files)
    forget_shown(page)
    page.set_input_files("#file-input", str(files / "valid.zip"))
    # Crash right away: the DECODE is queued behind or racing the crash; either way the page settles.
    page.evaluate("window.ifealid.bridge.worker.postMessage({type: 'crash', id: 0, how: 'throw'})")
    wait_for(page, SHOWN)
    error = page.evaluate("window.ifealid.state.error")
    if error is not None:
        assert error["rule"] == "worker-crashed", error
    expect_valid_opens(page, files)


def test_every_input_case_in_one_page(page, files):
    """The ENVI header and array cases (corpus.INPUT_CASES): the files opened together through the
    file input; refused at once from their headers, or after the conversion dialog from their data;
    the next file opens in the same page."""
    restarts = page.evaluate("window.ifealid.bridge.restarts")  # (the crash tests above restart it)
    for case in corpus.INPUT_CASES:
        folder = files / case.id
        forget_shown(page)
        page.evaluate("window.__ifealidBefore = window.ifealid.view.state.dataset")
        page.set_input_files("#file-input", sorted(str(p) for p in folder.iterdir()))
        if case.convert:
            wait_for(page, "document.getElementById('convert-dialog').open")
            page.click("#convert-open")
        wait_for(page, "window.ifealid.state.loading === null && window.ifealid.state.error !== null")
        error = page.evaluate("window.ifealid.state.error")
        assert error["rule"] == case.rule, (case.id, error)
        shown = page.text_content("#error")
        assert case.phrase in shown, (case.id, shown)
        assert page.evaluate("document.getElementById('error').children.length") == 0
        assert page.evaluate("window.pwned") is None
        assert page.evaluate("document.getElementById('convert-dialog').open") is False
        assert page.evaluate("window.ifealid.bridge.restarts") == restarts, f"{case.id} crashed the worker"
        expect_valid_opens(page, files)
    # A valid array after them all: asked, converted, shown.
    forget_shown(page)
    page.set_input_files("#file-input", str(files / "valid.npy"))
    wait_for(page, "document.getElementById('convert-dialog').open")
    page.click("#convert-open")
    wait_for(page, SHOWN)
    assert page.evaluate("window.ifealid.state.error") is None
    assert page.text_content("#dataset-title") == "valid.npy"
