"""Every route's refusals: clear JSON with a status, never a stack trace, the engine serving on."""

from __future__ import annotations

import httpx
import pytest
from flows import NOTHING, app, one_task, trigger_node
from servertest import start_run, wait_ended

NO_DATA = one_task("no-data", "true", task_id="a",
                   triggers=[trigger_node("tick", "timer", period=3600)])
APP = app(NOTHING, NO_DATA, store_type="memory")


@pytest.fixture
def engine(start_engine):
    return start_engine(APP)


def _envelope(r):
    body = r.json()
    assert set(body) == {"Message", "Payload"}, body
    assert "Traceback" not in r.text
    return body


def test_unknown_routes_are_404_and_wrong_methods_405_json(engine):
    with engine.client() as c:
        for method, path in [("GET", "/nope"), ("GET", "/flows/f/runs")]:
            r = c.request(method, path)
            assert r.status_code == 404, (method, path)
            assert _envelope(r)["Message"] == "not found"
            assert r.headers["access-control-allow-origin"] == "*"
        for method, path, allow in [("DELETE", "/flows", "GET, HEAD"),
                                    ("PUT", "/login", "POST"), ("POST", "/flows", "GET, HEAD"),
                                    ("HEAD", "/push/data", None)]:
            r = c.request(method, path)
            if allow is None:  # HEAD is the GET's no-op there
                assert r.status_code == 200
                continue
            assert r.status_code == 405, (method, path)
            assert r.headers["allow"] == allow
            assert _envelope(r)["Message"].startswith("method not allowed")
            assert r.headers["access-control-allow-origin"] == "*"
    with httpx.Client(base_url=engine.url()) as c:
        r = c.get("/elsewhere")
        assert r.status_code == 404 and _envelope(r)["Message"] == "not found"


def test_options_answers_cors(engine):
    with engine.client(None) as c:
        r = c.options("/flows/f", headers={"Access-Control-Request-Headers": "x-floe-auth"})
        assert r.status_code == 200 and r.json() == "ok"
        assert r.headers["access-control-allow-headers"] == "x-floe-auth"
        assert "OPTIONS" in r.headers["access-control-allow-methods"]


def test_gzip_when_asked(engine):
    with engine.client() as c:
        r = c.get("/flows", headers={"Accept-Encoding": "gzip"})
        assert r.headers["content-encoding"] == "gzip"
        assert r.json()["Payload"]["Flows"][0]["ID"] == "f"
        for encoding in ("gzip", "identity"):  # flows/:id keeps its reply rendered
            r = c.get("/flows/f", headers={"Accept-Encoding": encoding})
            assert r.headers.get("content-encoding", "identity") == encoding
            assert r.json()["Payload"]["Config"]["ID"] == "f"


def test_malformed_json(engine):
    with engine.client() as c:
        r = c.post("/push/data", content=b"{not json")
        body = _envelope(r)
        assert r.status_code == 400 and body["Message"] == "decoding json failed"
        assert "Expecting property name" in body["Payload"]
        r = c.post("/login", content=b"[1, 2")
        assert r.status_code == 400 and "Expecting" in _envelope(r)["Message"]
        r = c.post("/login", content=b"")
        assert r.status_code == 400
        r = c.post("/push/data", content="plain text, not JSON", headers={
            "Content-Type": "text/plain"})
        assert r.status_code == 400
        # JSON of the wrong type for a field is refused as Go's decoder refuses it
        r = c.post("/push/data", json={"Ref": {"ID": "x", "Ver": 1}, "Form": {"ID": 7}})
        body = _envelope(r)
        assert (r.status_code, body["Message"]) == (400, "decoding json failed")
        assert body["Payload"] == ("json: cannot unmarshal number into Go struct field "
                                   "PushData.Form.ID of type string")
        r = c.post("/push/data", json={"Ref": {"ID": "x", "Ver": True}})
        assert "PushData.Ref.Ver of type int" in _envelope(r)["Payload"]
        r = c.post("/push/data", json={"Ref": {"ID": "x"}, "Form": {"Values": [1]}})
        assert "unmarshal array into Go struct field PushData.Form.Values" in (
            _envelope(r)["Payload"])
        r = c.post("/push/data", json=[1, 2])
        assert r.status_code == 400 and "JSON object" in _envelope(r)["Message"]
        r = c.post("/push/data", json={"Ref": {"ID": "f", "Ver": 1}, "Run": "nonsense",
                                       "Form": {"ID": "a"}})
        assert r.status_code == 400 and "nonsense" in _envelope(r)["Message"]
        r = c.post("/push/data", json={"Ref": {"ID": "f"}, "Form": {"Values": "x"}})
        assert r.status_code == 400


def test_a_10mb_body_is_refused_cleanly(engine):
    with engine.client() as c:
        r = c.post("/push/data", content=b"x" * (10 << 20))
        assert r.status_code == 413 and "too large" in _envelope(r)["Message"]
        assert c.get("/flows").status_code == 200  # and it keeps serving


