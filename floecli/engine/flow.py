"""The app document as frozen dataclasses, and its Go-style JSON rendering (floe-reference §1.7)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import Problem
from .events import FlowRef

CLASS_TRIGGER = "trigger"
CLASS_TASK = "task"
CLASS_MERGE = "merge"


@dataclass(frozen=True)
class Node:
    """A trigger, task or merge of a flow (floe-reference §1.4)."""

    id: str
    name: str
    class_: str
    type: str = ""
    listen: str = ""
    wait: tuple[str, ...] = ()
    good: tuple[int, ...] = ()
    ignore_fail: bool = False
    use_status: bool = False
    opts: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "Class": self.class_, "Ref": {"Class": self.class_, "ID": self.id},
            "ID": self.id, "Name": self.name, "Listen": self.listen,
            "Wait": list(self.wait) or None, "Type": self.type, "Good": list(self.good) or None,
            "IgnoreFail": self.ignore_fail, "UseStatus": self.use_status,
            "Opts": _sorted(dict(self.opts)) if self.opts else None,
        }


@dataclass(frozen=True)
class Flow:
    """A flow (floe-reference §1.3)."""

    id: str
    name: str
    ver: int = 0
    flow_file: str = ""
    reuse_space: bool = False
    host_tags: tuple[str, ...] = ()
    resource_tags: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    triggers: tuple[Node, ...] = ()
    tasks: tuple[Node, ...] = ()
    # Beyond the reference, and not in its JSON: the names of the secrets (common.secrets-file)
    # its tasks get, and its own retention and notify settings (None: common's).
    secrets: tuple[str, ...] = ()
    retention: Retention | None = None
    notify: tuple[Notify, ...] | None = None
    artifacts: tuple[str, ...] = ()  # workspace paths the flow keeps (files or dirs/)

    @property
    def ref(self) -> FlowRef:
        return FlowRef(self.id, self.ver)

    def node(self, node_id: str) -> Node | None:
        for n in (*self.triggers, *self.tasks):
            if n.id == node_id:
                return n
        return None

    def match_tag(self, tag: str) -> list[Node]:
        """Task-list nodes listening to `tag` or waiting for it (floe-reference §1.11)."""
        if not tag:
            return []
        return [n for n in self.tasks if n.listen == tag or tag in n.wait]

    def to_json(self) -> dict[str, Any]:
        return {
            "ID": self.id, "Ver": self.ver, "FlowFile": self.flow_file, "Name": self.name,
            "ReuseSpace": self.reuse_space, "HostTags": list(self.host_tags) or None,
            "ResourceTags": list(self.resource_tags) or None, "Env": list(self.env) or None,
            "Triggers": [n.to_json() for n in self.triggers] or None,
            "Tasks": [n.to_json() for n in self.tasks] or None,
            **({"Artifacts": list(self.artifacts)} if self.artifacts else {}),
        }


@dataclass(frozen=True)
class User:
    """A user who may log in: `common.users` entries (password hash made by `floe passwd`)."""

    name: str
    role: str = "admin"  # admin | viewer
    password_hash: str = ""


DEFAULT_LOG_LINES = 10_000


@dataclass(frozen=True)
class ClusterTiming:
    """`cluster`: how hosts sharing a store-type postgres database keep what they hold
    (docs/postgres.md). A host renews its claims and leases every `heartbeat` seconds; one not
    renewed for `lease` seconds is taken over by another host; a host looks for work at
    least every `poll` seconds, sooner when notified. `pooler: transaction` says the database
    is reached through a pooler in transaction mode (PgBouncer): no LISTEN (polling only) and
    no server-side prepared statements."""

    heartbeat: float = 3.0
    lease: float = 15.0
    poll: float = 1.0
    pooler: str = "none"


@dataclass(frozen=True)
class Retention:
    """`retention`: which archived runs are kept (engine/retention.py). A run goes when it is
    beyond the newest `keep` of its flow or older than `days`; 0 means no such limit."""

    keep: int = 0
    days: float = 0
    # the workspaces of only the newest `workspaces` archived runs are kept; an older run
    # keeps its record, logs and artifacts (hub/artifacts.py)
    workspaces: int = 0

    @property
    def active(self) -> bool:
        return self.keep > 0 or self.days > 0 or self.workspaces > 0


@dataclass(frozen=True)
class Notify:
    """One `notify` webhook (engine/notify.py): POSTed the run's summary when a run ends
    with a result in `on` (good, bad)."""

    url: str
    on: tuple[str, ...] = ("good", "bad")
    timeout: float = 10.0
    retries: int = 2


@dataclass(frozen=True)
class Common:
    """The `common` section (floe-reference §1.2); store-type defaults to `local` (SQLite)."""

    hosts: tuple[str, ...] = ()
    base_url: str = ""
    workspace_root: str = "~/.floe"
    store_type: str = "local"
    store_root: str = ""  # empty: same as workspace_root
    # store-type postgres: postgresql://user@host:port/db, no password (FLOE_STORE_URL wins)
    store_url: str = ""
    git_key: str = ""
    users: tuple[User, ...] = ()
    # lines of one node's log kept in the run store; the rest go to a file (hub/logs.py)
    log_lines: int = DEFAULT_LOG_LINES
    # Local flow-files may name any path (else only below the app document's directory).
    absolute_flow_files: bool = False
    retention: Retention = field(default_factory=Retention)
    cluster: ClusterTiming = field(default_factory=ClusterTiming)
    secrets_file: str = ""  # KEY=value lines or YAML (engine/secrets.py)
    notify: tuple[Notify, ...] = ()

    @property
    def api_base(self) -> str:
        return self.base_url or "/build/api"

    @property
    def effective_store_root(self) -> str:
        return self.store_root or self.workspace_root

    def to_json(self) -> dict[str, Any]:
        return {"Hosts": list(self.hosts) or None, "BaseURL": self.base_url,
                "WorkspaceRoot": self.workspace_root, "StoreType": self.store_type,
                "StoreRoot": self.effective_store_root, "GitKey": self.git_key}


@dataclass(frozen=True)
class AppConfig:
    """A whole app document: the Floe config plus flogo-style metadata."""

    common: Common = field(default_factory=Common)
    flows: tuple[Flow, ...] = ()
    name: str = ""
    type: str = "floe:app"
    version: str = ""
    description: str = ""
    imports: tuple[str, ...] = ()
    source: str = ""  # the file it was loaded from, for messages
    # the warnings found while loading it: the engine prints them at start
    warnings: tuple[Problem, ...] = field(default=(), compare=False)

    def retention(self, flow_id: str) -> Retention:
        """The flow's own retention, else common's."""
        flow = self.latest_flow(flow_id)
        if flow is not None and flow.retention is not None:
            return flow.retention
        return self.common.retention

    def notify(self, flow_id: str) -> tuple[Notify, ...]:
        """The flow's own webhooks, else common's."""
        flow = self.latest_flow(flow_id)
        if flow is not None and flow.notify is not None:
            return flow.notify
        return self.common.notify

    def flow(self, ref: FlowRef) -> Flow | None:
        for f in self.flows:
            if f.id == ref.id and f.ver == ref.ver:
                return f
        return None

    def latest_flow(self, flow_id: str) -> Flow | None:
        """The highest `ver` of a flow id, ver 0 included (fixes floe-reference §9.10)."""
        found = [f for f in self.flows if f.id == flow_id]
        return max(found, key=lambda f: f.ver) if found else None

    def flows_by_trigger(
        self, trigger_type: str, ref: FlowRef, source_id: str = ""
    ) -> list[tuple[Flow, Node]]:
        """Flows (and the trigger) an un-adopted inbound event starts (floe-reference §1.11).

        A non-empty flow id narrows to that flow (any ver when ver is 0). Among a flow's
        triggers of the type, the one whose id is the event's source is preferred, else the
        first (the reference always took the first).
        """
        found = []
        for f in self.flows:
            if ref.id and (f.id != ref.id or (ref.ver and f.ver != ref.ver)):
                continue
            candidates = [t for t in f.triggers if t.type == trigger_type]
            if not candidates:
                continue
            chosen = next((t for t in candidates if t.id == source_id), candidates[0])
            found.append((f, chosen))
        return found

    def used_types(self) -> set[str]:
        return {n.type for f in self.flows for n in (*f.triggers, *f.tasks)
                if n.class_ in (CLASS_TRIGGER, CLASS_TASK)}

    def to_json(self) -> dict[str, Any]:
        return {"Common": self.common.to_json(), "Flows": [f.to_json() for f in self.flows]}


@dataclass(frozen=True)
class TypeCatalog:
    """The node types the installed contributions provide, with their opts JSON Schemas."""

    tasks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    triggers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def _sorted(value: Any) -> Any:
    # Go marshals map keys sorted; keep that so served JSON matches the reference byte for byte.
    if isinstance(value, dict):
        return {str(k): _sorted(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _opt_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value or ())


def node_from_json(d: Mapping[str, Any]) -> Node:
    """Read a node back from its Go-style JSON (run records, p2p pends)."""
    return Node(
        id=d.get("ID", ""), name=d.get("Name", ""), class_=d.get("Class", ""),
        type=d.get("Type", ""), listen=d.get("Listen", ""), wait=_opt_tuple(d.get("Wait")),
        good=tuple(int(g) for g in d.get("Good") or ()), ignore_fail=bool(d.get("IgnoreFail")),
        use_status=bool(d.get("UseStatus")), opts=dict(d.get("Opts") or {}),
    )


def flow_from_json(d: Mapping[str, Any]) -> Flow:
    """Read a flow back from its Go-style JSON (run records, p2p pends)."""
    return Flow(
        id=d.get("ID", ""), name=d.get("Name", ""), ver=int(d.get("Ver") or 0),
        flow_file=d.get("FlowFile", ""), reuse_space=bool(d.get("ReuseSpace")),
        host_tags=_opt_tuple(d.get("HostTags")), resource_tags=_opt_tuple(d.get("ResourceTags")),
        env=_opt_tuple(d.get("Env")),
        triggers=tuple(node_from_json(n) for n in d.get("Triggers") or ()),
        tasks=tuple(node_from_json(n) for n in d.get("Tasks") or ()),
        artifacts=_opt_tuple(d.get("Artifacts")),
    )
