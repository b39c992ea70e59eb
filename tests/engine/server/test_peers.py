"""`flows/:id` and run views gather the runs of the hosts in `common.hosts` over p2p."""

from __future__ import annotations

from flows import app, one_task
from servertest import launch, run_view, start_run, wait_ended


def peers_app(*hosts: str) -> str:
    return app(one_task("f", shell="echo on $HOSTNAME", task_id="a"), store_type="memory",
               hosts=list(hosts))


def test_runs_of_other_hosts_are_shown_and_a_dead_one_is_skipped(tmp_path):
    b = launch(tmp_path, peers_app(), "-host_name=hb", name="b")
    try:
        dead = "http://127.0.0.1:9"  # nothing listens on the discard port
        peers = (dead, b.url(), f"127.0.0.1:{b.ports['pub']}")  # b twice: shown once
        a = launch(tmp_path, peers_app(*peers), "-host_name=ha", name="a")
        try:
            with b.client() as cb, a.client() as ca:
                run_b = start_run(cb, "f")
                wait_ended(cb, "f", run_b)
                run_a = start_run(ca, "f")
                wait_ended(ca, "f", run_a)
                runs = ca.get("/flows/f").json()["Payload"]["Runs"]
                assert [s["Ref"]["Run"]["HostID"] for s in runs["Archive"]] == ["ha", "hb"]
                view = run_view(ca, "f", run_b)  # asked of b, shown by a
                assert view["Summary"]["Good"] and view["Name"].endswith(run_b)
                assert ca.get("/flows/f/runs/hb-99").status_code == 404
            assert "127.0.0.1:9" in a.stderr  # the dead peer was logged, not fatal
        finally:
            a.stop()
    finally:
        b.stop()
