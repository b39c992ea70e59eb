"""On a terminal the project commands show rich progress; the result lines are the same."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

FLOE = str(Path(sys.executable).parent / "floe")


def run_on_terminal(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(argv, cwd=cwd, env={**env, "COLUMNS": "100", "TERM": "xterm"},
                            stdin=secondary, stdout=secondary, stderr=secondary)
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 4096)
        except OSError:  # the other side closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(primary)
    return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace")


def test_install_on_a_terminal(project, env):
    code, out = run_on_terminal([FLOE, "install", "floe-hello"], project, env)
    assert code == 0, out
    assert "Installed task: floe-hello 1.0.0" in out
    assert "\x1b[" in out  # the progress display drew on the terminal
    assert "Installing floe-hello\r\n" not in out  # no plain step lines


def test_help_lists_the_toolchain(script_runner):
    r = script_runner.run(["floe", "--help"])
    assert r.returncode == 0
    for verb in ("create", "install", "uninstall", "update", "list"):
        assert f"\n  {verb} " in r.stdout
