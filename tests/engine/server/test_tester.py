"""The tester listener: a posted flow runs once and its nodes' logs come back in the reply."""

from __future__ import annotations

import json

import httpx
from flows import app, one_task
from servertest import ADMIN

APP = app(one_task("hello", shell="echo hello app", task_id="greet"), store_type="memory")

INLINE = {
    "id": "posted", "ver": 1,
    "triggers": [{"id": "start", "type": "data"}],
    "tasks": [
        {"id": "one", "listen": "trigger.good", "type": "exec",
         "opts": {"shell": "echo first; echo $WHO", "env": ["WHO=tester"]}},
        {"id": "two", "listen": "task.one.good", "type": "exec", "opts": {"shell": "exit 3"}},
    ],
}


def test_posted_inline_flow_runs_and_replies_with_node_logs(start_engine, tmp_path):
    engine = start_engine(APP, "-tester_port=0")
    assert f"floe tester listening on http://127.0.0.1:{engine.ports['tester']}" in (
        engine.stderr)
    with httpx.Client(base_url=engine.url("tester"), timeout=60) as c:
        assert c.get("/status").json() == {"status": "ok"}
        r = c.post("/flow/start", json={"flow": INLINE, "data": {"x": "1"}})
        assert r.status_code == 200, r.text
        reply = r.json()
        assert reply["result"] == "bad" and reply["good"] is False
        nodes = {n["id"]: n for n in reply["nodes"]}
        assert nodes["one"]["result"] == "success" and nodes["one"]["status"] == "finished"
        assert nodes["one"]["logs"][-2:] == ["first", "tester"]
        assert nodes["two"]["result"] == "failed"
        assert c.get(f"/flow/runs/{reply['id']}").json() == reply
        assert c.get("/flow/runs/nope").status_code == 404
        # a flow of the app, and one from a file
        r = c.post("/flow/start", json={"flowUri": "res://flow:hello"})
        assert r.json()["result"] == "good"
        assert r.json()["nodes"][0]["logs"][-1] == "hello app"
        assert r.json()["id"] != reply["id"]
        f = tmp_path / "flow.json"
        f.write_text(json.dumps(INLINE))
        r = c.post("/flow/start", json={"flowUri": f"file://{f}"})
        assert r.json()["nodes"][0]["logs"][-1] == "tester"
        # refusals
        assert c.post("/flow/start", json={"flowUri": "res://flow:nope"}).status_code == 404
        assert c.post("/flow/start", json={}).status_code == 400
        assert c.post("/flow/start", content=b"{",
                      headers={"Content-Type": "application/json"}).status_code == 400
        r = c.post("/flow/start", json={"flow": {"id": "x", "tasks": [{"id": "a",
                                                                       "type": "nosuch"}]}})
        assert r.status_code == 400
    # the tester has no login; the API still has
    with engine.client(None) as c:
        assert c.get("/flows").status_code == 401
    with engine.client(ADMIN) as c:
        assert c.get("/flows/hello").json()["Payload"]["Runs"]["Archive"] == []  # apart


def test_tester_from_the_environment(start_engine):
    engine = start_engine(APP, env={"TESTER_ENABLED": "true", "TESTER_PORT": "0"})
    with httpx.Client(base_url=engine.url("tester")) as c:
        assert c.get("/status").json() == {"status": "ok"}
