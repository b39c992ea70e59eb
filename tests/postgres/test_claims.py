"""Hosts sharing one PostgreSQL database coordinate through it alone: claims taken exactly
once, resource tags never held twice, leases that expire and are taken over, fenced writes
from a host presumed dead, commands for the executing host, wake-ups. Each host here is a
PostgresStore of its own (its own pool and connections) on a real server."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import psycopg
import pytest
from pgrecords import a_pend, ended, started, tagged_flow
from pgserver import PgServer

from floecli.engine.store.codec import run_text
from floecli.engine.store.postgres import ClusterSettings, Fenced, PostgresStore
from floecli.engine.store.postgres.wake import Waker

FAST = ClusterSettings(heartbeat=0.25, lease=1.0, poll=0.2)


class Cluster:
    """Stores standing for hosts, closed at the end of the test."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stores: list[PostgresStore] = []

    def host(self, name: str, tags: Sequence[str] = ("master",),
             settings: ClusterSettings = FAST, **kw: Any) -> PostgresStore:
        store = PostgresStore(self.url, host=name, tags=tags, settings=settings, **kw)
        store.open()
        self.stores.append(store)
        return store

    async def close(self) -> None:
        for store in self.stores:
            await store.close()


@pytest.fixture
async def cluster(pg_url: str) -> AsyncIterator[Cluster]:
    c = Cluster(pg_url)
    yield c
    await c.close()


def db(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


async def until(check: Callable[[], Any], within: float, what: str) -> Any:
    """Await `check()` (a coroutine function) until it returns something truthy, at most
    `within` seconds."""
    end = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.02)  # the next look at the database


# ---- exactly once ----------------------------------------------------------------------------


def test_four_hosts_claim_two_hundred_pends_each_exactly_once(pg_url: str) -> None:
    """Four hosts, each on a thread and event loop of its own, race for 200 pends whose
    flows share resource tags: every run is claimed and run once, and no resource tag is
    ever held by two runs at the same time."""
    flows = [tagged_flow("f-db", ["db"]), tagged_flow("f-cache", ["cache"]),
             tagged_flow("f-both", ["db", "cache"]), tagged_flow("f-free"),
             tagged_flow("f-space", reuse_space=True)]
    total = 200

    async def add() -> None:
        adder = PostgresStore(pg_url, host="h1")
        adder.open()
        for n in range(1, total + 1):
            adder.add_pend(a_pend(n, flows[n % len(flows)]), n)
        await adder.close()

    asyncio.run(add())

    lock = threading.Lock()
    holding: dict[str, str] = {}  # lease tag → run holding it now, as the claimers see it
    runs: collections.Counter[str] = collections.Counter()
    overlaps: list[str] = []
    errors: list[BaseException] = []

    async def claimer(name: str) -> None:
        store = PostgresStore(pg_url, host=name, tags=("master",), settings=FAST)
        store.open()
        waker = await store.listen()
        try:
            idle_since = time.monotonic()
            while True:
                p = await store.claim_next()
                if p is None:
                    with lock:
                        finished = sum(runs.values()) >= total
                    if finished or time.monotonic() - idle_since > 20:
                        return
                    await waker.wait(0.1)  # woken by a finish elsewhere, or look again
                    continue
                idle_since = time.monotonic()
                tags = [*p.flow.resource_tags,
                        *([f"space:{p.flow.id}"] if p.flow.reuse_space else [])]
                with lock:
                    runs[p.run_id] += 1
                    for tag in tags:
                        if tag in holding:
                            overlaps.append(f"{tag}: {holding[tag]} and {p.run_id}")
                        holding[tag] = p.run_id
                record = started(p)
                await store.activate(record)
                store.append_log(p.run_id, "build", f"ran on {name}")
                await asyncio.sleep(0.002)  # the task runs a moment: others claim meanwhile
                with lock:
                    for tag in tags:
                        holding.pop(tag, None)
                store.finish(ended(record))
                await store.flush()
        except BaseException as e:
            errors.append(e)
            raise
        finally:
            await store.close()

    threads = [threading.Thread(target=asyncio.run, args=(claimer(f"c{i}"),))
               for i in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=100)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert overlaps == []
    assert len(runs) == total and set(runs.values()) == {1}
    rows = db(pg_url, "SELECT state, attempt, claimed_by FROM runs")
    assert len(rows) == total
    assert {(state, attempt) for state, attempt, _ in rows} == {("archive", 1)}
    assert len({host for *_, host in rows}) > 1  # the work was shared
    assert db(pg_url, "SELECT count(*) FROM pends") == [(0,)]
    assert db(pg_url, "SELECT count(*) FROM leases") == [(0,)]
    assert db(pg_url, "SELECT count(*), count(DISTINCT run_id) FROM logs") == [(total, total)]


