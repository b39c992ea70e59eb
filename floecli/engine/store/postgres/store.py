"""The PostgreSQL run store: the RunStore contract over psycopg 3's async API.

Writes only enqueue and return, as in the SQLite store: one writer task drains the queue and
applies what it holds in one transaction, committed once, so a chatty task's thousand log
lines cost one commit (and one INSERT: the batch's lines go in as arrays). A batch the
database cannot take now (the server restarting, a broken connection) is kept and tried
again, never dropped; `problem` says why meanwhile. A write the database refuses (activating
a known run, a fenced-out write) is refused alone: the batch is then re-applied with a
savepoint per write.

Reads wait until every write queued before them is committed, then run on a pooled
connection of their own, so they see those writes without holding up the writer.

Writes about a run this host claimed (claims.py) are fenced: they carry `claimed_by = me AND
attempt = n`, and one that matches no row raises Fenced (to whoever awaits it) or reports the
run to `on_fenced` (fire-and-forget writes), after which nothing more about that run is
written from here. Each batch, like each claim, is one query with its values bound by the
driver (trip.py): one round trip. A batch's statements, and the reads a connection runs
often, are prepared on the server, except behind PgBouncer's transaction mode
(`ClusterSettings.prepared`); no setting outlives a transaction.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import re
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import pq
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ...errors import StoreError
from ...pend import Pend
from ...runs import RunRecord
from ..base import (
    KEPT_PREFIX,
    ArchivedRun,
    HostSeen,
    RunStore,
    StoreState,
    highest_run_numbers,
)
from ..codec import dumps, group_logs, pend_text, run_from_text, run_text, sort_time
from ..codec import summary_from_row as _summary_from_row
from . import claims, trip
from .migrations import migrate
from .wake import Waker

log = logging.getLogger(__name__)

T = TypeVar("T")
Conn = psycopg.AsyncConnection[Any]

MAX_BATCH = 10_000  # bounds one transaction when a task logs faster than the server commits
HIGH_WATER = 20_000  # writes queued beyond this make room() wait
ROOM_POLL = 0.005
RETRY_FIRST = 0.05  # a batch the server cannot take now is tried again after this, doubling
RETRY_MAX = 2.0
CONNECT_TIMEOUT = 10
PREPARE_AFTER = 5
READ_RETRY_FOR = 30.0  # a read meeting a lost connection is tried again for this long
CLOSE_GRACE = 10.0  # closing while the server is away: writes are retried this long, then lost
# Every statement a batch may hold (trip.Prepared)
HOT = (claims.ADD_PEND, claims.SET_COUNTER, claims.ACTIVATE, claims.SAVE_RUN,
       claims.SAVE_CLAIMED, claims.REMOVE_PEND, claims.ARCHIVE, claims.RELEASE_RUN,
       claims.ARCHIVE_CLAIMED, claims.RELEASE_CLAIMED, claims.APPEND_LOGS, claims.MARK_WRITER,
       claims.NOTIFY, claims.PUT, claims.DELETE)


class Fenced(StoreError):
    """A write about a run this host no longer holds: its claim expired and another host
    took the run over (or archived it `host lost`). Nothing about the run is written from
    here any more; the run must be stopped on this host."""

    ref = "store-fenced"


QUIET_MARGIN = 2.0  # seconds, see ClusterSettings.quiet


@dataclass(frozen=True)
class ClusterSettings:
    """How hosts on one database keep and lose what they hold (docs/postgres.md)."""

    heartbeat: float = 3.0  # seconds between renewals of this host's leases
    lease: float = 15.0  # a lease not renewed for this long may be taken over
    poll: float = 1.0  # the longest a host waits for a wake-up before looking anyway
    lock_timeout_ms: int = 2000  # a claim waits no longer than this on a row lock
    pool_size: int = 4  # connections per host, besides the listening one
    # Both False behind PgBouncer in transaction mode (`cluster: {pooler: transaction}`),
    # where LISTEN cannot work (polling only) and a statement prepared on one server
    # connection may run on another. Prepared, the server plans a statement once per
    # connection (trip.Prepared for writes; psycopg's own for reads).
    listen: bool = True
    prepared: bool = True

    @property
    def quiet(self) -> float:
        """How long this host's row may go without a heartbeat before other hosts, seeing its
        presence lock gone, presume it dead (claims.EXPIRE_GONE): two beats, and time for a
        listening connection to reconnect."""
        return 2 * self.heartbeat + QUIET_MARGIN

    def __post_init__(self) -> None:
        # A lease that a single late heartbeat lets expire would fence live hosts.
        if not 0 < self.heartbeat * 2 <= self.lease:
            raise StoreError(f"a lease of {self.lease:g} s is too short for a heartbeat every "
                             f"{self.heartbeat:g} s", hint="make the lease at least twice "
                             "the heartbeat (defaults: 15 s and 3 s)")
        if self.poll <= 0 or self.pool_size < 1:
            raise StoreError("the poll interval and the pool size must be positive")


@dataclass(slots=True)
class _Stmt:
    sql: str
    params: Sequence[Any] | dict[str, Any]
    # "": any row count; "fenced": no row → Fenced; "known": no row → StoreError
    check: str = ""


@dataclass(slots=True)
class _Write:
    seq: int
    statements: tuple[_Stmt, ...] = ()
    line: tuple[str, str, str, int | None] | None = None  # run, node, text, fence attempt
    run_id: str = ""  # the run a fenced write is about
    wake: str = ""  # other hosts may act on it: this NOTIFY with the commit (_marks)
    reply: Callable[[BaseException | None], None] | None = None
    what: str = ""


@dataclass
class _Waiter:
    target: int
    future: asyncio.Future[None]


class _Transient(Exception):
    """The server cannot take the batch now: keep it and try again."""


_PASSWORD = re.compile(r"(://[^:/@]*):[^@/]*@")


def redact_url(url: str) -> str:
    """The URL without its password, to name the store in messages."""
    return _PASSWORD.sub(r"\1@", url)


def _clean(value: Any) -> Any:
    """PostgreSQL text holds neither NUL nor lone surrogates: replaced, the line kept."""
    if isinstance(value, str) and not (value.isascii() and "\x00" not in value):
        return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
    return value


def _transient(e: BaseException) -> bool:
    # OperationalError covers a lost connection, the server shutting down or starting, a
    # full disk, a lock or statement timeout, a deadlock, the pool's timeout.
    return isinstance(e, psycopg.OperationalError | psycopg.InterfaceError)


class PostgresStore(RunStore):
    """The run store in a PostgreSQL database shared by every host of a cluster."""

    shared = True

    def __init__(self, url: str, *, host: str = "", tags: Sequence[str] = (),
                 address: str = "", settings: ClusterSettings | None = None,
                 on_fenced: Callable[[str], None] | None = None) -> None:
        self.url = url
        self.name = redact_url(url)
        self.host = host
        self.tags = tuple(tags)
        self.address = address
        self.settings = settings or ClusterSettings()
        self.lease = self.settings.lease
        # When another host's lease runs out (time.monotonic()), as the last heartbeat saw:
        # the claimer looks for work then, so a lost host's tag is taken within its lease.
        self.next_expiry: float | None = None
        # One renewal at a time: the heartbeat's and the one listen() makes must not commit
        # in the other order, or the row would say "no presence" after the host took it.
        self._renewing = asyncio.Lock()
        self.on_fenced = on_fenced  # told the id of a run a fire-and-forget write lost
        self.problem = ""
        self._open = False
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._pool_opened = False
        self._writer: asyncio.Task[None] | None = None
        self._kick = asyncio.Event()
        self._pending: collections.deque[_Write] = collections.deque()
        self._seq = 0  # of the last write queued
        self._committed = 0  # every write up to this seq is committed (or refused)
        self._waiters: list[_Waiter] = []
        self._closing = False
        self._writer_id = ""  # names this opening's writer in the writers table
        self._uncertain = False  # the last commit failed: it may have happened all the same
        self._claims: dict[str, int] = {}  # run id → the attempt this host holds
        self._fenced: set[str] = set()  # runs this host lost: nothing more is written
        self.waker: Waker | None = None
        self._notifying: set[asyncio.Task[None]] = set()
        self._fresh = _Freshness()
        self._prepared: trip.Prepared | None = None
        # The last claim saw another pend this host may run: the claimer looks again at once
        # only then (a pend that comes later sends a wake-up of its own).
        self.more_pends = False

    # ---- life cycle -------------------------------------------------------------------

    def open(self) -> StoreState:
        """Connect, migrate the schema and load what this host resumes: its counter, the
        pends and active runs not held by another host. Synchronous, as the contract says
        (the hub opens its store before anything runs): one plain connection, then the
        async pool opens on first use."""
        if self._open:
            raise StoreError(f"the run store {self.name} is already open")
        try:
            with psycopg.connect(self.url, autocommit=True, prepare_threshold=None,
                                 connect_timeout=CONNECT_TIMEOUT) as conn:
                migrate(conn, f"the run store {self.name}")
                conn.execute(claims.FORGET_WRITERS)
                state, held = _load_state(conn, self.host)
        except psycopg.Error as e:
            raise StoreError(f"cannot open the run store {self.name}: {e}".rstrip(),
                             hint="check common.store-url (or FLOE_STORE_URL) and that the "
                                  "server accepts this user") from None
        self._claims = held
        self._fenced = set()
        self._pending = collections.deque()
        self._seq = self._committed = 0
        self._waiters = []
        self._closing = False
        self._writer = None
        self._writer_id = uuid.uuid4().hex
        self._uncertain = False
        # The writes, prepared on each connection as it is made (trip.py): not behind a
        # pooler in transaction mode.
        self._prepared = trip.Prepared(HOT) if self.settings.prepared else None
        self._pool = AsyncConnectionPool(
            self.url, min_size=1, max_size=max(1, self.settings.pool_size), open=False,
            kwargs={"autocommit": True,
                    # psycopg prepares a read on its fifth use on a connection
                    "prepare_threshold": PREPARE_AFTER if self.settings.prepared else None,
                    "connect_timeout": CONNECT_TIMEOUT},
            configure=self._prepared.configure if self._prepared is not None else None,
            # a connection the server dropped (a restart) is found before it is used
            check=self._fresh.check, reset=self._fresh.returned,
            timeout=CONNECT_TIMEOUT, name=f"floe {self.host or 'store'}")
        self._pool_opened = False
        self._open = True
        return state

    async def close(self) -> None:
        if not self._open:
            return
        self._open = False  # from here on writes are dropped and reads refused
        self._closing = True
        writer = self._writer
        if writer is not None and not writer.done():
            try:
                if writer.get_loop() is asyncio.get_running_loop():
                    self._kick.set()
                    await writer
                else:  # opened on a loop that is gone (a test's teardown)
                    writer.cancel()
            except Exception:
                log.exception("run store %s: the writer failed while closing", self.name)
        if self.waker is not None:
            if self.waker.present:
                await self._leave()
            await self.waker.close()
            self.waker = None
        pool, self._pool = self._pool, None
        if pool is not None and self._pool_opened:
            try:
                await pool.close()
            except Exception:  # a pool of a loop that is gone: nothing left to release
                log.debug("run store %s: pool closed uncleanly", self.name, exc_info=True)

    async def _leave(self) -> None:
        """Say this host stops on purpose (claims.LEAVE), as it closes; a failure only means
        that other hosts take its claims back sooner."""
        pool = self._pool
        if pool is None or not self._pool_opened:
            return
        try:
            async with pool.connection(timeout=CONNECT_TIMEOUT) as conn:
                await conn.execute(claims.LEAVE, (self.host,))
        except (psycopg.Error, PoolTimeout) as e:
            log.debug("run store %s: leaving quietly failed: %s", self.name, e)

    async def flush(self) -> None:
        await self._barrier()

    async def room(self) -> None:
        while self._open and self._seq - self._committed > HIGH_WATER:
            await asyncio.sleep(ROOM_POLL)

    # ---- writes ----------------------------------------------------------------------

    def add_pend(self, pend: Pend, counter: int) -> None:
        if self.problem:
            raise StoreError(f"the run store {self.name} cannot take writes now: "
                             f"{self.problem}", hint="floe retries until the server is back")
        flow = pend.flow
        self._write(
            _Stmt(claims.ADD_PEND, (pend.run_id, flow.id, pend_text(pend),
                                    list(flow.host_tags), list(flow.resource_tags),
                                    flow.reuse_space)),
            _Stmt(claims.SET_COUNTER, (self.host, counter)),
            wake=claims.pends_payload(flow.host_tags), what=f"add pend {pend.run_id}")

    def activate(self, run: RunRecord) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[None] = loop.create_future()
        if not self._open:
            outcome.set_exception(StoreError(f"the run store {self.name} is not open"))
            return outcome
        if run.run_id in self._fenced:
            outcome.set_exception(self._fenced_error(run.run_id))
            return outcome
        attempt = self._claims.get(run.run_id)
        params = {"id": run.run_id, "flow": run.flow.id, "time": sort_time(run),
                  "json": run_text(run), "token": uuid.uuid4().hex, "me": self.host,
                  "n": attempt, "claimed": attempt is not None, "lease": self.settings.lease}
        check = "fenced" if attempt is not None else "known"

        def reply(error: BaseException | None) -> None:
            if outcome.done():
                return
            if error is None:
                outcome.set_result(None)
            else:
                outcome.set_exception(error)

        self._write(_Stmt(claims.ACTIVATE, params, check), run_id=run.run_id, reply=reply,
                    what=f"activate {run.run_id}")
        return outcome

    def finish(self, run: RunRecord) -> None:
        if run.run_id in self._fenced:
            return
        attempt = self._claims.pop(run.run_id, None)
        params = {"id": run.run_id, "flow": run.flow.id, "time": sort_time(run),
                  "json": run_text(run), "me": self.host, "n": attempt}
        # Its end frees its leases (resource tags, reuse-space): a pend may wait for them.
        flow = run.flow
        wake = claims.PENDS if flow.resource_tags or flow.reuse_space else ""
        if attempt is None:
            self._write(_Stmt(claims.REMOVE_PEND, (run.run_id,)),
                        _Stmt(claims.ARCHIVE, params),
                        _Stmt(claims.RELEASE_RUN, (run.run_id,)),
                        wake=wake, what=f"archive {run.run_id}")
        else:
            self._write(_Stmt(claims.ARCHIVE_CLAIMED, params, "fenced"),
                        _Stmt(claims.RELEASE_CLAIMED, params),
                        run_id=run.run_id, wake=wake, what=f"archive {run.run_id}")

    def save_run(self, run: RunRecord) -> None:
        if run.run_id in self._fenced:
            return
        attempt = self._claims.get(run.run_id)
        if attempt is None:
            self._write(_Stmt(claims.SAVE_RUN, (sort_time(run), run_text(run), run.run_id)),
                        what=f"save {run.run_id}")
        else:
            params = {"id": run.run_id, "time": sort_time(run), "json": run_text(run),
                      "me": self.host, "n": attempt}
            self._write(_Stmt(claims.SAVE_CLAIMED, params, "fenced"), run_id=run.run_id,
                        what=f"save {run.run_id}")

    def append_log(self, run_id: str, node_id: str, line: str) -> None:
        if run_id in self._fenced:
            return
        self._write(line=(run_id, node_id, line, self._claims.get(run_id)),
                    what=f"log line of {run_id}")

    def put(self, key: str, value: Any) -> None:
        self._write(_Stmt(claims.PUT, (key, dumps(value))), what=f"put {key}")

    def delete(self, key: str) -> None:
        self._write(_Stmt(claims.DELETE, (key,)), what=f"delete {key}")

    # ---- reads -----------------------------------------------------------------------

    async def has_run(self, run_id: str) -> bool:
        async def op(conn: Conn) -> bool:
            cur = await conn.execute(claims.KNOWS_RUN, (run_id, run_id))
            row = await cur.fetchone()
            return bool(row and row[0])
        return await self._read(op)

    async def load_run(self, run_id: str) -> RunRecord | None:
        async def op(conn: Conn) -> RunRecord | None:
            async with conn.transaction():
                cur = await conn.execute("SELECT json FROM runs WHERE run_id = %s", (run_id,))
                row = await cur.fetchone()
                if row is None:
                    return None
                cur = await conn.execute(claims.RUN_LOGS, (run_id,))
                return run_from_text(row[0], await cur.fetchall())
        return await self._read(op)

    async def list_runs(self, flow_id: str | None = None, limit: int = 0) -> list[RunRecord]:
        where, params = ("WHERE flow_id = %s", [flow_id]) if flow_id is not None else ("", [])
        sql = f"SELECT json FROM runs {where} ORDER BY start_time DESC, seq DESC"
        if limit > 0:
            sql += " LIMIT %s"
            params.append(limit)

        async def op(conn: Conn) -> list[RunRecord]:
            cur = await conn.execute(sql, params)  # type: ignore[arg-type]
            return [run_from_text(text) for (text,) in await cur.fetchall()]
        return await self._read(op)

    async def archive_page(self, flow_id: str, offset: int = 0, limit: int = 0
                           ) -> tuple[list[dict[str, Any]], int]:
        async def op(conn: Conn) -> tuple[list[dict[str, Any]], int]:
            async with conn.transaction():
                cur = await conn.execute(claims.ARCHIVE_COUNT, (flow_id,))
                row = await cur.fetchone()
                total = int(row[0]) if row else 0
                cur = await conn.execute(claims.ARCHIVE_PAGE,
                                         (flow_id, limit if limit > 0 else None, offset))
                return [_summary(text) for (text,) in await cur.fetchall()], total
        return await self._read(op)

    async def node_logs(self, run_id: str, node_id: str | None = None) -> dict[str, list[str]]:
        if node_id is None:
            sql, params = claims.RUN_LOGS, (run_id,)
        else:
            sql, params = claims.NODE_LOGS, (run_id, node_id)

        async def op(conn: Conn) -> dict[str, list[str]]:
            cur = await conn.execute(sql, params)  # type: ignore[arg-type]
            return group_logs(await cur.fetchall())
        return await self._read(op)

    async def get(self, key: str) -> Any | None:
        async def op(conn: Conn) -> Any | None:
            cur = await conn.execute("SELECT json FROM kv WHERE key = %s", (key,))
            row = await cur.fetchone()
            return json.loads(row[0]) if row else None
        return await self._read(op)

    async def archive_index(self) -> list[ArchivedRun]:
        async def op(conn: Conn) -> list[ArchivedRun]:
            cur = await conn.execute(claims.ARCHIVE_INDEX, (KEPT_PREFIX,))
            return [ArchivedRun(r, f, float(t), bool(k), h, o)
                    for r, f, t, k, h, o in await cur.fetchall()]
        return await self._read(op)

    async def delete_runs(self, run_ids: Sequence[str]) -> int:
        ids = list(run_ids)

        async def op(conn: Conn) -> int:
            async with conn.transaction():
                cur = await conn.execute(claims.DELETE_RUNS, (ids, KEPT_PREFIX))
                row = await cur.fetchone()
                return int(row[0]) if row else 0
        return await self._read(op)

    async def rerun_sources(self) -> set[str]:
        async def op(conn: Conn) -> set[str]:
            cur = await conn.execute(claims.LIVE_RERUN_SOURCES)
            return {str(of) for (of,) in await cur.fetchall() if of}
        return await self._read(op)

    async def live(self, flow_id: str) -> tuple[list[RunRecord], list[Pend]]:
        """What of `flow_id` is active (on any host) and pending, newest first: the hosts
        share one view."""
        async def op(conn: Conn) -> tuple[list[RunRecord], list[Pend]]:
            cur = await conn.execute(claims.LIVE_RUNS, (flow_id,))
            active = [run_from_text(text) for (text,) in await cur.fetchall()]
            cur = await conn.execute(claims.LIVE_PENDS, (flow_id,))
            pends = [Pend.from_json(json.loads(text)) for (text,) in await cur.fetchall()]
            return active, pends
        return await self._read(op)

    async def pend(self, run_id: str) -> Pend | None:
        """The pend `run_id` while it is pending (claimed or not), else None."""
        async def op(conn: Conn) -> Pend | None:
            cur = await conn.execute(claims.ONE_PEND, (run_id,))
            row = await cur.fetchone()
            return Pend.from_json(json.loads(row[0])) if row else None
        return await self._read(op)

    # ---- cluster coordination (claims.py holds the SQL) --------------------------------

    def attempt(self, run_id: str) -> int | None:
        """The attempt of this host's claim on `run_id`, None when it holds none."""
        return self._claims.get(run_id)

    def held(self) -> dict[str, int]:
        """Run id → attempt of every claim this host holds."""
        return dict(self._claims)

    async def claim_next(self) -> Pend | None:
        """Claim the oldest pend this host may run now (its tags ⊇ the flow's host tags, the
        flow's resource tags and reuse-space free), or None. Exactly once across hosts: the
        claim, its attempt and its leases are one short transaction. Activate, save and
        finish the run through this store afterwards: those writes are fenced.
        `more_pends` says whether the claim saw another pend this host may run."""
        await self._barrier()  # pends this host added are committed before it looks
        self.more_pends = False
        claimed = await self._run(lambda conn: claims.claim_next(
            conn, self.host, self.tags, self.settings))
        if claimed is None:
            return None
        pend, attempt, self.more_pends = claimed
        self._claims[pend.run_id] = attempt
        self._fenced.discard(pend.run_id)
        return pend

    async def claim_orphan(self) -> RunRecord | None:
        """Claim an active run whose host was lost while every running task said
        opts.restart: rerun (the reaper left it unclaimed): its record, with its logs, for
        this host to resume as it resumes its own runs after a restart; or None."""
        await self._barrier()
        claimed = await self._run(lambda conn: claims.claim_orphan(
            conn, self.host, self.tags, self.settings))
        if claimed is None:
            return None
        record, attempt = claimed
        self._claims[record.run_id] = attempt
        self._fenced.discard(record.run_id)
        return record

    async def release(self, pend: Pend, reason: str = "") -> None:
        """Give back a claimed pend this host will not start after all (it goes back to
        pending, its leases freed); Fenced when the claim was lost meanwhile."""
        attempt = self._claims.pop(pend.run_id, None)
        if attempt is None:
            return
        pend.reason = reason or pend.reason
        await self._barrier()
        done = await self._run(lambda conn: claims.release(
            conn, self.host, pend.run_id, attempt, pend_text(pend)))
        if not done:
            self._lose(pend.run_id)
            raise self._fenced_error(pend.run_id)
        self._notify_soon()

    async def renew(self) -> set[str]:
        """The heartbeat: this host's row, its claims and its leases renewed in one round
        trip. Returns the runs it held and no longer does (fenced from now on; the
        dispatcher stops them)."""
        async with self._renewing:
            known = list(self._claims)
            present = self.waker is not None and self.waker.present
            held = await self._run(lambda conn: claims.renew(
                conn, self.host, self.tags, self.address, self.settings, known, present))
            missing = [r for r in known if r not in held and r in self._claims]
            if missing:
                # An activation committing while the renewal ran moves its claim from the
                # pends row the statement's snapshot saw to a runs row it could not see yet:
                # look again, with a fresh snapshot, before calling anything lost.
                held |= await self._run(lambda conn: claims.renew(
                    conn, self.host, self.tags, self.address, self.settings, missing, present))
        lost = {r for r in missing if r not in held and r in self._claims}
        for run_id in lost:
            self._lose(run_id)
        return lost

    async def reap_expired(self, limit: int = 100) -> claims.Reaped:
        """Take back what hosts presumed dead held: pends they claimed go back to pending,
        runs they executed are archived `host lost` (or left to be resumed elsewhere when
        every task that was running says opts.restart: rerun), their leases freed."""
        judge = self.waker is not None and self.waker.present_for(self.settings.quiet)
        reaped = await self._run(lambda conn: claims.reap_expired(conn, self.host, limit,
                                                                  gone=judge))
        for name in reaped.gone:
            log.warning("host %s: host %s is gone (its sessions ended and its heartbeat "
                        "stopped): what it held is taken back", self.host, name)
        if reaped.requeued or reaped.archived:
            self._notify_soon(claims.PENDS)  # pends back, and leases freed
        if reaped.orphaned:
            self._notify_soon(claims.ORPHANS)
        return reaped

    async def heartbeat(self) -> None:
        """This host's heartbeat, until cancelled: every `settings.heartbeat` seconds, renew
        its row, claims and leases (a run it lost is reported to `on_fenced`), then reap
        what hosts presumed dead held. A failure (the server away) is logged and tried at
        the next beat: a claim not renewed within the lease is lost, by design."""
        while True:
            try:
                await self.renew()
                await self.reap_expired()
                soon = await self._run(lambda conn: claims.next_expiry(conn, self.host))
                self.next_expiry = None if soon is None else time.monotonic() + soon
            except StoreError as e:
                log.warning("host %s: heartbeat failed: %s", self.host, e)
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # psycopg may swallow a cancel
                raise asyncio.CancelledError
            await asyncio.sleep(self.settings.heartbeat)  # the heartbeat's period

    async def send_command(self, run_id: str, kind: str, body: Any = None) -> str | None:
        """Queue a command (stop, push/data) for the host executing `run_id`; the host it
        went to, or None when no host holds the run (the caller acts on the store
        itself)."""
        await self._barrier()
        host = await self._run(lambda conn: claims.send_command(conn, run_id, kind,
                                                                dumps(body)))
        if host is not None:
            self._notify_soon(f"cmd {host}")
        return host

    async def take_commands(self) -> list[claims.Command]:
        """The commands addressed to this host, oldest first, deleted as they are taken."""
        return await self._run(lambda conn: claims.take_commands(conn, self.host))

    async def hosts(self) -> list[HostSeen]:
        return await self._run(claims.hosts)

    async def listen(self) -> Waker:
        """The dedicated listening connection (opened on first call): `await
        waker.wait(poll)` returns on a wake-up or after `poll` seconds."""
        if self.waker is None:
            self.waker = Waker(self.url, self.host, self.tags, listen=self.settings.listen)
            await self.waker.open()
            if self.waker.present:
                # A beat now: the host's row names its presence lock from this moment on, so
                # a host killed before its next beat is still known gone early.
                await self.renew()
        return self.waker

    # ---- the queue -------------------------------------------------------------------

    def _write(self, *statements: _Stmt, line: tuple[str, str, str, int | None] | None = None,
               run_id: str = "", wake: str = "",
               reply: Callable[[BaseException | None], None] | None = None,
               what: str = "") -> None:
        if not self._open:
            log.warning("run store %s is not open: %s dropped", self.name, what)
            if reply is not None:
                reply(StoreError(f"the run store {self.name} is not open"))
            return
        self._seq += 1
        self._pending.append(_Write(self._seq, statements, line, run_id, wake, reply, what))
        self._start_writer()

    def _start_writer(self) -> None:
        if self._writer is None or self._writer.done():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # started by the next call made on a loop
            self._writer = loop.create_task(self._serve(), name=f"floe-store {self.host}")
        self._kick.set()

    async def _barrier(self) -> None:
        """Until every write queued so far is committed (or refused)."""
        if not self._open:
            raise StoreError(f"the run store {self.name} is not open")
        target = self._seq
        if self._committed >= target:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(_Waiter(target, future))
        self._start_writer()
        await future

    async def _connection_pool(self) -> AsyncConnectionPool[Conn]:
        pool = self._pool
        if pool is None:
            raise StoreError(f"the run store {self.name} is not open")
        if not self._pool_opened:
            self._pool_opened = True
            await pool.open()
        return pool

    async def _run(self, op: Callable[[Conn], Awaitable[T]]) -> T:
        """`op` on a pooled connection; StoreError when the server fails it."""
        if not self._open:
            raise StoreError(f"the run store {self.name} is not open")
        pool = await self._connection_pool()
        try:
            async with pool.connection() as conn:
                return await op(conn)
        except psycopg.Error as e:
            raise StoreError(f"the run store {self.name} failed: {e}".rstrip()) from None

    async def _read(self, op: Callable[[Conn], Awaitable[T]]) -> T:
        """A read, once every write before it is committed. A connection the server lost
        (a restart) is retried, for READ_RETRY_FOR seconds: a read has no effect to undo."""
        await self._barrier()
        give_up = time.monotonic() + READ_RETRY_FOR
        retry = RETRY_FIRST
        while True:
            pool = await self._connection_pool()
            try:
                async with pool.connection() as conn:
                    return await op(conn)
            except psycopg.Error as e:
                if not _transient(e) or time.monotonic() > give_up or not self._open:
                    raise StoreError(f"reading the run store {self.name} failed: "
                                     f"{str(e).strip()}") from None
                log.debug("run store %s: read failed, tried again: %s", self.name, e)
            await asyncio.sleep(retry)  # a back-off between attempts, bounded by give_up
            retry = min(retry * 2, RETRY_MAX)

    async def _serve(self) -> None:
        """The writer: commit what is queued, batch after batch, until closed."""
        retry = RETRY_FIRST
        gave_up_at = 0.0
        while True:
            if not self._pending:
                self._settle_waiters()
                if self._closing:
                    return
                self._kick.clear()
                await self._kick.wait()
                continue
            batch = [self._pending[i] for i in range(min(len(self._pending), MAX_BATCH))]
            try:
                if self._uncertain and await self._already_committed(batch):
                    continue
                refusals = await self._commit(batch)
            except _Transient as e:
                # The commit's reply may be what was lost: the next attempt first asks the
                # database whether it happened (_already_committed), so nothing is written
                # twice.
                self._uncertain = True
                if not self.problem:
                    log.error("run store %s: writes fail (%s): %d kept, tried again until "
                              "they succeed", self.name, e, len(self._pending))
                self.problem = str(e) or type(e).__name__
                if self._closing:
                    gave_up_at = gave_up_at or time.monotonic() + CLOSE_GRACE
                    if time.monotonic() > gave_up_at:
                        self._give_up()
                        return
                await asyncio.sleep(retry)  # a back-off between attempts, not a wait for state
                retry = min(retry * 2, RETRY_MAX)
                continue
            if self.problem:
                log.warning("run store %s: writes work again", self.name)
                self.problem = ""
            retry = RETRY_FIRST
            self._done(batch, refusals)

    async def _already_committed(self, batch: list[_Write]) -> bool:
        """After a failed commit: settle the writes the database did commit (its marker of
        this writer says up to which); whether there were any."""
        pool = await self._connection_pool()
        try:
            async with pool.connection() as conn:
                cur = await conn.execute("SELECT seq FROM writers WHERE id = %s",
                                         (self._writer_id,))
                row = await cur.fetchone()
        except (psycopg.OperationalError, psycopg.InterfaceError) as e:
            raise _Transient(str(e).strip() or type(e).__name__) from None
        self._uncertain = False
        marker = int(row[0]) if row else 0
        committed = [job for job in batch if job.seq <= marker]
        if not committed:
            return False
        log.warning("run store %s: %d writes were committed before the connection failed",
                    self.name, len(committed))
        if self.problem:
            self.problem = ""
        self._done(committed, {})  # their NOTIFY went with their commit
        return True

    def _done(self, jobs: list[_Write], refusals: dict[int, BaseException]) -> None:
        """The first `jobs` of the queue are committed (or refused): tell who waits."""
        for job in jobs:
            self._pending.popleft()
            error = refusals.get(job.seq)
            if isinstance(error, Fenced) and job.run_id:
                self._lose(job.run_id)
            if job.reply is not None:
                job.reply(error)
        self._committed = jobs[-1].seq
        self._settle_waiters()

    def _give_up(self) -> None:
        """Closing while the server refuses every write: said loudly, then closed."""
        lost = StoreError(f"the run store {self.name} closed before saving: {self.problem}")
        log.error("run store %s: closed with %d writes it could not save: %s", self.name,
                  len(self._pending), self.problem)
        for job in self._pending:
            if job.reply is not None:
                job.reply(lost)
        self._pending.clear()
        self._committed = self._seq
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.set_exception(lost)
        self._waiters = []

    def _settle_waiters(self) -> None:
        still: list[_Waiter] = []
        for waiter in self._waiters:
            if waiter.target <= self._committed:
                if not waiter.future.done():
                    waiter.future.set_result(None)
            else:
                still.append(waiter)
        self._waiters = still

    async def _commit(self, batch: list[_Write]) -> dict[int, BaseException]:
        """Apply `batch` in one transaction; the refusals by write seq. _Transient when the
        server cannot take it now."""
        try:
            pool = await self._connection_pool()
            async with pool.connection() as conn:
                try:
                    # One round trip: the batch's statements, its marker and its NOTIFYs as
                    # one transaction (trip.py). A checked statement that touched no row
                    # changed nothing (each is written so), so its write alone is refused and
                    # the rest stand.
                    statements, checks = self._statements(batch)
                    statements += self._marks(batch, [j.wake for j in batch])
                    counts = await trip.rowcounts(conn, statements, self._prepared)
                    refusals = self._refusals(counts, checks)
                    for error in refusals.values():
                        if not isinstance(error, Fenced):  # a fenced run is logged as lost
                            log.error("run store %s: %s", self.name, error)
                    return refusals
                except psycopg.Error as e:
                    if _transient(e):
                        raise
                    # The server ended the implicit transaction with the error; were one left
                    # open, the writes below must not meet it aborted.
                    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
                        await conn.rollback()
                # A statement failed, and the transaction with it: again, each write in a
                # savepoint of its own, so only the failing one is refused.
                refusals: dict[int, BaseException] = {}
                async with conn.transaction():
                    for job in batch:
                        try:
                            async with conn.transaction():
                                statements, checks = self._statements([job])
                                if statements:
                                    self._verify(await trip.rowcounts(
                                        conn, statements, self._prepared), checks)
                        except Fenced as e:
                            refusals[job.seq] = e
                        except (psycopg.Error, StoreError) as e:
                            if _transient(e):
                                raise
                            log.error("run store %s: %s refused: %s", self.name, job.what, e)
                            refusals[job.seq] = e if isinstance(e, StoreError) else StoreError(
                                f"the run store refused {job.what}: {e}")
                    await trip.run(conn, self._marks(batch, [j.wake for j in batch
                                                             if j.seq not in refusals]),
                                   self._prepared)
                return refusals
        except (psycopg.OperationalError, psycopg.InterfaceError) as e:
            raise _Transient(str(e).strip() or type(e).__name__) from None

    def _marks(self, batch: list[_Write], wakes: list[str]) -> list[trip.Statement]:
        """What records, in the batch's own transaction, that this writer committed up to
        it; and when other hosts may act on the batch, its NOTIFYs, which PostgreSQL
        delivers when the transaction commits and never if it does not: a few per batch at
        most, with no round trip or commit of their own."""
        return [(claims.MARK_WRITER, (self._writer_id, batch[-1].seq)),
                *((claims.NOTIFY, (payload,)) for payload in claims.wake_payloads(wakes))]

    def _statements(self, batch: list[_Write]
                    ) -> tuple[list[trip.Statement], list[tuple[int, _Write, str]]]:
        """The batch's statements; and the ones whose row count must be checked (once the
        replies are in: _refusals), by their index among them."""
        statements: list[trip.Statement] = []
        checks: list[tuple[int, _Write, str]] = []
        lines: list[tuple[str, str, str, int | None]] = []
        for job in batch:
            if job.line is not None:
                lines.append(job.line)
                continue
            # Lines go in before the statement after them, in the order they were written: a
            # run's last lines land before its archiving ends the claim they are fenced by.
            statements += self._append_lines(lines)
            lines = []
            for st in job.statements:
                params = ({k: _clean(v) for k, v in st.params.items()}
                          if isinstance(st.params, dict) else [_clean(p) for p in st.params])
                if st.check:
                    checks.append((len(statements), job, st.check))
                statements.append((st.sql, params))
        statements += self._append_lines(lines)
        return statements, checks

    def _append_lines(self, lines: list[tuple[str, str, str, int | None]]
                      ) -> list[trip.Statement]:
        """Consecutive log lines, as one INSERT."""
        if not lines:
            return []
        return [(claims.APPEND_LOGS, (
            [_clean(r) for r, _, _, _ in lines], [_clean(n) for _, n, _, _ in lines],
            [_clean(t) for _, _, t, _ in lines], [a for _, _, _, a in lines], self.host))]

    def _refusals(self, counts: list[int], checks: list[tuple[int, _Write, str]]
                  ) -> dict[int, BaseException]:
        """A checked statement that touched no row refuses its write: the refusals by write
        seq."""
        refusals: dict[int, BaseException] = {}
        for index, job, check in checks:
            if counts[index] != 0 or job.seq in refusals:
                continue
            refusals[job.seq] = self._fenced_error(job.run_id) if check == "fenced" else (
                StoreError(f"the run store refused {job.what}: the run is known already, "
                           "or held by another host"))
        return refusals

    def _verify(self, counts: list[int], checks: list[tuple[int, _Write, str]]) -> None:
        """Raise the refusal of the one write `checks` are about, if any."""
        for error in self._refusals(counts, checks).values():
            raise error

    # ---- fencing and wake-ups ----------------------------------------------------------

    def _fenced_error(self, run_id: str) -> Fenced:
        return Fenced(f"run {run_id} is no longer held by host {self.host}: another host took "
                      "it over", hint="this host was presumed dead; the run stops here")

    def _lose(self, run_id: str) -> None:
        self._claims.pop(run_id, None)
        if run_id in self._fenced:
            return
        self._fenced.add(run_id)
        log.error("run store %s: run %s is no longer held by %s: nothing more is written "
                  "about it from here", self.name, run_id, self.host)
        if self.on_fenced is not None:
            try:
                self.on_fenced(run_id)
            except Exception:
                log.exception("run store %s: on_fenced failed", self.name)

    def _notify_soon(self, payload: str = claims.PENDS) -> None:
        """A NOTIFY after what was just committed, off the caller's path."""
        try:
            task = asyncio.get_running_loop().create_task(self._notify(payload))
        except RuntimeError:  # no loop: nobody to wake from here
            return
        self._notifying.add(task)  # a task nobody references may be collected mid-way
        task.add_done_callback(self._notifying.discard)

    async def _notify(self, payload: str) -> None:
        # Sent after the commit, never by a trigger: one per batch however many rows it
        # wrote. A lost NOTIFY costs at most one poll interval, so a failure is only logged.
        try:
            await self._run(lambda conn: claims.notify(conn, payload))
        except StoreError as e:
            log.debug("run store %s: NOTIFY failed: %s", self.name, e)


