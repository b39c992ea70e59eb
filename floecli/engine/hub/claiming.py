"""Dispatch from a store the hosts share (store-type postgres, docs/postgres.md): this host
takes work from the database, never from its own memory.

Each pass handles the commands other hosts sent this one (stop, form data for a run executing
here), claims every pend it may run now (the claim, its attempt and its resource-tag leases
are one transaction: exactly once across hosts) and starts it, gives back a claim it cannot
start after all, and takes over runs a lost host left to be run again. Then it waits for a
notification, or at most the poll period: a lost notification delays work, never loses it.
Every write about a claimed run is fenced by the store, so a host presumed dead that comes back
writes nothing; the store reports such a run (`lost`) and it is stopped here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import FloeError, StoreError
from ..events import FlowRef
from ..pend import Pend
from ..runs import RunRecord
from .state import ActiveRun, Origin, RunState

log = logging.getLogger(__name__)

Activate = Callable[[Pend, Origin], Awaitable[ActiveRun | str]]
Resume = Callable[[RunRecord], Awaitable[None]]

STOP = "stop"
PUSH = "push"
# A look for work this long after a lease runs out: the database's clock says it has.
EXPIRY_MARGIN = 0.05


def still_cancelled() -> None:
    """Raise the cancellation psycopg can swallow: a task cancelled while it waited in a
    notifies() or a pool's getconn() may come back as if nothing happened (psycopg issues
    #1345, #1371, #1401), and a loop around such a wait would then never end."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Claimer:
    def __init__(self, owner: RunState, store: Any, activate: Activate, resume: Resume) -> None:
        self._owner = owner
        self._store = store  # a PostgresStore; typed loosely: psycopg loads only when used
        self._activate = activate
        self._resume = resume
        self._lost: set[asyncio.Task[None]] = set()
        store.on_fenced = self.lost

    async def serve(self) -> None:
        store = self._store
        beat = asyncio.create_task(store.heartbeat(), name="store heartbeat")
        try:
            waker = await store.listen()
            told = None
            while True:
                try:
                    await self.once(told)
                except StoreError as e:  # the server away: the next pass tries again
                    log.warning("claiming work: %s", e)
                woken = await waker.wait(self._patience())
                still_cancelled()
                # Woken: look only for what the wake-up said is there for this host (new
                # work it may run, a command for it, runs to resume), each a round trip on
                # every host woken; a poll (None) looks for everything.
                told = waker.told() if woken else None
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)

    def _patience(self) -> float:
        """How long to wait for a wake-up: the poll period, or less when another host's
        lease runs out sooner (a lease a lost host left is no one's to announce)."""
        wait = self._store.settings.poll
        expiry = self._store.next_expiry
        if expiry is not None and expiry > time.monotonic():
            wait = min(wait, expiry - time.monotonic() + EXPIRY_MARGIN)
        return wait

    async def once(self, told: Any = None) -> None:
        """One pass: commands, then pends, then runs left by lost hosts; after a wake-up
        (`told`, the store's Told) only those it said may be there for this host."""
        store = self._store
        for command in await store.take_commands() if told is None or told.commands else ():
            await self._obey(command)
        look = told is None or told.pends
        while look and (pend := await store.claim_next()) is not None:
            look = store.more_pends  # another may be there now; a later one wakes this host
            started = await self._activate(pend, Origin.CLAIMED)
            if isinstance(started, str):
                log.info("run %s claimed but not started here: %s", pend.run_id, started)
                try:
                    await store.release(pend, started)
                except StoreError as e:
                    log.warning("run %s: %s", pend.run_id, e)
        while (told is None or told.orphans) and (
                record := await store.claim_orphan()) is not None:
            await self._resume(record)

    async def _obey(self, command: Any) -> None:
        body = command.body if isinstance(command.body, dict) else {}
        run = self._owner.active(command.run_id)
        try:
            if run is None:
                log.warning("command %s for run %s: not active here", command.kind,
                            command.run_id)
            elif command.kind == STOP:
                await self._owner.stop(run.flow.id, run.run_id, str(body.get("User") or ""))
            elif command.kind == PUSH:
                self._owner.submit_form(FlowRef(run.flow.id, run.flow.ver), run.run_id,
                                        str(body.get("Node") or ""),
                                        dict(body.get("Values") or {}),
                                        str(body.get("User") or ""))
        except FloeError as e:  # one bad command never stops the others
            log.warning("command %s for run %s: %s", command.kind, command.run_id, e)

    def lost(self, run_id: str) -> None:
        """The store says this host no longer holds `run_id` (its claim expired and another
        host took it over): the run stops here, and nothing of it is written any more."""
        run = self._owner.active(run_id)
        if run is None:
            return
        log.error("run %s: this host lost its claim (a lease ran out); stopping it here",
                  run_id)
        task = asyncio.get_running_loop().create_task(
            self._owner.stop(run.flow.id, run_id), name=f"lost {run_id}")
        self._lost.add(task)
        task.add_done_callback(self._lost.discard)