async def test_the_oldest_pend_a_host_may_run_comes_first(cluster: Cluster) -> None:
    adder = cluster.host("h1")
    gpu = tagged_flow("g", host_tags=["gpu"])
    adder.add_pend(a_pend(1, gpu), 1)
    adder.add_pend(a_pend(2, tagged_flow("f", ["db"])), 2)
    adder.add_pend(a_pend(3, tagged_flow("f", ["db"])), 3)
    adder.add_pend(a_pend(4, tagged_flow("f")), 4)
    await adder.flush()
    plain = cluster.host("plain", tags=("master",))
    # no gpu here: the oldest it may run is 2; 3 waits for the db tag; 4 does not wait on 3
    seen = []
    for _ in range(2):
        claimed = await plain.claim_next()
        seen.append((claimed.run_id, plain.more_pends))  # whether another is there for it
    assert seen == [("h1-2", True), ("h1-4", False)]
    assert await plain.claim_next() is None
    big = cluster.host("big", tags=("master", "gpu"))
    claimed = await big.claim_next()
    assert claimed is not None and claimed.run_id == "h1-1" and claimed.flow == gpu
    assert big.attempt("h1-1") == 1


async def test_a_tag_taken_between_the_pick_and_its_lease_undoes_that_claim_whole(
        cluster: Cluster) -> None:
    """The pick sees the db tag free, but another session takes it before the claim's lease
    insert: that claim is undone whole (no half of its leases kept, its pend still pending)
    and the next oldest pend is claimed instead, in the same call."""
    adder = cluster.host("h1")
    adder.add_pend(a_pend(1, tagged_flow("f", ["cache", "db"])), 1)
    adder.add_pend(a_pend(2, tagged_flow("g")), 2)
    await adder.flush()
    claimer = cluster.host("claimer")
    with psycopg.connect(cluster.url) as other:  # its insert stays uncommitted until told
        other.execute("INSERT INTO leases (tag, host, run_id, attempt, expires) "
                      "VALUES ('db', 'other', 'x-1', 1, now() + interval '1 hour')")
        claim = asyncio.ensure_future(claimer.claim_next())

        async def waiting() -> bool:  # the claim's insert waits on the uncommitted row
            rows = db(cluster.url, "SELECT count(*) FROM pg_stat_activity "
                                   "WHERE wait_event_type = 'Lock' AND query LIKE %s",
                      "%floe_claim%")
            return rows[0][0] == 1

        await until(waiting, 5, "the claim waiting on the other session's lease")
        other.commit()
        claimed = await claim
    assert claimed is not None and claimed.run_id == "h1-2"
    assert db(cluster.url, "SELECT tag, host FROM leases ORDER BY tag") == [("db", "other")]
    assert db(cluster.url, "SELECT run_id, claimed_by, attempt FROM pends ORDER BY seq") == [
        ("h1-1", None, 0), ("h1-2", "claimer", 1)]


# ---- leases, failover, fencing -----------------------------------------------------------------


async def test_a_renewed_lease_is_never_taken_over(cluster: Cluster) -> None:
    a, b = cluster.host("a"), cluster.host("b")
    a.add_pend(a_pend(1, tagged_flow("f", ["db"])), 1)
    a.add_pend(a_pend(2, tagged_flow("g", ["db"])), 2)
    await a.flush()
    p = await a.claim_next()
    assert p is not None and p.run_id == "h1-1"
    await a.activate(started(p))
    end = time.monotonic() + 3 * FAST.lease
    while time.monotonic() < end:  # three lease periods, renewed at every heartbeat
        assert await a.renew() == set()
        assert await b.claim_next() is None
        await asyncio.sleep(FAST.heartbeat)  # the heartbeat's own period
    a.save_run(started(p))
    await a.flush()
    assert db(cluster.url, "SELECT claimed_by, attempt FROM runs") == [("a", 1)]


