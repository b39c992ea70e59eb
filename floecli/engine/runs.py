"""Run records: the persisted shape of a run that started on a host, with Go-style JSON
(floe-reference §3.7), and what pends and runs share (times, states, inputs). A run waiting
for a host is a pend (pend.py)."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .errors import RunLimit
from .events import Event, NodeRef, RunRef
from .flow import Flow, Node, flow_from_json

if TYPE_CHECKING:
    from .pend import Pend

ZERO_TIME = "0001-01-01T00:00:00Z"

STATUS_PENDING = "pending"
STATUS_RUNNING = "running"
STATUS_GOOD = "good"
STATUS_BAD = "bad"

REASON_STOPPED = "stopped"
REASON_INTERRUPTED = "interrupted"
REASON_TIMED_OUT = "timed out"
REASON_HOST_LOST = "host lost"

# What a run came to, in one word each, shown with its own look (outcome.py words the why).
STATE_GOOD = "good"
STATE_BAD = "bad"
STATE_STOPPED = "stopped"
STATE_INTERRUPTED = "interrupted"
STATE_HOST_LOST = "host lost"


def now() -> datetime:
    return datetime.now(UTC)


@functools.lru_cache(maxsize=4096)
def fmt_time(t: datetime | None) -> str:
    # Cached: a run is saved at every step with every node's times, and the same few
    # timestamps were formatted again at each save.
    return t.isoformat().replace("+00:00", "Z") if t else ZERO_TIME


def parse_time(s: str | None) -> datetime | None:
    if not s or s.startswith("0001-01-01"):
        return None
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def submission(flow: Flow, node: Node | None, user: str, values: dict[str, Any]) -> dict[str, Any]:
    """The audit entry of one data-form submission: who, when, what, and which form.

    `FormVersion` is the flow's ver and a hash of the form as configured, so an audit still
    says which questions were answered after the app document changed."""
    form = (node.opts.get("form") if node is not None else None) or {}
    digest = hashlib.sha256(json.dumps(form, sort_keys=True, default=str).encode()).hexdigest()
    return {"User": user, "Time": fmt_time(now()), "Node": node.id if node else "",
            "Values": dict(values), "FormVersion": f"{flow.ver}-{digest[:12]}"}


# What one run keeps of its form submissions: a form is a few short values, so past these
# a client is filling memory, not a form (RunLimit, 413).
MAX_SUBMISSIONS = 100
MAX_SUBMITTED_BYTES = 4 << 20


def check_submission_room(record: RunRecord, values: Mapping[str, Any]) -> None:
    """RunLimit when `values` would take the run past its submissions' count or size."""
    kept = [s for d in record.data_nodes.values() for s in d.submissions]
    if len(kept) >= MAX_SUBMISSIONS:
        raise RunLimit(f"run {record.run_id} already holds {len(kept)} form submissions, "
                       f"the most a run keeps")
    size = sum(_json_size(s.get("Values")) for s in kept) + _json_size(values)
    if size > MAX_SUBMITTED_BYTES:
        raise RunLimit(f"run {record.run_id}'s form submissions would hold {size} bytes: "
                       f"at most {MAX_SUBMITTED_BYTES} are kept")


def _json_size(values: Any) -> int:
    return len(json.dumps(values, default=str))


_STORED_TEXT = "_stored_text"  # ExecNode's cache of its stored JSON, beside its fields


@dataclass
class ExecNode:
    """A task node of a run. Started but not stopped means it is running (or was, when the
    engine died: see hub/resume.py)."""

    started: datetime | None = None
    stopped: datetime | None = None
    good: bool = False
    status: int | None = None
    logs: list[str] = field(default_factory=list)
    input: dict[str, Any] = field(default_factory=dict)  # opts of the event that started it
    reason: str = ""  # why it ended other than by its own exit: interrupted, timed out, error
    log_file: str = ""  # where lines past the node's log cap went (hub/logs.py)
    spilled: int = 0  # how many lines went there
    opts: dict[str, Any] = field(default_factory=dict)  # what the task output (its result's)
    carried: str = ""  # a re-run's copy of this node's result: the run whose logs it has

    def __setattr__(self, name: str, value: Any) -> None:
        # Any change forgets the stored text (`stored_text`). Its dicts are replaced when
        # they change, never changed in place, so an assignment is every change there is.
        fields = self.__dict__  # plain attributes: this is what object.__setattr__ does
        fields[name] = value
        if _STORED_TEXT in fields:
            del fields[_STORED_TEXT]

    def stored_text(self, encode: Callable[[dict[str, Any]], str]) -> str:
        """encode(to_json(logs=False)), kept until the node changes: a run is saved at every
        step with all its nodes, and most of them are done (a 40-step chain's record took
        0.15 ms to encode whole, and all but one node were the same text as the step
        before)."""
        text = self.__dict__.get(_STORED_TEXT)
        if text is None:
            text = encode(self.to_json(logs=False))
            self.__dict__[_STORED_TEXT] = text
        return text

    def to_json(self, *, logs: bool = True) -> dict[str, Any]:
        return {"Started": fmt_time(self.started), "Stopped": fmt_time(self.stopped),
                "Good": self.good, "Status": self.status, "Opts": self.opts or None,
                "Logs": list(self.logs) if logs else [], "Input": self.input,
                "Reason": self.reason, "LogFile": self.log_file, "LogFileLines": self.spilled,
                **({"CarriedFrom": self.carried} if self.carried else {})}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ExecNode:
        return cls(parse_time(d.get("Started")), parse_time(d.get("Stopped")),
                   bool(d.get("Good")), d.get("Status"), list(d.get("Logs") or []),
                   dict(d.get("Input") or {}), str(d.get("Reason") or ""),
                   str(d.get("LogFile") or ""), int(d.get("LogFileLines") or 0),
                   dict(d.get("Opts") or {}), str(d.get("CarriedFrom") or ""))

    @property
    def running(self) -> bool:
        return self.started is not None and self.stopped is None


