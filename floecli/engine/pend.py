"""A pend: a run waiting for a host (floe-reference §3.2), with the reason it still waits.
The dispatcher (hub/dispatch.py) or, on a shared store, a claim (hub/claiming.py) turns it
into a run record (runs.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .events import NodeRef, RunRef
from .flow import Flow, flow_from_json
from .runs import STATUS_PENDING, ZERO_TIME, fmt_time, input_values, parse_time, run_inputs


@dataclass
class Pend:
    """A run waiting for a host (floe-reference §3.2), with the reason it still waits."""

    ref: RunRef
    flow: Flow
    triggered_node: NodeRef
    opts: dict[str, Any] = field(default_factory=dict)
    created: datetime | None = None
    reason: str = ""
    submission: dict[str, Any] = field(default_factory=dict)  # the form that started it
    rerun: dict[str, Any] = field(default_factory=dict)  # hub/rerun.py: what it re-runs

    @property
    def run_id(self) -> str:
        return self.ref.run_id

    def to_json(self, *, flow: bool = True) -> dict[str, Any]:
        """`flow=False` leaves the flow out (stores serialise it once per flow)."""
        return {"Ref": self.ref.to_json(), **({"Flow": self.flow.to_json()} if flow else {}),
                "TriggeredNode": self.triggered_node.to_json(), "Opts": self.opts,
                "Created": fmt_time(self.created), "Reason": self.reason,
                "Submission": self.submission or None,
                **({"Rerun": self.rerun} if self.rerun else {})}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Pend:
        return cls(RunRef.from_json(d.get("Ref")), flow_from_json(d.get("Flow") or {}),
                   NodeRef.from_json(d.get("TriggeredNode")), dict(d.get("Opts") or {}),
                   parse_time(d.get("Created")), d.get("Reason", ""),
                   dict(d.get("Submission") or {}), dict(d.get("Rerun") or {}))

    @property
    def inputs(self) -> dict[str, Any]:
        return run_inputs(self.flow, self.triggered_node.id, self.opts, self.submission)


def pend_summary(p: Pend) -> dict[str, Any]:
    """A pending run as a summary row: status `pending` and the reason it waits."""
    link = {k: v for k, v in p.rerun.items() if k in ("Of", "From", "User")}
    return {"Ref": p.ref.to_json(), "ExecHost": "", "Status": STATUS_PENDING,
            "StartTime": ZERO_TIME, "EndTime": ZERO_TIME, "Ended": False, "Good": False,
            "Reason": p.reason, "Created": fmt_time(p.created), "State": STATUS_PENDING,
            "Why": p.reason, "StoppedBy": "", "Inputs": input_values(p.inputs) or None,
            "Rerun": link or None, "Waiting": None}
