"""Downloads that cannot hurt: ?d= links to hostile servers (tests/browser/sites.py).

A server declaring a 20 GB file is refused from its declared length before the body comes; one
streaming without a length is cut off at the limit; a silent server is reported and the page
offers to cancel (after which the next file opens); a relative link cannot leave datasets/; a
20,000-character link is quoted shortened. The stall timeout and the limit are lowered through
the page's IFEALID_DOWNLOAD setting so that the tests stay fast; nothing here asserts a time.
"""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest

from pagekit import LOADED, SHOWN, open_file, wait_for
from sites import Server, make_site
from test_open import expect_dataset, picker_is_available, small_dataset

ROOT = Path(__file__).resolve().parents[2]
STALL_MS = 300


def limits_script(**limits) -> str:
    return f"globalThis.IFEALID_DOWNLOAD = {json.dumps(limits)};"


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    site = make_site(tmp_path_factory.mktemp("hostile") / "site", {"small.zip": small_dataset(3)})
    (site / "secret.zip").write_bytes(small_dataset(4))  # beside datasets/, not in it
    (site / "datasets-private").mkdir()
    (site / "datasets-private" / "small.zip").write_bytes(small_dataset(5))
    page, cors = Server(site), Server(site, cors="*")
    yield {"page": page, "cors": cors, "site": site}
    for server in (page, cors):
        server.stop()


@pytest.fixture(scope="module")
def tab(open_module_page):
    """One tab for the module, whose page reports a silent server after STALL_MS."""
    return open_module_page(init_script=limits_script(stallMs=STALL_MS))


def go(page, servers, d: str):
    page.goto(f"{servers['page'].url}/index.html?d={quote(d, safe='')}")


def test_a_declared_20_gb_file_is_refused_before_its_body_comes(tab, servers):
    servers["cors"].gate.clear()  # the server sends no body byte until the gate is set
    try:
        go(tab, servers, f"{servers['cors'].url}/declare/20000000000")
        wait_for(tab, LOADED)
        error = tab.evaluate("window.ifealid.state.error")
        # Refused while the server had not sent a byte of the body: from the declared length.
        assert not servers["cors"].gate.is_set()
    finally:
        servers["cors"].gate.set()
    assert error["rule"] == "too-large", error
    # The limit is the memory budget the renderer allows itself (glue/render/device.js).
    budget = tab.evaluate("""async () => {
      const [{ defaultMemoryBudget }, { formatBytes }] = await Promise.all([
        import('./glue/render/device.js'), import('./glue/format.js')]);
      return formatBytes(defaultMemoryBudget());
    }""")
    text = tab.text_content("#error")
    assert "20.00 GB (as the server declares), not downloaded" in text, text
    assert f"larger than the page can hold (at most {budget} on this device)" in text, text
    picker_is_available(tab)


def test_a_file_streamed_without_a_length_is_cut_off_at_the_limit(open_page, servers):
    servers["cors"].sent.clear()
    page = open_page(f"{servers['page'].url}/index.html?d={quote(servers['cors'].url + '/endless', safe='')}",
                     init_script=limits_script(maxBytes=2_000_000), until=LOADED)
    error = page.evaluate("window.ifealid.state.error")
    assert error["rule"] == "too-large", error
    assert "cut off after 2.00 MB with more to come: the file is larger than the page can hold" in page.text_content("#error")
    picker_is_available(page)
    # The page stopped reading: the server could send little beyond the limit (socket buffers).
    for _ in range(100):
        before = servers["cors"].sent["/endless"]
        page.wait_for_timeout(50)
        if servers["cors"].sent["/endless"] == before:
            break
    assert servers["cors"].sent["/endless"] < 64 * 10**6
    # And the next file opens.
    assert open_file(page, servers["site"] / "datasets" / "small.zip") is None
    expect_dataset(page, servers["site"] / "datasets" / "small.zip")


def test_a_silent_server_is_reported_and_the_download_can_be_cancelled(tab, servers):
    servers["cors"].gate.clear()  # half the file, then silence
    try:
        go(tab, servers, f"{servers['cors'].url}/slow/small.zip?length=1")
        wait_for(tab, "window.ifealid?.state.loading?.stalledMs > 0")
        assert tab.is_visible("#progress-cancel")
        text = tab.text_content("#progress-text")
        assert text.startswith("Downloading small.zip: ") and "the server has sent nothing for" in text, text
        tab.click("#progress-cancel")
        wait_for(tab, "window.ifealid.state.loading === null")
    finally:
        servers["cors"].gate.set()
    assert tab.evaluate("window.ifealid.state.error") is None
    assert "the download of small.zip was cancelled" in tab.text_content("#notice")
    assert tab.is_visible('#start label[for="file-input"]') and tab.is_hidden("#progress")
    # Ready for the next file.
    assert open_file(tab, servers["site"] / "datasets" / "small.zip") is None
    expect_dataset(tab, servers["site"] / "datasets" / "small.zip")


def test_a_server_that_resumes_after_a_stall_delivers_the_file(tab, servers):
    servers["cors"].gate.clear()
    try:
        go(tab, servers, f"{servers['cors'].url}/slow/small.zip?length=0")
        wait_for(tab, "window.ifealid?.state.loading?.stalledMs > 0")
        assert tab.is_visible("#progress-cancel")
    finally:
        servers["cors"].gate.set()
    wait_for(tab, SHOWN)
    expect_dataset(tab, servers["site"] / "datasets" / "small.zip")
    assert tab.is_hidden("#progress-cancel")


@pytest.mark.parametrize("link, target", [
    ("../../etc/passwd", "/etc/passwd"),
    ("../secret.zip", "/secret.zip"),
    ("%2e%2e/secret.zip", "/secret.zip"),
    ("..\\secret.zip", "/secret.zip"),
    ("sub/../../secret.zip", "/secret.zip"),
    ("../datasets-private/small.zip", "/datasets-private/small.zip"),
])
def test_relative_links_stay_inside_datasets(tab, servers, link, target):
    go(tab, servers, link)
    wait_for(tab, LOADED)
    error = tab.evaluate("window.ifealid.state.error")
    assert error["rule"] == "outside-datasets", error
    assert "leads outside the datasets/ folder beside the page" in tab.text_content("#error")
    assert target not in servers["page"].paths
    picker_is_available(tab)


def test_a_20000_character_link_is_quoted_shortened(tab, servers):
    d = "x" * 20000 + ".zip"
    go(tab, servers, d)
    wait_for(tab, LOADED)
    error = tab.evaluate("window.ifealid.state.error")
    assert (error["rule"], error.get("status")) == ("http", 404), error
    text = tab.text_content("#error")
    assert len(text) < 600, len(text)
    assert f"{servers['page'].url}/datasets/xxx" in text and "….zip" not in text and "xxx.zip" in text and "…" in text
    picker_is_available(tab)
