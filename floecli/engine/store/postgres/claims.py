"""The store's SQL, and how hosts on one database share work: claims, leases, the reaper,
commands and host rows. The database is the only coordinator.

- A pend is claimed in one short transaction: the oldest this host may run is picked with
  FOR UPDATE SKIP LOCKED, marked claimed with attempt + 1, and its resource tags (and
  reuse-space) taken as lease rows keyed by the tag, taking over only an expired one. Fewer
  leases than tags: rolled back. Never "count free slots, then claim".
- A claim and its leases expire unless the holder renews them (one statement per
  heartbeat). Every write about a claimed run carries `claimed_by = me AND attempt = n AND
  lease_until > now()`: once its lease ran out, a host presumed dead writes nothing more.
- A host whose process died is known early: its listening session held a presence lock the
  server dropped with it (EXPIRE_GONE); its claims and leases end then, not at their lease.
- A live host reaps expired claims: a pend goes back to pending; a run whose tasks were
  running is archived `host lost`, unless each of those tasks says opts.restart: rerun, when
  it is left active and unclaimed for another host to resume (claim_orphan).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg

from ...host import missing_tags
from ...nodes.api import get_opt
from ...pend import Pend
from ...runs import REASON_HOST_LOST, STATE_HOST_LOST, RunRecord, now
from ..base import HostSeen
from ..codec import run_from_text, run_text, sort_time
from . import trip

if TYPE_CHECKING:
    from .store import ClusterSettings

Conn = psycopg.AsyncConnection[Any]

CHANNEL = "floe"
# What a NOTIFY on CHANNEL says: new or freed work (PENDS, or `pends ["gpu"]` for new pends
# only hosts with those tags may run), runs left by a lost host to resume (ORPHANS), or a
# command for one host (`cmd <host>`). A host looks for what it was told of (Told), and for
# everything at every poll.
PENDS, ORPHANS = "pends", "orphans"
NOTIFY = f"SELECT pg_notify('{CHANNEL}', %s)"
MAX_PAYLOADS = 4  # NOTIFYs per batch; past this, one PENDS says it all
CLAIM_TRIES = 3  # a lease taken between the pick and the insert: pick again, at most this often
RESTART_RERUN = "rerun"

# ---- the run life cycle ------------------------------------------------------------------

ADD_PEND = """INSERT INTO pends (run_id, flow_id, json, host_tags, resource_tags, reuse_space)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (run_id) DO UPDATE SET json = excluded.json"""
SET_COUNTER = """INSERT INTO counters (host, counter) VALUES (%s, %s)
ON CONFLICT (host) DO UPDATE SET counter = excluded.counter"""

# Pend → active run, one statement. Unclaimed (a single host): the pend must not be claimed
# by another host. Claimed: the claim must still be ours. The activation token makes the
# same write, retried after a lost commit reply, succeed instead of meeting its own row.
ACTIVATE = """WITH gone AS (
    DELETE FROM pends WHERE run_id = %(id)s AND CASE WHEN %(claimed)s
        THEN claimed_by = %(me)s AND attempt = %(n)s::int AND lease_until > now()
        ELSE claimed_by IS NULL END
    RETURNING 1)
INSERT INTO runs (run_id, flow_id, state, start_time, json, activation, claimed_by, attempt,
                  lease_until)
SELECT %(id)s, %(flow)s, 'active', %(time)s, %(json)s, %(token)s,
       CASE WHEN %(claimed)s THEN %(me)s END, coalesce(%(n)s::int, 0),
       CASE WHEN %(claimed)s THEN now() + make_interval(secs => %(lease)s::float8) END
