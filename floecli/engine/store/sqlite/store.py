"""The SQLite run store (`store-type: local`): one thread owns the database, one commit a batch.

Writes only enqueue statements and return, so the event loop never waits on the disk. The
worker thread drains whatever is queued, runs it in one transaction and commits once, so a
chatty task's thousand log lines cost one commit, not a thousand. Reads travel the same queue
with an asyncio future, so each sees every write made before it, and are answered after the
batch's commit.

A new pend is also appended, as one line, to an intake journal beside the database
(`floe.db.intake`) before add_pend returns: that write is what makes an acknowledged run
durable at once, without a round trip through the worker while the engine is busy. The
worker empties the journal whenever every pend in it is committed; opening the store adds
the journal's pends the database does not know yet (a crash came between the two).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import StoreError
from ...runs import Pend, RunRecord
from ..base import KEPT_PREFIX, ArchivedRun, RunStore, StoreState, highest_run_numbers
from ..codec import (
    dumps,
    group_logs,
    pend_text,
    run_from_text,
    run_text,
    sort_time,
    summary_from_row,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

# logs.seq is a plain INTEGER PRIMARY KEY: a new row takes max + 1, so it grows with every
# insert without AUTOINCREMENT's extra table (retention deletes the lines of old runs only,
# so a number reused after the top rows went still sorts after every line kept).
SCHEMA = f"""
BEGIN;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
CREATE TABLE IF NOT EXISTS pends (run_id TEXT PRIMARY KEY, seq INTEGER NOT NULL,
                                  json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, flow_id TEXT NOT NULL,
                                 state TEXT NOT NULL CHECK (state IN ('active', 'archive')),
                                 start_time REAL NOT NULL, json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_flow_time ON runs (flow_id, start_time);
CREATE INDEX IF NOT EXISTS runs_time ON runs (start_time);
CREATE INDEX IF NOT EXISTS runs_state ON runs (state);
CREATE INDEX IF NOT EXISTS runs_flow_state_time ON runs (flow_id, state, start_time);
CREATE TABLE IF NOT EXISTS logs (seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL,
                                 node_id TEXT NOT NULL, line TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS logs_run ON logs (run_id);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, json TEXT NOT NULL);
PRAGMA user_version = {SCHEMA_VERSION};
COMMIT;
"""

ADD_PEND = """INSERT INTO pends (run_id, seq, json)
VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM pends), ?)
ON CONFLICT (run_id) DO UPDATE SET json = excluded.json"""
SET_COUNTER = """INSERT INTO meta (key, value) VALUES ('counter', ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value"""
RAISE_COUNTER = """INSERT INTO meta (key, value) VALUES ('counter', ?)
ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)"""
REMOVE_PEND = "DELETE FROM pends WHERE run_id = ?"
# A run id is activated once: activating a known run is an error that rolls the whole
# transition back (hub/state.py refuses known ids first; this is the store's own guard).
ACTIVATE_RUN = """INSERT INTO runs (run_id, flow_id, state, start_time, json)
VALUES (?, ?, 'active', ?, ?)"""
# An archived run stays archived: a save that arrives after the end must not revive it.
SAVE_RUN = """UPDATE runs SET start_time = ?, json = ? WHERE run_id = ? AND state = 'active'"""
ARCHIVE_RUN = """INSERT INTO runs (run_id, flow_id, state, start_time, json)
VALUES (?, ?, 'archive', ?, ?)
ON CONFLICT (run_id) DO UPDATE SET state = 'archive', flow_id = excluded.flow_id,
    start_time = excluded.start_time, json = excluded.json"""
APPEND_LOG = "INSERT INTO logs (run_id, node_id, line) VALUES (?, ?, ?)"
PUT = """INSERT INTO kv (key, json) VALUES (?, ?)
ON CONFLICT (key) DO UPDATE SET json = excluded.json"""
DELETE = "DELETE FROM kv WHERE key = ?"
RUN_LOGS = "SELECT node_id, line FROM logs WHERE run_id = ? ORDER BY seq"

# A page of archived summaries, read by SQLite's JSON functions: the flow and node states in
# each record are never parsed in Python. The page's rows are picked from the index alone,
# so a deep offset skips index entries, not records.
ARCHIVE_PAGE = """SELECT json_extract(json, '$.Ref', '$.ExecHost', '$.StartTime', '$.EndTime',
                          '$.Good', '$.Reason', '$.State', '$.Why', '$.StoppedBy',
                          '$.Inputs', '$.Rerun')
