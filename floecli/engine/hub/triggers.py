"""The TriggerContext the hub gives each trigger of each flow."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..config.model import Flow, Node

if TYPE_CHECKING:
    from .hub import Hub


class HubTriggerContext:
    def __init__(self, hub: Hub, flow: Flow, node: Node) -> None:
        self._hub = hub
        self._flow = flow
        self._node = node
        self.flow_id = flow.id
        self.node_id = node.id
        self.type = node.type
        self.opts: Mapping[str, Any] = node.opts
        self.git_key = hub.config.common.git_key

    def fire(self, opts: Mapping[str, Any]) -> None:
        self._hub.fire(self._flow, self._node, opts)

    def _key(self, key: str) -> str:
        return f"trigger/{self.flow_id}/{self.node_id}/{key}"

    async def load(self, key: str) -> Any | None:
        return await self._hub.store.get(self._key(key))

    def save(self, key: str, value: Any) -> None:
        self._hub.store.put(self._key(key), value)
