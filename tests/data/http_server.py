"""A local HTTP file server for the download tests (127.0.0.1, no network).

It serves ``files`` (URL path -> bytes) with ``Range: bytes=N-`` support, records each request
as ``(path, Range header)``, can cut one transfer halfway (``cut_once``), answer slowly
(``delay``) or ignore ``Range`` (``ignore_range``). The ``server`` fixture of this folder's
conftest.py starts one per test.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["FileServer", "base_url", "serving"]


class FileServer(ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 for ``files`` (URL path -> bytes); logs ``requests``."""

    files: dict[str, bytes]
    requests: list[tuple[str, str | None]]
    cut_once: set[str]
    delay: float
    ignore_range: bool


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.files`` with ``Range: bytes=N-`` support; can cut a transfer halfway."""

    server: FileServer

    def do_GET(self) -> None:
        range_header = self.headers.get("Range")
        self.server.requests.append((self.path, range_header))
        time.sleep(self.server.delay)
        data = self.server.files.get(self.path)
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        if range_header is not None and not self.server.ignore_range:
            match = re.fullmatch(r"bytes=(\d+)-", range_header)
            assert match is not None, range_header
            start = int(match.group(1))
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
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path in self.server.cut_once:
            self.server.cut_once.discard(self.path)
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving() -> Iterator[FileServer]:
    """A running :class:`FileServer` with no files, shut down on exit."""
    httpd = FileServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.requests, httpd.cut_once, httpd.delay = {}, [], set(), 0.0
    httpd.ignore_range = False
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def base_url(server: FileServer) -> str:
    """``http://127.0.0.1:<port>``, the base URL to give as ``mirror=``."""
    return f"http://127.0.0.1:{server.server_address[1]}"
