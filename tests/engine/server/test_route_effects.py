"""Permission follows what a route does: every route x method x role from the served OpenAPI
document, sent with a body that would start or feed a run, changes nothing unless the caller
may write; a method a path does not take is a 405."""

from __future__ import annotations

import httpx
import pytest
from flows import app, ask, end, flow
from harness import wait_until
from servertest import ADMIN, run_view, start_run

from floecli.engine.server.passwords import hash_password

APP = app(flow("f", ask("sign", "Sign", {"id": "ok", "prompt": "OK?"}),
               end(listen="task.sign.good")),
          store_type="memory", users=[
              {"name": "ann", "role": "admin",
               "password-hash": hash_password("s3cret", method="pbkdf2")},
              {"name": "vic", "role": "viewer",
               "password-hash": hash_password("look", method="pbkdf2")}])
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")


def _bodies(run: str) -> list[dict]:
    """What an attacker sends to every route: start a run, sign the waiting form, hand over
    a pend."""
    return [{"Ref": {"ID": "f", "Ver": 1}, "Form": {"ID": "start", "Values": {"x": "1"}}},
            {"Ref": {"ID": "f", "Ver": 1}, "Run": run,
             "Form": {"ID": "sign", "Values": {"ok": "yes"}}},
            {"Ref": {"FlowRef": {"ID": "f", "Ver": 1}, "Run": {"HostID": "h9", "ID": 7}},
             "Flow": {"ID": "f", "Ver": 1}, "TriggeredNode": {"ID": "start"}}]


def _state(admin: httpx.Client, run: str) -> object:
    runs = admin.get("/flows/f").json()["Payload"]["Runs"]
    ids = {k: sorted(r["Ref"]["Run"]["ID"] for r in runs[k]) for k in ("Active", "Pending",
                                                                       "Archive")}
    sign = run_view(admin, "f", run)["Graph"][0][0]
    return ids, sign["Fields"], sign["Status"]


def _login(c: httpx.Client, user: str, password: str) -> str:
    r = c.post("/login", json={"User": user, "Password": password})
    assert r.status_code == 200, r.text
    return r.json()["Payload"]["Token"]


@pytest.fixture
def engine(start_engine):
    return start_engine(APP)


def test_every_route_method_and_role_from_the_openapi_document(engine):
    base = engine.url()
    # One client for the attacker's requests (a client each cost 20 ms of TLS set-up), its
    # cookies cleared before each: every request stands alone.
    with engine.client(None) as anon, engine.client() as admin, \
            httpx.Client(timeout=30) as attacker:
        doc = anon.get("/openapi.json").json()
        run = start_run(admin, "f")
        wait_until(lambda: run_view(admin, "f", run)["Graph"][0][0]["Enabled"],
                   what="the sign form to wait")
        before = _state(admin, run)
        tokens = {"viewer": _login(anon, "vic", "look"), "anonymous": ""}
        anon.cookies.clear()
        checked = 0
        for path, ops in doc["paths"].items():
            url = path.replace("{flow_id}", "f").replace("{run_id}", run)
            allowed = {m.upper() for m in ops}
            if "GET" in allowed:
                allowed.add("HEAD")  # the GET's read, without a body
            for method in METHODS:
                effect = (ops.get(method.lower()) or ops.get("get") or {}).get("x-floe-effect")
                for role in tokens:
                    for body in _bodies(run):
                        headers = {"X-Floe-Auth": tokens[role]} if tokens[role] else {}
                        attacker.cookies.clear()
                        r = attacker.request(method, base + url, json=body, headers=headers)
                        what = (method, path, role, r.status_code, r.text[:100], headers)
                        assert r.status_code < 500, what
                        if path == "/ws":
                            assert r.status_code in (400, 401, 403, 404, 405), what
                        elif method == "OPTIONS":
                            assert r.status_code == 200, what  # the CORS preflight
                        elif method not in allowed:
                            assert r.status_code == 405, what
                            assert set(r.headers["allow"].split(", ")) == allowed, what
                        elif effect == "open":
                            assert r.status_code in (200, 400, 401, 429), what
                        elif role == "anonymous":
                            assert r.status_code == 401, what
                        elif effect == "write" or path.startswith("/build/api/p2p/"):
                            assert r.status_code == 403, what  # p2p: the host token only
                        else:
                            assert effect in ("read", "session"), what
                            assert r.status_code in (200, 404), what
                        if path.endswith("/logout") and r.status_code == 200 and (
                                method == "POST"):
                            tokens[role] = _login(anon, "vic", "look")
                            anon.cookies.clear()
                        checked += 1
                        # the attacker's bodies changed nothing
                        assert _state(admin, run) == before, what
        assert checked > 300
        # and the admin may do what the viewer could not
        r = admin.request("HEAD", "/push/data", json=_bodies(run)[0])
        assert r.status_code == 200 and _state(admin, run) == before  # HEAD stays a read
        r = admin.post("/push/data", json=_bodies(run)[1])
        assert r.status_code == 200
        wait_until(lambda: _state(admin, run) != before, what="the admin's push to count")


def test_a_viewers_head_with_a_body_starts_nothing(engine):
    with engine.client(None) as anon, engine.client() as admin:
        token = _login(anon, "vic", "look")
        body = b'{"Ref": {"ID": "f", "Ver": 1}, "Form": {"ID": "start", "Values": {}}}'
        r = httpx.request("HEAD", engine.url() + "/build/api/push/data", content=body,
                       headers={"X-Floe-Auth": token, "Content-Type": "application/json"})
        assert r.status_code == 200
        assert admin.get("/flows/f").json()["Payload"]["Runs"]["Active"] == []
        assert admin.get("/flows/f").json()["Payload"]["Runs"]["Pending"] == []
        for path in ("/flows/f/runs/h1-1/stop", "/p2p/flows/exec", "/logout", "/login"):
            r = httpx.request("HEAD", engine.url() + "/build/api" + path, content=body,
                           headers={"X-Floe-Auth": ADMIN})
            assert r.status_code == 405, path


def test_get_and_head_change_nothing_even_for_an_admin(engine):
    """GET and HEAD are reads whoever sends them: with the host token (admin and p2p) and
    bodies that would start, feed or hand over a run, on every path of the document; a HEAD
    on a path without a GET is a 405."""
    base = engine.url()
    with engine.client() as admin, httpx.Client(timeout=30) as caller:
        doc = admin.get("/openapi.json").json()
        run = start_run(admin, "f")
        wait_until(lambda: run_view(admin, "f", run)["Graph"][0][0]["Enabled"],
                   what="the sign form to wait")
        before = _state(admin, run)
        checked = 0
        for path, ops in doc["paths"].items():
            url = path.replace("{flow_id}", "f").replace("{run_id}", run)
            url = url.replace("{path}", "x")
            for method in ("GET", "HEAD"):
                for body in _bodies(run):
                    # a stream (p2p/events) is answered with its head: read no further
                    caller.cookies.clear()
                    with caller.stream(method, base + url, json=body,
                                       headers={"X-Floe-Auth": ADMIN}) as r:
                        what = (method, path, r.status_code)
                        if "get" not in ops:
                            assert r.status_code == 405, what
                        else:
                            assert r.status_code < 500, what
                    checked += 1
                    assert _state(admin, run) == before, what
        assert checked > 100
