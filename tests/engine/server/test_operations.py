"""Running an engine for a year (issue 22), through real engine processes: retention while the
API answers, and run-end webhooks (`floe prune` and `floe store backup` are in
tests/cli/test_store.py)."""

from __future__ import annotations

import json
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

from floecli.engine.notify import shown

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench"))

CHAIN = flow("chain", task("t0", shell="echo ran"), end(listen="task.t0.good"))
BROKEN = one_task("broken", shell="exit 3", task_id="t0")


def app(**common: Any) -> str:
    return flows.app(CHAIN, BROKEN, store_type="local", **common)


def archive_total(c: httpx.Client, flow: str = "chain") -> int:
    return c.get(f"/flows/{flow}?limit=1").json()["Payload"]["Runs"]["ArchiveTotal"]


# ---- retention ---------------------------------------------------------------------------


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


def test_a_flows_run_list_drops_the_runs_the_engine_pruned(tmp_path):
    # `GET flows/:id` (what the dashboard polls) is kept until a run of the flow changes;
    # a prune changes it too.
    engine = launch(tmp_path, app(retention={"keep": 1}))
    try:
        with engine.client() as c:
            runs = [start_run(c, "chain") for _ in range(3)]
            for run in runs:
                wait_ended(c, "chain", run)
            c.get("/flows/chain")  # the reply as it is before the prune's pass
            wait_until(lambda: "retention: removed 2 archived runs" in engine.stderr,
                       what="the engine's prune")
            listed = c.get("/flows/chain").json()["Payload"]["Runs"]
            assert listed["ArchiveTotal"] == 1, listed
            assert [f"h1-{s['Ref']['Run']['ID']}" for s in listed["Archive"]] == [runs[-1]]
    finally:
        engine.stop()


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


def test_a_hooks_url_is_logged_as_its_scheme_host_and_port() -> None:
    assert shown("https://hooks.example.com/services/T0/B0/secret") == "https://hooks.example.com/…"
    assert shown("http://u:pw@[::1]:8080/?token=x") == "http://[::1]:8080/…"
    assert shown("https://ci.example.com") == "https://ci.example.com"
    assert shown("https://ci.example.com/") == "https://ci.example.com"


def test_a_webhook_gets_the_summary_of_failed_runs_and_a_dead_one_slows_nothing(tmp_path):
    hooks = _Hooks()
    silent = socket.socket()  # accepts connections and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    dead_port = _closed_port()
    # a hook URL is often its own credential: the log names its host and port only
    dead = f"http://ann:pw@127.0.0.1:{dead_port}/services/T0/B0/XSECRETX?token=TSECRETT"
    slow = f"http://127.0.0.1:{silent.getsockname()[1]}/slow"
    engine = launch(tmp_path, app(notify=[
        {"url": hooks.url, "on": ["bad"], "timeout": 5, "retries": 1},
        {"url": f"http://127.0.0.1:{silent.getsockname()[1]}/", "timeout": 60},
        {"url": slow, "on": ["bad"], "timeout": 0.5, "retries": 1},
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
        wait_until(lambda: f"notify http://127.0.0.1:{dead_port}/…: run" in engine.stderr,
                   what="the failure's log line")
        assert "not delivered after 1 attempt(s)" in engine.stderr
        # each attempt has its timeout: a hook that never answers fails, retried once
        line = wait_until(lambda: next((ln for ln in engine.stderr.splitlines()
                                        if f"notify {shown(slow)}: run {bad} " in ln), None),
                          what="the silent hook's timeout")
        assert "not delivered after 2 attempt(s)" in line and "Timeout" in line, line
    finally:
        engine.stop()
        hooks.close()
        silent.close()
    assert len(hooks.bodies) == 1  # good runs were filtered out
    for secret in ("XSECRETX", "TSECRETT", "ann:pw"):
        assert secret not in engine.stderr


def test_a_flows_own_hooks_replace_commons_and_an_empty_list_silences_it(tmp_path):
    common_hook, own_hook = _Hooks(), _Hooks()
    text = flows.app(
        flow("chain", task("t0", shell="echo ran"), end(listen="task.t0.good"),
             notify=[{"url": own_hook.url}]),
        BROKEN,
        one_task("quiet", shell="exit 3", task_id="t0", notify=[]),
        store_type="local", notify=[{"url": common_hook.url}])
    engine = launch(tmp_path, text)
    try:
        with engine.client() as c:
            runs = {f: start_run(c, f) for f in ("chain", "broken", "quiet")}
            for f, run in runs.items():
                wait_ended(c, f, run)
    finally:
        # a clean stop waits for the deliveries already queued (a live hook answers at once)
        assert engine.stop() == 0
        common_hook.close()
        own_hook.close()
    assert [(b["Flow"]["ID"], b["Run"], b["Result"]) for b in own_hook.bodies] == [
        ("chain", runs["chain"], "good")]
    assert [(b["Flow"]["ID"], b["Run"], b["Result"]) for b in common_hook.bodies] == [
        ("broken", runs["broken"], "bad")]
