"""The hostile and broken corpus (tests/corpus.py) through `ifealid validate`, read_dataset and
the worker's entry point: each gives its rule and its message, in bounded memory and time."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import corpus
import ifealid
from ifealid import DatasetError
from ifealid.browser import decode_for_worker, open_for_worker
from ifealid.cli import main as cli_main
from ifealid.units import format_bytes

ROOT = Path(__file__).resolve().parents[1]
IFEALID = Path(sys.executable).with_name("ifealid")
# No case may need more memory than this (the zip bombs inflate to 2 GiB if obeyed).
PEAK_LIMIT = 64 * 1024 ** 2
# `ifealid validate` runs with its address space capped (Linux): a case that inflated a bomb dies.
ADDRESS_SPACE_LIMIT = 1536 * 1024 ** 2
SUBPROCESS_TIMEOUT = 120  # generous: the machine may be busy; only a hang can reach it


def test_corpus_has_at_least_40_generated_cases():
    assert len(corpus.CASES) >= 40
    assert len({c.id for c in corpus.CASES}) == len(corpus.CASES)
    ifealid.read_dataset(corpus.valid_zip())  # the dataset opened after each broken one is valid


def _check(error: DatasetError | dict, case: corpus.Case):
    if isinstance(error, DatasetError):
        error = error.to_dict()
    assert error["rule"] == case.rule, error["message"]
    assert case.phrase in error["message"], error["message"]
    if case.entry is not ...:
        assert error["entry"] == case.entry


@pytest.fixture(scope="module")
def refusal_times():
    """read_dataset's time per case, printed once the module is done (informative, with -s: a time
    is never asserted)."""
    times: dict[str, float] = {}
    yield times
    worst = sorted(times.items(), key=lambda kv: -kv[1])[:3]
    if worst:
        print("\nslowest read_dataset refusals:", ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in worst))


@pytest.mark.parametrize("case", corpus.CASES, ids=lambda c: c.id)
def test_reader_refuses_with_rule_and_message(case, refusal_times):
    data = case.build()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(DatasetError) as caught:
            ifealid.read_dataset(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    refusal_times[case.id] = time.perf_counter() - started
    _check(caught.value, case)
    assert peak < PEAK_LIMIT, f"{case.id}: {format_bytes(peak)} allocated"
    # What the worker runs (app/browser.py): the same refusal, as data, also when the page's
    # entry point first tells what the file is (app/inputs.py).
    _check(decode_for_worker(data)["error"], case)
    _check(open_for_worker([f"{case.id}.zip"], [data], {"ask": True})["error"], case)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    assert corpus.main([str(out)]) == 0
    return out


def test_corpus_command_writes_every_case(corpus_dir):
    expected = json.loads((corpus_dir / "expected.json").read_text())
    assert set(expected) == {c.id for c in corpus.CASES} | {c.id for c in corpus.INPUT_CASES}
    assert all((corpus_dir / f"{c.id}.zip").is_file() for c in corpus.CASES)
    for c in corpus.INPUT_CASES:  # each input case is a folder of the files opened together
        assert sorted(p.name for p in (corpus_dir / c.id).iterdir()) == sorted(n.replace("/", "_") for n in expected[c.id]["files"])
    assert (corpus_dir / "valid.zip").is_file() and (corpus_dir / "valid.npy").is_file()


def test_validate_command_in_process(corpus_dir, capsys):
    for case in corpus.CASES:
        assert cli_main(["validate", str(corpus_dir / f"{case.id}.zip")]) == 1, case.id
        err = capsys.readouterr().err
        assert err.startswith("error"), (case.id, err)
        assert case.phrase in err, (case.id, err)
        if case.entry is not ... and case.entry:  # the command shows a named entry in brackets
            assert err.startswith(f"error [{case.entry}]: "), (case.id, err)


def _limit_memory():  # runs in the child before exec
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))


def _validate(path: Path):
    started = time.perf_counter()
    result = subprocess.run(
        [str(IFEALID), "validate", str(path)], capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT,
        preexec_fn=_limit_memory if sys.platform == "linux" else None,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    return result, time.perf_counter() - started


def test_validate_command_refuses_every_case_with_bounded_memory(corpus_dir):
    """The real `ifealid validate` (a subprocess with a capped address space and a timeout)."""
    assert IFEALID.exists(), IFEALID
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(zip(corpus.CASES, pool.map(lambda c: _validate(corpus_dir / f"{c.id}.zip"), corpus.CASES)))
    slowest = []
    for case, (result, seconds) in results.items():
        assert result.returncode == 1, (case.id, result.returncode, result.stderr[-2000:])
        assert "Traceback" not in result.stderr, (case.id, result.stderr[-2000:])
        assert case.phrase in result.stderr, (case.id, result.stderr)
        slowest.append((seconds, case.id))
    result, _ = _validate(corpus_dir / "valid.zip")
    assert result.returncode == 0, result.stderr
    slowest.sort(reverse=True)
    print("\nslowest `ifealid validate` runs (informative):",
          ", ".join(f"{name} {seconds:.2f} s" for seconds, name in slowest[:3]))


def test_brackets_inside_strings_do_not_count_as_nesting():
    name = "[[[{{{" * 20 + '\\"]]' + "[" * 40
    dataset = ifealid.read_dataset(corpus.zip_bytes(corpus.with_meta({"name": name})))
    assert dataset.info.name == name


def test_nesting_at_the_limit_is_parsed_not_refused():
    from ifealid.reader import MAX_JSON_DEPTH

    meta = json.loads(corpus.base_entries()["metadata.json"])
    nested = json.dumps({**meta, "extra": json.loads("[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1))})
    ifealid.read_dataset(corpus.zip_bytes({**corpus.base_entries(), "metadata.json": nested.encode()}))
    deeper = json.dumps({**meta, "extra": json.loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)})
    with pytest.raises(DatasetError, match="nested too deeply"):
        ifealid.read_dataset(corpus.zip_bytes({**corpus.base_entries(), "metadata.json": deeper.encode()}))


def test_zip_bomb_builder_is_honest():
    """The bombs' CRC and stream are what they claim (checked on small sizes)."""
    import zlib

    for n in (0, 1, 7, 1000, 1 << 20):
        assert corpus._crc32_of_zeros(n) == zlib.crc32(bytes(n))
    stream = corpus.zero_bomb_stream(4 << 20)
    assert zlib.decompressobj(-15).decompress(stream) == bytes(4 << 20)
    assert len(corpus.zero_bomb_stream()) < 3_000_000


