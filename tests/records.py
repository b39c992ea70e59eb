"""Pends and run records for store tests: run n of flow f, one exec node and one merge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from floecli.engine.events import FlowRef, HostedID, NodeRef, RunRef
from floecli.engine.flow import Flow, Node
from floecli.engine.pend import Pend
from floecli.engine.runs import ExecNode, MergeNode, RunRecord

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def flow(flow_id: str = "f") -> Flow:
    return Flow(id=flow_id, name=flow_id, ver=1,
                tasks=(Node(id="build", name="build", class_="task", type="exec",
                            listen="trigger.good", opts={"cmd": "make"}),))


def ref(n: int, flow_id: str = "f") -> RunRef:
    return RunRef(FlowRef(flow_id, 1), HostedID("h1", n), "h1")


def pend(n: int, flow_id: str = "f") -> Pend:
    return Pend(ref(n, flow_id), flow(flow_id), NodeRef("trigger", "start"), {"ref": f"v{n}"},
                created=T0 + timedelta(seconds=n))


def record(n: int, flow_id: str = "f", *, started: int | None = None) -> RunRecord:
    start = T0 + timedelta(minutes=n if started is None else started)
    return RunRecord(
        ref=ref(n, flow_id), flow=flow(flow_id), start_time=start,
        trigger=NodeRef("trigger", "start"), trigger_opts={"ref": f"v{n}"},
        exec_nodes={"build": ExecNode(started=start, status=None)},
        merge_nodes={"join": MergeNode(waits={"task.build.good": True}, started=start)},
    )
