"""The SQLite store's writer thread: it alone touches the database, and commits once a batch.

Writes only enqueue statements and return, so the event loop never waits on the disk. The
thread drains whatever is queued, runs it in one transaction and commits once (group
commit), so a chatty task's thousand log lines cost one commit, not a thousand. Reads travel
the same queue with an asyncio future, so each sees every write made before it, and are
answered from that batch's transaction. A batch the database cannot take now (a full disk) is
kept and tried again with a growing delay, never dropped; `problem` says why meanwhile."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import StoreError
from ..base import StoreState
from .journal import Journal
from .sql import Statement, connect, describe, execute, load_state, log, open_error, rollback

# Bounds one transaction when a task logs faster than the disk commits.
MAX_BATCH = 10_000
# Writes queued beyond this make room() wait (backpressure on chatty tasks' pipes).
HIGH_WATER = 20_000
ROOM_POLL = 0.005
# A batch the database refused for now (a full disk) is tried again after this, doubling.
RETRY_FIRST = 0.05
RETRY_MAX = 2.0

Reply = Callable[[Any, BaseException | None], None]


@dataclass(slots=True)
class _Write:
    statements: tuple[Statement, ...]
    journaled: bool = False  # a pend also in the intake journal
    reply: Reply | None = None  # told once committed (None) or refused (a StoreError)
    seq: int = 0  # its place among all writes, for Gate


@dataclass(slots=True)
class _Read:
    op: Callable[[sqlite3.Connection], Any]
    reply: Reply
    stop: bool = False  # close the database once this batch is committed
    barrier: bool = False  # answered only once every write before it is committed


class _Transient(Exception):
    """The database cannot take writes now (a full disk, an I/O error): the batch is kept
    and tried again, never dropped."""


class Writer:
    """The thread that owns the database at `path`, and the queue that feeds it. Opening
    replays `journal` into the database; each commit tells the journal how many of its pends
    are now safe."""

    def __init__(self, path: Path, journal: Journal) -> None:
        self.path = path
        self._journal = journal
        self._jobs: queue.SimpleQueue[list[_Write | _Read]] = queue.SimpleQueue()
        # Writes of this loop turn, handed to the worker together at its end: one wake-up of
        # the worker (and one GIL hand-over) per turn, not one per write.
        self._outbox: list[_Write | _Read] = []
        self._thread: threading.Thread | None = None
        # Each counter is written by one thread only, so their difference needs no lock.
        self._queued = 0  # jobs put, by the loop's thread
        self._done = 0  # jobs applied, by the worker
        # Why writes fail now ("" while they work): set by the worker, read by the loop.
        self.problem = ""
        self._unsaved: list[_Write] = []  # worker only: applied, not yet committed
        self._barriers: list[Reply] = []  # worker only: waiting for those to commit
        # Gates (a thread waiting for a commit without the loop): the writes queued so far
        # (loop thread), and how far the commits reached (worker, under _committed).
        self._written = 0
        self._committed = threading.Condition()
        self._committed_seq = 0
        self._closed: StoreError | None = None

    @property
    def running(self) -> bool:
        """Started and not asked to stop: writes are taken."""
        return self._thread is not None

    # ---- life cycle -------------------------------------------------------------------

    def start(self) -> StoreState:
        """Start the thread; it opens the database, replays the journal and answers with
        what the store holds."""
        if self._thread is not None:
            raise StoreError(f"the run store {self.path} is already open")
        self._jobs = queue.SimpleQueue()
        self._outbox = []
        self._queued = self._done = 0
        self._written = self._committed_seq = 0
        self._closed = None
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

    async def stop(self) -> None:
        """Commit what is queued, close the database and end the thread."""
        thread = self._thread
        if thread is None:
            return
        self._thread = None  # from here on writes are refused, so none can follow the stop
        await self.call(_noop, stop=True)
        thread.join()  # already past its last statement: this does not block for long

    async def flush(self) -> None:
        """Wait until every write queued before this call is committed."""
        await self.call(_noop, barrier=True)

    def gate(self) -> Gate:
        """What another thread can wait on until every write queued before this call is
        committed, with no trip through the event loop (flush's reply is one). This turn's
        writes go to the worker now, so their commit runs while the caller prepares."""
        self._post()
        return Gate(self, self._written)

    async def room(self) -> None:
        while self._thread is not None and self._queued - self._done > HIGH_WATER:
            await asyncio.sleep(ROOM_POLL)

    # ---- the queue -------------------------------------------------------------------

    def write(self, *statements: Statement, journaled: bool = False,
              reply: Reply | None = None) -> None:
        """Queue statements that are applied together, all or nothing."""
        if self._thread is None:
            log.warning("run store %s is not open: %s dropped", self.path,
                        describe(statements[0]))
            return
        self._queued += 1
        self._written += 1
        job = _Write(statements, journaled, reply, self._written)
        if not self._outbox:
            try:
                asyncio.get_running_loop().call_soon(self._post)
            except RuntimeError:  # no loop (a script filling a store): straight to the worker
                self._jobs.put([job])
                return
        self._outbox.append(job)

    def _post(self) -> None:
        """Hand this turn's writes to the worker, in the order they were made."""
        if self._outbox:
            jobs, self._outbox = self._outbox, []
            self._jobs.put(jobs)

    async def call(self, op: Callable[[sqlite3.Connection], Any], *, stop: bool = False,
                   barrier: bool = False) -> Any:
        """`op(connection)` run by the worker after every write queued before it."""
        if self._thread is None and not stop:
            raise StoreError(f"the run store {self.path} is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queued += 1
        self._post()  # it must see every write made before it
        self._jobs.put([_Read(op, replier(loop, future), stop, barrier)])
        return await future

    # ---- the worker thread -------------------------------------------------------------

    def _serve(self, jobs: queue.SimpleQueue[list[_Write | _Read]],
               opened: concurrent.futures.Future[StoreState]) -> None:
        try:
            conn = connect(self.path)
        except StoreError as e:
            opened.set_exception(e)
            return
        try:
            self._journal.replay(conn)
            opened.set_result(load_state(conn))
        except (sqlite3.Error, ValueError, OSError, StoreError) as e:
            conn.close()
            self._journal.close()
            opened.set_exception(e if isinstance(e, StoreError) else open_error(self.path, e))
            return
        stopping: list[Reply] = []
        retry = RETRY_FIRST
        try:
            while not stopping:
                batch = _drain(jobs, retry if self._unsaved else None)
                stopping = self._run_batch(conn, batch)
                retry = min(retry * 2, RETRY_MAX) if self._unsaved else RETRY_FIRST
        finally:
            with self._committed:  # a gate still waiting now waits for nothing more
                self._closed = StoreError(f"the run store {self.path} closed before saving: "
                                          f"{self.problem or 'it was stopped'}")
                self._committed.notify_all()
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
            rollback(conn)
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
        if todo:
            with self._committed:
                self._committed_seq = todo[-1].seq
                self._committed.notify_all()
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
                execute(conn, statement)
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
        what = " + ".join(describe(s) for s in job.statements)
        log.error("run store %s: %s refused: %s", self.path, what, error)
        if atomic:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK TO write")
                conn.execute("RELEASE write")
        return StoreError(f"the run store refused {what}: {error}")


class GateClosed(StoreError):
    """A gate's wait ended without its commit: it was cancelled, or the store closed first."""


class Gate:
    """Every write queued before it was made, committed: `wait()` blocks a thread (the
    spawner's) until then. A task's process is forked right after the commit that records
    its start, without a hop through the event loop between them."""

    def __init__(self, writer: Writer, seq: int) -> None:
        self._writer = writer
        self._seq = seq
        self._cancelled = False

    def wait(self) -> None:
        """Until committed; GateClosed when cancelled or the store closed first."""
        writer = self._writer
        with writer._committed:
            while writer._committed_seq < self._seq:
                if self._cancelled:
                    raise GateClosed("stopped while waiting for the run store's commit")
                if writer._closed is not None:
                    raise GateClosed(str(writer._closed))
                writer._committed.wait()

    def cancel(self) -> None:
        """Let a thread waiting in wait() go (any thread)."""
        with self._writer._committed:
            self._cancelled = True
            self._writer._committed.notify_all()


def replier(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any]) -> Reply:
    """A reply the worker thread can call, settling `future` on its loop."""
    def reply(result: Any, error: BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(_settle, future, result, error)
    return reply


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the reader was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


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


def _drain(jobs: queue.SimpleQueue[list[_Write | _Read]], timeout: float | None = None
           ) -> list[_Write | _Read]:
    """Wait for jobs (at most `timeout` seconds: then none), then take every job already
    queued (up to about MAX_BATCH)."""
    try:
        batch = jobs.get(timeout=timeout)
    except queue.Empty:
        return []
    while len(batch) < MAX_BATCH:
        try:
            batch.extend(jobs.get_nowait())
        except queue.Empty:
            break
    return batch


def _noop(conn: sqlite3.Connection) -> None:
    return None
