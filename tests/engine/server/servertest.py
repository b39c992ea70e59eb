"""Helpers for server tests: a real engine process on 127.0.0.1:0, reached through httpx."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from flows import NOTHING, app
from harness import wait_until

ADMIN = "a-test-admin-token"
# One TLS context for every client the tests make: httpx builds one per client otherwise
# (30 ms each, loading the CA bundle), and the tests make thousands of clients.
TLS = ssl.create_default_context()
BASE = "/build/api"
START_TIMEOUT = 30.0

ONE_FLOW_APP = app(NOTHING, store_type="memory")


class EngineProcess:
    """One `python -m floecli.engine` process; its bound ports come from -port_file."""

    def __init__(self, proc: subprocess.Popen[bytes], ports: dict[str, int], err: Path,
                 root: Path, scheme: str = "http") -> None:
        self.proc = proc
        self.ports = ports
        self.err = err
        self.root = root
        self.scheme = scheme

    @property
    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def url(self, listener: str = "pub", scheme: str | None = None) -> str:
        return f"{scheme or self.scheme}://127.0.0.1:{self.ports[listener]}"

    def client(self, token: str | None = ADMIN, listener: str = "pub",
               **kw: Any) -> httpx.Client:
        headers = {"X-Floe-Auth": token} if token else {}
        kw.setdefault("verify", TLS)
        return httpx.Client(base_url=self.url(listener) + BASE, headers=headers, timeout=30,
                            **kw)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


def peak_rss(pid: int) -> int:
    """The most resident memory process `pid` has had (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def write_app(path: Path, app_yaml: str) -> Path:
    path.write_text(textwrap.dedent(app_yaml))
    return path


def launch(tmp: Path, app_yaml: str, *flags: str, admin: str = ADMIN, pub: bool = True,
           env: dict[str, str] | None = None, name: str = "engine") -> EngineProcess:
    tmp.mkdir(parents=True, exist_ok=True)
    conf = write_app(tmp / f"{name}.yml", app_yaml)
    ports_file = tmp / f"{name}.ports.json"
    ports_file.unlink(missing_ok=True)
    err = tmp / f"{name}.stderr.txt"
    root = tmp / f"{name}-root"
    argv = [sys.executable, "-m", "floecli.engine", f"-conf={conf}", f"-root={root}",
            f"-port_file={ports_file}", *flags]
    if admin:
        argv.append(f"-admin={admin}")
    if pub and not any(f.startswith("-pub_bind") for f in flags):
        argv.append("-pub_bind=127.0.0.1:0")
    with err.open("wb") as stderr:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr, cwd=tmp,
                                env={**os.environ, **(env or {})})
    deadline = time.monotonic() + START_TIMEOUT
    while not ports_file.exists() or not ports_file.read_text():
        if proc.poll() is not None:
            raise AssertionError(f"engine exited {proc.returncode}: {err.read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"engine did not start: {err.read_text()}")
        time.sleep(0.05)
    scheme = "https" if any(f.startswith("-pub_cert=") for f in flags) else "http"
    return EngineProcess(proc, json.loads(ports_file.read_text()), err, root, scheme)


def run_view(client: httpx.Client, flow: str, run: str) -> dict[str, Any]:
    r = client.get(f"/flows/{flow}/runs/{run}")
    assert r.status_code == 200, r.text
    return r.json()["Payload"]


def wait_ended(client: httpx.Client, flow: str, run: str, timeout: float = 30.0
               ) -> dict[str, Any]:
    return wait_until(lambda: (v := run_view(client, flow, run))["Summary"]["Ended"] and v,
                      timeout, f"run {run} of {flow} to end")


def start_run(client: httpx.Client, flow: str, values: dict[str, Any] | None = None,
              trigger: str = "start", ver: int = 1) -> str:
    r = client.post("/push/data", json={"Ref": {"ID": flow, "Ver": ver},
                                        "Form": {"ID": trigger, "Values": values or {}}})
    assert r.status_code == 200, r.text
    runs = r.json()["Payload"]["Runs"]
    assert len(runs) == 1, runs
    return runs[0]


def engine_starter(tmp_path: Path) -> Iterator[Callable[..., EngineProcess]]:
    """The body of the `start_engine` fixtures: start(app_yaml, *flags) launches an engine,
    and every engine started is stopped at the end."""
    started: list[EngineProcess] = []

    def start(app_yaml: str, *flags: str, **kw: Any) -> EngineProcess:
        e = launch(tmp_path, app_yaml, *flags, **kw)
        started.append(e)
        return e

    yield start
    for e in started:
        e.stop()
