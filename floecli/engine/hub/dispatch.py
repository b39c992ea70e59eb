"""Dispatch: start every pend that can start now, the moment something may have unblocked it,
and say in words a user can act on why the others wait."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Protocol

from ..flow import Flow
from ..host import Host
from ..pend import Pend
from .rerun import prepare_for
from .state import ActiveRun, Origin, Route, RunState
from .workspace import prepare_workspace, workspace_path

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 5.0  # the safety net; real dispatch is event driven


class Elsewhere(Protocol):
    """The other hosts (cluster/handoff.py): where a pend goes that cannot start here."""

    async def takes(self, pend: Pend) -> bool: ...  # offered, or may run on a peer: skip it
    def offer(self, pend: Pend, reason: str) -> None: ...  # cannot start here: offer it
    def gate(self, pend: Pend) -> str: ...  # why not here for cluster reasons ("" if none)


class Dispatcher:
    def __init__(self, owner: RunState, *, host: Host, workspace_root: Path, route: Route,
                 sweep_interval: float = SWEEP_INTERVAL,
                 elsewhere: Elsewhere | None = None) -> None:
        self._owner = owner
        self._route = route  # the router's: the event that starts a run, at its activation
        self.elsewhere = elsewhere  # the cluster: where a pend goes that cannot start here
        self._host = host
        self._workspace_root = workspace_root
        self._wake = asyncio.Event()
        self._sweep_interval = sweep_interval
        self.prepare = prepare_workspace  # replaceable, so a test can hold one preparation

    def wake(self) -> None:
        self._wake.set()

    async def serve(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.dispatch()

    async def sweep(self) -> None:
        # A safety net only: every change that can unblock a pend wakes the dispatcher.
        while True:
            await asyncio.sleep(self._sweep_interval)
            self._wake.set()

    async def dispatch(self) -> None:
        for pend in self._owner.pends():
            try:
                if self.elsewhere is not None and await self.elsewhere.takes(pend):
                    continue  # offered to a peer, or may be running on one
                started = await self.activate(pend)
                if isinstance(started, str) and self.elsewhere is not None:
                    self.elsewhere.offer(pend, started)
            except Exception as e:  # one pend that cannot start never stops the others
                log.exception("run %s could not be dispatched", pend.run_id)
                pend.reason = f"could not be dispatched: {e}"

    async def activate(self, pend: Pend, origin: Origin = Origin.LOCAL) -> ActiveRun | str:
        """Start `pend` here, or say why not."""
        workspace = workspace_path(self._workspace_root, pend.flow, pend.run_id)
        prepare = prepare_for(self._workspace_root, pend,
                              lambda ws, reuse: self.prepare(ws, reuse=reuse))
        blocker = self.blocker
        if self.elsewhere is not None and origin is Origin.LOCAL:
            gate = self.elsewhere.gate  # resource tags granted cluster-wide
            blocker = lambda flow: self.blocker(flow) or gate(pend)  # noqa: E731
        return await self._owner.activate(
            pend, origin, workspace=workspace, blocker=blocker, prepare=prepare,
            route=self._route)

    def blocker(self, flow: Flow) -> str:
        """Why a run of `flow` cannot start on this host now ("" when it can)."""
        missing = self._host.lacks(flow.host_tags)
        if missing:
            return f"no host has tags [{', '.join(missing)}]"
        for run in self._owner.active_runs():
            shared = [t for t in flow.resource_tags if t in run.flow.resource_tags]
            if shared:
                return f"resource tag {shared[0]} held by {run.flow.id} {run.run_id}"
            if flow.reuse_space and run.flow.reuse_space and run.flow.id == flow.id:
                return f"reuse-space held by {run.run_id}"
        return ""
