"""Shared by the benchmarks: a real engine process on 127.0.0.1 and its resident memory."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ADMIN = "bench-admin-token"
START_LIMIT_S = 30.0


def start_engine(tmp: Path, conf: Path, root: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`python -m floecli.engine` on conf, its pub listener on a free loopback port."""
    ports = tmp / "ports.json"
    ports.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "floecli.engine", f"-conf={conf}",
                             f"-root={root}", "-pub_bind=127.0.0.1:0", f"-admin={ADMIN}",
                             f"-port_file={ports}"], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + START_LIMIT_S
    while not (ports.exists() and ports.read_text()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("engine did not start")
        time.sleep(0.05)
    return proc, json.loads(ports.read_text())["pub"]


@contextlib.contextmanager
def engine_running(app_text: str, prefix: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """An engine on `app_text` in a temp dir of its own, stopped (SIGTERM) at the end."""
    with tempfile.TemporaryDirectory(prefix=prefix) as d:
        tmp = Path(d)
        conf = tmp / "app.yml"
        conf.write_text(app_text)
        proc, port = start_engine(tmp, conf, tmp / "root")
        try:
            yield proc, port
        finally:
            proc.terminate()
            proc.wait(30)


def rss_mb(pid: int) -> float:
    """The process's resident set now, from /proc (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0
