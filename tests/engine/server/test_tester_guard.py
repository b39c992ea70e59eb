"""The tester listener runs posted commands with no login, so it answers only what a web page
cannot forge: JSON POSTs, to its own Host, with no CORS; and its timeout is a real one."""

from __future__ import annotations

import json

import httpx
import pytest
from servertest import ONE_FLOW_APP


@pytest.fixture
def engine(start_engine):
    return start_engine(ONE_FLOW_APP, "-tester_port=0")


def _flow(marker) -> dict:
    return {"id": "owned", "ver": 1, "triggers": [{"id": "start", "type": "data"}],
            "tasks": [{"id": "t", "listen": "trigger.good", "type": "exec",
                       "opts": {"shell": f"touch {marker}"}}]}


def test_a_cross_site_simple_post_runs_nothing(engine, tmp_path):
    marker = tmp_path / "owned"
    body = json.dumps({"flow": _flow(marker)})
    with httpx.Client(base_url=engine.url("tester"), timeout=60) as c:
        # what a page on any site can send without asking first
        for kind in ("text/plain", "application/x-www-form-urlencoded",
                     "multipart/form-data; boundary=x", None):
            headers = {"Origin": "https://evil.example"}
            if kind:
                headers["Content-Type"] = kind
            r = c.post("/flow/start", content=body, headers=headers)
            assert r.status_code == 415, (kind, r.text)
            assert "application/json" in r.json()["Message"]
            assert "access-control-allow-origin" not in r.headers
        # the preflight a JSON POST from a page needs is never granted
        r = c.options("/flow/start", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        assert r.status_code == 405 and r.json()["Message"]
        assert not [h for h in r.headers if h.startswith("access-control-")]
        r = c.get("/status", headers={"Origin": "https://evil.example"})
        assert r.status_code == 200
        assert not [h for h in r.headers if h.startswith("access-control-")]
    assert not marker.exists()


def test_a_rebound_host_name_is_refused(engine, tmp_path):
    marker = tmp_path / "owned"
    port = engine.ports["tester"]
    with httpx.Client(base_url=engine.url("tester"), timeout=60) as c:
        for host in (f"evil.example:{port}", "evil.example", "127.0.0.1", f"127.0.0.1:{port}0",
                     f"localhost.evil.example:{port}", ""):
            r = c.post("/flow/start", json={"flow": _flow(marker)}, headers={"Host": host})
            assert r.status_code == 421, (host, r.text)
            assert "Host" in r.json()["Message"]
            assert c.get("/status", headers={"Host": host}).status_code == 421
        assert not marker.exists()
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}"):
            assert c.get("/status", headers={"Host": host}).json() == {"status": "ok"}
        # the design-time use: JSON POSTs from a local program
        r = c.post("/flow/start", json={"flow": _flow(marker)},
                   headers={"Host": f"localhost:{port}"})
        assert r.status_code == 200 and r.json()["result"] == "good"
    assert marker.exists()


@pytest.mark.parametrize("timeout", ["nan", "inf", "-inf", "-1", -1, 0, "0", "1e999", True,
                                     "soon", [5], 10**400])
def test_the_timeout_is_a_finite_positive_number(engine, tmp_path, timeout):
    marker = tmp_path / "owned"
    body = {"flow": _flow(marker), "timeout": timeout}
    raw = json.dumps(body)
    with httpx.Client(base_url=engine.url("tester"), timeout=60) as c:
        r = c.post("/flow/start", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert "timeout must be" in r.json()["Message"]
    assert not marker.exists()
    assert engine.proc.poll() is None
