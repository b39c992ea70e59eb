"""The `timer` task: waits its `period` in seconds, then fires good (DECISIONS §2)."""

from __future__ import annotations

import asyncio

from floecli.engine.nodes import BaseTask, TaskContext, get_opt


class Timer(BaseTask):
    async def run(self, ctx: TaskContext) -> int:
        period = float(get_opt(ctx.opts, "period", 0) or 0)
        ctx.log(f"waiting {period:g} s")
        await asyncio.sleep(period)
        ctx.output(**{k: v for k, v in ctx.input.items() if k != "env"})
        return 0
