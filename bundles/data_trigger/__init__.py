"""The `data` trigger: passive; runs start when the API pushes data to it."""

from __future__ import annotations

from floecli.engine.nodes import TriggerContext


class DataTrigger:
    async def watch(self, ctx: TriggerContext) -> None:
        return None
