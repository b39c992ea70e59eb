"""Three real engine processes on one PostgreSQL database form a cluster with no hosts list:
each run pushed to any of them runs exactly once (counted by its side effect), host tags and a
shared resource tag hold across hosts, every host's API shows every run, and a stop sent to a
host that does not execute the run takes effect there."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pytest
from engine.server.servertest import EngineProcess, launch, run_view, start_run
from harness import wait_until

RUNS = 300


def cluster_app(out: Path) -> str:
    side = f'echo "$FLOE_IN_N $(pwd)" >> {out}'
    return f"""\
common:
  store-type: postgres
flows:
  - id: work
    ver: 1
    triggers: [{{id: start, type: data}}]
    tasks:
      - {{id: side, listen: trigger.good, type: exec, opts: {{shell: '{side}'}}}}
  - id: gpu
    ver: 1
    host-tags: [gpu]
    triggers: [{{id: start, type: data}}]
    tasks:
      - {{id: side, listen: trigger.good, type: exec, opts: {{shell: '{side}'}}}}
  - id: locked
    ver: 1
    resource-tags: [db]
    triggers: [{{id: start, type: data}}]
    tasks:
      - {{id: hold, listen: trigger.good, type: exec, opts: {{shell: "sleep 0.3"}}}}
  - id: ask
    ver: 1
    triggers: [{{id: start, type: data}}]
    tasks:
      - id: sign-off
        listen: trigger.good
        type: data
        opts: {{form: {{title: Sign off, fields: [{{id: approver, prompt: By, type: text}}]}}}}
      - id: ship
        listen: task.sign-off.good
        type: exec
        opts: {{shell: 'echo "$FLOE_IN_APPROVER"'}}
  - id: slow
    ver: 1
    triggers: [{{id: start, type: data}}]
    tasks:
      - {{id: wait, listen: trigger.good, type: exec, opts: {{shell: "sleep 60"}}}}
