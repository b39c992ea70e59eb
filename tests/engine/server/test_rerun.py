"""`POST flows/:id/runs/:rid/rerun` and `GET .../files/<path>` over HTTP (`floe rerun` is in
tests/cli/test_rerun.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

from flows import app, flow, task
from harness import wait_until
from servertest import run_view, start_run, wait_ended

from floecli.engine.server.passwords import hash_password


def rerun_app(gate: Path) -> str:
    return app(flow("f", task("a", shell="echo a > a.txt"),
                    task("b", shell=f"cat a.txt; test -e {gate}", listen="task.a.good"),
                    artifacts=["a.txt"]),
               users=[{"name": "vic", "role": "viewer", "password-hash": hash_password("pw")}])


def test_rerun_over_http(start_engine, tmp_path):
    engine = start_engine(rerun_app(tmp_path / "gate"))
    with engine.client() as c:
        first = start_run(c, "f", {"ref": "v2"})
        assert wait_ended(c, "f", first)["Summary"]["Why"] == "b failed (exit 1)"
        r = c.post(f"/flows/f/runs/{first}/rerun", json={"From": "nope"})
        assert (r.status_code, r.json()["Message"]) == (409, "flow f has no task 'nope' to "
                                                             "re-run from")
        assert c.post(f"/flows/f/runs/{first}/rerun", json={"From": 3}).status_code == 400
        assert c.post("/flows/f/runs/h1-99/rerun", json={}).status_code == 404
        token = c.post("/login", json={"User": "vic", "Password": "pw"}).json()["Payload"]
    with engine.client(token["Token"]) as viewer:
        assert viewer.post(f"/flows/f/runs/{first}/rerun").status_code == 403
        assert viewer.get(f"/flows/f/runs/{first}/files/a.txt").content == b"a\n"

    (tmp_path / "gate").touch()
    with engine.client() as c:
        r = c.post(f"/flows/f/runs/{first}/rerun", json={"From": "b"})
        assert r.status_code == 200, r.text
        again = r.json()["Payload"]["Run"]
        view = wait_ended(c, "f", again)
        assert view["Summary"]["Rerun"] == {"Of": first, "From": "b", "User": "Admin"}
        assert view["Summary"]["Inputs"] == {"ref": "v2"}
        nodes = {n["ID"]: n for row in view["Graph"] for n in row}
        assert nodes["a"]["CarriedFrom"] == first and "CarriedFrom" not in nodes["b"]
        # the carried node's log is the original's, by reference
        assert c.get(f"/flows/f/runs/{again}/logs?node=a").json()["Payload"] == {
            "a": c.get(f"/flows/f/runs/{first}/logs?node=a").json()["Payload"]["a"]}
        assert run_view(c, "f", again)["Summary"]["State"] == "good"
    # the flow's artifacts outlive the workspace (retention prunes it)
    kept = wait_until(lambda: next(engine.root.rglob(f"artifacts/f/{first}/a.txt"), None),
                      what="the artifact to be kept")
    shutil.rmtree(next(engine.root.rglob(f"spaces/f/ws/{first}")))
    with engine.client() as c:
        assert c.get(f"/flows/f/runs/{first}/files/a.txt").content == kept.read_bytes()
        listing = c.get(f"/flows/f/runs/{first}/files").json()["Payload"]
        assert listing["KeptOnly"] and [e["Name"] for e in listing["Entries"]] == ["a.txt"]
