"""kill -9 of an engine holding a resource tag on a shared database: another engine takes the
tag once the dead host's lease runs out, the dead host's run is archived `host lost` once, and
the dead host, started again, writes nothing for that run (it never runs it again)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from engine.server.servertest import launch, run_view, start_run
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


def test_a_killed_host_loses_its_tag_and_its_run_once(tmp_path: Path, pg_url: str):
    out = tmp_path / "side-effects"
    text = app(out)
    env = {"FLOE_STORE_URL": pg_url}
    engines = {name: launch(tmp_path / name, text, f"-host_name={name}", env=env, name=name)
               for name in ("h1", "h2")}
    try:
        with engines["h1"].client() as c:
            first = start_run(c, "locked", {"N": "first"})
            where = wait_until(lambda: (s := run_view(c, "locked", first)["Summary"])["Status"]
                               == "running" and s["ExecHost"], 30, "the first run to start")
            wait_until(lambda: out.exists() and "first" in out.read_text(), 30, "its side effect")
        dead, alive = engines[where], engines["h2" if where == "h1" else "h1"]
        with alive.client() as c:
            second = start_run(c, "locked", {"N": "second"})
            assert run_view(c, "locked", second)["Summary"]["Status"] == "pending"  # db is held
            dead.stop(signal.SIGKILL)
            os.killpg(pgid_of("first"), signal.SIGKILL)  # its task, which a dead engine cannot kill
            wait_until(lambda: run_view(c, "locked", second)["Summary"]["Status"] == "running",
                       LEASE + 20, "the second run to take the tag")
            # the lease ran out: the dead host's run is archived by a live host's reaper
            wait_until(lambda: run_view(c, "locked", first)["Summary"]["Ended"], LEASE + 20,
                       "the lost run to be archived")
            assert run_view(c, "locked", first)["Summary"]["State"] == "host lost"
        # the dead host comes back: it does not run its lost run again, nor write to it
        again = launch(tmp_path / where, text, f"-host_name={where}", env=env, name=where + "b")
        engines[where] = again
        with again.client() as c:
            assert run_view(c, "locked", first)["Summary"]["State"] == "host lost"
        assert out.read_text().split() == ["first", "second"]  # each ran once
    finally:
        for engine in engines.values():
            engine.stop()


def test_a_killed_host_s_run_whose_task_says_rerun_runs_again_once_elsewhere(
        tmp_path: Path, pg_url: str):
    out = tmp_path / "side-effects"
    text = app(out)
    env = {"FLOE_STORE_URL": pg_url}
    engines = {name: launch(tmp_path / name, text, f"-host_name={name}", env=env, name=name)
               for name in ("h1", "h2")}
    try:
        with engines["h1"].client() as c:
            run = start_run(c, "again", {"N": "again"})
            where = wait_until(lambda: (s := run_view(c, "again", run)["Summary"])["Status"]
                               == "running" and s["ExecHost"], 30, "the run to start")
            wait_until(lambda: out.exists() and "again" in out.read_text(), 30, "its side effect")
        dead, alive = engines[where], engines["h2" if where == "h1" else "h1"]
        dead.stop(signal.SIGKILL)
        os.killpg(pgid_of("again"), signal.SIGKILL)
        with alive.client() as c:
            other = "h2" if where == "h1" else "h1"
            wait_until(lambda: run_view(c, "again", run)["Summary"]["ExecHost"] == other,
                       LEASE + 20, "the run to be resumed on the live host")
            wait_until(lambda: out.read_text().split() == ["again", "again"], 30,
                       "its task to run again there")
            summary = run_view(c, "again", run)["Summary"]
            assert (summary["Status"], summary["Ended"]) == ("running", False)
            assert c.post(f"/flows/again/runs/{run}/stop").status_code == 200
            wait_until(lambda: run_view(c, "again", run)["Summary"]["Ended"], 30, "the stop")
        assert out.read_text().split() == ["again", "again"]  # once per host, never more
    finally:
        for engine in engines.values():
            engine.stop()


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
