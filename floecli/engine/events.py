"""Events, the references they carry, the tag catalogue and the per-host fan-out queue."""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

# Tags published by the hub (floe-reference §2.3).
TRIGGER_GOOD = "trigger.good"
SYS_STATE = "sys.state"
SYS_NODE_START = "sys.node.start"
SYS_NODE_UPDATE = "sys.node.update"
SYS_DATA_REQUIRED = "sys.data.required"
SYS_END_ALL = "sys.end.all"
SYS_TRIGGER_ERROR = "sys.trigger.error"  # a trigger matched but could not start its flow
INBOUND_PREFIX = "inbound"


def is_system(tag: str) -> bool:
    """`sys.bar` is a system tag; `system.foo`, `fo` and `` are not."""
    return len(tag) >= 3 and tag.startswith("sys.")


def is_inbound(tag: str) -> bool:
    return tag.startswith(INBOUND_PREFIX)


def result_tag(node_class: str, node_id: str, suffix: str) -> str:
    return f"{node_class}.{node_id}.{suffix}"


def status_tag(
    node_id: str,
    status: int,
    *,
    good_statuses: tuple[int, ...] = (),
    ignore_fail: bool = False,
    use_status: bool = False,
) -> tuple[str, bool]:
    """Map a task's exit status to its result tag and Good flag (floe-reference §2.4)."""
    if ignore_fail:
        return result_tag("task", node_id, "good"), True
    good = status in good_statuses if good_statuses else status == 0
    if use_status:
        return result_tag("task", node_id, str(status)), good
    return result_tag("task", node_id, "good" if good else "bad"), good


@dataclass(frozen=True, order=True)
class FlowRef:
    id: str
    ver: int = 0

    def __str__(self) -> str:
        return f"{self.id}-{self.ver}" if self.id else "na"

    def to_json(self) -> dict[str, Any]:
        return {"ID": self.id, "Ver": self.ver}

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> FlowRef:
        d = _ci(d or {})
        return cls(str(d.get("id") or ""), int(d.get("ver") or 0))


@dataclass(frozen=True, order=True)
class HostedID:
    """A run id: the adopting host and its counter, printed `h1-12`."""

    host_id: str
    id: int = 0

    def __str__(self) -> str:
        return f"{self.host_id}-{self.id}" if self.id else "na"

    def to_json(self) -> dict[str, Any]:
        return {"HostID": self.host_id, "ID": self.id}

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> HostedID:
        d = _ci(d or {})
        return cls(str(d.get("hostid") or ""), int(d.get("id") or 0))

    @classmethod
    def parse(cls, text: str) -> HostedID | None:
        """Parse `h1-12`; host ids may themselves contain `-` (the reference's bug #19)."""
        host, sep, num = text.rpartition("-")
        if not sep or not host or not num.isdigit() or int(num) == 0:
            return None
        return cls(host, int(num))


@dataclass(frozen=True)
class RunRef:
    flow_ref: FlowRef
    run: HostedID = HostedID("")
    exec_host: str = ""

    @property
    def adopted(self) -> bool:
        return self.run.id != 0

    @functools.cached_property
    def run_id(self) -> str:
        # Asked for a score of times per task (lookups, logs, saves): formatted once.
        return str(self.run)

    def to_json(self) -> dict[str, Any]:
        return {"FlowRef": self.flow_ref.to_json(), "Run": self.run.to_json(),
                "ExecHost": self.exec_host}

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> RunRef:
        d = _ci(d or {})
        return cls(FlowRef.from_json(d.get("flowref")), HostedID.from_json(d.get("run")),
                   str(d.get("exechost") or ""))


@dataclass(frozen=True)
class NodeRef:
    class_: str = ""
    id: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"Class": self.class_, "ID": self.id}

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> NodeRef:
        d = _ci(d or {})
        return cls(str(d.get("class") or ""), str(d.get("id") or ""))


@dataclass(frozen=True)
class Event:
    run_ref: RunRef
    tag: str
    source_node: NodeRef = NodeRef()
    good: bool = False
    opts: dict[str, Any] = field(default_factory=dict)
    id: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"RunRef": self.run_ref.to_json(), "SourceNode": self.source_node.to_json(),
                "Tag": self.tag, "Good": self.good, "ID": self.id, "Opts": self.opts or {}}

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> Event:
        d = _ci(d or {})
        return cls(RunRef.from_json(d.get("runref")), str(d.get("tag") or ""),
                   NodeRef.from_json(d.get("sourcenode")), bool(d.get("good")),
                   dict(d.get("opts") or {}), int(d.get("id") or 0))


Observer = Callable[[Event], None]


class EventQueue:
    """One per host process: numbers each event and hands it to every observer.

    Observers must not block: the hub and each websocket client put the event on their own
    asyncio queue. Unlike the reference, delivery to one observer keeps publish order.
    """

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._observers: list[Observer] = []

    def subscribe(self, observer: Observer) -> None:
        self._observers.append(observer)

    def unsubscribe(self, observer: Observer) -> None:
        if observer in self._observers:
            self._observers.remove(observer)

    def publish(self, event: Event) -> Event:
        # Made directly, not by dataclasses.replace (twice the cost): a task publishes a
        # handful of events, so this runs thousands of times in a burst.
        event = Event(event.run_ref, event.tag, event.source_node, event.good,
                      opts=dict(event.opts or {}), id=next(self._ids))
        for observer in list(self._observers):
            try:
                observer(event)
            except Exception:  # one broken observer must not starve the others
                log.exception("event observer failed on %s", event.tag)
        return event


def _ci(d: dict[str, Any]) -> dict[str, Any]:
    """Go decodes JSON keys case-insensitively; so do we at the edges."""
    return {str(k).lower(): v for k, v in d.items()} if isinstance(d, dict) else {}