def test_unknown_flow_and_run(engine):
    with engine.client() as c:
        assert c.get("/flows/nope").status_code == 404
        r = c.get("/flows/f/runs/h1-42")
        assert r.status_code == 404 and _envelope(r)["Message"] == "run not found"
        assert c.get("/flows/f/runs/h1-42/logs").status_code == 404
        assert c.get("/p2p/flows/f/runs/h1-42").status_code == 404
        r = c.post("/push/data", json={"Ref": {"ID": "nope", "Ver": 1}, "Form": {"ID": "x"}})
        assert r.status_code == 404
        r = c.post("/push/data", json={"Ref": {"ID": "no-data", "Ver": 1},
                                       "Form": {"ID": "x"}})
        assert r.status_code == 400 and "no data trigger" in _envelope(r)["Message"]
        run = start_run(c, "f")
        wait_ended(c, "f", run)
        assert c.get(f"/flows/no-data/runs/{run}").status_code == 404  # wrong flow


def test_p2p_routes(engine):
    with engine.client() as c:
        cfg = c.get("/p2p/config").json()["Payload"]
        assert cfg["Config"] == {"HostID": "h1", "BaseURL": "", "Online": True,
                                 "Tags": ["master"]}
        run = start_run(c, "f")
        wait_ended(c, "f", run)
        runs = c.get("/p2p/flows/f/runs").json()["Payload"]
        assert [s["Status"] for s in runs["Archive"]] == ["good"]
        raw = c.get(f"/p2p/flows/f/runs/{run}").json()["Payload"]
        assert raw["Ref"]["Run"] == {"HostID": "h1", "ID": 1} and raw["Ended"]
        assert c.post("/p2p/flows/exec", content=b"{").status_code == 400
        assert c.post("/p2p/flows/exec", json={"Ref": {}}).status_code == 400
        # a pend adopted by another host runs here
        flow = c.get("/flows/f").json()["Payload"]["Config"]
        pend = {"Ref": {"FlowRef": {"ID": "f", "Ver": 1}, "Run": {"HostID": "h9", "ID": 4}},
                "Flow": flow, "TriggeredNode": {"Class": "trigger", "ID": "start"},
                "Opts": {}}
        # a flow this host does not know, or a host id that is not one, never reaches the
        # workspace directory
        for bad, said in (({"Flow": {**flow, "ID": "../../etc"}}, "is not configured"),
                          ({"Ref": {**pend["Ref"], "Run": {"HostID": "h/..", "ID": 4}}},
                           "is not a host id")):
            r = c.post("/p2p/flows/exec", json={**pend, **bad})
            assert r.status_code == 400 and said in r.json()["Message"]
        r = c.post("/p2p/flows/exec", json=pend)
        assert r.status_code == 200 and r.json()["Message"] == "started"
        assert wait_ended(c, "f", "h9-4")["Summary"]["Good"]


def test_sessions_login_logout_and_roles(start_engine):
    from floecli.engine.server.passwords import hash_password

    users_app = app(NOTHING, NO_DATA, store_type="local", users=[
        {"name": "ann", "role": "admin", "password-hash": hash_password("s3cret")},
        {"name": "vic", "role": "viewer",
         "password-hash": hash_password("look", method="pbkdf2")}])
    engine = start_engine(users_app, admin="")
    with engine.client(None) as c:
        r = c.post("/login", json={"User": "ann", "Password": "wrong"})
        assert r.status_code == 401
        assert _envelope(r)["Message"] == "username or password were wrong"
        r = c.post("/login", json={"User": "admin", "Password": ""})
        assert r.status_code == 401
        ann = c.post("/login", json={"User": "ann", "Password": "s3cret"}).json()["Payload"]
        vic = c.post("/login", json={"User": "vic", "Password": "look"}).json()["Payload"]
        assert (ann["Role"], vic["Role"]) == ("ADMIN", "VIEWER")
        c.cookies.clear()
        as_vic = {"X-Floe-Auth": vic["Token"]}
        assert c.get("/flows", headers=as_vic).status_code == 200
        r = c.post("/push/data", headers=as_vic, json={"Ref": {"ID": "f", "Ver": 1}})
        assert r.status_code == 403 and "viewer" in _envelope(r)["Message"]
        r = c.post("/push/data", headers={"X-Floe-Auth": ann["Token"]},
                   json={"Ref": {"ID": "f", "Ver": 1}, "Form": {"ID": "start"}})
        (run,) = r.json()["Payload"]["Runs"]
        view = c.get(f"/flows/f/runs/{run}", headers=as_vic).json()["Payload"]
        assert view["Triggers"][0]["Submissions"][0]["User"] == "ann"
        assert c.post("/logout", headers=as_vic).status_code == 200
        r = c.get("/flows", headers=as_vic)
        assert r.status_code == 401 and _envelope(r)["Message"] == "invalid session"
    # sessions are kept in the store: ann's survives a restart
    assert engine.stop() == 0
    again = start_engine(users_app, admin="")
    with again.client(ann["Token"]) as c:
        assert c.get("/flows").status_code == 200


def test_no_users_and_no_admin_token_says_how_to_add_one(start_engine):
    engine = start_engine(APP, admin="")
    with engine.client(None) as c:
        r = c.post("/login", json={"User": "admin", "Password": "password"})
        assert r.status_code == 401
        assert "floe passwd" in _envelope(r)["Message"]
