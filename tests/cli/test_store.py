"""`floe prune` and `floe store backup` on the run store of a real engine process (issue 22):
retention with the keep route, and a backup taken during a burst that restores."""

from __future__ import annotations

import shutil
import sqlite3
import threading

import httpx
import pytest
from engine.server.servertest import launch, start_run, wait_ended
from harness import wait_until

pytestmark = pytest.mark.script_launch_mode("subprocess")

CHAIN = """\
common:
  store-type: local
EXTRA
flows:
  - id: chain
    ver: 1
    triggers: [{id: start, type: data}]
    tasks:
      - {id: t0, listen: trigger.good, type: exec, opts: {shell: "echo ran"}}
      - {id: done, listen: task.t0.good, type: end}
  - id: broken
    ver: 1
    triggers: [{id: start, type: data}]
    tasks:
      - {id: t0, listen: trigger.good, type: exec, opts: {shell: "exit 3"}}
"""


def app(extra: str = "") -> str:
    return CHAIN.replace("EXTRA\n", extra)


def archive_total(c: httpx.Client, flow: str = "chain") -> int:
    return c.get(f"/flows/{flow}?limit=1").json()["Payload"]["Runs"]["ArchiveTotal"]


# ---- prune -------------------------------------------------------------------------------


def test_keep_route_and_floe_prune(tmp_path, script_runner):
    engine = launch(tmp_path, app())
    try:
        with engine.client() as c:
            runs = [start_run(c, "chain") for _ in range(4)]
            for run in runs:
                wait_ended(c, "chain", run)
            r = c.post(f"/flows/chain/runs/{runs[0]}/keep")
            assert r.status_code == 200 and r.json()["Payload"] == {"Kept": True}
            assert c.post("/flows/chain/runs/h1-999/keep").status_code == 404
            assert engine.client(token=None).post(
                f"/flows/chain/runs/{runs[1]}/keep").status_code == 401
            conf = tmp_path / "engine.yml"
            conf.write_text(app("  retention: {keep: 1}\n"))
            args = ["floe", "prune", "--conf", str(conf), "--root", str(engine.root)]
            # beside a running engine: --dry-run says what would go, pruning is refused (the
            # engine prunes by itself and would not hear of what another process removed)
            dry = script_runner.run([*args, "--dry-run"])
            assert dry.returncode == 0 and "chain: 2 archived runs" in dry.stdout, dry.stderr
            refused = script_runner.run(args)
            assert refused.returncode == 1
            assert "an engine is running on the run store" in refused.stderr
            assert "stop it to prune now" in refused.stderr
            assert archive_total(c) == 4
    finally:
        engine.stop()
    dry = script_runner.run([*args, "--dry-run"])
    assert dry.returncode == 0, dry.stderr
    assert "chain: 2 archived runs" in dry.stdout
    assert f"  chain {runs[1]} started" in dry.stdout and runs[0] + " " not in dry.stdout
    assert "would remove 2 archived runs (dry run)" in dry.stdout
    assert (engine.root / "spaces" / "chain" / "ws" / runs[1]).is_dir()
    done = script_runner.run(args)
    assert done.returncode == 0 and "removed 2 archived runs" in done.stdout
    assert not (engine.root / "spaces" / "chain" / "ws" / runs[1]).exists()
    engine = launch(tmp_path, app("  retention: {keep: 1}\n"))
    try:
        with engine.client() as c:
            archive = c.get("/flows/chain").json()["Payload"]["Runs"]["Archive"]
            assert sorted(f"h1-{s['Ref']['Run']['ID']}" for s in archive) == sorted(
                [runs[0], runs[3]])
    finally:
        engine.stop()


# ---- backup ------------------------------------------------------------------------------


def test_a_backup_taken_during_a_burst_restores(tmp_path, script_runner):
    engine = launch(tmp_path, app())
    conf = tmp_path / "engine.yml"
    backup = tmp_path / "backups" / "floe-backup.db"
    backup.parent.mkdir()
    burst: list[str] = []
    try:
        with engine.client() as c:
            for i in range(10):
                burst.append(start_run(c, "chain", {"N": str(i)}))
            ended_before = [r for r in burst if wait_ended(c, "chain", r)]
            backed_up = threading.Event()

            def push() -> None:  # runs pushed from before the backup starts until it is done
                with engine.client() as c2:
                    while not backed_up.is_set() or len(burst) < 40:
                        burst.append(start_run(c2, "chain", {"N": "more"}))

            pusher = threading.Thread(target=push)
            pusher.start()
            wait_until(lambda: len(burst) >= 15, what="the burst to be under way")
            r = script_runner.run(["floe", "store", "backup", str(backup), "--conf", str(conf),
                                   "--root", str(engine.root)])
            backed_up.set()
            pusher.join()
            assert r.returncode == 0, r.stderr
            assert "integrity ok" in r.stdout
            assert backup.stat().st_mode & 0o777 == 0o600  # sessions are in it
            for run in burst:
                wait_ended(c, "chain", run)
    finally:
        engine.stop()
    copy = sqlite3.connect(backup)
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    in_backup = {r for (r,) in copy.execute("SELECT run_id FROM runs WHERE state = 'archive'")}
    # runs still active or pending at the backup resume after a restore, and then end
    in_flight = {r for (r,) in copy.execute(
        "SELECT run_id FROM runs WHERE state = 'active' UNION SELECT run_id FROM pends")}
    copy.close()
    assert set(ended_before) <= in_backup
    # restore: the engine stopped, the copy put where the store was
    store = engine.root / "store"
    shutil.rmtree(store)
    store.mkdir(mode=0o700)
    shutil.copy(backup, store / "floe.db")
    restored = launch(tmp_path, app(), f"-root={engine.root}", name="restored")
    try:
        with restored.client() as c:
            wait_until(lambda: archive_total(c) == len(in_backup | in_flight),
                       what="the restored runs")
            archive = c.get("/flows/chain").json()["Payload"]["Runs"]["Archive"]
            assert {f"h1-{s['Ref']['Run']['ID']}" for s in archive} == in_backup | in_flight
    finally:
        restored.stop()
