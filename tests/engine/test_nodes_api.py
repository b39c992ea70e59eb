"""The contribution API is only the API, and a contribution can be tested without an engine."""

from __future__ import annotations

import floecli.engine.nodes as nodes
from floecli.bundles.exec import Exec
from floecli.engine.testing import FakeTaskContext


def test_the_public_contribution_api_is_pinned():
    assert sorted(nodes.__all__) == ["BaseTask", "NEEDS_INPUT", "PathOutside", "Task",
                                     "TaskContext", "Trigger", "TriggerContext", "first_opt",
                                     "get_opt", "inside", "make_inside"]
    assert not hasattr(nodes, "Registry")  # the loader is not part of the API


async def test_a_task_runs_in_a_temp_dir_without_an_engine(tmp_path):
    ctx = FakeTaskContext({"shell": "echo hi $WHO; echo out > f.txt"}, workspace=tmp_path,
                          env={"WHO": "there"})
    assert await Exec().run(ctx) == 0
    assert "hi there" in ctx.lines
    assert (tmp_path / "f.txt").read_text() == "out\n"
    failing = FakeTaskContext({"cmd": "false"}, workspace=tmp_path)
    assert await Exec().run(failing) == 1
    assert failing.lines[-1] == "exited with status: 1"
