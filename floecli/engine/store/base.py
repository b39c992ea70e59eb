"""The run store interface: everything about runs that outlives the engine process."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from ..pend import Pend
from ..runs import RunRecord

HANDOFF_PREFIX = "handoff/"  # handoff/<run id>: the host a pend was offered or handed to


@dataclass(frozen=True)
class HostSeen:
    """A host sharing the store, as its last heartbeat left it."""

    name: str
    tags: tuple[str, ...]
    address: str  # where it serves its API ("" until it listens)
    last_seen: datetime


@dataclass
class StoreState:
    """What the hub reloads at start-up."""

    counter: int = 0
    pends: list[Pend] = field(default_factory=list)
    active: list[RunRecord] = field(default_factory=list)
    # host id -> the highest run number among the ids the store holds: a new run id must be
    # above it even when the counter was set back (a restored backup, runs written apart)
    highest: dict[str, int] = field(default_factory=dict)


def highest_run_numbers(run_ids: Iterable[str]) -> dict[str, int]:
    """Host id -> the highest n of the `<host>-<n>` run ids given."""
    highest: dict[str, int] = {}
    for run_id in run_ids:
        host, _, n = run_id.rpartition("-")
        if host and n.isdigit() and n.isascii():
            highest[host] = max(highest.get(host, 0), int(n))
    return highest


KEPT_PREFIX = "kept/"  # kv key marking an archived run retention never removes


@dataclass(frozen=True)
class ArchivedRun:
    """One archived run as retention sees it (engine/retention.py)."""

    run_id: str
    flow_id: str
    start_time: float  # seconds since the epoch (the end time of a run that never started)
    kept: bool = False
    # The host that executed it, on a store hosts share: its workspace is on that host's
    # disk. "" when one host owns the store, or no host ever claimed the run.
    host: str = ""
    # A re-run from a node: the run it re-ran, whose logs its carried nodes show ("" else).
    rerun_of: str = ""


class Gate(Protocol):
    """A thread's wait for a store's commit (RunStore.gate)."""

    def wait(self) -> None: ...

    def cancel(self) -> None: ...


class RunStore(ABC):
    problem: str = ""  # why writes fail now, "" while they work
    # True for a store several hosts share as their work queue (postgres): pends are claimed
    # from it (hub/claiming.py), and what is pending or active is read from it.
    shared: bool = False
    address: str = ""  # a shared store: where this host serves, for the others to show
    lease: float = 0.0  # a shared store: a host silent this long is offline (seconds)
    """Writes are fire-and-forget and applied in call order; reads are awaited and see every
    write made before them. Appending a log line is O(1): no method rewrites a run's logs
    or a whole list of runs.

    A write captures its arguments when called: mutating a record afterwards does not change
    what is stored, and every read returns fresh objects. Run records are kept without their
    logs; the lines given to `append_log` are the logs `load_run` and `open` re-attach."""

    def journal_path(self, name: str) -> Path | None:
        """A file beside the store for one of the engine's own journals (hub/spawned.py);
        None for a store nothing of which outlives the process."""
        return None

    @abstractmethod
    def open(self) -> StoreState:
        """Open (creating if needed) and return the persisted counter, pends (in creation
        order) and active runs (with their logs). Raises StoreError when it cannot."""

    @abstractmethod
    async def close(self) -> None:
        """Apply every queued write, then release the store."""

    @abstractmethod
    async def flush(self) -> None:
        """Return once every write made so far is durable."""

    def gate(self) -> Gate | None:
        """Something a thread can block on (`wait()`, raising StoreError if the writes are
        never committed; `cancel()` to let it go) until every write made so far is durable,
        without the event loop; None where only `flush` tells (the caller awaits that)."""
        return None

    async def pends_durable(self) -> None:
        """Return once every pend added so far survives a crash of this process (what an
        acknowledgement of new runs waits for); a store that makes pends durable as they are
        added returns at once."""
        await self.flush()

    # The run life cycle (hub/state.py makes every call): each transition is one atomic
    # write, so a crash leaves a run in exactly one of pending, active or archive.
    @abstractmethod
    def add_pend(self, pend: Pend, counter: int) -> None:
        """Adopt: the pend and the run counter it took, together."""

    @abstractmethod
    def activate(self, run: RunRecord) -> Awaitable[None]:
        """Pend → active: the pend of the same run id (if any) removed and the run saved as
        active, in one transaction. The result resolves once that is committed, or raises
        StoreError when the store refused it: the run owner starts nothing before (write
        ahead). Writes that fail for now (a full disk) are kept and retried, never
        dropped: `problem` says why while they fail."""

    @abstractmethod
    def finish(self, run: RunRecord) -> None:
        """→ archive: the run recorded as ended and any pend of it removed, in one
        transaction (a pend stopped before it started goes straight to the archive)."""

    def hand_off(self, run_id: str, host: str) -> None:
        """Pend → another host (p2p hand-off): the pend removed and `handoff/<run id>` set to
        `{"Host": host, "State": "handed"}`, in one transaction; nothing is archived here (the
        run is the executing host's). The mark keeps a crash from offering it again."""
        raise NotImplementedError

    @abstractmethod
    def save_run(self, run: RunRecord) -> None:
        """Update an active run's record (its node states; logs are separate). Ignored once
        the run is archived, so a late save cannot revive an ended run."""

    @abstractmethod
    def append_log(self, run_id: str, node_id: str, line: str) -> None: ...

    async def room(self) -> None:
        """Return when the store can take more writes: a task's output reader waits here,
        so a chatty task blocks on its pipe instead of the store's queue growing without
        bound."""
        return None

    @abstractmethod
    async def has_run(self, run_id: str) -> bool:
        """Whether the store knows the run id: pending, active or archived."""

    @abstractmethod
    async def load_run(self, run_id: str) -> RunRecord | None:
        """A started run (active or archived) with every node's logs, or None."""

    @abstractmethod
    async def list_runs(self, flow_id: str | None = None, limit: int = 0) -> list[RunRecord]:
        """Started runs (active and archived), newest start first (a run that never started
        sits at its end time), without logs; `limit` 0 means all."""

    @abstractmethod
    async def archive_page(self, flow_id: str, offset: int = 0, limit: int = 0
                           ) -> tuple[list[dict[str, Any]], int]:
        """Summaries (RunRecord.summary()) of a flow's archived runs, newest first, from
        `offset`, at most `limit` (0: all), and how many there are in all. Reads only what
        a summary shows, so a long archive pages quickly."""

    @abstractmethod
    async def node_logs(self, run_id: str, node_id: str | None = None) -> dict[str, list[str]]:
        """Every log line of a run, per node (or of one node), nodes in order of their first
        line; a node without lines is absent."""

    # small documents: git refs seen by poll-git, sessions, ...
    @abstractmethod
    async def get(self, key: str) -> Any | None:
        """The document stored under `key`, or None when there is none."""

    @abstractmethod
    def put(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value (a TypeError otherwise, raised at the call)."""

    @abstractmethod
    def delete(self, key: str) -> None: ...

    # retention (engine/retention.py)
    async def archive_index(self) -> list[ArchivedRun]:
        """Every archived run, per flow newest first, with whether it is kept."""
        raise NotImplementedError

    async def delete_runs(self, run_ids: Sequence[str]) -> int:
        """Remove archived runs (their records, log lines and kept marks) in one
        transaction, durable when this returns; an id that is not archived is left alone.
        How many runs went."""
        raise NotImplementedError

    async def rerun_sources(self) -> set[str]:
        """The runs that pending or active re-runs from a node re-ran, on every host sharing
        the store; empty for a store one host owns, whose own memory knows them."""
        return set()

    async def hosts(self) -> list[HostSeen]:
        """Every host sharing the store, by name; empty for a store one host owns."""
        return []

    async def last_seen(self) -> dict[str, float]:
        """When each host sharing the store last showed life (seconds since the epoch)."""
        return {h.name: h.last_seen.timestamp() for h in await self.hosts()}
