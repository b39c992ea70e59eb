"""Benchmark (issue 3): toolchain start-up as ratios on the same machine, and `floe create`.

Prints one JSON line (each time the median of RUNS runs):
  python_pass_s        `python -c pass`
  typer_rich_s         `python -c 'import typer, rich'`
  version_ratio        `floe --version` / python_pass_s          (target < 3)
  help_ratio           `floe --help` / typer_rich_s              (target < 1.3)
  list_ratio           `floe list` in a project / typer_rich_s   (target < 1.3)
  create_s             `floe create` of the default project      (target < 5 s)
Bounded: RUNS runs of each command; the whole script gives up (SIGALRM) after 300 s. The
runs have no subprocess timeout of their own: waiting with a timeout polls, which rounds every
figure up to the polling interval.
"""

from __future__ import annotations

import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 9
PY = sys.executable
FLOE = str(Path(sys.executable).parent / "floe")


def timed(argv: list[str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def median(argv: list[str], cwd: Path | None = None) -> float:
    timed(argv, cwd)  # warm the file cache and byte-code
    return statistics.median(timed(argv, cwd) for _ in range(RUNS))


def main() -> None:
    signal.alarm(300)
    work = Path(tempfile.mkdtemp(prefix="floe-bench-"))
    try:
        python_pass = median([PY, "-c", "pass"])
        typer_rich = median([PY, "-c", "import typer, rich"])
        version = median([FLOE, "--version"])
        help_ = median([FLOE, "--help"])
        creates = []
        for i in range(RUNS):
            start = time.perf_counter()
            subprocess.run([FLOE, "create", f"p{i}"], cwd=work, check=True,
                           stdout=subprocess.DEVNULL)
            creates.append(time.perf_counter() - start)
        list_ = median([FLOE, "list"], cwd=work / "p0")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({
        "python_pass_s": round(python_pass, 4),
        "typer_rich_s": round(typer_rich, 4),
        "version_ratio": round(version / python_pass, 2),
        "help_ratio": round(help_ / typer_rich, 2),
        "list_ratio": round(list_ / typer_rich, 2),
        "create_s": round(statistics.median(creates), 3),
    }))


if __name__ == "__main__":
    main()
