"""What a task runs with: its node's opts, and what event data may add to them (DECISIONS §2).

Values a user pushes (a data trigger's form, a data node's form) and the opts a trigger fires
with reach a task as data only: as `ctx.input`, as `FLOE_IN_<NAME>` environment variables, and
as those opts the contribution's descriptor lists in `inputs` (git-checkout's `branch`,
`hash`). They never set the keys that choose what runs or where (`cmd`, `shell`, `args`,
`env`, `sub-dir`): the reference's overlay of event opts onto task opts let a form run code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..config.expand import INPUT_PREFIX
from ..flow import Flow, Node
from ..nodes.api import get_opt
from ..runs import input_values

_NOT_NAME = re.compile(r"[^A-Z0-9_]")


def task_opts(flow: Flow, node: Node, event_opts: Mapping[str, Any],
              inputs: Iterable[str] = (), git_key: str = "") -> dict[str, Any]:
    """The node's opts, `key-file` from common git-key (the node's own wins), and the event's
    values for the declared `inputs` that the node does not set itself. `env` is the flow env
    then the node's (never the event's)."""
    opts: dict[str, Any] = {}
    if git_key:
        opts["key-file"] = git_key
    opts.update(node.opts)
    for name in inputs:
        value = get_opt(event_opts, name)
        if value is not None and get_opt(node.opts, name) is None:
            opts[name] = value
    env = [str(v) for v in flow.env]
    own = get_opt(node.opts, "env")
    if isinstance(own, list):
        env += [str(v) for v in own]
    opts["env"] = env
    return opts


def input_env(values: Mapping[str, Any]) -> dict[str, str]:
    """`FLOE_IN_<NAME>`: value for each scalar among `values`, names upper-cased with
    anything but letters, digits and `_` made `_`. Never expanded: a value is only data."""
    out: dict[str, str] = {}
    for key, value in input_values(values).items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        out[INPUT_PREFIX + _NOT_NAME.sub("_", key.upper())] = str(value)
    return out


def trigger_opts(trigger: Node, fired: Mapping[str, Any]) -> dict[str, Any]:
    """The opts a run starts with: the trigger's own, overlaid by what it fired with (the
    values of a form, a git ref). `env` is the trigger's own only: a pushed value never sets
    env (DECISIONS §2); the trigger's env joins the run's flow env (Hub.run_flow)."""
    merged = {**trigger.opts, **fired}
    merged.pop("env", None)
    if "env" in trigger.opts:
        merged["env"] = trigger.opts["env"]
    return merged
