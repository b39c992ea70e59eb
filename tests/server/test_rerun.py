"""`POST flows/:id/runs/:rid/rerun` and `GET .../files/<path>` over HTTP, and `floe rerun`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from flows import app, flow, task
from harness import wait_until
from servertest import ADMIN, BASE, run_view, start_run, wait_ended

from floecli.engine.server.passwords import hash_password

pytestmark = pytest.mark.script_launch_mode("subprocess")


def rerun_app(gate: Path) -> str:
    return app(flow("f", task("a", shell="echo a > a.txt"),
                    task("b", shell=f"cat a.txt; test -e {gate}", listen="task.a.good"),
                    artifacts=["a.txt"]),
               users=[{"name": "vic", "role": "viewer", "password-hash": hash_password("pw")}])


def test_rerun_over_http_and_the_command_line(start_engine, tmp_path, script_runner):
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
    url = engine.url() + BASE
    r = script_runner.run(["floe", "rerun", "f", first, "--from", "b", "--url", url,
                           "--token", ADMIN])
    assert r.returncode == 0, r.stderr
    again = r.stdout.strip()
    with engine.client() as c:
        view = wait_ended(c, "f", again)
        assert view["Summary"]["Rerun"] == {"Of": first, "From": "b", "User": "Admin"}
        assert view["Summary"]["Inputs"] == {"ref": "v2"}
        nodes = {n["ID"]: n for row in view["Graph"] for n in row}
        assert nodes["a"]["CarriedFrom"] == first and "CarriedFrom" not in nodes["b"]
        # the carried node's log is the original's, by reference
        assert c.get(f"/flows/f/runs/{again}/logs?node=a").json()["Payload"] == {
            "a": c.get(f"/flows/f/runs/{first}/logs?node=a").json()["Payload"]["a"]}
        assert run_view(c, "f", again)["Summary"]["State"] == "good"
    r = script_runner.run(["floe", "rerun", "f", again, "--from", "zz", "--url", url,
                           "--token", ADMIN])
    assert r.returncode == 1
    assert r.stderr.strip() == f"Error re-running {again}: flow f has no task 'zz' to re-run from"

    # the flow's artifacts outlive the workspace (retention prunes it)
    kept = wait_until(lambda: next(engine.root.rglob(f"artifacts/f/{first}/a.txt"), None),
                      what="the artifact to be kept")
    shutil.rmtree(next(engine.root.rglob(f"spaces/f/ws/{first}")))
    with engine.client() as c:
        assert c.get(f"/flows/f/runs/{first}/files/a.txt").content == kept.read_bytes()
        listing = c.get(f"/flows/f/runs/{first}/files").json()["Payload"]
        assert listing["KeptOnly"] and [e["Name"] for e in listing["Entries"]] == ["a.txt"]
