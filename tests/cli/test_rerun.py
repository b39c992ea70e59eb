"""`floe rerun` against a real engine process: the new run's id on stdout, the engine's refusal
as `Error re-running <run>: <its Message>` with a hint where one helps."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from engine.server.servertest import (
    ADMIN,
    BASE,
    EngineProcess,
    engine_starter,
    start_run,
    wait_ended,
)

pytestmark = pytest.mark.script_launch_mode("subprocess")

APP = """\
flows:
  - id: f
    ver: 1
    triggers: [{{id: start, type: data}}]
    tasks:
      - {{id: a, listen: trigger.good, type: exec, opts: {{shell: "echo a > a.txt"}}}}
      - {{id: b, listen: task.a.good, type: exec, opts: {{shell: "cat a.txt; test -e {gate}"}}}}
"""


@pytest.fixture
def start_engine(tmp_path: Path) -> Iterator[Callable[..., EngineProcess]]:
    yield from engine_starter(tmp_path)


def test_rerun_from_a_node_and_the_errors(start_engine, tmp_path, script_runner):
    engine = start_engine(APP.format(gate=tmp_path / "gate"))
    with engine.client() as c:
        first = start_run(c, "f", {"ref": "v2"})
        assert wait_ended(c, "f", first)["Summary"]["Why"] == "b failed (exit 1)"
    (tmp_path / "gate").touch()
    url = engine.url() + BASE
    r = script_runner.run(["floe", "rerun", "f", first, "--from", "b", "--url", url,
                           "--token", ADMIN])
    assert r.returncode == 0, r.stderr
    again = r.stdout.strip()
    with engine.client() as c:
        view = wait_ended(c, "f", again)
        assert view["Summary"]["Rerun"] == {"Of": first, "From": "b", "User": "Admin"}
        assert view["Summary"]["State"] == "good"

    r = script_runner.run(["floe", "rerun", "f", again, "--from", "zz", "--url", url,
                           "--token", ADMIN])
    assert (r.returncode, r.stderr) == (
        1, f"Error re-running {again}: flow f has no task 'zz' to re-run from\n")
    r = script_runner.run(["floe", "rerun", "f", again, "--url", url])
    assert (r.returncode, r.stderr) == (
        1, f"Error re-running {again}: missing session\n"
           "hint: give the admin token (-admin) or a session token with --token (or "
           "FLOE_TOKEN)\n")
    r = script_runner.run(["floe", "rerun", "f", "h1-99", "--url", url, "--token", ADMIN])
    assert (r.returncode, r.stderr) == (
        1, "Error re-running h1-99: run not found\n"
           "hint: check the flow id and the run id (such as h1-3) against the dashboard\n")
