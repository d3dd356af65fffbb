"""Serve the repository root as a static site on 127.0.0.1.

There is no server logic: this only maps file extensions to the MIME types a
browser insists on (module scripts must be JavaScript, WebAssembly must be
application/wasm for streaming compilation) which Python's defaults lack.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MIME_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".py": "text/x-python",
    ".whl": "application/octet-stream",
    ".zip": "application/zip",
    ".map": "application/json",
}


class StaticHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}

    def end_headers(self):
        # Revalidate every time: a developer's edit must show on reload.
        self.send_header("Cache-Control", "no-cache")
        # --cors: let pages of other origins read the files (for ?d= links to datasets here).
        if self.server.cors:
            self.send_header("Access-Control-Allow-Origin", self.server.cors)
        super().end_headers()

    def log_message(self, format, *args):  # noqa: A002 - signature from the base class
        if self.server.verbose:
            super().log_message(format, *args)


def make_server(root: Path = ROOT, host: str = "127.0.0.1", port: int = 0,
                verbose: bool = False, cors: str | None = None,
                handler_class: type[StaticHandler] = StaticHandler) -> http.server.ThreadingHTTPServer:
    """A static server of `root`; `cors` (e.g. "*") is sent as Access-Control-Allow-Origin;
    `handler_class` may be a subclass of StaticHandler (the tests add failing routes)."""
    handler = functools.partial(handler_class, directory=str(root))
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    server.verbose = verbose
    server.cors = cors
    return server


# The view each demo opens in: centred values and cosine similarity spread its maps ~8 times as
# wide as the stored values' angular similarity (README, "The demos"); the hyperspectral one's
# classes separate best under centred correlation. index.html's demo buttons
# carry the same fragments (tests/test_demos.py holds them together).
DEMO_VIEWS = {
    "demo-astronaut-efficientnet-lite0.zip": "values=centred&metric=cosine",
    "demo-astronaut-texture.zip": "values=centred&metric=cosine",
    # Measured over 20 fixed-seed labelled pixels: own-class minus other-class mean similarity
    # 0.79 (worst pixel 0.35) for centred correlation, 0.77 (0.19) for centred cosine, 0.03 for
    # stored cosine (README, "The demos").
    "demo-indian-pines.zip": "values=centred&metric=correlation",
}


def demo_links(root: Path, base: str) -> list[str]:
    """?d= links to the built-in demos (datasets/demo-*.zip) under `base`, each in its view."""
    links = []
    for p in sorted((root / "datasets").glob("demo-*.zip")):
        view = DEMO_VIEWS.get(p.name)
        links.append(f"{base}?d={p.name}" + (f"#{view}" if view else ""))
    return links


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="port (0 picks a free one)")
    parser.add_argument("--root", type=Path, default=ROOT, help="folder to serve")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    parser.add_argument("--cors", action="store_true",
                        help="send Access-Control-Allow-Origin: * (pages elsewhere may open ?d= links to files here)")
    args = parser.parse_args(argv)
    server = make_server(args.root, port=args.port, verbose=not args.quiet, cors="*" if args.cors else None)
    host, port = server.server_address[:2]
    base = f"http://{host}:{port}/"
    print(f"IFeaLiD is served at {base}  (Ctrl+C stops)", flush=True)
    for link in demo_links(args.root, base):
        print(f"  demo: {link}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