@dataclass
class MergeNode:
    waits: dict[str, bool] = field(default_factory=dict)
    started: datetime | None = None
    stopped: datetime | None = None
    opts: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"Waits": self.waits, "Started": fmt_time(self.started),
                "Stopped": fmt_time(self.stopped), "Opts": self.opts}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> MergeNode:
        return cls(dict(d.get("Waits") or {}), parse_time(d.get("Started")),
                   parse_time(d.get("Stopped")), dict(d.get("Opts") or {}))


@dataclass
class DataNode:
    enabled: bool = False
    started: datetime | None = None
    stopped: datetime | None = None
    opts: dict[str, Any] = field(default_factory=dict)
    submissions: list[dict[str, Any]] = field(default_factory=list)  # audit: who, when, what

    def to_json(self) -> dict[str, Any]:
        return {"Enabled": self.enabled, "Started": fmt_time(self.started),
                "Stopped": fmt_time(self.stopped), "Opts": self.opts,
                "Submissions": self.submissions}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DataNode:
        return cls(bool(d.get("Enabled")), parse_time(d.get("Started")),
                   parse_time(d.get("Stopped")), dict(d.get("Opts") or {}),
                   list(d.get("Submissions") or []))


@dataclass
class RunRecord:
    """A run that has started on a host (floe-reference §3.7) plus why it ended."""

    ref: RunRef
    flow: Flow
    start_time: datetime | None = None
    end_time: datetime | None = None
    ended: bool = False
    good: bool = False
    reason: str = ""
    trigger: NodeRef = field(default_factory=NodeRef)
    trigger_opts: dict[str, Any] = field(default_factory=dict)
    trigger_submission: dict[str, Any] = field(default_factory=dict)  # audit of the start form
    exec_nodes: dict[str, ExecNode] = field(default_factory=dict)
    merge_nodes: dict[str, MergeNode] = field(default_factory=dict)
    data_nodes: dict[str, DataNode] = field(default_factory=dict)
    # every value pushed into the run (its trigger's, then each form's, a later value
    # replacing an earlier one of its name): what each task starts with as FLOE_IN_<NAME>
    inputs: dict[str, Any] = field(default_factory=dict)
    # events published for this run and not yet routed: saved with the change that made them,
    # so a restart routes what the last engine could not (hub/resume.py)
    queued: list[Event] = field(default_factory=list)
    rerun: dict[str, Any] = field(default_factory=dict)  # Of, From, User: what it re-runs
    stopped_by: str = ""  # the user who stopped it
    state: str = ""  # once ended: good, bad, stopped, interrupted, host lost (outcome.py)
    why: str = ""  # once ended: the reason in words a person reads (outcome.py)

    @classmethod
    def from_pend(cls, pend: Pend, ref: RunRef | None = None, **more: Any) -> RunRecord:
        """The record of a pend's run: its trigger, opts and start-form audit carried over."""
        link = {k: v for k, v in pend.rerun.items() if k in ("Of", "From", "User")}
        return cls(ref=ref or pend.ref, flow=pend.flow, trigger=pend.triggered_node,
                   trigger_opts=dict(pend.opts), trigger_submission=dict(pend.submission),
                   inputs=input_values(pend.inputs), rerun=link, **more)

    def exec_node(self, node_id: str) -> ExecNode:
        """The record of task node `node_id`, made (not started) if it has none yet; an
        existing one is not built again only to be thrown away, as setdefault would."""
        node = self.exec_nodes.get(node_id)
        if node is None:
            node = self.exec_nodes[node_id] = ExecNode()
        return node

    def add_inputs(self, values: Mapping[str, Any]) -> None:
        """Values pushed into the run join its inputs, replacing earlier ones of their name."""
        self.inputs.update(input_values(values))

    @property
    def run_id(self) -> str:
        return self.ref.run_id

    @property
    def status(self) -> str:
        if self.ended:
            return STATUS_GOOD if self.good else STATUS_BAD
        return STATUS_RUNNING if self.start_time else STATUS_PENDING

    def summary(self) -> dict[str, Any]:
        return {"Ref": self.ref.to_json(), "ExecHost": self.ref.exec_host,
                "Status": self.status, "StartTime": fmt_time(self.start_time),
                "EndTime": fmt_time(self.end_time), "Ended": self.ended, "Good": self.good,
                "Reason": self.reason, **self.context()}

    def context(self) -> dict[str, Any]:
        """What a person reads about the run beyond the reference's fields: its state and
        reason in words, who stopped it, its inputs, what it re-runs."""
        return {"State": self.state or self.status, "Why": self.why or self.reason,
                "StoppedBy": self.stopped_by, "Inputs": self.inputs or None,
                "Rerun": self.rerun or None, "Waiting": self.waiting() or None}

    def waiting(self) -> list[dict[str, str]]:
        """The forms the run waits for: node id and the form's title."""
        out = []
        for node_id, d in self.data_nodes.items():
            if not d.enabled or self.ended:
                continue
            node = self.flow.node(node_id)
            form = node.opts.get("form") if node is not None else None
            title = form.get("title") if isinstance(form, dict) else ""
            out.append({"Node": node_id,
                        "Title": str(title or (node.name if node is not None else node_id))})
        return out

    def to_json(self, *, logs: bool = True, flow: bool = True,
                exec_nodes: bool = True) -> dict[str, Any]:
        """Go-style JSON; `logs=False` leaves node logs out (stores keep them apart),
        `flow=False` the flow and `exec_nodes=False` the task nodes (stores splice in the
        text of each, made once: store/codec.py)."""
        return {
            "Ref": self.ref.to_json(), **({"Flow": self.flow.to_json()} if flow else {}),
            "ExecHost": self.ref.exec_host, "StartTime": fmt_time(self.start_time),
            "EndTime": fmt_time(self.end_time), "Ended": self.ended, "Good": self.good,
            "Reason": self.reason, "Trigger": self.trigger.to_json(),
            "TriggerOpts": self.trigger_opts,
            "TriggerSubmission": self.trigger_submission or None,
            **({"ExecNodes": {k: v.to_json(logs=logs) for k, v in self.exec_nodes.items()}}
               if exec_nodes else {}),
            "MergeNodes": {k: v.to_json() for k, v in self.merge_nodes.items()},
            "DataNodes": {k: v.to_json() for k, v in self.data_nodes.items()},
            "Queued": [e.to_json() for e in self.queued],
            "Inputs": self.inputs or None, "Rerun": self.rerun or None,
            "StoppedBy": self.stopped_by, "State": self.state, "Why": self.why,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunRecord:
        return cls(
            ref=RunRef.from_json(d.get("Ref")), flow=flow_from_json(d.get("Flow") or {}),
            start_time=parse_time(d.get("StartTime")), end_time=parse_time(d.get("EndTime")),
            ended=bool(d.get("Ended")), good=bool(d.get("Good")), reason=d.get("Reason", ""),
            trigger=NodeRef.from_json(d.get("Trigger")),
            trigger_opts=dict(d.get("TriggerOpts") or {}),
            trigger_submission=dict(d.get("TriggerSubmission") or {}),
            exec_nodes={k: ExecNode.from_json(v) for k, v in (d.get("ExecNodes") or {}).items()},
            merge_nodes={k: MergeNode.from_json(v)
                         for k, v in (d.get("MergeNodes") or {}).items()},
            data_nodes={k: DataNode.from_json(v) for k, v in (d.get("DataNodes") or {}).items()},
            queued=[Event.from_json(e) for e in d.get("Queued") or []],
            inputs=dict(d.get("Inputs") or {}), rerun=dict(d.get("Rerun") or {}),
            stopped_by=str(d.get("StoppedBy") or ""), state=str(d.get("State") or ""),
            why=str(d.get("Why") or ""),
        )


def run_inputs(flow: Flow, trigger_id: str, opts: dict[str, Any],
               submission: dict[str, Any]) -> dict[str, Any]:
    """The values pushed into a run when it started (a form's, a polled git ref), without
    the trigger's own configured opts."""
    if submission:
        return dict(submission.get("Values") or {})
    trigger = flow.node(trigger_id)
    own = trigger.opts if trigger is not None else {}
    return {k: v for k, v in opts.items() if k not in own or own[k] != v}


def input_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values that can be a run's inputs: scalars (a form's fields, a git ref), never a
    nested structure such as a trigger's `form` or `env`."""
    return {str(k): v for k, v in values.items()
            if isinstance(v, str | int | float | bool) and "\0" not in str(v)}