class _Freshness:
    """The pool's check of a connection before it is handed out: a round trip (an empty
    query) that finds a connection the server dropped, skipped for one that came back to the
    pool within RECENTLY seconds. A busy host reuses its few connections all the time, and
    the check doubled the round trips of every read and commit. A connection broken within
    that second fails its statement instead: reads and writes retry what fails that way."""

    RECENTLY = 1.0

    def __init__(self) -> None:
        self._returned: weakref.WeakKeyDictionary[Conn, float] = weakref.WeakKeyDictionary()

    async def returned(self, conn: Conn) -> None:
        self._returned[conn] = time.monotonic()

    async def check(self, conn: Conn) -> None:
        if time.monotonic() - self._returned.get(conn, -self.RECENTLY) >= self.RECENTLY:
            await AsyncConnectionPool.check_connection(conn)


def _summary(text: str) -> dict[str, Any]:
    d = json.loads(text)
    return _summary_from_row([d.get(k) for k in (
        "Ref", "ExecHost", "StartTime", "EndTime", "Good", "Reason", "State", "Why",
        "StoppedBy", "Inputs", "Rerun")])


def _load_state(conn: psycopg.Connection[Any], host: str) -> tuple[StoreState, dict[str, int]]:
    """What this host resumes, and the claims it still holds (run id → attempt)."""
    with conn.transaction():
        row = conn.execute("SELECT counter FROM counters WHERE host = %s", (host,)).fetchone()
        ids = conn.execute("SELECT run_id FROM runs UNION ALL SELECT run_id FROM pends")
        state = StoreState(counter=int(row[0]) if row else 0,
                           highest=highest_run_numbers(r for (r,) in ids))
        held: dict[str, int] = {}
        pends = conn.execute(claims.LOAD_PENDS, {"me": host})
        for run_id, text, claimed_by, attempt in pends:
            try:
                state.pends.append(Pend.from_json(json.loads(text)))
            except (ValueError, TypeError, AttributeError) as e:
                log.warning("run store: pend %s cannot be read, skipped: %s", run_id, e)
                continue
            if claimed_by is not None:
                held[run_id] = attempt
        active = conn.execute(claims.LOAD_ACTIVE, {"me": host}).fetchall()
        logs: dict[str, list[tuple[str, str]]] = {}
        for run_id, node_id, line in conn.execute(claims.ACTIVE_LOGS,
                                                  ([r for r, *_ in active],)):
            logs.setdefault(run_id, []).append((node_id, line))
        for run_id, text, claimed_by, attempt in active:
            try:
                state.active.append(run_from_text(text, logs.get(run_id, ())))
            except (ValueError, TypeError, AttributeError) as e:
                log.warning("run store: active run %s cannot be read, skipped: %s", run_id, e)
                continue
            if claimed_by is not None:
                held[run_id] = attempt
    return state, held

