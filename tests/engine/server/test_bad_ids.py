"""Bad run ids, offsets and limits are refused at the edge with a 4xx whose Message names no
file of the host, on every route that takes them, with the default (SQLite) store."""

from __future__ import annotations

import pytest
from flows import NOTHING, app
from servertest import start_run, wait_ended

APP = app(NOTHING, store_type="local")
BAD_RUNS = ["h1-²", "h1-" + "9" * 5000, "h1-9223372036854775808", "h1-0", "h1-01", "-3",
            "h1-", "h1-٣", "h1-1.5", "h1- 1", "h\x00-1", "x" * 300 + "-1"]
BAD_NUMBERS = ["9223372036854775808", "-9223372036854775809", "1e3", "١٢", " 1", "1_000",
               "0x10", "", "-2", "1000000001", "9" * 5000]


@pytest.fixture
def engine(start_engine):
    return start_engine(APP)


def _refused(r, engine, *statuses: int) -> str:
    assert r.status_code in statuses, (r.status_code, r.text[:300])
    message = r.json()["Message"]
    assert message
    for secret in (str(engine.root), str(engine.root.parent), "floe.db", ".db"):
        assert secret not in r.text, r.text[:300]
    return message


def test_bad_run_ids_are_4xx_everywhere(engine):
    with engine.client() as c:
        run = start_run(c, "f")
        wait_ended(c, "f", run)
        for bad in BAD_RUNS:
            body = {"Ref": {"ID": "f", "Ver": 1}, "Run": bad, "Form": {"ID": "start"}}
            message = _refused(c.post("/push/data", json=body), engine, 400)
            assert "is not a run id" in message, message
            for method, path in [("GET", "/flows/f/runs/{}"), ("POST", "/flows/f/runs/{}/stop"),
                                 ("GET", "/flows/f/runs/{}/logs"),
                                 ("GET", "/p2p/flows/f/runs/{}")]:
                r = c.request(method, path.format(bad.replace("\x00", "%00")))
                _refused(r, engine, 404)
        for ver in (-1, 2**63, 10**30):
            body = {"Ref": {"ID": "f", "Ver": ver}, "Form": {"ID": "start"}}
            _refused(c.post("/push/data", json=body), engine, 400)
        for flow in ("%00", "%ED%A0%80", "x" * 8000, "..%2F..%2Fetc", "%FF"):
            for path in (f"/flows/{flow}", f"/flows/{flow}/triggers",
                         f"/flows/{flow}/runs/{run}", f"/flows/{flow}/runs/{run}/logs",
                         f"/p2p/flows/{flow}/runs", f"/p2p/flows/{flow}/runs/{run}"):
                r = c.get(path)
                assert r.status_code in (200, 404), (path[:60], r.status_code, r.text[:200])
                _refused(r, engine, r.status_code)
        assert c.get(f"/flows/f/runs/{run}").status_code == 200
    assert engine.proc.poll() is None


def test_bad_offsets_and_limits_are_400_naming_no_file(engine):
    with engine.client() as c:
        run = start_run(c, "f")
        wait_ended(c, "f", run)
        for bad in BAD_NUMBERS:
            for path in ("/flows/f", f"/flows/f/runs/{run}/logs"):
                for name in ("offset", "limit"):
                    message = _refused(c.get(path, params={name: bad}), engine, 400)
                    assert name in message, message
        # the largest allowed numbers are answered (empty pages)
        r = c.get("/flows/f", params={"offset": 10**9, "limit": 10**9})
        assert r.status_code == 200 and r.json()["Payload"]["Runs"]["Archive"] == []
        r = c.get(f"/flows/f/runs/{run}/logs", params={"offset": 10**9})
        assert r.status_code == 200
    assert engine.proc.poll() is None
