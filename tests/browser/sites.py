"""Servers for the loading and offline tests: a copy of the site with its own datasets/, a
second origin with or without CORS headers and with failing routes, and a closing socket.

A site is a temporary folder that links to the repository's page, glue/, pyworker/, app/ and
runtime/ (so what is tested is the working tree) and holds its own datasets/ folder.
"""
from __future__ import annotations

import collections
import http.server
import importlib.util
import os
import shutil
import socket
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parents[2]
SITE_ENTRIES = ("index.html", "manifest.webmanifest", "sw.js", "glue", "pyworker", "app", "runtime")


def _serve_module():
    spec = importlib.util.spec_from_file_location("ifealid_serve_for_sites", ROOT / "scripts" / "serve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


serve = _serve_module()


def make_site(folder: Path, datasets: dict[str, bytes] | None = None, copy: tuple[str, ...] = ()) -> Path:
    """A site in `folder`: links to the repository's files, and datasets/ holding `datasets`
    (name → bytes). The paths in `copy` ("index.html", "runtime/offline-manifest.json") are
    real copies that a test may edit; the folder above such a file links to the others."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in SITE_ENTRIES:
        source = ROOT / name
        inside = [c.split("/", 1)[1] for c in copy if c.startswith(f"{name}/")]
        if name in copy:
            (shutil.copytree if source.is_dir() else shutil.copy2)(source, folder / name)
        elif inside:
            (folder / name).mkdir()
            for child in source.iterdir():
                if child.name in inside:
                    shutil.copy2(child, folder / name / child.name)
                else:
                    os.symlink(child, folder / name / child.name)
        else:
            os.symlink(source, folder / name)
    (folder / "datasets").mkdir()
    for name, data in (datasets or {}).items():
        (folder / "datasets" / name).write_bytes(data)
    return folder


class FaultyHandler(serve.StaticHandler):
    """The static handler plus routes that fail or dawdle on purpose:

    /status/<code>            answers HTTP <code> (an HTML error page)
    /slow/<name>?length=0|1   datasets/<name> in two halves, with or without Content-Length;
                              the second half waits until the server's `gate` is set
    /declare/<bytes>          declares a Content-Length of <bytes> and sends no body until the
                              `gate` is set (then closes)
    /endless                  zeros without a Content-Length until the page stops reading (or
                              256 MB); the bytes sent are counted in the server's `sent`
    """

    def do_GET(self):  # noqa: N802 - name from the base class
        url = urlparse(self.path)
        self.server.paths.append(url.path)
        if url.path.startswith("/status/"):
            self.send_error(int(url.path.rsplit("/", 1)[1]))
            return
        if url.path.startswith("/declare/"):
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", url.path.rsplit("/", 1)[1])
            self.end_headers()
            self.close_connection = True
            self.server.gate.wait(120)
            return
        if url.path == "/endless":
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.end_headers()
            self.close_connection = True
            chunk = b"PK\x03\x04" + bytes(65532)
            try:
                while self.server.sent[url.path] < 256 * 10**6:
                    self.wfile.write(chunk)
                    self.server.sent[url.path] += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the page stopped reading
            return
        if url.path.startswith("/slow/"):
            data = (Path(self.directory) / "datasets" / url.path[len("/slow/"):]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            if parse_qs(url.query).get("length", ["1"])[0] == "1":
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            half = len(data) // 2
            self.close_connection = True
            try:
                self.wfile.write(data[:half])
                self.wfile.flush()
                self.server.gate.wait(120)
                self.wfile.write(data[half:])
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the page gave up on the download (a test cancels one)
            return
        super().do_GET()


class Server:
    """A served folder on 127.0.0.1 (a free port), in a thread, until stop()."""

    def __init__(self, root: Path, cors: str | None = None):
        self.httpd = serve.make_server(root, port=0, cors=cors, handler_class=FaultyHandler)
        self.httpd.gate = threading.Event()
        self.httpd.paths = []  # every GET's path, in order
        self.httpd.sent = collections.Counter()  # body bytes sent by /endless
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.running = True

    @property
    def gate(self) -> threading.Event:
        return self.httpd.gate

    @property
    def paths(self) -> list[str]:
        return self.httpd.paths

    @property
    def sent(self) -> collections.Counter:
        return self.httpd.sent

    def stop(self):
        if self.running:
            self.running = False
            self.httpd.gate.set()
            self.httpd.shutdown()
            self.httpd.server_close()


class ClosingServer:
    """Accepts connections and closes them at once, without a byte: a network failure."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.close()

    def stop(self):
        self.running = False
        time.sleep(0.3)
        self.sock.close()
