"""floe-reference §8.2 TestWebUnauth and TestWebLaunch against a real engine process."""

from __future__ import annotations

from flows import app, one_task
from servertest import ADMIN, wait_ended, wait_until

# The reference's integration config, with node types we ship (git-merge → exec) and an
# unreachable peer in `hosts`, which must not stop the local host serving its runs.
INTEG_APP = """\
common:
  hosts: [name-or.ip.of.other.host]
  store-type: memory
flows:
  - id: build-project
    ver: 1
    reuse-space: true
    resource-tags: [couchbase, nic]
    host-tags: [linux, go, couch]
    triggers:
      - name: push
        type: git-push
        opts: {url: blah.blah}
      - name: start
        type: data
        opts:
          form:
            title: Start
            fields:
              - {id: from_hash, prompt: From this hash, type: text}
              - {id: to_hash, prompt: To this hash, type: text}
    tasks:
      - {name: wait tests, class: merge, type: all, wait: [task.test.good, task.test2.good]}
      - {name: checkout, listen: trigger.good, type: exec, good: [0], opts: {cmd: "true"}}
      - {name: build, listen: task.checkout.good, type: exec, opts: {shell: "echo build"}}
      - {name: test, listen: task.build.good, type: exec, opts: {shell: "echo test"}}
      - {name: test2, listen: task.build.good, type: exec, opts: {shell: "echo test2"}}
      - {name: complete, listen: merge.wait-tests.good, type: end}
  - id: build-merge
    ver: 1
    triggers:
      - {name: start, type: data}
    tasks:
      - {name: checkout, listen: sub.git-push.good, type: exec, opts: {cmd: "true"}}
"""

FLAGS = ("-host_name=hi1", "-tags=master,linux,go,couch")


def test_web_unauth(start_engine):
    engine = start_engine(INTEG_APP, *FLAGS)
    with engine.client(None) as c:
        assert c.options("/").status_code == 200  # the reference's readiness probe
        r = c.get("/flows")
        assert r.status_code == 401
        assert r.json() == {"Message": "missing session", "Payload": None}
        r = c.get("/flows", headers={"X-Floe-Auth": "unauth-tok"})
        assert (r.status_code, r.json()["Message"]) == (401, "invalid session")
        r = c.get("/flows", headers={"X-Floe-Auth": ADMIN})
        assert r.status_code == 200
        # the admin token doubles as admin's password (no built-in password)
        r = c.post("/login", json={"User": "admin", "Password": ADMIN})
        assert r.status_code == 200, r.text
        token = r.json()["Payload"]["Token"]
        assert r.json()["Payload"]["Role"] == "ADMIN"
        assert "floe-sesh=" + token in r.headers["set-cookie"]
        r = c.get("/flows", headers={"X-Floe-Auth": token})
        assert r.status_code == 200
        c.cookies.clear()
        c.cookies.set("floe-sesh", token)
        assert c.get("/flows").status_code == 200


def test_web_launch(start_engine):
    engine = start_engine(INTEG_APP, *FLAGS)
    with engine.client(None) as c:
        r = c.post("/login", json={"user": "admin", "password": ADMIN})  # keys any case
        assert r.json()["Message"] == "OK"
        token = r.json()["Payload"]["Token"]
        assert token
        c.headers["X-Floe-Auth"] = token
        r = c.get("/flows")
        assert r.status_code == 200
        assert [f["ID"] for f in r.json()["Payload"]["Flows"]] == ["build-project",
                                                                   "build-merge"]
        # the reference's test sends Answers, not Form: the run starts with empty values
        r = c.post("/push/data", json={"Ref": {"ID": "build-project", "Ver": 1},
                                       "Answers": {"from_hash": "a"}})
        assert r.status_code == 200, r.text
        (run,) = r.json()["Payload"]["Runs"]
        assert run == "hi1-1"
        view = wait_ended(c, "build-project", run)
        assert view["Summary"]["Good"] is True
        assert view["Summary"]["Status"] == "good"
        flow = c.get("/flows/build-project").json()["Payload"]
        assert [s["Ref"]["Run"] for s in flow["Runs"]["Archive"]] == [{"HostID": "hi1",
                                                                       "ID": 1}]
    assert view["Levels"] == [["push", "start"], ["checkout"], ["build"], ["test", "test2"],
                              ["wait-tests"], ["complete"]]
    assert [[n["ID"] for n in level] for level in view["Graph"]] == view["Levels"][1:]
    assert view["Problems"] is None
    assert view["Name"] == "build project hi1-1"
    nodes = {n["ID"]: n for level in view["Graph"] for n in level}
    assert nodes["build"]["Result"] == "success"
    assert nodes["build"]["Logs"][-1] == "build"
    assert nodes["wait-tests"]["Waits"] == {"task.test.good": True, "task.test2.good": True}
    assert nodes["wait-tests"]["Status"] == "finished"
    assert [t["ID"] for t in view["Triggers"]] == ["push", "start"]


def test_flow_view_shows_local_runs_with_no_hosts(start_engine):
    engine = start_engine(app(one_task("f", "true", task_id="a", ver=0),
                              one_task("f", "true", task_id="b", ver=2), store_type="memory"))
    with engine.client() as c:
        flow = c.get("/flows/f").json()["Payload"]
        assert flow["Config"]["Ver"] == 2  # the highest ver, ver 0 included
        r = c.post("/push/data", json={"Ref": {"ID": "f", "Ver": 2}, "Form": {"ID": "start"}})
        (run,) = r.json()["Payload"]["Runs"]
        wait_ended(c, "f", run)
        archive = wait_until(lambda: c.get("/flows/f").json()["Payload"]["Runs"]["Archive"])
        assert archive[0]["Status"] == "good"
