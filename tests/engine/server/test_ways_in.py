"""Ways in that are closed: p2p takes only the host token and runs only this host's own
flows; values a form pushes reach tasks as data only (DECISIONS §2)."""

from __future__ import annotations

from flows import NOTHING, app, one_task
from servertest import start_run, wait_ended

from floecli.engine.server.passwords import hash_password

USERS_APP = app(NOTHING, store_type="memory", users=[
    {"name": "ann", "role": "admin", "password-hash": hash_password("s3cret")}])


def _pend(flow: dict, run_id: object = 4, host: str = "h9") -> dict:
    return {"Ref": {"FlowRef": {"ID": "f", "Ver": 1}, "Run": {"HostID": host, "ID": run_id}},
            "Flow": flow, "TriggeredNode": {"Class": "trigger", "ID": "start"}, "Opts": {}}


def test_p2p_takes_the_host_token_and_runs_its_own_flow_once(start_engine, tmp_path):
    engine = start_engine(USERS_APP)
    marker = tmp_path / "owned"
    with engine.client(None) as anon:
        r = anon.post("/login", json={"User": "ann", "Password": "s3cret"})
        assert r.status_code == 200
        token = r.json()["Payload"]["Token"]
    with engine.client() as host, engine.client(token) as user:
        flow = host.get("/flows/f").json()["Payload"]["Config"]
        evil = {**flow, "Tasks": [{**flow["Tasks"][0], "Opts": {"cmd": f"touch {marker}"}}]}
        # an admin *user* is not a host
        r = user.post("/p2p/flows/exec", json=_pend(evil))
        assert r.status_code == 403 and "host token" in r.json()["Message"]
        assert user.get("/p2p/config").status_code == 403
        # run ids are positive integers, as the reference's are
        for bad in (-5, 0, 1.5, 10**30, "3", True):
            r = host.post("/p2p/flows/exec", json=_pend(flow, bad, host="h8"))
            assert r.status_code == 400, bad
        # the posted body is ignored: this host runs its own configured flow f ver 1
        r = host.post("/p2p/flows/exec", json=_pend(evil))
        assert r.status_code == 200
        assert wait_ended(host, "f", "h9-4")["Summary"]["Good"]
        assert not marker.exists()
        # a run id it already knows, live or archived, is not run again; the 200 tells an
        # adopter that offers it again (a lost reply, a crash) to drop its pend
        r = host.post("/p2p/flows/exec", json=_pend(flow))
        assert (r.status_code, r.json()["Message"]) == (200, "already started")
        archive = host.get("/flows/f").json()["Payload"]["Runs"]["Archive"]
        assert [s["Ref"]["Run"] for s in archive] == [{"HostID": "h9", "ID": 4}]
        unknown_ver = {**_pend(flow, 7), "Ref": {"FlowRef": {"ID": "f", "Ver": 9},
                                                 "Run": {"HostID": "h9", "ID": 7}}}
        assert host.post("/p2p/flows/exec", json=unknown_ver).status_code == 400


ECHO_APP = app(one_task("f", shell="echo safe; pwd; printenv", task_id="a"),
               store_type="memory")


def test_form_values_reach_tasks_as_data_only(start_engine, tmp_path):
    engine = start_engine(ECHO_APP)
    marker = tmp_path / "owned"
    values = {"cmd": f"touch {marker}", "shell": f"touch {marker}",
              "args": [";", "touch", str(marker)],
              "env": ["BASH_FUNC_echo%%=() { touch " + str(marker) + "; }"],
              "sub-dir": "../../../..", "ref": "main $HOME"}
    with engine.client() as c:
        run = start_run(c, "f", values)
        view = wait_ended(c, "f", run)
        assert view["Summary"]["Good"]
        logs = c.get(f"/flows/f/runs/{run}/logs").json()["Payload"]["a"]
    assert not marker.exists()
    assert "safe" in logs
    assert any(line.endswith(f"/spaces/f/ws/{run}") for line in logs)  # pwd: its workspace
    assert "FLOE_IN_REF=main $HOME" in logs  # the value as pushed, never expanded
    assert not any(line.startswith("BASH_FUNC_echo") for line in logs)
