"""`POST flows/:id/runs/:rid/rerun` and `GET .../files/<path>` over HTTP (`floe rerun` is in
tests/cli/test_rerun.py)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from flows import app, flow, task
from harness import wait_until
from servertest import peak_rss, run_view, start_run, wait_ended

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


MiB = 1024 * 1024
BIG = 256 * MiB


def test_a_large_file_streams_without_the_engine_holding_it(start_engine):
    # 256 MiB (sparse: a hole, then a tail to check) downloaded whole, byte for byte, while
    # the engine's memory grows by far less than the file: it is streamed, never read whole.
    # (httpx asks for gzip, as browsers do.)
    engine = start_engine(app(flow("big", task("make", shell=(
        f"truncate -s {BIG - 4} big.bin && printf tail >> big.bin")))))
    with engine.client() as c:
        run = start_run(c, "big")
        assert wait_ended(c, "big", run)["Summary"]["State"] == "good"
        before = peak_rss(engine.proc.pid)
        digest, size, tail = hashlib.sha256(), 0, b""
        with c.stream("GET", f"/flows/big/runs/{run}/files/big.bin") as r:
            assert r.status_code == 200
            # as it is: its size known to the browser, not gzipped by the engine on the way
            assert r.headers["content-length"] == str(BIG)
            assert "content-encoding" not in r.headers
            for chunk in r.iter_bytes():
                digest.update(chunk)
                size += len(chunk)
                tail = (tail + chunk)[-4:]
        grew = peak_rss(engine.proc.pid) - before
    expected = hashlib.sha256()
    expected.update(bytes(BIG - 4))
    expected.update(b"tail")
    assert (size, tail, digest.hexdigest()) == (BIG, b"tail", expected.hexdigest())
    assert grew < 64 * MiB, f"the engine grew {grew / MiB:.0f} MiB serving a {BIG // MiB} MiB file"
