"""kill -9 of an engine holding a resource tag on a shared database: another engine takes the
tag, the dead host's run is archived `host lost` once (or, where its task says restart: rerun,
runs again once on the live host), and the dead host, started again, writes nothing for that
run (it never runs it again)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine.server.servertest import EngineProcess, launch, run_view, start_run
from harness import wait_until

LEASE = 3


def app(out: Path) -> str:
    side = f'echo "$FLOE_IN_N" >> {out}; sleep 60'
    return f"""\
common:
  store-type: postgres
  cluster: {{heartbeat: 1, lease: {LEASE}, poll: 1}}
flows:
  - id: locked
    ver: 1
    resource-tags: [db]
    triggers: [{{id: start, type: data}}]
    tasks:
      - {{id: hold, listen: trigger.good, type: exec, opts: {{shell: '{side}'}}}}
  - id: again
    ver: 1
    resource-tags: [db]
    triggers: [{{id: start, type: data}}]
    tasks:
      - {{id: hold, listen: trigger.good, type: exec, opts: {{shell: '{side}', restart: rerun}}}}
"""


class Pair:
    """Two engines, h1 and h2, on one database; the side effects their tasks write."""

    def __init__(self, tmp_path: Path, pg_url: str) -> None:
        self.tmp, self.out = tmp_path, tmp_path / "side-effects"
        self.text, self.env = app(self.out), {"FLOE_STORE_URL": pg_url}
        self.engines = {name: self.launch(name) for name in ("h1", "h2")}

    def launch(self, name: str, label: str = "") -> EngineProcess:
        return launch(self.tmp / name, self.text, f"-host_name={name}", env=self.env,
                      name=label or name)

    def start_held(self, flow: str, value: str) -> tuple[str, str, str]:
        """A run of `flow` started with N=value, once its task runs and wrote its side
        effect: the run, the host executing it, the other host."""
        with self.engines["h1"].client() as c:
            run = start_run(c, flow, {"N": value})
            where = wait_until(lambda: (s := run_view(c, flow, run)["Summary"])["Status"]
                               == "running" and s["ExecHost"], 30, "the run to start")
        wait_until(lambda: self.out.exists() and value in self.out.read_text(), 30,
                   "its side effect")
        return run, where, "h2" if where == "h1" else "h1"

    def kill(self, name: str, value: str) -> None:
        """kill -9 the engine, and its task, which a dead engine cannot kill."""
        self.engines[name].stop(signal.SIGKILL)
        os.killpg(pgid_of(value), signal.SIGKILL)

    def effects(self) -> list[str]:
        return self.out.read_text().split()


@pytest.fixture
def pair(tmp_path: Path, pg_url: str) -> Iterator[Pair]:
    p = Pair(tmp_path, pg_url)
    yield p
    for engine in p.engines.values():
        engine.stop()


def test_a_killed_host_loses_its_tag_and_its_run_once(pair: Pair):
    first, where, other = pair.start_held("locked", "first")
    with pair.engines[other].client() as c:
        second = start_run(c, "locked", {"N": "second"})
        assert run_view(c, "locked", second)["Summary"]["Status"] == "pending"  # db is held
        pair.kill(where, "first")
        wait_until(lambda: run_view(c, "locked", second)["Summary"]["Status"] == "running",
                   LEASE + 20, "the second run to take the tag")
        # the dead host's run is archived by a live host's reaper
        wait_until(lambda: run_view(c, "locked", first)["Summary"]["Ended"], LEASE + 20,
                   "the lost run to be archived")
        assert run_view(c, "locked", first)["Summary"]["State"] == "host lost"
    # the dead host comes back: it does not run its lost run again, nor write to it
    again = pair.engines[where] = pair.launch(where, where + "b")
    with again.client() as c:
        assert run_view(c, "locked", first)["Summary"]["State"] == "host lost"
    assert pair.effects() == ["first", "second"]  # each ran once


def test_a_killed_host_s_run_whose_task_says_rerun_runs_again_once_elsewhere(pair: Pair):
    run, where, other = pair.start_held("again", "again")
    pair.kill(where, "again")
    with pair.engines[other].client() as c:
        wait_until(lambda: run_view(c, "again", run)["Summary"]["ExecHost"] == other,
                   LEASE + 20, "the run to be resumed on the live host")
        wait_until(lambda: pair.effects() == ["again", "again"], 30,
                   "its task to run again there")
        summary = run_view(c, "again", run)["Summary"]
        assert (summary["Status"], summary["Ended"]) == ("running", False)
        assert c.post(f"/flows/again/runs/{run}/stop").status_code == 200
        wait_until(lambda: run_view(c, "again", run)["Summary"]["Ended"], 30, "the stop")
    assert pair.effects() == ["again", "again"]  # once per host, never more


def pgid_of(value: str) -> int:
    """The process group of the task whose run was given `N=value` (its environment says)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"FLOE_IN_N={value}".encode() in environ:
            return os.getpgid(int(pid))
    raise AssertionError(f"the task of run N={value} is gone")
