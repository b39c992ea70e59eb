"""A fake task context, so a contribution's author can run a task without an engine.

    from floecli.engine.testing import FakeTaskContext

    async def test_hello(tmp_path):
        ctx = FakeTaskContext({"cmd": "echo hi"}, workspace=tmp_path)
        assert await Exec().run(ctx) == 0
        assert "hi" in ctx.lines

It behaves as the engine's context does: `exec` runs real processes in their own process
group and streams their lines to `log`; `expand` knows `{{ws}}`, `./` and `$VAR`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .hub.context import RunTaskContext, task_env
from .hub.process import Lines, ProcessGroup

__all__ = ["FakeTaskContext"]


class FakeTaskContext(RunTaskContext):
    """A TaskContext for one execution: `lines` holds what the task logged, `outputs` the
    opts it set for its result event."""

    def __init__(self, opts: Mapping[str, Any] | None = None, *, workspace: Path,
                 input: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None,
                 node_id: str = "task") -> None:
        self.lines: list[str] = []
        opts = dict(opts or {})
        entries = [*(f"{k}={v}" for k, v in (env or {}).items()), *(opts.get("env") or [])]
        workspace.mkdir(parents=True, exist_ok=True)
        super().__init__(node_id=node_id, opts=opts, input=dict(input or {}),
                         workspace=workspace, env=task_env(entries, workspace),
                         sink=Lines(self.lines.append), group=ProcessGroup())