FROM runs WHERE rowid IN (
    SELECT rowid FROM runs WHERE flow_id = ? AND state = 'archive'
    ORDER BY start_time DESC, rowid DESC LIMIT ? OFFSET ?)
ORDER BY start_time DESC, rowid DESC"""
ARCHIVE_COUNT = "SELECT count(*) FROM runs WHERE flow_id = ? AND state = 'archive'"

# Bounds one transaction when a task logs faster than the disk commits.
MAX_BATCH = 10_000
# Writes queued beyond this make room() wait (backpressure on chatty tasks' pipes).
HIGH_WATER = 20_000
ROOM_POLL = 0.005
# A batch the database refused for now (a full disk) is tried again after this, doubling.
RETRY_FIRST = 0.05
RETRY_MAX = 2.0

Statement = tuple[str, Sequence[Any]]
Reply = Callable[[Any, BaseException | None], None]


@dataclass(slots=True)
class _Write:
    statements: tuple[Statement, ...]
    journaled: bool = False  # a pend also in the intake journal
    reply: Reply | None = None  # told once committed (None) or refused (a StoreError)


@dataclass(slots=True)
class _Read:
    op: Callable[[sqlite3.Connection], Any]
    reply: Reply
    stop: bool = False  # close the database once this batch is committed
    barrier: bool = False  # answered only once every write before it is committed


class _Transient(Exception):
    """The database cannot take writes now (a full disk, an I/O error): the batch is kept
    and tried again, never dropped."""


class SqliteStore(RunStore):
    """The run store in one SQLite file (WAL, synchronous=NORMAL), usually
    `<store-root>/store/floe.db`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._jobs: queue.SimpleQueue[_Write | _Read] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        # Each counter is written by one thread only, so their difference needs no lock.
        self._queued = 0  # jobs put, by the loop's thread
        self._done = 0  # jobs applied, by the worker
        self._journal = Journal(Path(f"{self.path}.intake"))
        # Why writes fail now ("" while they work): set by the worker, read by the loop.
        self.problem = ""
        self._unsaved: list[_Write] = []  # worker only: applied, not yet committed
        self._barriers: list[Reply] = []  # worker only: waiting for those to commit

    # ---- life cycle -------------------------------------------------------------------

    def journal_path(self, name: str) -> Path:
        return Path(f"{self.path}.{name}")

    def open(self) -> StoreState:
        if self._thread is not None:
            raise StoreError(f"the run store {self.path} is already open")
        self._jobs = queue.SimpleQueue()
        self._queued = self._done = 0
        opened: concurrent.futures.Future[StoreState] = concurrent.futures.Future()
        thread = threading.Thread(target=self._serve, args=(self._jobs, opened),
                                  name=f"floe-store {self.path.name}", daemon=True)
        thread.start()
        try:
            state = opened.result()
        except BaseException:
            thread.join()
            raise
        self._thread = thread
        return state

    async def close(self) -> None:
        thread = self._thread
        if thread is None:
            return
        self._thread = None  # from here on writes are refused, so none can follow the stop
        await self._call(_noop, stop=True)
        thread.join()  # already past its last statement: this does not block for long

    async def flush(self) -> None:
        await self._call(_noop, barrier=True)

    async def pends_durable(self) -> None:
        return None  # add_pend wrote each to the intake journal before returning

    async def room(self) -> None:
        while self._thread is not None and self._queued - self._done > HIGH_WATER:
            await asyncio.sleep(ROOM_POLL)

    # ---- writes: enqueued, applied in order by the worker ------------------------------

    def add_pend(self, pend: Pend, counter: int) -> None:
        if self.problem:
            # Acknowledging a run now would promise what the store cannot keep (503).
            raise StoreError(f"the run store {self.path} cannot take writes now: "
                             f"{self.problem}", hint="free space on its disk; floe retries")
        text = pend_text(pend)
        if self._thread is not None:
            self._journal.append(pend.run_id, counter, text)
        self._write((ADD_PEND, (pend.run_id, text)), (SET_COUNTER, (counter,)),
                    journaled=True)

    def activate(self, run: RunRecord) -> asyncio.Future[None]:
        # Serialised now, on the caller's thread: the caller keeps mutating the record.
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[None] = loop.create_future()
        if self._thread is None:
            outcome.set_exception(StoreError(f"the run store {self.path} is not open"))
            return outcome
        self._write((REMOVE_PEND, (run.run_id,)),
                    (ACTIVATE_RUN, (run.run_id, run.flow.id, sort_time(run), run_text(run))),
                    reply=_replier(loop, outcome))
        return outcome

    def finish(self, run: RunRecord) -> None:
        self._write((REMOVE_PEND, (run.run_id,)),
                    (ARCHIVE_RUN, (run.run_id, run.flow.id, sort_time(run), run_text(run))))

    def save_run(self, run: RunRecord) -> None:
        self._write((SAVE_RUN, (sort_time(run), run_text(run), run.run_id)))

    def append_log(self, run_id: str, node_id: str, line: str) -> None:
        self._write((APPEND_LOG, (run_id, node_id, line)))

    async def has_run(self, run_id: str) -> bool:
        return await self._call(lambda c: _knows_run(c, run_id))

    def put(self, key: str, value: Any) -> None:
        self._write((PUT, (key, dumps(value))))  # a value that is not JSON fails here, loudly

    def delete(self, key: str) -> None:
        self._write((DELETE, (key,)))

    # ---- reads: answered by the worker after every write queued before them -------------

    async def load_run(self, run_id: str) -> RunRecord | None:
        def op(c: sqlite3.Connection) -> RunRecord | None:
            row = c.execute("SELECT json FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            return run_from_text(row[0], c.execute(RUN_LOGS, (run_id,))) if row else None
        return await self._call(op)

    async def list_runs(self, flow_id: str | None = None, limit: int = 0) -> list[RunRecord]:
        where, params = ("WHERE flow_id = ?", [flow_id]) if flow_id is not None else ("", [])
        sql = f"SELECT json FROM runs {where} ORDER BY start_time DESC, rowid DESC LIMIT ?"
        params.append(limit if limit > 0 else -1)  # SQLite: a negative LIMIT means none

        def op(c: sqlite3.Connection) -> list[RunRecord]:
            return [run_from_text(text) for (text,) in c.execute(sql, params)]
        return await self._call(op)

    async def archive_page(self, flow_id: str, offset: int = 0, limit: int = 0
                           ) -> tuple[list[dict[str, Any]], int]:
        def op(c: sqlite3.Connection) -> tuple[list[dict[str, Any]], int]:
            total = c.execute(ARCHIVE_COUNT, (flow_id,)).fetchone()[0]
            rows = c.execute(ARCHIVE_PAGE, (flow_id, limit if limit > 0 else -1, offset))
            return [summary_from_row(json.loads(text)) for (text,) in rows], total
        return await self._call(op)

    async def node_logs(self, run_id: str, node_id: str | None = None) -> dict[str, list[str]]:
        if node_id is None:
            sql, params = RUN_LOGS, (run_id,)
        else:
            sql = "SELECT node_id, line FROM logs WHERE run_id = ? AND node_id = ? ORDER BY seq"
            params = (run_id, node_id)
        return await self._call(lambda c: group_logs(c.execute(sql, params)))

    async def get(self, key: str) -> Any | None:
        def op(c: sqlite3.Connection) -> Any | None:
            row = c.execute("SELECT json FROM kv WHERE key = ?", (key,)).fetchone()
            return json.loads(row[0]) if row else None
        return await self._call(op)

    async def archive_index(self) -> list[ArchivedRun]:
        return await self._call(archive_index)

    async def delete_runs(self, run_ids: Sequence[str]) -> int:
        ids = list(run_ids)
        return await self._call(lambda c: delete_runs(c, ids))

    # ---- the queue -------------------------------------------------------------------

    def _write(self, *statements: Statement, journaled: bool = False,
               reply: Reply | None = None) -> None:
        if self._thread is None:
            log.warning("run store %s is not open: %s dropped", self.path,
                        _describe(statements[0]))
            return
        self._queued += 1
        self._jobs.put(_Write(statements, journaled, reply))

    async def _call(self, op: Callable[[sqlite3.Connection], Any], *, stop: bool = False,
                    barrier: bool = False) -> Any:
        if self._thread is None and not stop:
            raise StoreError(f"the run store {self.path} is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queued += 1
        self._jobs.put(_Read(op, _replier(loop, future), stop, barrier))
        return await future

    # ---- the worker thread -------------------------------------------------------------

    def _serve(self, jobs: queue.SimpleQueue[_Write | _Read],
               opened: concurrent.futures.Future[StoreState]) -> None:
        try:
            conn = _connect(self.path)
        except StoreError as e:
            opened.set_exception(e)
            return
        try:
            self._journal.replay(conn)
            opened.set_result(_load_state(conn))
        except (sqlite3.Error, ValueError, OSError, StoreError) as e:
            conn.close()
            self._journal.close()
            opened.set_exception(e if isinstance(e, StoreError) else _open_error(self.path, e))
            return
        stopping: list[Reply] = []
        retry = RETRY_FIRST
        try:
            while not stopping:
                batch = _drain(jobs, retry if self._unsaved else None)
                stopping = self._run_batch(conn, batch)
                retry = min(retry * 2, RETRY_MAX) if self._unsaved else RETRY_FIRST
        finally:
            if self._unsaved:
                # Closed while the writes still fail: better said than an engine that never
                # stops. What the last commit holds is what a restart resumes.
                log.error("run store %s: closed with %d writes it could not save: %s",
                          self.path, len(self._unsaved), self.problem)
                lost = StoreError(f"the run store {self.path} closed before saving: "
                                  f"{self.problem}")
                for job in self._unsaved:
                    if job.reply is not None:
                        job.reply(None, lost)
                for reply in self._barriers:
                    reply(None, lost)
            conn.close()
            self._journal.close()
            for reply in stopping:
                reply(None, None)

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Write | _Read]) -> list[Reply]:
        """Apply the writes not yet committed, then this batch's, in one transaction, and
        commit once. Plain reads are answered from that transaction (they see every write
        before them, committed or not); barriers and writes' replies wait for the commit.
        When the database cannot take the writes now (a full disk), everything is kept and
        tried again with the next batch: a write is never dropped. Returns the replies of
        stop requests (empty to keep serving)."""
        writes = [j for j in batch if isinstance(j, _Write)]
        todo = [*self._unsaved, *writes]
        answers: list[tuple[Reply, Any, BaseException | None]] = []
        refused: list[tuple[_Write, StoreError]] = []
        stops: list[Reply] = []
        failure = ""
        try:
            _begin(conn)
            for job in todo:
                error = self._apply(conn, job)
                if error is not None:
                    refused.append((job, error))
            for job in batch:
                if isinstance(job, _Write):
                    continue
                if job.stop:
                    stops.append(job.reply)
                elif job.barrier:
                    self._barriers.append(job.reply)
                else:
                    answers.append(self._read(conn, job))
            _commit(conn)
        except _Transient as e:
            failure = str(e)
            _rollback(conn)
        for reply, result, error in answers:
            reply(result, error)
        self._done += len(batch) - len(writes)  # reads and stops: handled
        if failure:
            if not self.problem:
                log.error("run store %s: writes fail (%s): %d kept, tried again until they "
                          "succeed", self.path, failure, len(todo))
            self.problem = failure
            self._unsaved = todo
            return stops  # a close now saves nothing more: the finally of _serve says so
        if self.problem:
            log.warning("run store %s: writes work again: %d kept writes saved", self.path,
                        len(self._unsaved))
            self.problem = ""
        self._journal.committed(sum(j.journaled for j in todo))
        self._done += len(todo)
        self._unsaved = []
        refusals = {id(job): error for job, error in refused}
        for job in todo:
            if job.reply is not None:
                job.reply(None, refusals.get(id(job)))
        barriers, self._barriers = self._barriers, []
        for reply in barriers:
            reply(None, None)
        return stops

    def _read(self, conn: sqlite3.Connection, job: _Read
              ) -> tuple[Reply, Any, BaseException | None]:
        try:
            return job.reply, job.op(conn), None
        except sqlite3.Error as e:
            if _transient(e):
                raise _Transient(str(e)) from None
            return job.reply, None, StoreError(f"reading the run store {self.path} failed: {e}")
        except Exception as e:
            return job.reply, None, StoreError(f"reading the run store {self.path} failed: {e}")

    def _apply(self, conn: sqlite3.Connection, job: _Write) -> StoreError | None:
        """One write, all or nothing: a write of several statements (a run transition) runs
        in a savepoint, so a failing statement undoes the ones before it. A write the
        database refuses (a constraint) is refused alone: the error goes back to whoever
        waits for it, and the batch goes on. _Transient when the database cannot take
        writes at all now."""
        atomic = len(job.statements) > 1
        try:
            if atomic:
                conn.execute("SAVEPOINT write")
            for statement in job.statements:
                _execute(conn, statement)
            if atomic:
                conn.execute("RELEASE write")
        except sqlite3.Error as e:
            if _transient(e):  # full, I/O, locked: not this write's fault
                raise _Transient(str(e)) from None
            error: Exception = e
        except Exception as e:
            error = e
        else:
            return None
        what = " + ".join(_describe(s) for s in job.statements)
        log.error("run store %s: %s refused: %s", self.path, what, error)
        if atomic:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK TO write")
                conn.execute("RELEASE write")
        return StoreError(f"the run store refused {what}: {error}")


