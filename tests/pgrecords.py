"""Pends and run records for the PostgreSQL cluster tests: flows with resource tags, host
tags, reuse-space or a task that says opts.restart: rerun."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from records import T0, flow, ref

from floecli.engine.flow import Flow, Node
from floecli.engine.pend import Pend
from floecli.engine.runs import ExecNode, NodeRef, RunRecord


def tagged_flow(flow_id: str, resource_tags: Sequence[str] = (), host_tags: Sequence[str] = (),
                reuse_space: bool = False, restart: str = "") -> Flow:
    f = flow(flow_id)
    opts: dict[str, Any] = {"cmd": "make", **({"restart": restart} if restart else {})}
    task = Node(id="build", name="build", class_="task", type="exec", listen="trigger.good",
                opts=opts)
    return dataclasses.replace(f, resource_tags=tuple(resource_tags),
                               host_tags=tuple(host_tags), reuse_space=reuse_space,
                               tasks=(task,))


def a_pend(n: int, f: Flow) -> Pend:
    return Pend(ref(n, f.id), f, NodeRef("trigger", "start"), {"ref": f"v{n}"},
                created=T0 + timedelta(seconds=n))


def started(p: Pend) -> RunRecord:
    """The record of a claimed pend once its task is running."""
    r = RunRecord.from_pend(p, start_time=T0)
    r.exec_nodes["build"] = ExecNode(started=T0)
    return r


def ended(r: RunRecord) -> RunRecord:
    r.exec_nodes["build"].stopped, r.exec_nodes["build"].status = T0, 0
    r.ended, r.good, r.end_time = True, True, T0 + timedelta(seconds=1)
    return r
