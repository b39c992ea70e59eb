"""A full disk under the run store: nothing acknowledged or finished is lost. Runs that
finish while the store's writes fail are kept and saved once space comes back, each with its
true result and every log line (a real engine on a tmpfs the test mounts; CI runs as root)."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from flows import app, one_task
from servertest import wait_until

RUNS = 50
LINES = 30


def gated_app(gate: Path) -> str:
    # Each run's task waits for the gate (outside the store's disk), then prints its lines.
    return app(one_task("f", shell=f"until test -e {gate}; do sleep 0.05; done; "
                                  f"seq {LINES} | sed s/^/line-/", task_id="t"),
               store_type="local")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs: the engine's root (store and workspaces) lives on it."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a filler file until the disk is full; the filler."""
    filler = disk / "filler"
    # Unbuffered: a buffered file would try its failed bytes again when closed, and raise.
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * (64 << 10))
        except OSError as e:
            assert e.errno == errno.ENOSPC
    return filler


def push(c) -> object:
    return c.post("/push/data", json={"Ref": {"ID": "f", "Ver": 1}, "Form": {"ID": "start"}})


@pytest.mark.parametrize("restart", [False, True], ids=["live", "restarted"])
def test_runs_that_finish_on_a_full_disk_are_saved_when_space_comes_back(
        start_engine, small_disk, tmp_path, restart):
    if os.geteuid() != 0:
        raise AssertionError("this test mounts a tmpfs: run it as root, as CI does")
    gate = tmp_path / "gate"
    root = small_disk / "root"
    engine = start_engine(gated_app(gate), f"-root={root}", name="full")
    with engine.client() as c:
        runs = []
        for _ in range(RUNS):
            r = push(c)
            assert r.status_code == 200, r.text
            runs += r.json()["Payload"]["Runs"]
        wait_until(lambda: len(c.get("/flows/f").json()["Payload"]["Runs"]["Active"]) == RUNS,
                   60, "every run active")
        filler = fill(small_disk)
        gate.touch()  # the runs finish now, while nothing can be written
        health = wait_until(lambda: (r := c.get("/health")).status_code == 503 and r, 60,
                            "the engine to say its store cannot take writes")
        assert "full" in health.json()["Payload"]["Store"]
        refused = push(c)
        assert refused.status_code == 503, refused.text  # nothing is acknowledged it cannot keep
        wait_until(lambda: not c.get("/flows/f").json()["Payload"]["Runs"]["Active"], 60,
                   "every run to finish")
        filler.unlink()  # space comes back
        if restart:
            assert engine.stop() == 0
            engine = start_engine(gated_app(gate), f"-root={root}", name="full")
    with engine.client() as c:
        wait_until(lambda: c.get("/health").status_code == 200, 60, "the store to recover")
        for run in runs:
            view = wait_until(lambda: (r := c.get(f"/flows/f/runs/{run}")).status_code == 200  # noqa: B023
                              and r.json()["Payload"], 60, f"run {run}")
            assert view["Summary"]["Ended"] and view["Summary"]["Good"], view["Summary"]
            logs = c.get(f"/flows/f/runs/{run}/logs").json()["Payload"]["t"]
            assert [line for line in logs if line.startswith("line-")] == [
                f"line-{n}" for n in range(1, LINES + 1)], run
    assert engine.stop() == 0
    with contextlib.closing(sqlite3.connect(root / "store" / "floe.db")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        archived = db.execute("SELECT count(*) FROM runs WHERE state = 'archive'").fetchone()
    assert archived == (RUNS,)
