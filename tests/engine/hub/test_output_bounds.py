"""Whatever a task prints, the engine's memory stays bounded (a real engine process)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from flows import app, one_task
from servertest import launch, peak_rss, run_view, start_run, wait_ended

MB = 1024 * 1024


def test_one_200_mb_line_is_cut_and_memory_stays_bounded(tmp_path):
    engine = launch(tmp_path, app(one_task(
        "f", shell=r"head -c 209715200 /dev/zero | tr '\000' x; echo; echo done", task_id="a"),
        store_type="memory"))
    try:
        with engine.client() as client:
            run = start_run(client, "f")
            view = wait_ended(client, "f", run, timeout=120)
            assert view["Summary"]["Good"], view
            lines = client.get(f"/flows/f/runs/{run}/logs").json()["Payload"]["a"]
            assert "x" * 65536 in lines
            assert f"[line cut at 65536 bytes: {200 * MB - 65536} more bytes not kept]" in lines
            assert lines[-1] == "done"
            assert run_view(client, "f", run)["Summary"]["Ended"]
        peak = peak_rss(engine.proc.pid)
        print(f"engine peak {peak / MB:.0f} MiB")  # the figure docs/reliability.md quotes (-s)
        assert peak < 200 * MB, f"engine peaked at {peak / MB:.0f} MB for one 200 MB line"
    finally:
        assert engine.stop() == 0
