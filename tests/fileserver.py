"""A real HTTP file server on 127.0.0.1 for tests: serves a dict of paths, honours Range,
counts requests and can cut a response short once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class FileServer:
    files: dict[str, bytes]
    port: int = 0
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, Range
    cut_after: dict[str, int] = field(default_factory=dict)  # path -> bytes sent, then drop
    ranges: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def count(self, method: str = "GET", path: str | None = None) -> int:
        with self.lock:
            return sum(1 for m, p, _ in self.requests
                       if m == method and (path is None or p == path))


def _handler(server: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet test output
            pass

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, body: bool) -> None:
            rng = self.headers.get("Range", "")
            with server.lock:
                server.requests.append((self.command, self.path, rng))
            data = server.files.get(self.path)
            if data is None:
                self.send_response(404)
                self.send_header("Content-Length", "9")
                self.end_headers()
                if body:
                    self.wfile.write(b"not found")
                return
            start = 0
            if rng and server.ranges and rng.startswith("bytes="):
                start = int(rng[6:].split("-", 1)[0] or 0)
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
            part = data[start:]
            self.send_header("Content-Length", str(len(part)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if not body:
                return
            with server.lock:
                cut = server.cut_after.pop(self.path, None) if self.command == "GET" else None
            if cut is not None:
                self.wfile.write(part[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(part)

    return Handler


@contextmanager
def serve_files(files: dict[str, bytes], **kw: object) -> Iterator[FileServer]:
    server = FileServer(dict(files), **kw)  # type: ignore[arg-type]
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
