"""The intake journal (`floe.db.intake`): each new pend, appended as one line before add_pend
returns, so an acknowledged run is durable at once, without a round trip through the writer
thread while the engine is busy. The writer empties it whenever every pend in it is
committed; opening the store adds the pends the database does not know yet (a crash came
between the two)."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path

from ...errors import StoreError
from ..codec import dumps
from .sql import ADD_PEND, RAISE_COUNTER, execute, knows_run, log, rollback


class Journal:
    """The intake journal: one JSON line per pend, `{"run": id, "counter": n, "pend": {...}}`,
    appended by the loop's thread and emptied by the worker once every pend in it is
    committed (the lock keeps an append from landing between that check and the truncate)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._lock = threading.Lock()
        self._written = 0  # lines appended since the journal was last emptied
        self._committed = 0  # of those, how many the database has committed

    def append(self, run_id: str, counter: int, pend_json: str) -> None:
        line = f'{{"run": {json.dumps(run_id)}, "counter": {counter}, "pend": {pend_json}}}\n'
        with self._lock:
            if self._fd is None:
                raise StoreError(f"the intake journal {self.path} is not open")
            try:
                os.write(self._fd, line.encode())  # ASCII: json escapes everything else
            except OSError as e:  # a full disk: the run is not adopted, the caller hears why
                raise StoreError(f"cannot write the intake journal {self.path}: {e}") from None
            self._written += 1

    def committed(self, count: int) -> None:
        """`count` more journaled pends are committed (worker thread)."""
        if not count:
            return
        with self._lock:
            self._committed += count
            if self._committed >= self._written and self._fd is not None:
                os.ftruncate(self._fd, 0)
                self._written = self._committed = 0

    def replay(self, conn: sqlite3.Connection) -> None:
        """Open the journal; add the pends it holds that the database does not know (their
        ids in neither pends nor runs), with their counters; then empty it (worker thread,
        before the first batch)."""
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        _lock_exclusive(self._fd, self.path)
        self._written = self._committed = 0
        with open(self.path, "rb") as f:
            lines = f.read().splitlines()
        added = 0
        conn.execute("BEGIN")
        try:
            for n, raw in enumerate(lines, 1):
                try:
                    entry = json.loads(raw)
                    run_id, counter, pend = entry["run"], int(entry["counter"]), entry["pend"]
                except (ValueError, KeyError, TypeError):
                    # The last line may be torn by the crash that left it here.
                    log.warning("intake journal %s:%d cannot be read, skipped", self.path, n)
                    continue
                if not knows_run(conn, run_id):
                    execute(conn, (ADD_PEND, (run_id, dumps(pend))))
                    added += 1
                conn.execute(RAISE_COUNTER, (counter,))
            conn.commit()
        except BaseException:
            rollback(conn)
            raise
        os.ftruncate(self._fd, 0)
        if added:
            log.warning("%d acknowledged runs recovered from the intake journal %s", added,
                        self.path)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def _lock_exclusive(fd: int, path: Path) -> None:
    """One engine per store: a second one would take the same run ids (and empty the first
    one's journal)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise StoreError(f"the run store {path.with_suffix('')} is in use by another engine",
                         hint="give each engine a store-root (or -root) of its own, or leave "
                              "workspace-root at its default, which is per host name") from None