WHERE EXISTS (SELECT 1 FROM gone) OR NOT EXISTS (SELECT 1 FROM pends WHERE run_id = %(id)s)
ON CONFLICT (run_id) DO UPDATE SET json = excluded.json, start_time = excluded.start_time
WHERE runs.activation = excluded.activation AND runs.state = 'active'"""

# An archived run stays archived: a save that arrives after the end must not revive it.
SAVE_RUN = "UPDATE runs SET start_time = %s, json = %s WHERE run_id = %s AND state = 'active'"
SAVE_CLAIMED = """UPDATE runs SET start_time = %(time)s, json = %(json)s
WHERE run_id = %(id)s AND state = 'active' AND claimed_by = %(me)s AND attempt = %(n)s::int
  AND lease_until > now()"""

REMOVE_PEND = "DELETE FROM pends WHERE run_id = %s"
ARCHIVE = """INSERT INTO runs (run_id, flow_id, state, start_time, json)
VALUES (%(id)s, %(flow)s, 'archive', %(time)s, %(json)s)
ON CONFLICT (run_id) DO UPDATE SET state = 'archive', flow_id = excluded.flow_id,
    start_time = excluded.start_time, json = excluded.json, lease_until = NULL"""
RELEASE_RUN = "DELETE FROM leases WHERE run_id = %s"
# A claimed pend (stopped before it started) or a claimed run → archive, if still ours.
ARCHIVE_CLAIMED = """WITH gone AS (
    DELETE FROM pends WHERE run_id = %(id)s AND claimed_by = %(me)s
        AND attempt = %(n)s::int AND lease_until > now()
    RETURNING 1)
INSERT INTO runs (run_id, flow_id, state, start_time, json, claimed_by, attempt)
SELECT %(id)s, %(flow)s, 'archive', %(time)s, %(json)s, %(me)s, %(n)s::int
WHERE EXISTS (SELECT 1 FROM gone) OR EXISTS (
    SELECT 1 FROM runs WHERE run_id = %(id)s AND claimed_by = %(me)s AND attempt = %(n)s::int
        AND (state = 'archive' OR lease_until > now()))
ON CONFLICT (run_id) DO UPDATE SET state = 'archive', flow_id = excluded.flow_id,
    start_time = excluded.start_time, json = excluded.json, lease_until = NULL
WHERE runs.claimed_by = excluded.claimed_by AND runs.attempt = excluded.attempt"""
RELEASE_CLAIMED = """DELETE FROM leases
WHERE run_id = %(id)s AND host = %(me)s AND attempt = %(n)s::int"""

# Every line of a batch in one statement, in order. A line of a claimed run is kept only
# while the claim is ours (a = the attempt; null for an unclaimed run).
APPEND_LOGS = """INSERT INTO logs (run_id, node_id, line)
SELECT l.r, l.n, l.t
FROM unnest(%s::text[], %s::text[], %s::text[], %s::int[]) WITH ORDINALITY AS l(r, n, t, a, o)
WHERE l.a IS NULL OR EXISTS (
    SELECT 1 FROM runs WHERE runs.run_id = l.r AND runs.claimed_by = %s
        AND runs.attempt = l.a AND runs.lease_until > now())