def test_python_running_out_of_memory_in_the_worker_is_reported(monkeypatch):
    import ifealid.browser as browser

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(browser, "read_dataset", exhausted)
    error = browser.decode_for_worker(corpus.valid_zip())["error"]
    assert error["rule"] == "out-of-memory"
    assert "more memory than the browser gives" in error["message"] and "4×6×9" in error["message"]


# --- the inputs that are converted (ENVI headers, NumPy arrays) -----------------------------------

# Several files chosen together: the command line takes one path.
PAGE_ONLY = {"envi-two-headers", "two-arrays-at-once"}


def test_input_corpus_has_the_header_and_array_cases():
    ids = {c.id for c in corpus.INPUT_CASES}
    assert len(ids) >= 50
    assert {"envi-nested-braces", "envi-header-not-utf8", "envi-unknown-data-type", "envi-data-too-short",
            "envi-missing-samples", "envi-wavelengths-contradict-bands", "npy-truncated", "npy-complex"} <= ids


@pytest.mark.parametrize("case", corpus.INPUT_CASES, ids=lambda c: c.id)
def test_worker_refuses_each_input_with_rule_and_message(case):
    """The worker's entry point, as the page calls it: asked first (the conversion dialog), then
    converted; a refusal from the headers comes at once, one from the data after the choice."""
    from ifealid.browser import open_for_worker

    files = case.build()
    tracemalloc.start()
    try:
        result = open_for_worker(list(files), list(files.values()), {"ask": True})
        if case.convert:
            assert "choose" in result, case.id
            result = open_for_worker(list(files), list(files.values()), {"precision": 8})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    error = result["error"]
    assert error["rule"] == case.rule, error
    assert case.phrase in error["message"], error
    assert peak < PEAK_LIMIT + 3 * 5 * 1024 ** 2, f"{case.id}: {format_bytes(peak)} allocated"  # (a 5 MB header)


def test_validate_command_refuses_each_input(corpus_dir, capsys):
    for case in corpus.INPUT_CASES:
        if case.id in PAGE_ONLY:
            continue
        folder = corpus_dir / case.id
        names = sorted(p.name for p in folder.iterdir())
        target = next((n for n in names if n.endswith(".hdr")), names[0])
        assert cli_main(["validate", str(folder / target)]) == 1, case.id
        err = capsys.readouterr().err
        assert err.startswith("error"), (case.id, err)
        assert case.phrase in err.replace(target.replace("/", "_"), target), (case.id, err)


def test_valid_inputs_after_the_corpus_open(corpus_dir, capsys):
    from ifealid.browser import open_for_worker

    result = open_for_worker(["valid.npy"], [corpus.valid_npy()], {})
    assert result["info"]["features"] == 9 and "error" not in result
    assert cli_main(["validate", str(corpus_dir / "valid.npy")]) == 0
    assert "(H×W×C)" in capsys.readouterr().out
