"""Logs, run views and a flow's archive come in pages, the tail by default."""

from __future__ import annotations

from flows import app, one_task
from servertest import start_run, wait_ended


def paging_app(cmd: str) -> str:
    return app(one_task("f", cmd, task_id="a"), store_type="local", log_lines=3000)


APP = paging_app("seq 5000")


def test_logs_and_views_page_and_mark_what_the_cap_left_out(start_engine):
    engine = start_engine(APP)
    with engine.client() as c:
        run = start_run(c, "f")
        view = wait_ended(c, "f", run)
        node = view["Graph"][0][0]
        assert node["LogsTotal"] == 3001  # 3000 lines and the cap's mark
        assert node["LogsTruncated"] == 5000 - 2998  # kept: 2 framing lines, then 1..2998
        assert len(node["Logs"]) == 1000 and node["Logs"][-1].startswith("[log cap reached")
        logs = c.get(f"/flows/f/runs/{run}/logs").json()["Payload"]["a"]
        assert len(logs) == 1000 and logs[-2] == "2998"  # the tail by default
        first = c.get(f"/flows/f/runs/{run}/logs?offset=0&limit=5").json()["Payload"]["a"]
        assert first[2:] == ["1", "2", "3"]  # after "in dir" and the command line
        assert c.get(f"/flows/f/runs/{run}/logs?limit=-1").status_code == 400
        assert c.get(f"/flows/f/runs/{run}/logs?offset=x").status_code == 400


def test_a_flow_archive_pages_newest_first(start_engine):
    engine = start_engine(paging_app("true"))
    with engine.client() as c:
        runs = [start_run(c, "f") for _ in range(5)]
        for run in runs:
            wait_ended(c, "f", run)
        whole = c.get("/flows/f").json()["Payload"]["Runs"]
        assert whole["ArchiveTotal"] == 5 and len(whole["Archive"]) == 5
        page = c.get("/flows/f?offset=1&limit=2").json()["Payload"]["Runs"]
        assert page["ArchiveTotal"] == 5
        assert page["Archive"] == whole["Archive"][1:3]
        assert [s["Status"] for s in page["Archive"]] == ["good", "good"]
