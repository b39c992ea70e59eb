"""Real git repositories in tmp_path for tests, served on 127.0.0.1 by a git daemon or over
HTTP by `git http-backend`."""

from __future__ import annotations

import base64
import http.server
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
       "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
       "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def git(*args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, env=ENV, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {proc.stderr}")
    return proc.stdout.strip()


class Repo:
    """A bare repository (`bare`, what floe is pointed at) and a work tree pushing to it."""

    def __init__(self, root: Path, name: str = "repo") -> None:
        self.bare = root / f"{name}.git"
        self.work = root / f"{name}-work"
        git("init", "--quiet", "--bare", "-b", "master", str(self.bare))
        git("init", "--quiet", "-b", "master", str(self.work))
        git("remote", "add", "origin", str(self.bare), cwd=self.work)

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def commit(self, files: dict[str, str], message: str = "change", branch: str = "master",
               push: bool = True) -> str:
        """Commit `files` on `branch` (made from the current HEAD when new) and push it."""
        if not self.has_commits():
            git("checkout", "--quiet", "-B", branch, cwd=self.work)
        elif git("branch", "--list", branch, cwd=self.work):
            git("checkout", "--quiet", branch, cwd=self.work)
        else:
            git("checkout", "--quiet", "-b", branch, cwd=self.work)
        for name, text in files.items():
            p = self.work / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        git("add", "-A", cwd=self.work)
        git("commit", "--quiet", "-m", message, cwd=self.work)
        if push:
            git("push", "--quiet", "origin", branch, cwd=self.work)
        return self.head(branch)

    def has_commits(self) -> bool:
        return subprocess.run(["git", "rev-parse", "--verify", "HEAD"], cwd=self.work,
                              env=ENV, capture_output=True, check=False).returncode == 0

    def head(self, branch: str = "master") -> str:
        return git("rev-parse", branch, cwd=self.work)

    def tag(self, name: str, rev: str = "HEAD") -> None:
        git("tag", name, rev, cwd=self.work)
        git("push", "--quiet", "origin", name, cwd=self.work)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def git_daemon(base: Path) -> Iterator[str]:
    """`git daemon` exporting every repository under `base`; yields `git://127.0.0.1:PORT`."""
    port = free_port()
    proc = subprocess.Popen(
        ["git", "daemon", "--export-all", f"--base-path={base}", "--reuseaddr",
         "--listen=127.0.0.1", f"--port={port}", str(base)],
        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:  # ready once it accepts connections
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("git daemon did not start") from None
                time.sleep(0.05)
        yield f"git://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


class _GitHTTP(http.server.BaseHTTPRequestHandler):
    """git's smart HTTP protocol: each request handed to `git http-backend` as CGI. With
    `password` set, every request needs Basic auth as user `floe`, as a private remote does."""

    base: Path
    password: str = ""
    protocol_version = "HTTP/1.0"  # one request per connection: the CGI's output is the reply

    def do_GET(self) -> None:
        self._cgi()

    def do_POST(self) -> None:
        self._cgi()

    def log_message(self, *args: object) -> None:
        pass

    def _cgi(self) -> None:
        if self.password:
            token = base64.b64encode(f"floe:{self.password}".encode()).decode()
            if self.headers.get("Authorization") != f"Basic {token}":
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {**ENV, "GIT_PROJECT_ROOT": str(self.base), "GIT_HTTP_EXPORT_ALL": "1",
               "PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": self.command,
               "CONTENT_TYPE": self.headers.get("Content-Type", ""),
               "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": "127.0.0.1"}
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        out = subprocess.run(["git", "http-backend"], input=body, env=env,
                             capture_output=True, check=False).stdout
        head, _, content = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)


@contextmanager
def git_http(base: Path, *, password: str = "") -> Iterator[str]:
    """The repositories under `base` over HTTP (`git http-backend`); yields
    `http://127.0.0.1:PORT`."""
    handler = type("Handler", (_GitHTTP,), {"base": base, "password": password})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
