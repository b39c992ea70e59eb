"""What one run may hold of pushed data: bounded in count and bytes (413 past it)."""

from __future__ import annotations

from servertest import peak_rss, run_view, start_run, wait_until
from test_runs import DATA_APP

MB = 1 << 20


def push(c, run: str, values: dict) -> object:
    return c.post("/push/data", json={"Ref": {"ID": "signed", "Ver": 1}, "Run": run,
                                      "Form": {"ID": "sign-off", "Values": values}})


def waiting(c, run: str) -> dict:
    return wait_until(lambda: (v := run_view(c, "signed", run))["Graph"][1][0]["Enabled"]
                      and v, what="the sign-off form")


def test_partial_pushes_to_a_waiting_form_are_bounded_in_bytes(start_engine):
    engine = start_engine(DATA_APP)
    with engine.client() as c:
        run = start_run(c, "signed", {"ref": "main"})
        waiting(c, run)
        answers = [push(c, run, {"note": "x" * MB}).status_code for _ in range(100)]
        assert answers[:3] == [200] * 3 and set(answers[4:]) == {413}, answers
        r = push(c, run, {"note": "x" * MB})
        assert "form submissions would hold" in r.json()["Message"]
        view = len(c.get(f"/flows/signed/runs/{run}").content)
        assert view < 8 * MB
        assert push(c, run, {"ok": "yes"}).status_code == 200  # a real answer still fits
    peak = peak_rss(engine.proc.pid)
    print(f"engine peak {peak / MB:.0f} MiB, run view {view / MB:.1f} MiB")  # docs quote (-s)
    assert peak < 400 * MB


def test_form_submissions_per_run_are_bounded_in_count(start_engine):
    engine = start_engine(DATA_APP)
    with engine.client() as c:
        run = start_run(c, "signed", {"ref": "main"})
        waiting(c, run)
        answers = [push(c, run, {"note": str(i)}).status_code for i in range(100)]
        assert answers == [200] * 100
        r = push(c, run, {"ok": "yes"})
        assert r.status_code == 413
        assert r.json()["Message"] == (f"run {run} already holds 100 form submissions, "
                                       "the most a run keeps")