"""


@pytest.fixture
def hosts(tmp_path: Path, pg_url: str):
    app = cluster_app(tmp_path / "side-effects")
    started: list[EngineProcess] = []
    for name, tags in (("h1", "linux"), ("h2", "linux"), ("h3", "linux,gpu")):
        started.append(launch(tmp_path / name, app, f"-host_name={name}", f"-tags={tags}",
                              env={"FLOE_STORE_URL": pg_url}, name=name))
    yield started
    for engine in started:
        engine.stop()


def archived(engine: EngineProcess, flow: str) -> list[dict]:
    with engine.client() as c:
        return c.get(f"/flows/{flow}").json()["Payload"]["Runs"]["Archive"]


def reconnections(engine: EngineProcess) -> int:
    """How many times the host logged that it listens again after a lost connection."""
    return engine.stderr.count("listening again")


def test_runs_pushed_to_any_host_run_exactly_once_and_every_host_shows_them(hosts, tmp_path):
    for i in range(RUNS):
        with hosts[i % 3].client() as c:
            start_run(c, "work", {"N": str(i)})
    with hosts[0].client() as c:
        start_run(c, "gpu", {"N": "gpu"})  # only h3 has the tag
    for engine in hosts:  # one view: each host's API lists every host's runs
        wait_until(lambda e=engine: len(archived(e, "work")) == RUNS, 180,
                   "every run archived, seen from each host")
    wait_until(lambda: len(archived(hosts[1], "gpu")) == 1, 60, "the gpu run")
    lines = (tmp_path / "side-effects").read_text().splitlines()
    counts = Counter(line.split()[0] for line in lines)
    assert counts == Counter({**{str(i): 1 for i in range(RUNS)}, "gpu": 1})  # exactly once
    (gpu_line,) = [line for line in lines if line.startswith("gpu ")]
    assert "/h3/" in gpu_line  # ran in h3's workspace root
    assert all(r["State"] == "good" for r in archived(hosts[2], "work"))


def test_a_resource_tag_is_held_cluster_wide(hosts):
    runs = []
    for i in range(6):
        with hosts[i % 3].client() as c:
            runs.append(start_run(c, "locked"))
    wait_until(lambda: len(archived(hosts[0], "locked")) == 6, 60, "the locked runs")
    spans = []
    with hosts[0].client() as c:
        for run in runs:
            node = run_view(c, "locked", run)["Summary"]
            spans.append((datetime.fromisoformat(node["StartTime"]),
                          datetime.fromisoformat(node["EndTime"]), node["ExecHost"]))
    spans.sort()
    for (_, end, _), (start, _, _) in pairwise(spans):
        assert end <= start, spans  # never two runs holding `db` at once, on any hosts


def test_a_stop_sent_to_another_host_stops_the_run_where_it_runs(hosts):
    with hosts[0].client() as c:
        run = start_run(c, "slow")
        where = wait_until(lambda: (s := run_view(c, "slow", run)["Summary"])["Status"]
                           == "running" and s["ExecHost"], 30, "the slow run to start")
    other = next(e for e, name in zip(hosts, ("h1", "h2", "h3"), strict=True) if name != where)
    with other.client() as c:
        r = c.post(f"/flows/slow/runs/{run}/stop")
        assert r.status_code == 200, r.text
        view = wait_until(lambda: (v := run_view(c, "slow", run))["Summary"]["Ended"] and v,
                          30, "the stopped run to end")
    assert view["Summary"]["State"] == "stopped"


def test_form_data_sent_to_another_host_reaches_the_run_where_it_waits(hosts):
    with hosts[0].client() as c:
        run = start_run(c, "ask")
        where = wait_until(lambda: (s := run_view(c, "ask", run)["Summary"])["Status"]
                           == "running" and s["ExecHost"], 30, "the run to wait for its form")
    other = next(e for e, name in zip(hosts, ("h1", "h2", "h3"), strict=True) if name != where)
    with other.client() as c:
        wait_until(lambda: run_view(c, "ask", run)["Summary"]["Waiting"], 30, "the form to show")
        r = c.post("/push/data", json={"Ref": {"ID": "ask", "Ver": 1}, "Run": run,
                                       "Form": {"ID": "sign-off", "Values": {"approver": "ann"}}})
        assert r.status_code == 200, r.text
        view = wait_until(lambda: (v := run_view(c, "ask", run))["Summary"]["Ended"] and v,
                          30, "the run to end")
    assert view["Summary"]["State"] == "good"
    assert view["Summary"]["Inputs"] == {"approver": "ann"}


def test_busy_engines_ride_out_a_database_crash_and_a_cut_listening_connection(
        hosts, tmp_path, pg_server, pg_url):
    # pg_ctl restart -m immediate while three engines work, then every listening connection
    # cut: each reconnects, and every run pushed before, during and after runs exactly once.
    import psycopg

    pushed = []
    for i in range(30):
        with hosts[i % 3].client() as c:
            pushed.append(start_run(c, "work", {"N": f"a{i}"}))
    pg_server.restart_immediate()
    for engine in hosts:  # each host says it lost its listening connection and has it again
        wait_until(lambda e=engine: reconnections(e) >= 1, 60, "the hosts to listen again")
        assert "the listening connection failed" in engine.stderr
    for i in range(30):  # the stores retry what the crash cut off; pushes are taken again
        with hosts[i % 3].client() as c:
            wait_until(lambda c=c, i=i: c.post("/push/data", json={
                "Ref": {"ID": "work", "Ver": 1}, "Form": {"ID": "start", "Values": {
                    "N": f"b{i}"}}}).status_code == 200, 60, "a push after the crash")
    before = [reconnections(e) for e in hosts]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        cut = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE application_name LIKE 'floe listener %'").fetchall()
    assert len(cut) == 3  # one listening connection per host
    for i in range(30):
        with hosts[i % 3].client() as c:
            start_run(c, "work", {"N": f"c{i}"})
    for engine, n in zip(hosts, before, strict=True):
        wait_until(lambda e=engine, n=n: reconnections(e) > n, 60,
                   "the hosts to listen again after the cut")
    wait_until(lambda: len(archived(hosts[0], "work")) == 90, 180, "every run archived")
    lines = (tmp_path / "side-effects").read_text().splitlines()
    counts = Counter(line.split()[0] for line in lines)
    want = {f"{p}{i}" for p in "abc" for i in range(30)}
    assert set(counts) == want and set(counts.values()) == {1}  # none lost, none twice


def test_a_runs_files_are_served_by_the_host_that_executed_it_and_others_name_it(hosts):
    with hosts[0].client() as c:
        run = start_run(c, "gpu", {"N": "files"})  # only h3 has the tag
        wait_until(lambda: run_view(c, "gpu", run)["Summary"]["Ended"], 60, "the gpu run")
        r = c.get(f"/flows/gpu/runs/{run}/files")
        assert r.status_code == 404, r.text
        assert r.json()["Message"] == (
            f"the workspace of run {run} is on host h3 ({hosts[2].url()}), which executed it: "
            "ask that host for its files")
    with hosts[2].client() as c:
        r = c.get(f"/flows/gpu/runs/{run}/files")
        assert r.status_code == 200, r.text
        assert r.json()["Payload"]["Path"] == ""


def test_every_host_lists_every_host_sharing_the_database(hosts):
    for engine, me in zip(hosts, ("h1", "h2", "h3"), strict=True):
        with engine.client() as c:
            body = wait_until(lambda c=c: (b := c.get("/hosts").json()["Payload"])
                              and len(b["AllHosts"]) == 3 and b, 30, "every host's row")
            assert c.get("/p2p/config").json()["Payload"] == body  # one answer, two routes
        assert body["Config"]["HostID"] == me
        rows = body["AllHosts"]
        assert {name: (r["Tags"], r["BaseURL"], r["Online"], r["Self"])
                for name, r in rows.items()} == {
            "h1": (["linux"], hosts[0].url(), True, me == "h1"),
            "h2": (["linux"], hosts[1].url(), True, me == "h2"),
            "h3": (["linux", "gpu"], hosts[2].url(), True, me == "h3")}


def test_a_host_silent_for_a_lease_reads_offline():
    from datetime import UTC, timedelta

    from floecli.engine.cluster.membership import shared_hosts
    from floecli.engine.store.base import HostSeen

    now = datetime.now(UTC)
    rows = [HostSeen("h1", ("linux",), "http://127.0.0.1:1", now - timedelta(seconds=60)),
            HostSeen("h2", (), "", now - timedelta(seconds=20)),
            HostSeen("h3", (), "", now - timedelta(seconds=2))]
    view = shared_hosts(rows, "h1", 15)
    assert [(n, r["Online"], r["Self"]) for n, r in view.items()] == [
        ("h1", True, True), ("h2", False, False), ("h3", True, False)]
    assert view["h2"]["Problem"] == "no heartbeat for over 15 s"
    assert view["h2"]["OfflineSince"] == view["h2"]["LastContact"]
