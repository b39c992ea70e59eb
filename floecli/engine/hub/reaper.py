"""Finding a run's processes beyond its process groups, and killing what survives.

Every task process gets `FLOE_TASK=<root>:<run>:<node>` in its environment, which its
children inherit even when they leave the process group (`setsid`, `nohup ... &`, a daemon).
On Linux, /proc/<pid>/environ shows it, so a stop kills whatever of the run survives its
groups, and a starting engine kills what tasks of a previous engine on the same workspace
root left behind (a `kill -9` cannot take its children with it) before resuming or reusing a
workspace. Elsewhere (no /proc) only the process groups are killed. A process that scrubs its
environment (`env -i`) escapes this; document, do not pretend.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

from .. import platform

log = logging.getLogger(__name__)

MARKER = "FLOE_TASK"
KILL_WAIT = 5.0  # seconds for SIGKILLed processes to die
PROC = Path("/proc")


def root_tag(workspace_root: Path) -> str:
    """Names one engine's workspace root in markers (short, no separators)."""
    return hashlib.sha256(str(workspace_root).encode()).hexdigest()[:12]


def marker(root: str, run_id: str, node_id: str) -> str:
    return f"{root}:{run_id}:{node_id}"


def kill_marked(prefix: str) -> list[int]:
    """SIGKILL every process (but this one) whose FLOE_TASK starts with `prefix`; their
    pids."""
    needle = f"{MARKER}={prefix}".encode()
    killed = []
    me = os.getpid()
    try:
        entries = [p for p in os.listdir(PROC) if p.isdigit()]
    except OSError:
        return killed  # no /proc here: the process groups are all we can kill
    for entry in entries:
        pid = int(entry)
        if pid == me:
            continue
        try:
            environ = (PROC / entry / "environ").read_bytes()
        except OSError:
            continue  # gone, or not ours to read
        if any(var.startswith(needle) for var in environ.split(b"\0")) \
                and platform.kill_process(pid):
            killed.append(pid)
    if killed:
        log.info("killed %d left-over task processes (%s...)", len(killed), prefix)
        _wait_gone(killed)
    return killed


def _wait_gone(pids: list[int]) -> None:
    """Until each killed process is dead (gone or a zombie), so nothing of them touches a
    workspace once this returns; bounded by KILL_WAIT."""
    deadline = time.monotonic() + KILL_WAIT
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                state = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                break  # gone
            if state in ("Z", "X"):
                break
            time.sleep(0.005)