# SQLite's primary result codes for "not now": busy, locked, out of memory, I/O error, full,
# cannot open. Any other error is about the write itself.
_TRANSIENT_CODES = frozenset({5, 6, 7, 10, 13, 14})


def _transient(e: sqlite3.Error) -> bool:
    code = getattr(e, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _TRANSIENT_CODES


def _begin(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("BEGIN")
    except sqlite3.Error as e:
        raise _Transient(str(e)) from None


def _commit(conn: sqlite3.Connection) -> None:
    try:
        conn.commit()
    except sqlite3.Error as e:
        raise _Transient(str(e)) from None


def _replier(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any]) -> Reply:
    """A reply the worker thread can call, settling `future` on its loop."""
    def reply(result: Any, error: BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(_settle, future, result, error)
    return reply


def _execute(conn: sqlite3.Connection, statement: Statement) -> None:
    sql, params = statement
    try:
        conn.execute(sql, params)
    except UnicodeEncodeError:
        # A lone surrogate in a log line: keep the line, with the bad character replaced.
        conn.execute(sql, [_utf8(p) for p in params])


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
                if not _knows_run(conn, run_id):
                    _execute(conn, (ADD_PEND, (run_id, dumps(pend))))
                    added += 1
                conn.execute(RAISE_COUNTER, (counter,))
            conn.commit()
        except BaseException:
            _rollback(conn)
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


ARCHIVE_INDEX = f"""SELECT r.run_id, r.flow_id, r.start_time, k.key IS NOT NULL
FROM runs r LEFT JOIN kv k ON k.key = '{KEPT_PREFIX}' || r.run_id
WHERE r.state = 'archive' ORDER BY r.flow_id, r.start_time DESC, r.rowid DESC"""


def archive_index(conn: sqlite3.Connection) -> list[ArchivedRun]:
    """Every archived run, per flow newest first (also read by `floe prune` from outside)."""
    return [ArchivedRun(run_id, flow_id, float(start), bool(kept))
            for run_id, flow_id, start, kept in conn.execute(ARCHIVE_INDEX)]


def delete_runs(conn: sqlite3.Connection, run_ids: Sequence[str]) -> int:
    """Remove archived runs with their log lines and kept marks, in the caller's
    transaction (the worker's batch, or `floe prune`'s own)."""
    gone = 0
    for i in range(0, len(run_ids), 500):  # SQLite's bound-parameter limit
        chunk = list(run_ids[i:i + 500])
        marks = ",".join("?" * len(chunk))
        archived = [r for (r,) in conn.execute(
            f"SELECT run_id FROM runs WHERE state = 'archive' AND run_id IN ({marks})", chunk)]
        if not archived:
            continue
        marks = ",".join("?" * len(archived))
        conn.execute(f"DELETE FROM logs WHERE run_id IN ({marks})", archived)
        conn.execute(f"DELETE FROM runs WHERE run_id IN ({marks})", archived)
        conn.execute(f"DELETE FROM kv WHERE key IN ({marks})",
                     [KEPT_PREFIX + r for r in archived])
        gone += len(archived)
    return gone


def make_dirs(path: Path) -> None:
    """Create `path` and its missing parents, each private to the user (0700)."""
    missing: list[Path] = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for d in reversed(missing):
        d.mkdir(mode=0o700, exist_ok=True)


def _connect(path: Path) -> sqlite3.Connection:
    if path.is_dir():
        raise _open_error(path, "it is a directory")
    try:
        make_dirs(path.parent)
        if not path.exists():
            # Sessions live here too: only the user may read it (SQLite's -wal and -shm
            # files copy the database file's mode).
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(path, isolation_level=None)
    except (OSError, sqlite3.Error) as e:
        raise _open_error(path, e) from None
    try:
        # Another process (a second engine, a CLI) may hold a lock for a moment.
        conn.execute("PRAGMA busy_timeout = 5000")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise _open_error(path, f"it was written by a newer floe (schema {version})")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            log.warning("run store %s: journal mode is %s, not wal", path, mode)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.executescript(SCHEMA)
    except sqlite3.Error as e:
        conn.close()
        raise _open_error(path, e) from None
    except StoreError:
        conn.close()
        raise
    return conn


def _load_state(conn: sqlite3.Connection) -> StoreState:
    row = conn.execute("SELECT value FROM meta WHERE key = 'counter'").fetchone()
    ids = conn.execute("SELECT run_id FROM runs UNION ALL SELECT run_id FROM pends")
    state = StoreState(counter=int(row[0]) if row else 0,
                       highest=highest_run_numbers(run_id for (run_id,) in ids))
    for run_id, text in conn.execute("SELECT run_id, json FROM pends ORDER BY seq"):
        try:
            state.pends.append(Pend.from_json(json.loads(text)))
        except (ValueError, TypeError, AttributeError) as e:
            # Like the reference: a record that cannot be read is logged, not fatal.
            log.warning("run store: pend %s cannot be read, skipped: %s", run_id, e)
    active = conn.execute(
        "SELECT run_id, json FROM runs WHERE state = 'active' ORDER BY start_time, rowid"
    ).fetchall()
    for run_id, text in active:
        try:
            state.active.append(run_from_text(text, conn.execute(RUN_LOGS, (run_id,))))
        except (ValueError, TypeError, AttributeError) as e:
            log.warning("run store: active run %s cannot be read, skipped: %s", run_id, e)
    return state


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
                         hint="give each engine a store-root of its own") from None


def _knows_run(conn: sqlite3.Connection, run_id: str) -> bool:
    """Whether the run id is pending or in runs (active or archived)."""
    return any(conn.execute(f"SELECT 1 FROM {table} WHERE run_id = ?", (run_id,)).fetchone()
               for table in ("pends", "runs"))


def _drain(jobs: queue.SimpleQueue[_Write | _Read], timeout: float | None = None
           ) -> list[_Write | _Read]:
    """Wait for one job (at most `timeout` seconds: then none), then take every job already
    queued (up to MAX_BATCH)."""
    try:
        batch = [jobs.get(timeout=timeout)]
    except queue.Empty:
        return []
    while len(batch) < MAX_BATCH:
        try:
            batch.append(jobs.get_nowait())
        except queue.Empty:
            break
    return batch


def _open_error(path: Path, why: object) -> StoreError:
    return StoreError(f"cannot open the run store {path}: {why}",
                      hint="store-root must be a directory this user can write")


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.rollback()
    except sqlite3.Error:
        log.exception("run store: rollback failed")


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the reader was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _describe(statement: Statement) -> str:
    sql, params = statement
    words = " ".join(sql.split()[:3]).lower()
    return f"{words} {params[0]!r}" if params else words


def _utf8(value: Any) -> Any:
    return value.encode("utf-8", "replace").decode("utf-8") if isinstance(value, str) else value


def _noop(conn: sqlite3.Connection) -> None:
    return None
