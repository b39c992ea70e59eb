"""Running an engine for a year (issue 22), through real engine processes: retention with the
keep route and `floe prune`, run-end webhooks, and `floe store backup` during a burst."""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import flows
import httpx
from flows import end, flow, one_task, task
from harness import wait_until
from servertest import launch, start_run, wait_ended

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

CHAIN = flow("chain", task("t0", shell="echo ran"), end(listen="task.t0.good"))
BROKEN = one_task("broken", shell="exit 3", task_id="t0")


def app(**common: Any) -> str:
    return flows.app(CHAIN, BROKEN, store_type="local", **common)


def archive_total(c: httpx.Client, flow: str = "chain") -> int:
    return c.get(f"/flows/{flow}?limit=1").json()["Payload"]["Runs"]["ArchiveTotal"]


# ---- retention ---------------------------------------------------------------------------


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
    finally:
        engine.stop()
    conf = tmp_path / "engine.yml"
    conf.write_text(app(retention={"keep": 1}))
    args = ["floe", "prune", "--conf", str(conf), "--root", str(engine.root)]
    dry = script_runner.run([*args, "--dry-run"])
    assert dry.returncode == 0, dry.stderr
    assert "chain: 2 archived runs" in dry.stdout
    assert f"  chain {runs[1]} started" in dry.stdout and runs[0] + " " not in dry.stdout
    assert "would remove 2 archived runs (dry run)" in dry.stdout
    assert (engine.root / "spaces" / "chain" / "ws" / runs[1]).is_dir()
    done = script_runner.run(args)
    assert done.returncode == 0 and "removed 2 archived runs" in done.stdout
    assert not (engine.root / "spaces" / "chain" / "ws" / runs[1]).exists()
    engine = launch(tmp_path, app(retention={"keep": 1}))
    try:
        with engine.client() as c:
            archive = c.get("/flows/chain").json()["Payload"]["Runs"]["Archive"]
            assert sorted(f"h1-{s['Ref']['Run']['ID']}" for s in archive) == sorted(
                [runs[0], runs[3]])
    finally:
        engine.stop()


def test_ten_thousand_archived_runs_pruned_while_the_api_answers(tmp_path):
    from retention_bench import ARCHIVED, KEEP, seed

    text = app(retention={"keep": KEEP})
    root = tmp_path / "engine-root"
    seed(root, text)
    engine = launch(tmp_path, text)
    answered = 0
    try:
        with engine.client() as c:
            while True:
                r = c.get("/flows/chain?limit=20")
                assert r.status_code == 200, r.text
                answered += 1
                if r.json()["Payload"]["Runs"]["ArchiveTotal"] <= KEEP:
                    break
            assert archive_total(c) == KEEP
    finally:
        engine.stop()
    assert answered > 1  # the API answered while the prune ran, not only after it
    assert len(list((root / "spaces" / "chain" / "ws").iterdir())) == KEEP
    db = sqlite3.connect(root / "store" / "floe.db")
    assert db.execute("SELECT count(DISTINCT run_id) FROM logs").fetchone()[0] == KEEP
    assert ARCHIVED > KEEP
    db.close()


# ---- notifications -----------------------------------------------------------------------


class _Hooks:
    """A webhook receiver on 127.0.0.1."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_webhook_gets_the_summary_of_failed_runs_and_a_dead_one_slows_nothing(tmp_path):
    hooks = _Hooks()
    silent = socket.socket()  # accepts connections and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    dead = f"http://127.0.0.1:{_closed_port()}/gone"
    engine = launch(tmp_path, app(notify=[
        {"url": hooks.url, "on": ["bad"], "timeout": 5, "retries": 1},
        {"url": f"http://127.0.0.1:{silent.getsockname()[1]}/", "timeout": 60},
        {"url": dead, "retries": 0}]))
    try:
        with engine.client() as c:
            good = [start_run(c, "chain", {"N": str(i)}) for i in range(5)]
            bad = start_run(c, "broken")
            views = [wait_ended(c, "chain", run) for run in good]
            views.append(wait_ended(c, "broken", bad))
        # every run completed, whatever the hooks do
        assert [v["Summary"]["Status"] for v in views] == ["good"] * 5 + ["bad"]
        wait_until(lambda: hooks.bodies, what="the webhook")
        body = hooks.bodies[0]
        assert body["Run"] == bad and body["Result"] == "bad" and body["Good"] is False
        assert body["Flow"] == {"ID": "broken", "Ver": 1}
        assert body["Summary"]["Status"] == "bad" and body["FailedNodes"] == ["t0"]
        wait_until(lambda: f"notify {dead}: run" in engine.stderr, what="the failure's log line")
        assert "not delivered after 1 attempt(s)" in engine.stderr
    finally:
        engine.stop()
        hooks.close()
        silent.close()
    assert len(hooks.bodies) == 1  # good runs were filtered out


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
            pusher = threading.Thread(target=lambda: [burst.append(
                start_run(c2, "chain", {"N": "more"})) for c2 in [engine.client()]
                for _ in range(30)])
            pusher.start()
            r = script_runner.run(["floe", "store", "backup", str(backup), "--conf", str(conf),
                                   "--root", str(engine.root)])
            pusher.join()
            assert r.returncode == 0, r.stderr
            assert "integrity ok" in r.stdout
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