ORDER BY l.o"""

# What each store writer committed last (one row per opened store): after a commit whose reply
# was lost, the writer asks here whether it happened.
MARK_WRITER = """INSERT INTO writers (id, seq) VALUES (%s, %s)
ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, at = now()"""
FORGET_WRITERS = "DELETE FROM writers WHERE at < now() - interval '7 days'"

PUT = """INSERT INTO kv (key, json) VALUES (%s, %s)
ON CONFLICT (key) DO UPDATE SET json = excluded.json"""
DELETE = "DELETE FROM kv WHERE key = %s"

# ---- reads ---------------------------------------------------------------------------------

KNOWS_RUN = """SELECT EXISTS (SELECT 1 FROM pends WHERE run_id = %s)
    OR EXISTS (SELECT 1 FROM runs WHERE run_id = %s)"""
RUN_LOGS = "SELECT node_id, line FROM logs WHERE run_id = %s ORDER BY seq"
NODE_LOGS = "SELECT node_id, line FROM logs WHERE run_id = %s AND node_id = %s ORDER BY seq"
ARCHIVE_COUNT = "SELECT count(*) FROM runs WHERE flow_id = %s AND state = 'archive'"
ARCHIVE_PAGE = """SELECT json FROM runs WHERE flow_id = %s AND state = 'archive'
ORDER BY start_time DESC, seq DESC LIMIT %s OFFSET %s"""
ARCHIVE_INDEX = """SELECT r.run_id, r.flow_id, r.start_time, k.key IS NOT NULL,
    coalesce(r.claimed_by, ''),
    CASE WHEN coalesce(r.json::jsonb #>> '{Rerun,From}', '') <> ''
         THEN coalesce(r.json::jsonb #>> '{Rerun,Of}', '') ELSE '' END
FROM runs r LEFT JOIN kv k ON k.key = %s || r.run_id
WHERE r.state = 'archive' ORDER BY r.flow_id, r.start_time DESC, r.seq DESC"""
# The runs that pending or active re-runs from a node re-run, on any host: retention keeps them.
LIVE_RERUN_SOURCES = """SELECT json::jsonb #>> '{Rerun,Of}' FROM pends
WHERE coalesce(json::jsonb #>> '{Rerun,From}', '') <> ''
UNION SELECT json::jsonb #>> '{Rerun,Of}' FROM runs
WHERE state = 'active' AND coalesce(json::jsonb #>> '{Rerun,From}', '') <> ''"""
# The runs that live re-runs re-ran are never deleted, even when one was made on another host
# after the pruner chose.
DELETE_RUNS = f"""WITH gone AS (
    DELETE FROM runs WHERE state = 'archive' AND run_id = ANY(%s::text[])
        AND run_id NOT IN (SELECT s.of FROM ({LIVE_RERUN_SOURCES}) AS s(of) WHERE s.of IS NOT NULL)
    RETURNING run_id),
lines AS (DELETE FROM logs WHERE run_id IN (SELECT run_id FROM gone)),
marks AS (DELETE FROM kv WHERE key IN (SELECT %s || run_id FROM gone))
SELECT count(*) FROM gone"""

# What a host resumes at start: what nobody ever claimed (one host on the database, as on
# SQLite), and its own claims whose lease still runs. A claim whose lease ran out was lost
# while the host was away: resuming it would run it twice. A run left for another host
# (attempt > 0, unclaimed) is taken with claim_orphan, never resumed unclaimed.
LOAD_PENDS = """SELECT run_id, json, claimed_by, attempt FROM pends
WHERE claimed_by IS NULL OR (claimed_by = %(me)s AND lease_until > now()) ORDER BY seq"""
LOAD_ACTIVE = """SELECT run_id, json, claimed_by, attempt FROM runs
WHERE state = 'active' AND ((claimed_by IS NULL AND attempt = 0)
                            OR (claimed_by = %(me)s AND lease_until > now()))
ORDER BY start_time, seq"""
LIVE_RUNS = """SELECT json FROM runs WHERE flow_id = %s AND state = 'active'
ORDER BY start_time DESC, seq DESC"""
LIVE_PENDS = "SELECT json FROM pends WHERE flow_id = %s ORDER BY seq DESC"
ONE_PEND = "SELECT json FROM pends WHERE run_id = %s"
ACTIVE_LOGS = "SELECT run_id, node_id, line FROM logs WHERE run_id = ANY(%s::text[]) ORDER BY seq"

# ---- claims ----------------------------------------------------------------------------------

# The oldest pend this host may run, claimed with its leases (floe_claim, migration 3).
CLAIM = "SELECT * FROM floe_claim(%(me)s, %(tags)s::text[], %(lease)s::float8, %(tries)s)"
# One row per tag: a live lease is never taken over, an expired one is.
TAKE_LEASES = """INSERT INTO leases (tag, host, run_id, attempt, expires)
SELECT t, %(me)s, %(id)s, %(n)s, now() + make_interval(secs => %(lease)s::float8)
FROM unnest(%(tags)s::text[]) AS t
ON CONFLICT (tag) DO UPDATE SET host = excluded.host, run_id = excluded.run_id,
    attempt = excluded.attempt, expires = excluded.expires
WHERE leases.expires <= now()"""

# An active run nobody holds (its host was lost while every running task said rerun).
PICK_ORPHAN = """SELECT run_id, json, flow_id FROM runs r
WHERE state = 'active' AND claimed_by IS NULL AND lease_until IS NULL AND attempt > 0
ORDER BY start_time, seq FOR UPDATE SKIP LOCKED"""
MARK_ORPHAN = """UPDATE runs SET claimed_by = %(me)s, attempt = attempt + 1,
    lease_until = now() + make_interval(secs => %(lease)s::float8)
WHERE run_id = %(id)s RETURNING attempt"""

# The heartbeat, one round trip: the host row, and the claims this host knows it holds, with
# their leases, renewed. A claim whose lease already ran out is not renewed: it is lost,
# whoever reaps it. A claim the host does not know of (the reply of its claim was lost with a
# connection) is left to expire and goes back to pending.
RENEW = """WITH h AS (
    INSERT INTO hosts (name, tags, address, last_seen, presence, quiet)
    VALUES (%(me)s, %(tags)s, %(addr)s, now(), %(presence)s, %(quiet)s)
    ON CONFLICT (name) DO UPDATE SET tags = excluded.tags, address = excluded.address,
        last_seen = now(), presence = excluded.presence, quiet = excluded.quiet),
p AS (UPDATE pends SET lease_until = now() + make_interval(secs => %(lease)s::float8)
      WHERE claimed_by = %(me)s AND lease_until > now() AND run_id = ANY(%(known)s::text[])
      RETURNING run_id, attempt),
r AS (UPDATE runs SET lease_until = now() + make_interval(secs => %(lease)s::float8)
      WHERE claimed_by = %(me)s AND state = 'active' AND lease_until > now()
        AND run_id = ANY(%(known)s::text[])
      RETURNING run_id, attempt),
l AS (UPDATE leases SET expires = now() + make_interval(secs => %(lease)s::float8)
      WHERE host = %(me)s AND expires > now()
        AND (run_id, attempt) IN (SELECT run_id, attempt FROM p
                                  UNION ALL SELECT run_id, attempt FROM r))
SELECT run_id FROM p UNION ALL SELECT run_id FROM r"""

# How soon another host's lease runs out (seconds), if one does: a lease a lost host left is
# taken over at that moment, not at the next look after it.
NEXT_EXPIRY = """SELECT extract(epoch FROM min(expires) - now())::float8 FROM leases
WHERE host <> %s AND expires > now()"""

# Hosts gone before their leases ran out. A host's listening connection holds a session-level
# advisory lock (PRESENCE, its key); the server drops it the moment that session ends, as it
# does when the host's process dies. A host is presumed dead, and its claims and leases end
# now, when its lock is gone AND its row has had no heartbeat for its `quiet` period (a live
# host whose listening connection was cut keeps beating through its pool) AND the server has
# been up that long AND the host judging has held its own presence that long (after a server
# restart or a failover to a standby every host gets that time to reconnect: Waker.
# present_for). A host that is paused or cut off by the network still holds its session: its
# leases decide.
PRESENCE = 0x666C6F65  # the lock's first key, "floe"; the second is the host's presence_key
EXPIRE_GONE = """WITH gone AS (
    SELECT h.name FROM hosts h
    WHERE h.presence IS NOT NULL AND h.name <> %(me)s
      AND h.last_seen < now() - make_interval(secs => h.quiet)
      AND pg_postmaster_start_time() < now() - make_interval(secs => h.quiet)
      AND NOT EXISTS (
          SELECT 1 FROM pg_locks k
          WHERE k.locktype = 'advisory' AND k.objsubid = 2
            AND k.classid = %(space)s::oid AND k.objid = h.presence::oid
            AND k.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
    FOR UPDATE OF h SKIP LOCKED),
p AS (UPDATE pends SET lease_until = now()
      WHERE claimed_by IN (SELECT name FROM gone) AND lease_until > now()),
r AS (UPDATE runs SET lease_until = now()
      WHERE state = 'active' AND claimed_by IN (SELECT name FROM gone) AND lease_until > now()),
l AS (UPDATE leases SET expires = now() WHERE host IN (SELECT name FROM gone)),
h AS (UPDATE hosts SET presence = NULL WHERE name IN (SELECT name FROM gone))
SELECT name FROM gone"""

# A host stopping on purpose clears its presence: its claims then last their lease, time for a
# restart to take them back, instead of ending once it falls silent.
LEAVE = "UPDATE hosts SET presence = NULL WHERE name = %s"

REQUEUE = """UPDATE pends SET claimed_by = NULL, lease_until = NULL
WHERE run_id IN (SELECT run_id FROM pends WHERE claimed_by IS NOT NULL AND lease_until <= now()
                 ORDER BY lease_until LIMIT %s FOR UPDATE SKIP LOCKED)
RETURNING run_id"""
EXPIRED_RUNS = """SELECT run_id, json, claimed_by FROM runs
WHERE state = 'active' AND claimed_by IS NOT NULL AND lease_until <= now()
ORDER BY lease_until LIMIT %s FOR UPDATE SKIP LOCKED"""
LOST_RUN = """UPDATE runs SET state = 'archive', json = %s, start_time = %s, claimed_by = NULL,
    lease_until = NULL WHERE run_id = %s"""
ORPHAN_RUN = "UPDATE runs SET claimed_by = NULL, lease_until = NULL WHERE run_id = %s"
FORGET = """WITH l AS (DELETE FROM leases WHERE run_id = ANY(%s::text[]) OR expires <= now())
DELETE FROM commands WHERE run_id = ANY(%s::text[])"""

SEND_COMMAND = """INSERT INTO commands (host, run_id, kind, body)
SELECT holder, %(id)s, %(kind)s, %(body)s FROM (
    SELECT claimed_by AS holder FROM runs
        WHERE run_id = %(id)s AND state = 'active' AND claimed_by IS NOT NULL
    UNION ALL
    SELECT claimed_by FROM pends WHERE run_id = %(id)s AND claimed_by IS NOT NULL
    LIMIT 1) AS target
RETURNING host"""
TAKE_COMMANDS = """DELETE FROM commands WHERE id IN (
    SELECT id FROM commands WHERE host = %s ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED)
RETURNING id, run_id, kind, body"""


@dataclass(frozen=True)
class Command:
    """A command for the host executing a run: `stop`, or `push` with the values."""

    id: int
    run_id: str
    kind: str
    body: Any


@dataclass
class Reaped:
    """What one pass of the reaper took back from hosts presumed dead."""

    requeued: list[str] = field(default_factory=list)  # pends back to pending
    archived: list[str] = field(default_factory=list)  # runs archived `host lost`
    orphaned: list[str] = field(default_factory=list)  # runs left to resume elsewhere
    gone: list[str] = field(default_factory=list)  # hosts presumed dead before their leases ran out

    def __bool__(self) -> bool:
        return bool(self.requeued or self.archived or self.orphaned)


def presence_key(host: str) -> int:
    """The second key of the presence lock `host` holds (PRESENCE is the first): a
    non-negative int4, so pg_locks shows it as the same number. Two names on one key only
    make the quick presumption of death miss, never err: the lock looks held."""
    return zlib.crc32(host.encode()) & 0x7FFFFFFF


def pends_payload(host_tags: Sequence[str]) -> str:
    """The wake-up for a new pend: for every host, or for those with its flow's host tags."""
    return f"{PENDS} {json.dumps(sorted(set(host_tags)))}" if host_tags else PENDS


def wake_payloads(wakes: Sequence[str]) -> list[str]:
    """The NOTIFYs for a batch whose writes asked for `wakes` ("" for none): each payload
    once, or PENDS alone when it covers them (it wakes every host to look)."""
    payloads = sorted({w for w in wakes if w})
    return [PENDS] if PENDS in payloads or len(payloads) > MAX_PAYLOADS else payloads


@dataclass(frozen=True)
class Told:
    """What a wake-up told one host to look for."""

    pends: bool
    commands: bool
    orphans: bool


def told(payloads: set[str], host: str, tags: Sequence[str]) -> Told:
    """What the payloads of a wake-up ask of `host` with `tags`: pends only when one may be
    for it (a pend whose host tags it lacks is not)."""
    def for_me(payload: str) -> bool:
        if payload == PENDS:
            return True
        if not payload.startswith(PENDS + " "):
            return False
        try:
            wanted = json.loads(payload[len(PENDS) + 1:])
        except ValueError:
            return True  # not ours to read: look
        return not isinstance(wanted, list) or not missing_tags(map(str, wanted), tags)

    return Told(pends=any(for_me(p) for p in payloads), commands=f"cmd {host}" in payloads,
                orphans=ORPHANS in payloads)


def lease_tags(resource_tags: Sequence[str], reuse_space: bool, flow_id: str) -> list[str]:
    """The lease rows a run of the flow takes, sorted: claimers take them in one order, so
    two claims never wait on each other crosswise."""
    tags = set(resource_tags)
    if reuse_space:
        tags.add(f"space:{flow_id}")
    return sorted(tags)


def _short_locks(settings: ClusterSettings, flush: bool = True) -> trip.Statement:
    # SET LOCAL: ends with the transaction, as PgBouncer's transaction mode requires.
    return ("SELECT set_config('lock_timeout', %s, true), "
            "set_config('synchronous_commit', %s, true)",
            (f"{settings.lock_timeout_ms}ms", "on" if flush else "off"))


async def claim_next(conn: Conn, host: str, tags: Sequence[str], settings: ClusterSettings
                     ) -> tuple[Pend, int, bool] | None:
    """Claim the oldest pend `host` may run: (the pend, the attempt it holds, whether another
    pend it may run is there), or None. One round trip (trip.py): the lock timeout and
    floe_claim (migration 3) as one transaction.
    Its commit does not wait for its WAL flush: the run's activation, which must come before
    anything runs, is fenced by this claim and waits for its own flush, which covers the
    claim's (the WAL is one sequence). A claim a crash loses leaves the pend unclaimed; the
    activation then matches no claim and is refused, so nothing runs on a claim that did
    not survive."""
    cur = await trip.run(conn, [_short_locks(settings, flush=False), (CLAIM, {
        "me": host, "tags": list(tags), "lease": settings.lease, "tries": CLAIM_TRIES})])
    cur.nextset()
    row = await cur.fetchone()
    if row is None:
        return None
    _, text, attempt, more = row
    return Pend.from_json(_loads(text)), int(attempt), bool(more)


async def _take_leases(conn: Conn, host: str, run_id: str, attempt: int, tags: list[str],
                       settings: ClusterSettings) -> bool:
    cur = await conn.execute(TAKE_LEASES, {"me": host, "id": run_id, "n": attempt,
                                           "lease": settings.lease, "tags": tags})
    return cur.rowcount == len(tags)


async def claim_orphan(conn: Conn, host: str, tags: Sequence[str], settings: ClusterSettings
                       ) -> tuple[RunRecord, int] | None:
    """Claim an active run nobody holds (to resume it here): the record with its logs and
    the attempt, or None."""
    async with conn.transaction():
        await conn.execute(*_short_locks(settings))
        cur = await conn.execute(PICK_ORPHAN)
        for run_id, text, flow_id in await cur.fetchall():
            record = run_from_text(text)
            if missing_tags(record.flow.host_tags, tags):
                continue
            async with conn.transaction():  # a savepoint: leases refused undo only this one
                cur2 = await conn.execute(MARK_ORPHAN, {"me": host, "id": run_id,
                                                        "lease": settings.lease})
                (attempt,) = await cur2.fetchone() or (0,)
                wanted = lease_tags(record.flow.resource_tags, record.flow.reuse_space,
                                    flow_id)
                if wanted and not await _take_leases(conn, host, run_id, attempt, wanted,
                                                     settings):
                    raise psycopg.Rollback()
                logs = await conn.execute(RUN_LOGS, (run_id,))
                return run_from_text(text, await logs.fetchall()), int(attempt)
    return None


async def release(conn: Conn, host: str, run_id: str, attempt: int, pend_json: str) -> bool:
    """A claimed pend back to pending, its leases freed; False when it was not ours."""
    async with conn.transaction():
        cur = await conn.execute(
            """UPDATE pends SET claimed_by = NULL, lease_until = NULL, json = %s
            WHERE run_id = %s AND claimed_by = %s AND attempt = %s AND lease_until > now()""",
            (pend_json, run_id, host, attempt))
        if cur.rowcount == 0:
            return False
        await conn.execute("DELETE FROM leases WHERE run_id = %s AND host = %s AND attempt = %s",
                           (run_id, host, attempt))
    return True


async def renew(conn: Conn, host: str, tags: Sequence[str], address: str,
                settings: ClusterSettings, known: Sequence[str], present: bool) -> set[str]:
    """Heartbeat `host` and renew the claims of `known` it still holds; those run ids.
    `present`: its listening connection holds its presence lock."""
    async with conn.transaction():
        cur = await conn.execute(RENEW, {
            "me": host, "tags": list(tags), "addr": address, "lease": settings.lease,
            "known": list(known), "presence": presence_key(host) if present else None,
            "quiet": settings.quiet})
        return {run_id for (run_id,) in await cur.fetchall()}


async def next_expiry(conn: Conn, host: str) -> float | None:
    cur = await conn.execute(NEXT_EXPIRY, (host,))
    row = await cur.fetchone()
    return float(row[0]) if row and row[0] is not None else None


async def reap_expired(conn: Conn, host: str, limit: int = 100, gone: bool = False) -> Reaped:
    """One pass of the reaper run by `host` (any live host may run it; SKIP LOCKED keeps two
    passes from taking the same rows): with `gone`, the claims of hosts gone end first
    (EXPIRE_GONE); then every expired claim is taken back."""
    reaped = Reaped()
    async with conn.transaction():
        if gone:
            cur = await conn.execute(EXPIRE_GONE, {"me": host, "space": PRESENCE})
            reaped.gone = [name for (name,) in await cur.fetchall()]
        cur = await conn.execute(REQUEUE, (limit,))
        reaped.requeued = [r for (r,) in await cur.fetchall()]
        cur = await conn.execute(EXPIRED_RUNS, (limit,))
        for run_id, text, lost_host in await cur.fetchall():
            record = run_from_text(text)
            if _resumable(record):
                await conn.execute(ORPHAN_RUN, (run_id,))
                reaped.orphaned.append(run_id)
            else:
                _lost(record, lost_host)
                await conn.execute(LOST_RUN, (run_text(record), sort_time(record), run_id))
                reaped.archived.append(run_id)
        gone = [*reaped.requeued, *reaped.archived, *reaped.orphaned]
        await conn.execute(FORGET, (gone, [*reaped.archived]))
    return reaped


def _running(record: RunRecord) -> list[str]:
    return [node_id for node_id, node in record.exec_nodes.items()
            if node.started is not None and node.stopped is None]


def _resumable(record: RunRecord) -> bool:
    """Whether every task running on the lost host may run again from its start."""
    tasks = {t.id: t for t in record.flow.tasks}
    return all(node_id in tasks and get_opt(tasks[node_id].opts, "restart") == RESTART_RERUN
               for node_id in _running(record))


def _lost(record: RunRecord, host: str) -> None:
    """The record of a run whose host was lost, ended."""
    ended = now()
    for node_id in _running(record):
        node = record.exec_nodes[node_id]
        node.stopped, node.reason = ended, REASON_HOST_LOST
    record.ended, record.good, record.end_time = True, False, ended
    record.reason = REASON_HOST_LOST
    record.state = STATE_HOST_LOST
    record.why = f"host {host} was lost while the run was active"


async def send_command(conn: Conn, run_id: str, kind: str, body_json: str) -> str | None:
    """A command row for the host holding `run_id`; that host, or None when none does."""
    async with conn.transaction():
        cur = await conn.execute(SEND_COMMAND, {"id": run_id, "kind": kind, "body": body_json})
        row = await cur.fetchone()
    return row[0] if row else None


async def take_commands(conn: Conn, host: str) -> list[Command]:
    async with conn.transaction():
        cur = await conn.execute(TAKE_COMMANDS, (host,))
        rows = await cur.fetchall()
    return sorted((Command(int(i), r, k, _loads(b)) for i, r, k, b in rows),
                  key=lambda c: c.id)


HOSTS = "SELECT name, tags, address, last_seen FROM hosts ORDER BY name"


async def hosts(conn: Conn) -> list[HostSeen]:
    cur = await conn.execute(HOSTS)
    return [HostSeen(n, tuple(t), a, s) for n, t, a, s in await cur.fetchall()]


async def notify(conn: Conn, payload: str) -> None:
    await conn.execute(NOTIFY, (payload,))


def _loads(text: str) -> Any:
    return json.loads(text)
