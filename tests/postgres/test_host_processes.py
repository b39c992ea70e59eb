"""Hosts as separate processes on one database (tests/postgres/claimer.py), killed with
SIGKILL, paused with SIGSTOP, or cut off by a server crash: every run's side effect happens
exactly once, a dead host's resource tag is taken over within one lease period + 1 s, its run
is archived `host lost` once, and a host that comes back after being presumed dead writes
nothing."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from harness import wait_until
from pgrecords import a_pend, tagged_flow
from pgserver import PgServer

from floecli.engine.store.postgres import PostgresStore

CLAIMER = Path(__file__).with_name("claimer.py")
LEASE, HEARTBEAT = 2.0, 0.5


class Hosts:
    def __init__(self, url: str, tmp: Path) -> None:
        self.url, self.tmp = url, tmp
        self.lease = LEASE
        self.out = str(tmp / "side-effects")
        self.hold = str(tmp / "release")
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, total: int) -> subprocess.Popen[bytes]:
        with open(self.tmp / f"{name}.err", "ab") as err:  # the child keeps its own copy
            proc = subprocess.Popen(
                [sys.executable, str(CLAIMER), self.url, name, self.out, str(total),
                 self.hold, str(self.lease), str(HEARTBEAT)], stderr=err)
        self.procs[name] = proc
        wait_until(lambda: name in self.lines(".ready"), 60, f"host {name} to start")
        return proc

    def lines(self, suffix: str = "") -> list[str]:
        try:
            return Path(self.out + suffix).read_text().split("\n")[:-1]
        except FileNotFoundError:
            return []

    def effects(self) -> collections.Counter[str]:
        return collections.Counter(line.split()[0] for line in self.lines())

    def wait_all(self, timeout: float = 90) -> None:
        end = time.monotonic() + timeout
        for name, proc in self.procs.items():
            if proc.poll() is None and proc.returncode is None:
                try:
                    proc.wait(max(1.0, end - time.monotonic()))
                except subprocess.TimeoutExpired:
                    raise AssertionError(f"host {name} did not finish: "
                                         f"{(self.tmp / f'{name}.err').read_text()}") from None

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
                proc.wait(10)


@pytest.fixture
def hosts(pg_url: str, tmp_path: Path) -> Iterator[Hosts]:
    h = Hosts(pg_url, tmp_path)
    yield h
    h.stop()


def add_pends(url: str, pends: list[tuple[int, object]]) -> None:
    async def body() -> None:
        store = PostgresStore(url, host="h1")
        store.open()
        for n, p in pends:
            store.add_pend(p, n)  # type: ignore[arg-type]
        await store.close()
    asyncio.run(body())


def rows(url: str, sql: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def test_three_host_processes_run_three_hundred_runs_each_exactly_once(hosts: Hosts) -> None:
    flows = [tagged_flow("f-db", ["db"]), tagged_flow("f-free"), tagged_flow("f-cache", ["cache"])]
    for name in ("a", "b", "c"):  # all three listening before the work arrives: a host
        hosts.start(name, total=300)  # started after the others could find it all done
    add_pends(hosts.url, [(n, a_pend(n, flows[n % 3])) for n in range(1, 301)])
    hosts.wait_all()
    effects = hosts.effects()
    assert len(effects) == 300 and set(effects.values()) == {1}
    assert len({line.split()[1] for line in hosts.lines()}) == 3  # all three took part
    assert rows(hosts.url, "SELECT state, attempt, count(*) FROM runs GROUP BY 1, 2") == [
        ("archive", 1, 300)]
    assert hosts.lines(".fenced") == []


def test_a_killed_host_s_tag_is_taken_over_and_its_run_archived_host_lost(
        hosts: Hosts) -> None:
    held = a_pend(1, tagged_flow("f", ["db"]))
    held.opts["hold"] = True
    add_pends(hosts.url, [(1, held)])
    a = hosts.start("a", total=3)
    wait_until(lambda: hosts.effects()["h1-1"], 30, "a to start run 1")
    b = hosts.start("b", total=3)
    add_pends(hosts.url, [(2, a_pend(2, tagged_flow("g", ["db"]))),
                          (3, a_pend(3, tagged_flow("g")))])
    wait_until(lambda: hosts.effects()["h1-3"], 30, "run 3, which needs no tag")
    assert hosts.effects()["h1-2"] == 0  # a holds the db tag
    a.kill()  # SIGKILL: no goodbye, its leases simply stop being renewed
    a.wait(10)
    killed = time.monotonic()
    wait_until(lambda: hosts.effects()["h1-2"], LEASE + 5, "b to take the db tag")
    # a's last renewal came at most a heartbeat before the kill
    assert time.monotonic() - killed <= LEASE + 1
    b.wait(60)
    assert b.returncode == 0
    (text,) = rows(hosts.url, "SELECT json FROM runs WHERE run_id = 'h1-1'")[0]
    lost = json.loads(str(text))
    assert (lost["Reason"], lost["State"], lost["Ended"]) == ("host lost", "host lost", True)
    assert hosts.effects() == {"h1-1": 1, "h1-2": 1, "h1-3": 1}
    assert rows(hosts.url, "SELECT count(*) FROM leases") == [(0,)]


def test_a_killed_host_is_presumed_dead_long_before_its_lease_runs_out(hosts: Hosts) -> None:
    """With a 600 s lease, a host killed with SIGKILL loses its tag and its run within
    seconds: the server ended its sessions, and with them its presence lock."""
    hosts.lease = 600.0
    held = a_pend(1, tagged_flow("f", ["db"]))
    held.opts["hold"] = True
    add_pends(hosts.url, [(1, held), (2, a_pend(2, tagged_flow("g", ["db"])))])
    a = hosts.start("a", total=2)
    wait_until(lambda: hosts.effects()["h1-1"], 30, "a to start run 1")
    b = hosts.start("b", total=2)
    a.kill()
    a.wait(10)
    wait_until(lambda: hosts.effects()["h1-2"], 30, "b to take the db tag")
    b.wait(60)
    assert b.returncode == 0
    (text,) = rows(hosts.url, "SELECT json FROM runs WHERE run_id = 'h1-1'")[0]
    assert json.loads(str(text))["Reason"] == "host lost"
    assert hosts.effects() == {"h1-1": 1, "h1-2": 1}
    assert "host a is gone" in (hosts.tmp / "b.err").read_text()


def test_a_paused_host_that_comes_back_writes_nothing(hosts: Hosts) -> None:
    held = a_pend(1, tagged_flow("f", ["db"]))
    held.opts["hold"] = True
    add_pends(hosts.url, [(1, held), (2, a_pend(2, tagged_flow("g", ["db"])))])
    a = hosts.start("a", total=2)
    wait_until(lambda: hosts.effects()["h1-1"], 30, "a to start run 1")
    os.kill(a.pid, signal.SIGSTOP)  # presumed dead: its leases run out
    hosts.start("b", total=2)
    wait_until(lambda: hosts.effects()["h1-2"], LEASE + 5, "b to take the db tag")
    wait_until(lambda: rows(hosts.url, "SELECT state FROM runs WHERE run_id = 'h1-1'") == [
        ("archive",)], LEASE + 5, "run 1 reaped")
    Path(hosts.hold).touch()  # run 1's task ends on a as soon as a runs again
    os.kill(a.pid, signal.SIGCONT)
    wait_until(lambda: "h1-1 a" in hosts.lines(".fenced"), 30, "a to learn it lost run 1")
    hosts.wait_all()
    (text,) = rows(hosts.url, "SELECT json FROM runs WHERE run_id = 'h1-1'")[0]
    assert json.loads(str(text))["Reason"] == "host lost"  # a's own end was not written
    assert rows(hosts.url, "SELECT line FROM logs WHERE run_id = 'h1-1'") == []
    assert hosts.effects() == {"h1-1": 1, "h1-2": 1}


def test_hosts_ride_out_a_server_crash_and_a_cut_listening_connection(
        hosts: Hosts, pg_server: PgServer) -> None:
    """pg_ctl restart -m immediate while three hosts are busy, then every listening
    connection terminated: they reconnect, and every run still happens exactly once."""
    total = 150
    hosts.lease = 15.0  # the default: a restart must not cost the hosts their claims
    add_pends(hosts.url, [(n, a_pend(n, tagged_flow("f", ["db"] if n % 2 else [])))
                          for n in range(1, total + 1)])
    for name in ("a", "b", "c"):
        hosts.start(name, total=total)
    wait_until(lambda: len(hosts.effects()) >= 20, 60, "the hosts to get going")
    pg_server.restart_immediate()
    pg_server.wait_ready()
    wait_until(lambda: len(hosts.effects()) >= 60, 60, "the hosts to go on after the crash")
    rows(hosts.url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query = 'LISTEN floe' OR query LIKE 'SELECT 1'")
    hosts.wait_all(120)
    effects = hosts.effects()
    assert len(effects) == total and set(effects.values()) == {1}
    states = dict(rows(hosts.url, "SELECT state, count(*) FROM runs GROUP BY 1"))
    assert states == {"archive": total}
    assert hosts.lines(".fenced") == []
