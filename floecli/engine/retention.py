"""Retention (`common.retention`, or a flow's own): archived runs beyond the newest `keep` of
their flow, or older than `days`, go with their node logs, log files, workspaces and kept
artifacts; beyond the newest `workspaces`, a run's workspace alone goes (its record, logs and
artifacts stay, so its files page serves the artifacts).

A kept run (`POST …/runs/:rid/keep`) never goes and does not count toward `keep`. Only
archived runs are ever chosen, so an active or pending run is never touched, nor the original
of a pending or active re-run from a node (its workspace is copied when the re-run starts, its
logs are the carried nodes'), and a flow's shared `reuse-space` workspace (`ws/single`) is
never removed. The engine prunes in the
background: at start, after runs end (at most once per MIN_GAP) and every INTERVAL, BATCH runs
per store transaction with a yield to the loop between batches, so the API keeps answering.
`floe prune` runs the same selection from the command line. On a store hosts share, the
selection is made over every host's runs and each host removes its own share (own_share):
the workspaces are on the disk of the host that ran them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .events import SYS_END_ALL, Event
from .flow import AppConfig
from .hub.artifacts import artifacts_path
from .store.base import KEPT_PREFIX, ArchivedRun

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger(__name__)

BATCH = 200
INTERVAL = 3600.0  # a pass at least this often: `days` ages runs while nothing ends
MIN_GAP = 10.0  # run ends within this of a pass wait for the next one
DAY = 86400.0
# On a shared store, a host not seen for this long is gone: any host prunes what it ran.
ORPHANED_AFTER = DAY

__all__ = ["BATCH", "KEPT_PREFIX", "PruneReport", "Pruner", "own_share", "remove_run_files",
           "select", "select_workspaces"]


def select(index: Sequence[ArchivedRun], config: AppConfig, at: float,
           live_sources: Iterable[str] = ()) -> list[ArchivedRun]:
    """The archived runs retention removes, given every archived run newest first per flow
    (store.archive_index), the time `at` (seconds since the epoch), and the runs that pending
    or active re-runs from a node re-run (`live_sources`, which stay)."""
    victims: list[ArchivedRun] = []
    position: dict[str, int] = {}
    for run in index:
        rule = config.retention(run.flow_id)
        if not rule.active or run.kept:
            continue
        position[run.flow_id] = n = position.get(run.flow_id, 0) + 1
        too_many = rule.keep > 0 and n > rule.keep
        too_old = rule.days > 0 and run.start_time < at - rule.days * DAY
        if too_many or too_old:
            victims.append(run)
    return spare_rerun_sources(index, victims, live_sources)


def spare_rerun_sources(index: Sequence[ArchivedRun], victims: list[ArchivedRun],
                        live_sources: Iterable[str] = ()) -> list[ArchivedRun]:
    """`victims` without the runs a staying re-run from a node still shows: its carried nodes'
    logs are read from the run it re-ran (and that run's from the one it re-ran), so an
    original goes only with the last re-run that needs it."""
    of = {r.run_id: r.rerun_of for r in index if r.rerun_of}
    going = {v.run_id for v in victims}
    needed = set(live_sources)
    for run_id in [*needed, *(r.run_id for r in index if r.run_id not in going)]:
        while (source := of.get(run_id, "")) and source not in needed:
            needed.add(source)
            run_id = source
    return [v for v in victims if v.run_id not in needed]


def select_workspaces(index: Iterable[ArchivedRun], config: AppConfig,
                      removed: Iterable[ArchivedRun]) -> list[ArchivedRun]:
    """The archived runs (not in `removed`, not kept) whose workspace goes: beyond the
    newest `workspaces` of their flow. Their records, logs and kept artifacts stay."""
    gone = {r.run_id for r in removed}
    chosen: list[ArchivedRun] = []
    position: dict[str, int] = {}
    for run in index:
        rule = config.retention(run.flow_id)
        if rule.workspaces <= 0 or run.kept:
            continue
        position[run.flow_id] = n = position.get(run.flow_id, 0) + 1
        if n > rule.workspaces and run.run_id not in gone:
            chosen.append(run)
    return chosen


def own_share(runs: Iterable[ArchivedRun], me: str, last_seen: Mapping[str, float],
              at: float) -> list[ArchivedRun]:
    """Of `runs` chosen on a store hosts share, those host `me` removes: the runs it
    executed (their workspaces are on its disk), runs no host executed, and runs of a host not
    seen for ORPHANED_AFTER. Another live host's runs are left to that host, which removes
    their records and its own files together; the choice itself (`keep`, `days`) is made over
    every host's runs, so each host's share adds up to the whole."""
    return [r for r in runs if not r.host or r.host == me
            or last_seen.get(r.host, 0.0) < at - ORPHANED_AFTER]


def run_paths(workspace_root: Path, run: ArchivedRun) -> list[Path]:
    """The run's own workspace, log files directory and kept artifacts (never
    `ws/single`): a run that goes takes everything of its own with it."""
    if run.run_id in ("", ".", "..", "single") or os.sep in run.run_id:
        return []
    if not run.flow_id or run.flow_id in (".", "..") or os.sep in run.flow_id:
        return []
    return [workspace_root / "spaces" / run.flow_id / "ws" / run.run_id,
            workspace_root / "logs" / run.flow_id / run.run_id,
            artifacts_path(workspace_root, run.flow_id, run.run_id)]


def remove_workspaces(workspace_root: Path, runs: Iterable[ArchivedRun]) -> int:
    """Remove the runs' workspaces only; how many there were."""
    removed = 0
    for run in runs:
        paths = run_paths(workspace_root, run)
        if paths and paths[0].is_dir():
            shutil.rmtree(paths[0], ignore_errors=True)
            removed += 1
    return removed


