"""App documents for tests: small builders that write the YAML text, and the flows many test
files share, so a test names only what it is about.

    app(one_task("f", shell="echo hi"), store_type="local")

    common: {store-type: local}
    flows:
      - id: f
        ver: 1
        triggers:
          - {id: start, type: data}
        tasks:
          - {id: work, listen: trigger.good, type: exec, opts: {shell: echo hi}}

A builder gives the nodes plain dicts; `app` alone writes text. Keyword fields are the
document's own keys with `_` for `-` (`reuse_space=True` is `reuse-space: true`). Nodes are
given by `id`, so a node's name is derived from it (floe-reference §1.5); a test about names
passes `name=` as well.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import yaml

Node = dict[str, Any]
Flow = dict[str, Any]

TRIGGER_GOOD = "trigger.good"


def _keys(fields: dict[str, Any]) -> dict[str, Any]:
    """Keyword fields as document keys: `host_tags` is `host-tags`; None is left out."""
    return {k.replace("_", "-"): v for k, v in fields.items() if v is not None}


def _node(id: str, type: str, *, listen: str | None = TRIGGER_GOOD,
          opts: dict[str, Any] | None = None, **fields: Any) -> Node:
    n: Node = {"id": id, "listen": listen, "type": type}
    n.update(_keys(fields))
    n["opts"] = _keys(opts or {}) or None
    return {k: v for k, v in n.items() if v is not None}


def task(id: str, cmd: str | None = None, *, shell: str | None = None,
         listen: str = TRIGGER_GOOD, type: str = "exec", opts: dict[str, Any] | None = None,
         **fields: Any) -> Node:
    """A task node: by default an exec task running `cmd` (argv split by floe) or `shell`
    (run by bash); other opts (timeout, env, sub_dir, restart; a timer's period) in `opts`,
    node fields (good, use_status, ignore_fail) as keywords. `type` names another
    contribution: `task("pause", type="timer", opts={"period": 0.3})`."""
    return _node(id, type, listen=listen, opts={"cmd": cmd, "shell": shell, **(opts or {})},
                 **fields)


def end(id: str = "done", *, listen: str) -> Node:
    return _node(id, "end", listen=listen)


def merge(id: str, *wait: str, type: str = "all") -> Node:
    """A merge node firing on `type` (all, any) of the `wait` tags."""
    return {"id": id, "class": "merge", "type": type, "wait": list(wait)}


def form(title: str, *fields: dict[str, Any]) -> dict[str, Any]:
    """A data form's opts: `form("Sign off", {"id": "ok", "prompt": "OK?"})`."""
    return {"form": {"title": title, "fields": list(fields)}}


def ask(id: str, title: str, *fields: dict[str, Any], listen: str = TRIGGER_GOOD) -> Node:
    """A data task: the run waits until someone submits its form."""
    return _node(id, "data", listen=listen, opts=form(title, *fields))


def data_trigger(id: str = "start", *, title: str | None = None,
                 fields: Iterable[dict[str, Any]] = (), **opts: Any) -> Node:
    """A data trigger, with a start form when `title` is given."""
    t: Node = {"id": id, "type": "data"}
    all_opts = {**(form(title, *fields) if title else {}), **_keys(opts)}
    if all_opts:
        t["opts"] = all_opts
    return t


def trigger_node(id: str, type: str, **opts: Any) -> Node:
    """Any trigger: `trigger_node("tick", "timer", period=0.2)`."""
    t: Node = {"id": id, "type": type}
    if opts:
        t["opts"] = _keys(opts)
    return t


def flow(id: str, *tasks: Node, triggers: Iterable[Node] | None = None, ver: int | None = 1,
         **fields: Any) -> Flow:
    """A flow started by a data trigger `start` unless `triggers` says otherwise; flow fields
    (name, env, resource_tags, host_tags, reuse_space, artifacts, ...) as keywords."""
    f: Flow = {"id": id}
    if ver is not None:
        f["ver"] = ver
    f.update(_keys(fields))
    f["triggers"] = list(triggers) if triggers is not None else [data_trigger()]
    f["tasks"] = list(tasks)
    return f


def one_task(flow_id: str, cmd: str | None = None, *, shell: str | None = None,
             task_id: str = "work", opts: dict[str, Any] | None = None,
             **flow_fields: Any) -> Flow:
    """A flow of one exec task started by the data trigger `start`."""
    return flow(flow_id, task(task_id, cmd, shell=shell, opts=opts), **flow_fields)


def chain(flow_id: str, n: int, cmd: str | None = "true", *,
          shell: Callable[[int], str] | None = None, **flow_fields: Any) -> Flow:
    """A flow of `n` exec tasks t0 -> t1 -> ... each starting on the one before's good;
    each runs `cmd`, or `shell(i)` for task ti."""
    return flow(flow_id, *(
        task(f"t{i}", None if shell else cmd, shell=shell(i) if shell else None,
             listen=TRIGGER_GOOD if i == 0 else f"task.t{i - 1}.good")
        for i in range(n)), **flow_fields)


def signoff_release(flow_id: str = "release", *, trigger_id: str = "go",
                    **flow_fields: Any) -> Flow:
    """prepare -> a `sign-off` form asking who approved -> ship."""
    return flow(
        flow_id,
        task("prepare", shell="echo prepared"),
        ask("sign-off", "Sign off", {"id": "approver", "prompt": "Approved by", "type": "text"},
            listen="task.prepare.good"),
        task("ship", shell="echo shipping", listen="task.sign-off.good"),
        triggers=[data_trigger(trigger_id)], **flow_fields)


def rerun_flows() -> tuple[Flow, Flow]:
    """`ci` (build writes made.txt, test reads it; keep: 1, holds the `box` tag) and `holder`
    (holds `box` while its form waits): a re-run of ci from `test` waits while holder runs,
    and needs its original's workspace when it starts."""
    ci = flow("ci", task("build", shell="echo made > made.txt"),
              task("test", shell="cat made.txt", listen="task.build.good"),
              resource_tags=["box"], retention={"keep": 1})
    holder = flow("holder", ask("form", "T", {"id": "x", "type": "string"}),
                  resource_tags=["box"])
    return ci, holder


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:  # a node shared by two flows is written twice
        return True


def _inline(key: str, value: Any) -> str:
    """`key: value` on one line, in YAML's flow style."""
    text = yaml.dump({key: value}, Dumper=_Dumper, sort_keys=False, default_flow_style=True,
                     width=10_000, allow_unicode=True)
    return text.strip()[1:-1]


def app(*flows: Flow, common: dict[str, Any] | None = None, **common_fields: Any) -> str:
    """The app document's YAML text, a line a node; `common` (and keywords, e.g.
    store_type="local") its common section, left out when empty (the harness then picks
    the store)."""
    lines = []
    if common or common_fields:
        lines.append(_inline("common", {**(common or {}), **_keys(common_fields)}))
    lines.append("flows:" if flows else "flows: []")
    for f in flows:
        for i, (key, value) in enumerate(f.items()):
            lead = "  - " if i == 0 else "    "
            if key in ("triggers", "tasks") and value:
                lines.append(f"{lead}{key}:")
                lines.extend("      - " + _inline("x", n)[3:] for n in value)
            else:
                lines.append(lead + _inline(key, value))
    return "\n".join(lines) + "\n"


# Flows several test files share.

#: one task that does nothing, `f`/`a`: what a server test needs when the flow is not the point
NOTHING = one_task("f", "true", task_id="a")
#: two flows of one task each, `a` and `b`, never waiting on each other
TWO_FLOWS = (one_task("a", "true"), one_task("b", "true"))
#: `slow`: its one task `wait` says "started" and sleeps a minute, for stops and restarts
SLOW = one_task("slow", shell="echo started; sleep 60", task_id="wait")
#: `release`: prepare, a sign-off form, ship
RELEASE = signoff_release()
