"""The TriggerContext the hub gives each trigger of each flow."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from ..flow import Flow, Node
from ..store.base import RunStore

log = logging.getLogger(__name__)


Fire = Callable[[Flow, Node, Mapping[str, Any]], None]


class HubTriggerContext:
    def __init__(self, fire: Fire, store: RunStore, flow: Flow, node: Node,
                 git_key: str) -> None:
        self._fire = fire  # starts a run of the flow, as if this trigger fired
        self._store = store
        self._flow = flow
        self._node = node
        self.flow_id = flow.id
        self.node_id = node.id
        self.type = node.type
        self.opts: Mapping[str, Any] = node.opts
        self.git_key = git_key
        # What the API shows (`GET flows/:id/triggers`): the last error and its time, and
        # when the trigger last worked.
        self.last_error = ""
        self.last_error_time: datetime | None = None
        self.last_ok_time: datetime | None = None
        self.failures = 0  # in a row, 0 once it works again

    def fire(self, opts: Mapping[str, Any]) -> None:
        self._fire(self._flow, self._node, opts)

    def _key(self, key: str) -> str:
        return f"trigger/{self.flow_id}/{self.node_id}/{key}"

    async def load(self, key: str) -> Any | None:
        return await self._store.get(self._key(key))

    def save(self, key: str, value: Any) -> None:
        self._store.put(self._key(key), value)

    def report(self, error: str = "") -> None:
        now = datetime.now(UTC)
        if error:
            self.last_error, self.last_error_time = error, now
            self.failures += 1
            log.warning("flow %s trigger %s: %s", self.flow_id, self.node_id, error)
        else:
            self.last_ok_time, self.failures = now, 0

    def status(self) -> dict[str, Any]:
        def fmt(t: datetime | None) -> str | None:
            return t.isoformat().replace("+00:00", "Z") if t else None

        return {"ID": self.node_id, "Type": self.type, "LastError": self.last_error,
                "LastErrorTime": fmt(self.last_error_time), "LastOK": fmt(self.last_ok_time),
                "Failures": self.failures}