def remove_run_files(workspace_root: Path, runs: Iterable[ArchivedRun]) -> int:
    """Remove the runs' workspaces and log files; how many directories went."""
    gone = 0
    for run in runs:
        for path in run_paths(workspace_root, run):
            if path.is_symlink():
                path.unlink(missing_ok=True)
                gone += 1
            elif path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
                gone += 1
    return gone


@dataclass
class PruneReport:
    runs: int = 0
    dirs: int = 0
    workspaces: int = 0  # of runs that stay: their workspace alone went (`workspaces`)
    by_flow: dict[str, int] = field(default_factory=dict)


class Pruner:
    """The engine's background pruning."""

    def __init__(self, hub: Hub, *, batch: int = BATCH) -> None:
        self._hub = hub
        self._batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.passes = 0  # finished passes, for tests and the curious
        self.pruned = 0
        self._watchers: list[Callable[[set[str]], None]] = []

    def watch(self, watcher: Callable[[set[str]], None]) -> None:
        """Call `watcher` with the ids of the flows whose archived runs a batch removed (the
        server drops what it keeps of their run lists)."""
        self._watchers.append(watcher)

    @property
    def wanted(self) -> bool:
        config = self._hub.config
        return config.common.retention.active or any(
            f.retention is not None and f.retention.active for f in config.flows)

    def start(self) -> None:
        if not self.wanted:
            return
        self._hub.queue.subscribe(self._on_event)
        self._task = asyncio.create_task(self._serve(), name="retention")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._hub.queue.unsubscribe(self._on_event)
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    def _on_event(self, event: Event) -> None:
        if event.tag == SYS_END_ALL:
            self._wake.set()

    async def _serve(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.prune()
            except asyncio.CancelledError:
                raise
            except Exception:  # the next pass tries again
                log.exception("retention: pruning failed")
            await asyncio.sleep(MIN_GAP)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), INTERVAL - MIN_GAP)

    async def _needed(self) -> set[str]:
        """Archived runs pending and active runs still use: the original of a re-run from a
        node, whose workspace is copied when the re-run starts and whose logs its carried
        nodes show. On a shared store, also those of every other host's (and of this host's
        pends, which the database keeps)."""
        state = self._hub.state
        links = [p.rerun for p in state.pends()] + [r.record.rerun for r in state.active_runs()]
        needed = {str(link["Of"]) for link in links if link.get("From") and link.get("Of")}
        for run in state.active_runs():
            needed.update(rec.carried for rec in run.record.exec_nodes.values() if rec.carried)
        return needed | await self._hub.store.rerun_sources()

    async def prune(self, at: float | None = None) -> PruneReport:
        """One pass: choose, then remove in batches."""
        hub = self._hub
        now = time.time() if at is None else at
        index = await hub.store.archive_index()
        victims = select(index, hub.config, now, await self._needed())
        spaces = select_workspaces(index, hub.config, victims)
        if hub.store.shared:
            seen = await hub.store.last_seen()
            victims = own_share(victims, hub.host_id, seen, now)
            spaces = own_share(spaces, hub.host_id, seen, now)
        report = PruneReport()
        for i in range(0, len(victims), self._batch):
            needed = await self._needed()  # again per batch: a re-run may be made meanwhile
            batch = [v for v in victims[i:i + self._batch]
                     if hub.state.active(v.run_id) is None and v.run_id not in needed]
            removed = await hub.store.delete_runs([v.run_id for v in batch])
            report.runs += removed
            if removed:
                for watcher in self._watchers:
                    watcher({v.flow_id for v in batch})
            report.dirs += await asyncio.to_thread(remove_run_files, hub.workspace_root, batch)
            for v in batch:
                report.by_flow[v.flow_id] = report.by_flow.get(v.flow_id, 0) + 1
            await asyncio.sleep(0)  # let the API and the runs have the loop between batches
        needed = await self._needed()
        spaces = [w for w in spaces
                  if hub.state.active(w.run_id) is None and w.run_id not in needed]
        report.workspaces = await asyncio.to_thread(remove_workspaces, hub.workspace_root, spaces)
        self.passes += 1
        self.pruned += report.runs
        if report.runs:
            log.info("retention: removed %d archived runs (%s)", report.runs,
                     ", ".join(f"{f}: {n}" for f, n in sorted(report.by_flow.items())))
        if report.workspaces:
            log.info("retention: removed the workspaces of %d older runs (kept: their "
                     "records, logs and artifacts)", report.workspaces)
        return report


def describe(victims: Sequence[ArchivedRun]) -> list[str]:
    """`floe prune --dry-run`'s lines: how many of each flow, then each run."""
    counts: dict[str, int] = {}
    for v in victims:
        counts[v.flow_id] = counts.get(v.flow_id, 0) + 1
    lines = [f"{f}: {n} archived run{'s' if n != 1 else ''}" for f, n in sorted(counts.items())]
    lines += [f"  {v.flow_id} {v.run_id} started "
              f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(v.start_time))}"
              for v in victims]
    return lines
