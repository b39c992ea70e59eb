"""Which tasks' processes were started: what lets a restart tell a task that was running from
one that never ran.

A task's start is committed to the run store before its process is asked for (write ahead),
but the process itself starts later, on the spawner thread, behind any other starts queued
there. Just before the fork, that thread appends `<run id> <node id>` to this journal with
one write(2). A kill -9 cannot take back a write the kernel has: after a restart a running
task whose line is here was running (interrupted, or run again with `opts.restart: rerun`),
and one whose line is not never started a process, so it is started now, once.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)


class SpawnJournal:
    def __init__(self, path: Path | None) -> None:
        self.path = path  # None: nothing outlives the process (a memory store)
        self._fd: int | None = None
        self._lock = threading.Lock()

    def open(self) -> set[tuple[str, str]]:
        """The (run id, node id) pairs the last engine started processes for."""
        if self.path is None:
            return set()
        seen: set[tuple[str, str]] = set()
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            lines = []
        for raw in lines:
            run_id, _, node_id = raw.decode("utf-8", "replace").partition(" ")
            if node_id:
                seen.add((run_id, node_id))
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return seen

    def reset(self) -> None:
        """Forget what the last engine started: every run resumed has decided its tasks."""
        with self._lock:
            if self._fd is not None:
                os.ftruncate(self._fd, 0)

    def started(self, run_id: str, node_id: str) -> None:
        """A process of this task is about to start (the spawner thread)."""
        with self._lock:
            if self._fd is None:
                return
            try:
                os.write(self._fd, f"{run_id} {node_id}\n".encode())
            except OSError as e:  # a full disk: the task still runs; a restart may call a
                log.warning("spawn journal %s: %s", self.path, e)  # queued one interrupted

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