async def test_a_lost_host_s_tag_is_taken_over_and_its_run_archived_host_lost_once(
        cluster: Cluster) -> None:
    """Host a holds the db tag and stops renewing (it is presumed dead): b takes the tag
    within one lease period + 1 s, the reapers archive a's run `host lost` exactly once, and
    a, coming back, writes nothing more about it and learns that it lost it."""
    lost: list[str] = []
    a = cluster.host("a", on_fenced=lost.append)
    b, c = cluster.host("b"), cluster.host("c")
    a.add_pend(a_pend(1, tagged_flow("f", ["db"])), 1)
    a.add_pend(a_pend(2, tagged_flow("g", ["db"])), 2)
    await a.flush()
    p1 = await a.claim_next()
    assert p1 is not None
    record = started(p1)
    await a.activate(record)
    a.append_log("h1-1", "build", "before the host was lost")
    await a.renew()
    await a.flush()
    last_renewal = time.monotonic()

    p2 = await until(b.claim_next, FAST.lease + 1, "b takes the db tag over")
    assert p2.run_id == "h1-2"
    assert time.monotonic() - last_renewal <= FAST.lease + 1
    await b.activate(started(p2))

    reaped = await asyncio.gather(b.reap_expired(), c.reap_expired())
    assert sorted(r for one in reaped for r in one.archived) == ["h1-1"]
    assert await b.reap_expired() == type(reaped[0])()  # nothing left to reap
    archived = await b.load_run("h1-1")
    assert archived is not None and archived.ended and not archived.good
    assert (archived.reason, archived.state) == ("host lost", "host lost")
    assert archived.exec_nodes["build"].stopped is not None

    # a comes back: whatever it still had queued or writes now is fenced out
    record.exec_nodes["build"].status = 0
    a.save_run(record)
    a.append_log("h1-1", "build", "written by a zombie")
    a.finish(ended(record))
    await a.flush()
    assert lost == ["h1-1"]
    with pytest.raises(Fenced):
        await a.activate(started(p1))
    assert await a.renew() == set()  # nothing more to lose
    again = await c.load_run("h1-1")
    assert again is not None and again.reason == "host lost" and again.exec_nodes[
        "build"].logs == ["before the host was lost"]
    assert db(cluster.url, "SELECT run_id, host FROM leases") == [("h1-2", "b")]


# A lease no test outlives: whatever is taken back early was taken on the presence rule.
LONG = ClusterSettings(heartbeat=0.25, lease=600.0, poll=0.2)


def judging(host: PostgresStore) -> Callable[[], Any]:
    """A check for `until`: the host has held its own presence long enough to presume
    others dead by theirs."""
    async def check() -> bool:
        return host.waker is not None and host.waker.present_for(LONG.quiet)
    return check


