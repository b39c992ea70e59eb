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

import asyncio
import hashlib
import logging
import os
import time
from pathlib import Path

from .. import platform

log = logging.getLogger(__name__)

MARKER = "FLOE_TASK"
KILL_WAIT = 5.0  # seconds for SIGKILLed processes to die
REAP_WALKS = 5  # walks of /proc for one reap, at most
REAP_SETTLE = 0.05  # seconds between two walks
PROC = Path("/proc")


def root_tag(workspace_root: Path) -> str:
    """Names one engine's workspace root in markers (short, no separators)."""
    return hashlib.sha256(str(workspace_root).encode()).hexdigest()[:12]


def marker(root: str, run_id: str, node_id: str) -> str:
    return f"{root}:{run_id}:{node_id}"


def kill_marked(*markers: str) -> list[int]:
    """SIGKILL every process (but this one) whose FLOE_TASK is one of `markers`, or starts
    with one that ends in `:` (a run's `<root>:<run>:`, an engine's `<root>:`); their pids."""
    wanted = Markers(markers)
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
        if wanted.match(environ) and platform.kill_process(pid):
            killed.append(pid)
    if killed:
        log.info("killed %d left-over task processes (%s...)", len(killed), markers[0])
        _wait_gone(killed)
    return killed


class Markers:
    """The markers one walk of /proc looks for. A walk runs on a thread, and what it does
    in Python holds the GIL the engine's loop needs: a process's environment is searched
    for its FLOE_TASK value once (a substring search in C), which is then looked up, not
    compared with every marker variable by variable (in a burst's run ends that was tens
    of milliseconds of GIL per walk)."""

    _VAR = b"\0" + MARKER.encode() + b"="

    def __init__(self, markers: tuple[str, ...] | list[str]) -> None:
        encoded = [m.encode() for m in markers]
        self.exact = frozenset(encoded)
        self.prefixes = frozenset(m for m in encoded if m.endswith(b":"))

    def match(self, environ: bytes) -> bool:
        """Whether the environment (`/proc/<pid>/environ`: NUL-separated `NAME=value`)
        carries a FLOE_TASK this walk looks for."""
        environ = b"\0" + environ  # so the first variable too follows a NUL
        at = environ.find(self._VAR)
        while at >= 0:
            start = at + len(self._VAR)
            end = environ.find(b"\0", start)
            if self._wanted(environ[start:] if end < 0 else environ[start:end]):
                return True
            at = environ.find(self._VAR, start)
        return False

    def _wanted(self, value: bytes) -> bool:
        if value in self.exact:
            return True
        if self.prefixes:
            colon = value.find(b":")
            while colon >= 0:
                if value[:colon + 1] in self.prefixes:
                    return True
                colon = value.find(b":", colon + 1)
        return False


class Reaper:
    """Kills what survives of ended runs and timed-out tasks beyond their process groups
    (a `setsid` daemon, a `nohup ... &`). One walk of /proc serves every marker asked for
    while the previous walk ran, so a burst of run ends costs a few walks, not one each."""

    def __init__(self) -> None:
        self._wanted: set[str] = set()
        self._done: asyncio.Future[None] | None = None  # what the next walk will settle
        self._walking = False
        self._walker: asyncio.Task[None] | None = None

    async def reap(self, marker: str) -> None:
        """Until every process carrying `marker` (see kill_marked) has been killed."""
        loop = asyncio.get_running_loop()
        self._wanted.add(marker)
        if self._done is None:
            self._done = loop.create_future()
        done = self._done
        if not self._walking:
            self._walking = True
            self._walker = loop.create_task(self._walk(), name="reaper")
        await asyncio.shield(done)

    async def _walk(self) -> None:
        try:
            while self._wanted:
                wanted, self._wanted = self._wanted, set()
                done, self._done = self._done, None
                try:
                    await self._kill(sorted(wanted))
                finally:
                    if done is not None and not done.done():
                        done.set_result(None)
        finally:
            self._walking = False

    @staticmethod
    async def _kill(markers: list[str]) -> None:
        # A process caught mid-fork or mid-exec can show no environment for an instant, and
        # one being killed may have forked: walk again shortly after, and again while a
        # walk still finds something (bounded).
        for walk in range(REAP_WALKS):
            killed = await asyncio.to_thread(kill_marked, *markers)
            if walk and not killed:
                return
            await asyncio.sleep(REAP_SETTLE)


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
