"""Benchmark `floe build`: build time with a cold and a warm wheel cache, binary size, and the
built engine's start-to-ready time (first start unpacks the archive; later starts do not).
Prints one JSON line. Network: the cold build fetches wheels from the package index."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

FLOE = str(Path(sys.executable).parent / "floe")
PYTHON = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
STARTS = 5


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True, timeout=600)
    return time.perf_counter() - t0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_to_ready(binary: Path, work: Path, env: dict[str, str]) -> float:
    """Seconds from spawning the binary to its API answering on 127.0.0.1."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/build/api/flows"
    t0 = time.perf_counter()
    proc = subprocess.Popen([PYTHON, "-I", str(binary), f"-pub_bind=127.0.0.1:{port}",
                             f"-root={work / 'root'}"], cwd=work, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = t0 + 30
        while time.perf_counter() < deadline:
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except urllib.error.HTTPError:
                break  # 401 without a session: it is serving
            except OSError:
                time.sleep(0.005)
        else:
            raise RuntimeError("the binary never answered")
        return time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {**os.environ, "FLOE_CACHE_DIR": str(root / "cache"),
               "SHIV_ROOT": str(root / "shiv")}
        subprocess.run([FLOE, "create", "demo"], cwd=root, env=env, check=True,
                       capture_output=True)
        project = root / "demo"
        cold = timed([FLOE, "build", "-e"], project, env)
        warm = statistics.median(timed([FLOE, "build", "-e"], project, env) for _ in range(3))
        binary = project / "bin" / "demo"
        first = start_to_ready(binary, root, env)
        later = statistics.median(start_to_ready(binary, root, env) for _ in range(STARTS))
        print(json.dumps({
            "bench": "build", "cold_cache_build_s": round(cold, 2),
            "warm_cache_build_s": round(warm, 2),
            "binary_mb": round(binary.stat().st_size / 1e6, 2),
            "first_start_to_ready_s": round(first, 3),
            "start_to_ready_s": round(later, 3),
        }))


if __name__ == "__main__":
    main()