async def test_a_host_is_presumed_dead_early_only_once_its_session_ended_and_it_fell_silent(
        cluster: Cluster) -> None:
    """Host a holds the db tag with a 600 s lease. Silent while its listening session lives
    (paused, cut off by the network), or beating while that session is gone (a reconnect):
    nothing is taken from it. Silent and its session gone (its process died): b takes its
    tag and archives its run `host lost` long before the lease, and a is fenced."""
    lost: list[str] = []
    a = cluster.host("a", settings=LONG, on_fenced=lost.append)
    b = cluster.host("b", settings=LONG)
    await a.listen()
    await b.listen()  # a judge holds its own presence: it has for longer than `quiet` below
    a.add_pend(a_pend(1, tagged_flow("f", ["db"])), 1)
    a.add_pend(a_pend(2, tagged_flow("g", ["db"])), 2)
    await a.flush()
    p1 = await a.claim_next()
    assert p1 is not None
    await a.activate(started(p1))
    await a.renew()
    assert db(cluster.url, "SELECT presence IS NOT NULL, quiet FROM hosts WHERE name = 'a'"
              ) == [(True, LONG.quiet)]

    await until(judging(b), 10, "b to have held its own presence for a's quiet period")

    def last_beat(ago: str) -> None:  # a's row as the clock would leave it
        assert db(cluster.url, f"UPDATE hosts SET last_seen = now() - interval '{ago}' "
                               "WHERE name = 'a' RETURNING name") == [("a",)]

    async def b_takes_nothing() -> None:
        assert not await b.reap_expired()
        assert await b.claim_next() is None

    last_beat("1 hour")  # silent for long, its session alive (paused, cut off)
    await b_takes_nothing()
    waker = a.waker
    assert waker is not None
    await waker.close()  # its session ends ...
    last_beat("0 seconds")  # ... but it beat just now (its listener reconnects)
    await b_takes_nothing()
    last_beat("1 hour")  # its process died: its session ended and it beats no more

    # a host that has only just taken its own presence (back after a server restart, say)
    # does not judge others yet: they may not have reconnected
    late = cluster.host("late", settings=LONG)
    await late.listen()
    assert not (await late.reap_expired()).gone

    reaped = await b.reap_expired()
    assert reaped.gone == ["a"] and reaped.archived == ["h1-1"]
    p2 = await b.claim_next()
    assert p2 is not None and p2.run_id == "h1-2"
    archived = await b.load_run("h1-1")
    assert archived is not None and archived.reason == "host lost"
    a.save_run(started(p1))
    await a.flush()
    assert lost == ["h1-1"]  # a, were it alive, writes nothing more about its run
    assert db(cluster.url, "SELECT presence FROM hosts WHERE name = 'a'") == [(None,)]


async def test_once_a_host_listens_its_row_names_its_presence(cluster: Cluster) -> None:
    """The heartbeat starts first (as the engine's claimer starts it), its first renewal
    racing the one listen() makes: the row must end up naming the presence the host holds,
    or a host killed before its next beat would be known gone only at its lease's end."""
    for n in range(20):  # a race: lost one time in three before the fix
        store = cluster.host(f"h{n}", settings=LONG)
        beat = asyncio.create_task(store.heartbeat())
        try:
            await store.listen()
            assert db(cluster.url, "SELECT presence IS NOT NULL FROM hosts WHERE name = %s",
                      f"h{n}") == [(True,)]
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)


async def test_a_presence_another_session_holds_is_taken_once_it_is_free(
        cluster: Cluster) -> None:
    """A second session under the same host name (or a host's old session the server has not
    yet seen go) holds the presence lock: the new listener goes without, and takes it at its
    first quiet poll after the other lets go."""
    first = await cluster.host("a", settings=LONG).listen()
    assert first.present
    twin = Waker(cluster.url, "a")
    await twin.open()
    try:
        assert not twin.present
        assert await twin.wait(0.2) is False and not twin.present  # still held
        await first.close()
        assert await twin.wait(0.2) is False  # a quiet poll: free now, and taken
        assert twin.present
    finally:
        await twin.close()


async def test_a_host_that_stops_on_purpose_keeps_its_claims_for_a_restart(
        cluster: Cluster) -> None:
    """Closed (a clean stop), a host is not presumed dead once silent: its claims last their
    lease, and the host started again under its name takes them back."""
    a, b = cluster.host("a", settings=LONG), cluster.host("b", settings=LONG)
    await a.listen()
    await b.listen()  # b judges once it has held its own presence for `quiet`
    a.add_pend(a_pend(1, tagged_flow("f", ["db"])), 1)
    await a.flush()
    p1 = await a.claim_next()
    assert p1 is not None
    await a.activate(started(p1))
    await a.close()
    assert db(cluster.url, "SELECT presence FROM hosts WHERE name = 'a'") == [(None,)]
    assert db(cluster.url, "UPDATE hosts SET last_seen = now() - interval '1 hour' "
                           "WHERE name = 'a' RETURNING name") == [("a",)]
    await until(judging(b), 10, "b to have held its own presence for a's quiet period")
    assert not await b.reap_expired()  # silent for long, but it said goodbye
    back = PostgresStore(cluster.url, host="a", settings=LONG)
    cluster.stores.append(back)
    assert [r.run_id for r in back.open().active] == ["h1-1"]
    assert back.held() == {"h1-1": 1}


