"""The contribution interface: what a task or trigger implements and the context it is given."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

# A task whose class sets `awaits_input` returns NEEDS_INPUT while its form lacks values;
# the run then pauses for `push/data` (floe-reference §2.7).
NEEDS_INPUT = 2


class TaskContext(Protocol):
    """What the engine hands a task for one execution."""

    node_id: str
    opts: Mapping[str, Any]  # the firing event's opts overlaid by the node's own opts
    input: Mapping[str, Any]  # the firing event's opts alone
    workspace: Path  # the run's workspace
    env: Mapping[str, str]  # flow env then task env, expanded, FLOEWS set
    cache_dir: Path  # the host's download cache shared by all runs (<store-root>/fetch-cache)

    def log(self, line: str) -> None:
        """One output line: a `sys.node.update` event and a line of the run log."""

    def output(self, **opts: Any) -> None:
        """Opts carried by the task's result event."""

    def expand(self, value: str) -> str:
        """`{{ws}}`, a leading `./` and `$VAR` expanded (floe-reference §1.9.2). `$VAR` comes
        from the app's own environment only (flow and task `env`, the engine's), never from
        pushed values: `$FLOE_IN_...` stays as written, `$$` is a literal `$`."""

    def expand_ws(self, value: str) -> str:
        """`{{ws}}` and `$VAR` expanded as by expand(), `./` left alone (for commands)."""

    def expand_script(self, value: str) -> str:
        """A shell script as bash gets it: `{{ws}}` and a leading `./` only; `$`, quotes and
        escapes are bash's, over the task's whole environment (DECISIONS §2)."""

    async def exec(self, argv: Sequence[str], *, cwd: Path | None = None,
                   env: Mapping[str, str] | None = None) -> int:
        """Run a process in its own process group with `env` (plus the given `env`, which
        wins), stream its output lines to `log()`, and return its exit status (1 if it cannot
        start, -1 if killed). A stop or timeout kills the whole group."""


@runtime_checkable
class Task(Protocol):
    """A task node type. One instance is made per execution."""

    ends_run: ClassVar[bool]  # `end`: matched, it ends the run instead of running
    awaits_input: ClassVar[bool]  # `data`: may return NEEDS_INPUT

    async def run(self, ctx: TaskContext) -> int:
        """Do the work; the return value is the exit status mapped to the result tag."""


class TriggerContext(Protocol):
    """What the engine hands a trigger for as long as the engine runs."""

    flow_id: str
    node_id: str
    opts: Mapping[str, Any]
    git_key: str

    def fire(self, opts: Mapping[str, Any]) -> None:
        """Start a run of this trigger's flow with these opts."""

    async def load(self, key: str) -> Any | None:
        """A small document this trigger stored (for example the git refs it saw)."""

    def save(self, key: str, value: Any) -> None: ...

    def report(self, error: str = "") -> None:
        """What the API shows of this trigger: the last error and when, or ("") that an
        attempt worked. A trigger that polls calls it after every poll."""


@runtime_checkable
class Trigger(Protocol):
    async def watch(self, ctx: TriggerContext) -> None:
        """Run until cancelled, calling ctx.fire() to start runs. Passive triggers (`data`,
        fired by the API) return at once."""


class BaseTask:
    """Convenient base with the class flags off."""

    ends_run: ClassVar[bool] = False
    awaits_input: ClassVar[bool] = False
    # True only for a task whose sole effects outside the engine are the processes it starts
    # with ctx.exec: its run() may begin before its start is committed, and each process
    # waits for that commit instead (write ahead, without a hop through the loop).
    durable_at_spawn: ClassVar[bool] = False

    async def run(self, ctx: TaskContext) -> int:
        raise NotImplementedError


def get_opt(opts: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """Opts keys match case-insensitively, as in the reference."""
    if name in opts:
        return opts[name]
    lname = name.lower()
    for k, v in opts.items():
        if str(k).lower() == lname:
            return v
    return default


def first_opt(ctx: TaskContext, *names: str) -> str:
    """The first of `names` set to a string or number in the task's opts, else in the firing
    event's (a poll-git trigger's branch and hash, say); "" when none is."""
    for source in (ctx.opts, ctx.input):
        for name in names:
            value = get_opt(source, name, None)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                return str(value)
    return ""
