"""Runs through the API: a data node fed by push/data (with its audit), stop, logs, websocket."""

from __future__ import annotations

import asyncio
import json

import websockets
from flows import SLOW, app, ask, data_trigger, end, flow, task
from servertest import ADMIN, run_view, start_run, wait_ended, wait_until

DATA_APP = app(flow(
    "signed",
    task("build", shell="echo built"),
    ask("sign-off", "Sign off", {"id": "ok", "prompt": "Tests passed?"}, listen="task.build.good"),
    end(listen="task.sign-off.good"),
    triggers=[data_trigger(title="Start", fields=[{"id": "ref", "prompt": "Ref"}])]),
    store_type="memory")


def test_data_node_fed_through_push_data_is_audited(start_engine):
    engine = start_engine(DATA_APP)
    with engine.client() as c:
        run = start_run(c, "signed", {"ref": "main"})
        view = wait_until(lambda: (v := run_view(c, "signed", run))["Graph"][1][0]["Enabled"]
                          and v, what="the sign-off form")
        node = view["Graph"][1][0]
        assert (node["ID"], node["Status"]) == ("sign-off", "waiting")
        assert node["Fields"] == [{"id": "ok", "prompt": "Tests passed?", "value": ""}]
        # data for a node that does not wait, and for a run that does not exist
        r = c.post("/push/data", json={"Ref": {"ID": "signed", "Ver": 1}, "Run": run,
                                       "Form": {"ID": "build", "Values": {"ok": "yes"}}})
        assert r.status_code == 409 and "not waiting" in r.json()["Message"]
        r = c.post("/push/data", json={"Ref": {"ID": "signed", "Ver": 1}, "Run": "h1-99",
                                       "Form": {"ID": "sign-off", "Values": {}}})
        assert r.status_code == 404
        r = c.post("/push/data", json={"Ref": {"ID": "signed", "Ver": 1}, "Run": run,
                                       "Form": {"ID": "sign-off", "Values": {"ok": "yes"}}})
        assert r.status_code == 200, r.text
        view = wait_ended(c, "signed", run)
        assert view["Summary"]["Good"]
        node = view["Graph"][1][0]
        assert node["Status"] == "finished" and not node["Enabled"]
        assert node["Fields"] == [{"id": "ok", "prompt": "Tests passed?", "value": "yes"}]
        (sub,) = node["Submissions"]
        assert sub["User"] == "Admin" and sub["Values"] == {"ok": "yes"}
        assert sub["FormVersion"].startswith("1-") and sub["Time"]
        (start,) = view["Triggers"][0]["Submissions"]
        assert start["User"] == "Admin" and start["Values"] == {"ref": "main"}
        # the audit goes out with the exported run
        r = c.get(f"/flows/signed/runs/{run}", params={"export": "1"})
        assert "attachment" in r.headers["content-disposition"]
        exported = r.json()["Payload"]
        assert exported["Run"]["DataNodes"]["sign-off"]["Submissions"] == [sub]
        assert exported["Run"]["TriggerSubmission"] == start
        assert exported["Run"]["ExecNodes"]["build"]["Logs"][-1] == "built"


STOP_APP = app(SLOW, store_type="memory")


def test_stop_a_run_through_the_api(start_engine):
    engine = start_engine(STOP_APP)
    with engine.client() as c:
        run = start_run(c, "slow")
        wait_until(lambda: run_view(c, "slow", run)["Graph"][0][0]["Status"] == "running")
        r = c.post(f"/flows/slow/runs/{run}/stop")
        assert r.status_code == 200 and r.json()["Message"] == "stopped"
        view = run_view(c, "slow", run)
        assert view["Summary"]["Status"] == "bad" and view["Summary"]["Reason"] == "stopped"
        assert c.post(f"/flows/slow/runs/{run}/stop").status_code == 409
        assert c.post("/flows/slow/runs/h1-77/stop").status_code == 404
        assert c.post(f"/flows/other/runs/{run}/stop").status_code == 404


LOG_APP = app(flow("chatty", task("count", shell="seq 1 200"),
                   task("tail", shell="echo tail", listen="task.count.good")),
              store_type="memory")


def test_logs_route_and_websocket_stream_in_order(start_engine):
    engine = start_engine(LOG_APP)
    ws_url = engine.url(scheme="ws") + "/ws?flow=chatty"
    ends_url = engine.url(scheme="ws") + "/ws?tag=sys.end"
    headers = {"X-Floe-Auth": ADMIN}
    got: list[dict] = []

    async def scenario() -> str:
        async with websockets.connect(ws_url, additional_headers=headers,
                                      open_timeout=10) as ws, websockets.connect(
                ends_url, additional_headers=headers, open_timeout=10) as ends:
            with engine.client() as c:
                run = await asyncio.to_thread(start_run, c, "chatty")
            async with asyncio.timeout(30):
                while True:
                    event = json.loads(await ws.recv())
                    got.append(event)
                    if event["Tag"] == "sys.end.all" and event["RunRef"]["Run"]["ID"]:
                        break
                # the filtered client saw only the end
                assert json.loads(await ends.recv())["Tag"] == "sys.end.all"
                return run

    run = asyncio.run(scenario())
    # A burst of lines may arrive coalesced: Opts.update holds them joined by newlines.
    lines = [line for e in got if e["Tag"] == "sys.node.update"
             and e["SourceNode"]["ID"] == "count" for line in e["Opts"]["update"].split("\n")]
    numbers = [line for line in lines if line.isdigit()]
    assert numbers == [str(i) for i in range(1, 201)]
    assert {e["RunRef"]["FlowRef"]["ID"] for e in got} == {"chatty"}
    ids = [e["ID"] for e in got]
    assert ids == sorted(ids)
    with engine.client() as c:
        wait_ended(c, "chatty", run)
        logs = c.get(f"/flows/chatty/runs/{run}/logs").json()["Payload"]
        assert list(logs) == ["count", "tail"]
        assert [x for x in logs["count"] if x.isdigit()] == numbers
        only = c.get(f"/flows/chatty/runs/{run}/logs", params={"node": "tail"}).json()
        assert list(only["Payload"]) == ["tail"]
        assert c.get(f"/flows/chatty/runs/{run}/logs",
                     params={"node": "nope"}).status_code == 404
