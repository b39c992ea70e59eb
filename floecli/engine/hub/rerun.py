"""Re-running a run: with the same inputs, or from one of its nodes (DECISIONS §4).

A re-run is a new pend linked to the original (`Rerun: {Of, From, User}`). From a node, the
pend also carries a seed: the original's records of every node that the chosen node does not
lead to (results, merge waits, data forms; logs stay the original's, by reference) and the
event that started the chosen node. At activation the seed becomes the new run's records and
first event (`seed`), and the workspace is a copy of the original's (`prepare_copy`), or the
same one for a `reuse-space` flow. Only the chosen node and what follows it execute.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RunError, RunNotFound
from ..events import Event, NodeRef, RunRef
from ..flow import CLASS_TASK
from ..graph import downstream
from ..pend import Pend
from ..runs import DataNode, ExecNode, MergeNode, RunRecord
from .workspace import prepare_workspace, workspace_path

if TYPE_CHECKING:
    from .state import RunState

RERUN_TAG = "inbound.rerun"  # starts the chosen node of a re-run (routing.py: _input)


class RerunRefused(RunError):
    """A re-run that cannot be made as asked; the message says why and what to do."""

    ref = "rerun-refused"


async def rerun(owner: RunState, workspace_root: Path, found: RunRecord | Pend | None,
                flow_id: str, run_id: str, from_node: str = "", *, user: str = "") -> Pend:
    """`found`: what this host knows of run `run_id` of `flow_id` (None: nothing)."""
    if found is None:
        raise RunNotFound(f"run {run_id} of flow {flow_id} not found")
    if not isinstance(found, RunRecord) or not found.ended:
        raise RerunRefused(f"run {run_id} has not ended: stop it or wait for it to end "
                           "before re-running it")
    flow = found.flow
    trigger = flow.node(found.trigger.id)
    if trigger is None or trigger not in flow.triggers:
        raise RerunRefused(f"run {run_id} has no trigger to start again from")
    link: dict[str, Any] = {"Of": run_id, "From": from_node, "User": user}
    if from_node:
        link.update(_plan(workspace_root, found, from_node))
    return await owner.adopt(flow, trigger, dict(found.trigger_opts),
                                 dict(found.trigger_submission), rerun=link)


def _plan(workspace_root: Path, original: RunRecord, from_node: str) -> dict[str, Any]:
    """The seed of a re-run from `from_node`: the carried records and the start event."""
    flow, run_id = original.flow, original.run_id
    node = flow.node(from_node)
    if node is None or node in flow.triggers:
        raise RerunRefused(f"flow {flow.id} has no task {from_node!r} to re-run from")
    if node.class_ != CLASS_TASK:
        raise RerunRefused(f"{from_node} is a {node.class_}: re-run from a task")
    if from_node in original.data_nodes:
        raise RerunRefused(f"{from_node} is a form: re-run from the task before it or after "
                           "it")
    ran = original.exec_nodes.get(from_node)
    if ran is None or ran.started is None:
        raise RerunRefused(f"{from_node} did not run in run {run_id}: re-run from a node "
                           "that ran")
    again = downstream(flow, from_node)
    execs = {k: v for k, v in original.exec_nodes.items() if k not in again}
    if execs:
        workspace = workspace_path(workspace_root, flow, run_id)
        if not workspace.is_dir():
            raise RerunRefused(
                f"cannot re-run {run_id} from {from_node}: its workspace is gone (removed by "
                f"retention), and {', '.join(sorted(execs))} made what {from_node} needs; "
                "re-run it from the start instead")
    carried: dict[str, Any] = {
        "ExecNodes": {k: {**ExecNode(v.started, v.stopped, v.good, v.status, [], v.input,
                                     v.reason, v.log_file, v.spilled, v.opts,
                                     v.carried or run_id).to_json(logs=False)}
                      for k, v in execs.items()},
        "DataNodes": {k: v.to_json() for k, v in original.data_nodes.items()
                      if k not in again},
        "MergeNodes": {},
    }
    for k, m in original.merge_nodes.items():
        # A merge the re-run reaches keeps the events of carried nodes only; one it does
        # not reach is carried as it was.
        waits = {t: seen for t, seen in m.waits.items()
                 if k not in again or (len(t.split(".")) == 3 and t.split(".")[1] not in again)}
        if k in again:
            carried["MergeNodes"][k] = MergeNode(waits, m.started if waits else None, None,
                                                 {}).to_json()
        else:
            carried["MergeNodes"][k] = m.to_json()
    # Addressed to the chosen node alone (as a form's values are): other listeners of the
    # event that started it in the original are carried, not started again.
    opts = dict(ran.input) if isinstance(ran, ExecNode) else {}
    return {"Carried": carried, "Start": {"Tag": RERUN_TAG, "Good": False, "Opts": opts,
                                          "Source": {"Class": CLASS_TASK, "ID": from_node}}}


@dataclass(frozen=True)
class Seed:
    """What a re-run from a node starts with: the carried records and its first event."""

    exec_nodes: dict[str, ExecNode]
    data_nodes: dict[str, DataNode]
    merge_nodes: dict[str, MergeNode]
    start: Event


def seed(ref: RunRef, plan: Mapping[str, Any]) -> Seed | None:
    """A re-run's seed, read from its pend (`plan`: the pend's `Rerun`); None for a plain
    re-run, which starts from its trigger."""
    start = plan.get("Start")
    if not plan.get("From") or not isinstance(start, Mapping):
        return None
    carried = plan.get("Carried") or {}
    return Seed(
        exec_nodes={k: ExecNode.from_json(v) for k, v in (carried.get("ExecNodes") or {}).items()},
        data_nodes={k: DataNode.from_json(v) for k, v in (carried.get("DataNodes") or {}).items()},
        merge_nodes={k: MergeNode.from_json(v)
                     for k, v in (carried.get("MergeNodes") or {}).items()},
        start=Event(ref, str(start.get("Tag") or ""), NodeRef.from_json(start.get("Source")),
                    bool(start.get("Good")), dict(start.get("Opts") or {})))


Prepare = Callable[[Path, bool], Awaitable[None]]


def prepare_for(root: Path, pend: Pend, prepare: Prepare) -> Prepare:
    """How the pend's workspace is made: a re-run from a node copies the original's (a
    `reuse-space` flow's is the same directory, kept as it is)."""
    if not pend.rerun.get("From") or not (pend.rerun.get("Carried") or {}).get("ExecNodes"):
        return prepare
    source = workspace_path(root, pend.flow, str(pend.rerun.get("Of") or ""))

    async def copy(path: Path, reuse: bool) -> None:
        if reuse:
            await prepare(path, True)
            return
        if not source.is_dir():
            raise FileNotFoundError(f"the workspace of run {pend.rerun.get('Of')} is gone")
        await prepare_workspace(path, reuse=False)
        await asyncio.to_thread(shutil.copytree, source, path, symlinks=True,
                                dirs_exist_ok=True)
    return copy
