"""Fixtures for the data-layer tests: a loopback HTTP server (127.0.0.1, ephemeral port) with fault
injection, and builders of tiny datasets in the official layouts and label formats."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"


class LoopbackServer:
    """Serves ``files`` (URL path -> bytes) with optional faults per path:

    - ``drop_after``: on the first ``drop_times`` requests, send only this many body bytes and close;
    - ``stall``: send the headers and ``stall_after`` bytes, then go silent (until the test ends);
    - ``status``: answer with this HTTP status;
    - ``no_range``: ignore Range headers (always 200 with the whole file);
    - ``ctype``: the Content-Type header to send.
    Every request is logged as ``(method, path, range header)``."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, dict] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self.stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):  # noqa: N802
                path = self.path.split("?", 1)[0]
                rng = self.headers.get("Range")
                server.requests.append(("GET", path, rng))
                n_seen = sum(1 for r in server.requests if r[1] == path)
                fault = server.faults.get(path, {})
                if "status" in fault:
                    body = b"nope"
                    self.send_response(fault["status"])
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if path not in server.files:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = server.files[path]
                start = 0
                if rng and not fault.get("no_range"):
                    start = int(rng.split("=", 1)[1].split("-", 1)[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                if "ctype" in fault:
                    self.send_header("Content-Type", fault["ctype"])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if "stall" in fault:
                    self.wfile.write(body[: fault.get("stall_after", 10)])
                    self.wfile.flush()
                    server.stop.wait(fault["stall"])
                    self.close_connection = True
                    return
                if "drop_after" in fault and n_seen <= fault.get("drop_times", 1):
                    self.wfile.write(body[: fault["drop_after"]])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def hits(self, path: str) -> list[tuple[str, str, str | None]]:
        return [r for r in self.requests if r[1] == path]

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_server():
    server = LoopbackServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent (development copies of real datasets)")
    return SHARED_DATA
