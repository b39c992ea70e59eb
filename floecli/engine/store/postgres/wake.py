"""Wake-ups between hosts: one dedicated connection LISTENs on floe's channel.

A NOTIFY only shortens a wait: the poll (every `poll` seconds) is the truth, so a wake-up
lost with a connection costs at most one interval. Each quiet interval checks that the
listening connection is alive; a broken one is replaced (LISTEN again) and the wait returns
at once, so the caller looks at the database right after a reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import psycopg

from .claims import CHANNEL, PRESENCE, Told, presence_key, told

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5
LISTENER_NAME = "floe listener"


class Waker:
    def __init__(self, url: str, host: str = "", tags: Sequence[str] = (), *,
                 listen: bool = True) -> None:
        self.url = url
        self.host = host
        self.tags = tuple(tags)
        self.listening = listen  # False: polling only (PgBouncer's transaction mode)
        self.reconnects = 0  # how often the listening connection was replaced
        self.woken_by: set[str] = set()  # the payloads of the last wake-up
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self.present = False  # this session holds the host's presence lock
        self._present_since = 0.0  # time.monotonic() when it took it
        self._told_absent = False  # the log said once that it could not

    async def open(self) -> None:
        if not self.listening:
            return
        conn = await psycopg.AsyncConnection.connect(
            self.url, autocommit=True, prepare_threshold=None, connect_timeout=CONNECT_TIMEOUT,
            application_name=f"{LISTENER_NAME} {self.host}")  # named in pg_stat_activity
        await conn.execute(f"LISTEN {CHANNEL}")
        await self._take_presence(conn)
        self._conn = conn

    async def _take_presence(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """The host's presence (claims.EXPIRE_GONE), held for as long as this session lives.
        Not got: another session holds it (a second process under this host's name, or this
        host's old session the server has not noticed is gone yet); tried again at every
        quiet poll."""
        cur = await conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                                 (PRESENCE, presence_key(self.host)))
        row = await cur.fetchone()
        self.present = bool(row and row[0])
        self._present_since = time.monotonic()
        if not self.present and not self._told_absent:
            self._told_absent = True
            log.warning("host %s: another session holds this host's presence lock (a second "
                        "process with the same host name, or an old session of this one)",
                        self.host)

    async def backend_pid(self) -> int | None:
        """The server process of the listening connection (tests terminate it)."""
        return self._conn.info.backend_pid if self._conn is not None else None

    def present_for(self, seconds: float) -> bool:
        """Whether this host has held its presence for `seconds` without a break: only then
        may it presume others dead by theirs (after a server restart or a failover to a
        standby, every host needs that time to reconnect and take its own back)."""
        return self.present and time.monotonic() - self._present_since >= seconds

    def told(self) -> Told:
        """What the last wake-up asks of this host (after a wait that returned True)."""
        return told(self.woken_by, self.host, self.tags)

    async def wait(self, timeout: float) -> bool:
        """Until a wake-up (True) or `timeout` seconds without one (False; also at once
        after the listening connection was replaced, and while it cannot be). `woken_by`
        holds what the wake-up's notifications said."""
        end = time.monotonic() + timeout
        self.woken_by = set()
        if not self.listening:
            await asyncio.sleep(timeout)  # the poll interval itself
            return False
        try:
            if self._conn is None:
                raise psycopg.OperationalError("not listening")
            # Every notification that came in the same packet is taken with the first (psycopg
            # yields them together): answered by the same look. One that comes later wakes
            # the next wait at once, which is cheaper than a second wait here on every wake.
            async for note in self._conn.notifies(timeout=timeout, stop_after=1):
                self.woken_by.add(note.payload)
            if self.woken_by:
                return True
            if self.present:
                await self._conn.execute("SELECT 1")  # quiet: is the connection still alive?
            else:  # the same check, and the presence another session held may be free now
                await self._take_presence(self._conn)
            return False
        except (psycopg.OperationalError, psycopg.InterfaceError) as e:
            await self._reconnect(e, end)
            return False

    async def _reconnect(self, why: BaseException, end: float) -> None:
        old, self._conn = self._conn, None
        self.present = False
        if old is not None:
            log.warning("host %s: the listening connection failed (%s): reconnecting",
                        self.host, str(why).strip())
            try:
                await old.close()
            except Exception:  # already broken: nothing to release
                log.debug("closing a broken listening connection failed", exc_info=True)
        try:
            await self.open()
            self.reconnects += 1
            log.warning("host %s: listening again (reconnection %d)", self.host,
                        self.reconnects)
        except psycopg.Error as e:
            log.debug("host %s: cannot listen yet: %s", self.host, e)
            # Wait out the rest of this interval (the server is down): a back-off, bounded.
            await asyncio.sleep(max(0.0, end - time.monotonic()))

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        self.present = False
        if conn is not None:
            try:
                await conn.close()
            except Exception:
                log.debug("closing the listening connection failed", exc_info=True)
