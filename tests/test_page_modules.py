"""index.html preloads exactly the page's module graph (glue/app.js and what it imports).

Without a preload, a module is fetched only once its importer has arrived; a module added to the
graph without one would quietly slow the start again, and a preload of a module the page no longer
imports would be a wasted request.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMPORT = re.compile(r"""^\s*(?:import|export)\b[^;]*?\bfrom\s*['"](\.{1,2}/[^'"]+)['"]""", re.M | re.S)


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.preloads: list[str] = []
        self.modules: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "link" and a.get("rel") == "modulepreload":
            self.preloads.append(a["href"])
        if tag == "script" and a.get("type") == "module":
            self.modules.append(a["src"])


def module_graph(entry: Path) -> set[Path]:
    seen: set[Path] = set()
    todo = [entry.resolve()]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for spec in IMPORT.findall(path.read_text()):
            todo.append((path.parent / spec).resolve())
    return seen


def test_index_preloads_the_whole_module_graph():
    links = _Links()
    links.feed((ROOT / "index.html").read_text())
    # pyworker/early.js first, on its own, so that it runs before the page's graph is evaluated.
    assert links.modules == ["pyworker/early.js", "glue/app.js"]
    assert module_graph(ROOT / "pyworker" / "early.js") == {(ROOT / "pyworker" / "early.js").resolve()}
    graph = module_graph(ROOT / "glue" / "app.js")
    imported = {p.relative_to(ROOT).as_posix() for p in graph} - {"glue/app.js"}
    assert len(imported) >= 10  # the parser found the imports (renderer.js's span several lines)
    assert sorted(links.preloads) == sorted(imported)
    assert len(links.preloads) == len(set(links.preloads))
