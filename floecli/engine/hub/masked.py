"""A node's log whose lines are masked (engine/secrets.py) before any watcher, the run record
or the store sees them: the one choke point node output passes."""

from __future__ import annotations

from .. import secrets
from .logs import NodeLog


class MaskedNodeLog(NodeLog):
    def line(self, text: str) -> None:
        super().line(secrets.installed().mask(text))

    def raw(self, data: bytes) -> None:
        super().raw(secrets.installed().mask_bytes(data))