async def test_a_claimed_pend_that_never_started_goes_back_to_pending(cluster: Cluster
                                                                    ) -> None:
    a, b = cluster.host("a"), cluster.host("b")
    a.add_pend(a_pend(1, tagged_flow("f", ["db"])), 1)
    await a.flush()
    p = await a.claim_next()
    assert p is not None and await b.claim_next() is None

    async def requeued() -> bool:
        return "h1-1" in (await b.reap_expired()).requeued

    await until(requeued, FAST.lease + 1, "the pend is requeued")
    again = await b.claim_next()
    assert again is not None and again.run_id == "h1-1" and b.attempt("h1-1") == 2
    with pytest.raises(Fenced):
        await a.activate(started(p))  # attempt 1 is over
    await b.activate(started(again))
    assert db(cluster.url, "SELECT claimed_by, attempt, state FROM runs") == [("b", 2, "active")]


async def test_a_run_whose_running_tasks_say_rerun_is_resumed_by_another_host(
        cluster: Cluster) -> None:
    a, b = cluster.host("a"), cluster.host("b")
    a.add_pend(a_pend(1, tagged_flow("f", ["db"], restart="rerun")), 1)
    await a.flush()
    p = await a.claim_next()
    assert p is not None
    await a.activate(started(p))
    a.append_log("h1-1", "build", "first attempt")
    await a.flush()

    async def orphaned() -> bool:
        return "h1-1" in (await b.reap_expired()).orphaned

    await until(orphaned, FAST.lease + 1, "the run is left for another host")
    record = await b.claim_orphan()
    assert record is not None and record.run_id == "h1-1" and not record.ended
    assert record.exec_nodes["build"].logs == ["first attempt"]
    assert b.attempt("h1-1") == 2
    assert await b.claim_orphan() is None
    b.save_run(record)
    b.append_log("h1-1", "build", "second attempt")
    a.append_log("h1-1", "build", "zombie")
    await asyncio.gather(a.flush(), b.flush())
    assert (await b.node_logs("h1-1"))["build"] == ["first attempt", "second attempt"]
    assert db(cluster.url, "SELECT host, attempt FROM leases") == [("b", 2)]


# ---- commands, hosts, wake-ups ----------------------------------------------------------------


async def test_commands_reach_the_host_executing_the_run(cluster: Cluster) -> None:
    a, b = cluster.host("a"), cluster.host("b")
    a.add_pend(a_pend(1, tagged_flow("f")), 1)
    await a.flush()
    p = await a.claim_next()
    assert p is not None
    await a.activate(started(p))
    waker = await a.listen()
    assert await b.send_command("h1-1", "push", {"approved": "yes"}) == "a"
    assert await b.send_command("h1-1", "stop", {"user": "bob"}) == "a"
    assert await b.send_command("h1-404", "stop") is None  # nobody executes it
    assert await waker.wait(5) is True
    assert "cmd a" in waker.woken_by  # a host takes commands when told there are some
    commands = await a.take_commands()
    assert [(c.run_id, c.kind, c.body) for c in commands] == [
        ("h1-1", "push", {"approved": "yes"}), ("h1-1", "stop", {"user": "bob"})]
    assert await a.take_commands() == [] and await b.take_commands() == []


async def test_each_host_heartbeats_its_row(cluster: Cluster) -> None:
    a = cluster.host("a", tags=("master", "gpu"))
    a.address = "10.0.0.7:8080"
    b = cluster.host("b")
    await a.renew()
    await b.renew()
    rows = await b.hosts()
    assert [(h.name, h.tags, h.address) for h in rows] == [
        ("a", ("master", "gpu"), "10.0.0.7:8080"), ("b", ("master",), "")]
    first = rows[0].last_seen
    await a.renew()
    assert (await b.hosts())[0].last_seen > first


async def test_a_new_pend_wakes_the_other_hosts(cluster: Cluster) -> None:
    a, b = cluster.host("a"), cluster.host("b")
    waker = await b.listen()
    assert await waker.wait(0.05) is False  # quiet
    a.add_pend(a_pend(1, tagged_flow("f")), 1)
    assert await waker.wait(5) is True
    assert waker.woken_by == {"pends"}  # new work only: no look for commands first
    assert (await b.claim_next()) is not None


