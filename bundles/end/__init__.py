"""The `end` task: never executed; the engine ends the run when it is matched."""

from __future__ import annotations

from typing import ClassVar

from floecli.engine.nodes import BaseTask, TaskContext


class End(BaseTask):
    ends_run: ClassVar[bool] = True

    async def run(self, ctx: TaskContext) -> int:
        return 0