async def test_a_wake_up_tells_each_host_what_there_is_for_it(cluster: Cluster) -> None:
    """A new pend wakes every host, but only those with its flow's host tags look for it;
    a run whose end frees no lease wakes nobody; a command wakes its host's look for
    commands only."""
    plain = cluster.host("plain", tags=("master",))
    big = cluster.host("big", tags=("master", "gpu"))
    wakers = {"plain": await plain.listen(), "big": await big.listen()}

    async def told() -> dict[str, tuple[bool, bool, bool]]:
        got = {}
        for name, waker in wakers.items():
            assert await waker.wait(5) is True, name
            t = waker.told()
            got[name] = (t.pends, t.commands, t.orphans)
        return got

    plain.add_pend(a_pend(1, tagged_flow("g", host_tags=["gpu"])), 1)
    assert await told() == {"plain": (False, False, False), "big": (True, False, False)}
    plain.add_pend(a_pend(2, tagged_flow("f")), 2)
    assert await told() == {"plain": (True, False, False), "big": (True, False, False)}
    p1 = await big.claim_next()
    assert p1 is not None and p1.run_id == "h1-1"
    await big.activate(started(p1))
    big.finish(ended(started(p1)))  # no resource tag, no reuse-space: nothing freed
    await big.flush()
    for waker in wakers.values():
        assert await waker.wait(0.3) is False  # a quiet poll interval: nobody was woken
    assert await plain.send_command("h1-1", "stop") is None  # archived: nobody holds it
    p2 = await plain.claim_next()
    assert p2 is not None
    await plain.activate(started(p2))
    assert await big.send_command("h1-2", "stop") == "plain"
    assert await told() == {"plain": (False, True, False), "big": (False, False, False)}


async def test_a_terminated_listening_connection_is_replaced(cluster: Cluster,
                                                            pg_server: PgServer) -> None:
    a, b = cluster.host("a"), cluster.host("b")
    waker = await b.listen()
    pid = await waker.backend_pid()
    assert db(cluster.url, "SELECT pg_terminate_backend(%s)", pid) == [(True,)]
    started_at = time.monotonic()
    assert await waker.wait(5) is False  # at once: the caller looks at the database now
    assert time.monotonic() - started_at < 5 and waker.reconnects == 1
    assert await waker.backend_pid() != pid
    a.add_pend(a_pend(1, tagged_flow("f")), 1)
    assert await waker.wait(5) is True


async def test_the_heartbeat_keeps_claims_and_reaps_a_silent_host(cluster: Cluster) -> None:
    """Host b's heartbeat task keeps its run for longer than a lease, and takes back the pend
    host a claimed and then went silent on."""
    a, b = cluster.host("a"), cluster.host("b")
    a.add_pend(a_pend(1, tagged_flow("f", ["db"])), 1)
    a.add_pend(a_pend(2, tagged_flow("g")), 2)
    await a.flush()
    p1 = await b.claim_next()
    p2 = await a.claim_next()
    assert p1 is not None and p2 is not None and p1.run_id == "h1-1"
    await b.activate(started(p1))
    beat = asyncio.create_task(b.heartbeat())
    try:
        async def requeued() -> bool:
            return db(cluster.url, "SELECT claimed_by FROM pends WHERE run_id = 'h1-2'") == [
                (None,)]
        await until(requeued, FAST.lease + 2 * FAST.heartbeat + 1, "a's pend is requeued")
        b.save_run(started(p1))  # b's claim outlived a lease period: still b's
        await b.flush()
        assert b.attempt("h1-1") == 1
        assert [h.name for h in await b.hosts()] == ["b"]
    finally:
        beat.cancel()


async def test_without_listen_a_host_polls(cluster: Cluster) -> None:
    """Behind PgBouncer's transaction mode (no LISTEN): no listening connection, each wait
    lasts the poll interval, and the poll finds the work."""
    a = cluster.host("a")
    b = cluster.host("b", settings=dataclasses.replace(FAST, listen=False))
    waker = await b.listen()
    assert await waker.backend_pid() is None
    a.add_pend(a_pend(1, tagged_flow("f")), 1)
    await a.flush()
    began = time.monotonic()
    assert await waker.wait(FAST.poll) is False
    assert time.monotonic() - began >= FAST.poll * 0.9
    assert await b.claim_next() is not None
    await b.renew()  # it holds no presence lock: only its leases tell when it is gone
    assert db(cluster.url, "SELECT presence FROM hosts WHERE name = 'b'") == [(None,)]


async def test_a_renewal_racing_an_activation_loses_nothing(cluster: Cluster) -> None:
    """The activation commits while the renewal waits on the pend's row: the claim has
    moved to a runs row the renewal's snapshot cannot see; it is not called lost."""
    a = cluster.host("a")
    a.add_pend(a_pend(1, tagged_flow("f", ["db"])), 1)
    await a.flush()
    p = await a.claim_next()
    assert p is not None
    other = await psycopg.AsyncConnection.connect(cluster.url, autocommit=True)
    try:
        async with other.transaction():  # what a's writer does to activate, held open
            await other.execute("DELETE FROM pends WHERE run_id = 'h1-1'")
            await other.execute(
                "INSERT INTO runs (run_id, flow_id, state, start_time, json, claimed_by, "
                "attempt, lease_until) VALUES ('h1-1', 'f', 'active', 0, %s, 'a', 1, "
                "now() + interval '1 minute')", (run_text(started(p)),))
            renewal = asyncio.create_task(a.renew())

            async def blocked() -> bool:
                return db(cluster.url, "SELECT count(*) FROM pg_stat_activity "
                          "WHERE wait_event_type = 'Lock'") == [(1,)]
            await until(blocked, 10, "the renewal to wait on the pend's row")
        assert await renewal == set()
    finally:
        await other.close()
    assert a.attempt("h1-1") == 1


async def test_a_host_restarting_resumes_the_claims_it_still_holds_and_no_other(
        cluster: Cluster) -> None:
    # a lease long enough that a's restart surely comes within it, even on a busy machine
    longer = dataclasses.replace(FAST, lease=3.0)
    a, b = cluster.host("a", settings=longer), cluster.host("b")
    for n, f in ((1, tagged_flow("f")), (2, tagged_flow("g")),
                 (3, tagged_flow("r", restart="rerun")), (4, tagged_flow("f"))):
        a.add_pend(a_pend(n, f), n)
    await a.flush()
    p1, p2, p3, p4 = [await a.claim_next() for _ in range(4)]
    assert p1 and p2 and p3 and p4
    for p in (p1, p3, p4):
        await a.activate(started(p))
    await a.close()

    # back while its leases still run: a gets its claims back, and its writes count
    back = PostgresStore(cluster.url, host="a", settings=longer)
    state = back.open()
    cluster.stores.append(back)
    assert [p.run_id for p in state.pends] == ["h1-2"]
    assert [r.run_id for r in state.active] == ["h1-1", "h1-3", "h1-4"]
    assert back.held() == {"h1-1": 1, "h1-2": 1, "h1-3": 1, "h1-4": 1}
    back.finish(ended(started(p4)))
    await back.close()

    # gone longer than a lease: expired, not yet reaped — a resumes none of it
    async def expired() -> bool:
        return db(cluster.url, "SELECT count(*) FROM runs WHERE claimed_by = 'a' "
                  "AND state = 'active' AND lease_until > now()") == [(0,)]
    await until(expired, longer.lease + 1, "a's leases to run out")
    late = PostgresStore(cluster.url, host="a", settings=longer)
    state = late.open()
    cluster.stores.append(late)
    assert (state.pends, state.active, late.held()) == ([], [], {})
    await late.close()

    # reaped: run 1 archived host lost, pend 2 pending again, run 3 left for another host;
    # a host starting now resumes pend 2 as any pend nobody holds, and never run 3 unclaimed
    reaped = await b.reap_expired()
    assert (reaped.archived, reaped.requeued, reaped.orphaned) == (["h1-1"], ["h1-2"],
                                                                 ["h1-3"])
    fresh = PostgresStore(cluster.url, host="a", settings=longer)
    state = fresh.open()
    cluster.stores.append(fresh)
    assert [p.run_id for p in state.pends] == ["h1-2"] and state.active == []
    assert (await b.claim_orphan()) is not None
    assert db(cluster.url, "SELECT run_id, state FROM runs ORDER BY run_id") == [
        ("h1-1", "archive"), ("h1-3", "active"), ("h1-4", "archive")]
