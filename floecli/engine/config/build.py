"""Build the app model from loaded values, recording every problem (floe-reference §1.2 to §1.6)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..flow import (
    CLASS_MERGE,
    CLASS_TASK,
    CLASS_TRIGGER,
    DEFAULT_LOG_LINES,
    AppConfig,
    ClusterTiming,
    Common,
    Flow,
    Node,
    Notify,
    Retention,
    TypeCatalog,
    User,
)
from .expand import clean_path
from .ids import check_safe_id, zero_nid
from .optscheck import check_opts
from .reader import Reader
from .yamlpos import KeyPath

TOP_KEYS = ("common", "flows", "name", "type", "version", "description", "imports")
COMMON_KEYS = ("hosts", "base-url", "workspace-root", "store-type", "store-root", "store-url",
               "git-key", "users", "log-lines", "absolute-flow-files", "retention", "secrets-file",
               "notify", "cluster")
CLUSTER_KEYS = ("heartbeat", "lease", "poll")  # seconds
POOLERS = ("none", "transaction")
USER_KEYS = ("name", "role", "password-hash")
RETENTION_KEYS = ("keep", "days", "workspaces")
NOTIFY_KEYS = ("url", "on", "timeout", "retries")
NOTIFY_RESULTS = ("good", "bad")
# postgresql://user:password@host/db, or a password=... key of a libpq connection string
PASSWORD_IN_URL = re.compile(r"://[^/@:]*:[^@/]*@|(?:^|[\s?&])password=", re.IGNORECASE)
SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
FLOW_KEYS = ("id", "ver", "name", "flow-file", "reuse-space", "host-tags", "resource-tags", "env",
             "triggers", "tasks", "secrets", "retention", "notify", "artifacts")
NODE_KEYS = ("id", "name", "class", "type", "listen", "wait", "good", "ignore-fail",
             "use-status", "opts")
STORE_TYPES = ("memory", "local", "postgres")
ROLES = ("admin", "viewer")
MERGE_TYPES = ("all", "any")
TRIGGER_GOOD = "trigger.good"


@dataclass(frozen=True)
class _Placed:
    """A built node and where it was written, for checks that span the whole flow."""

    node: Node
    path: KeyPath
    id_path: KeyPath  # the key its id came from (`id`, else `name`)


@dataclass(frozen=True)
class _PlacedFlow:
    flow: Flow
    path: KeyPath
    id_path: KeyPath


def build_app(data: Any, reader: Reader, types: TypeCatalog | None = None,
              base_dir: Path | None = None) -> AppConfig:
    """The AppConfig of a loaded document; check `reader.problems` before trusting it."""
    root = reader.mapping(data, (), "an app document")
    if root is None:
        return AppConfig(source=reader.file)
    reader.known_keys(root, (), TOP_KEYS)
    common = build_common(root.get("common"), reader)
    flows: list[_PlacedFlow] = []
    for i, raw in enumerate(reader.items(root, (), "flows", "a list of flows")):
        path = ("flows", i)
        if raw is None:  # `flows: [null]` or a bare `-`: not an empty flow
            reader.error(path, "expected a flow (a mapping), not nothing")
            continue
        flow = build_flow(raw, path, i, reader, types)
        if flow is not None:
            flows.append(_PlacedFlow(flow, path, _id_path(raw, path)))
    _check_flow_refs(flows, reader)
    if base_dir is not None:
        _check_flow_files(flows, base_dir, reader, common.absolute_flow_files)
    return AppConfig(
        common=common, flows=tuple(p.flow for p in flows),
        name=reader.string(root, (), "name"), type=reader.string(root, (), "type", "floe:app"),
        version=reader.string(root, (), "version"),
        description=reader.string(root, (), "description"),
        imports=reader.strings(root, (), "imports"), source=reader.file,
    )


def build_common(raw: Any, reader: Reader) -> Common:
    path: KeyPath = ("common",)
    m = reader.mapping(raw, path, "the common section")
    if m is None:
        return Common()
    reader.known_keys(m, path, COMMON_KEYS)
    store_type = reader.string(m, path, "store-type") or "local"
    if store_type not in STORE_TYPES:
        reader.error((*path, "store-type"), f"{store_type} is not a supported store")
    store_url = reader.string(m, path, "store-url")
    if store_url and PASSWORD_IN_URL.search(store_url):
        # The app document is shared and versioned: a password belongs in FLOE_STORE_URL,
        # a ~/.pgpass file or PGPASSWORD, never here.
        reader.error((*path, "store-url"), "must not hold a password: give it in "
                     "FLOE_STORE_URL, ~/.pgpass or PGPASSWORD")
    workspace_root = reader.string(m, path, "workspace-root") or "~/.floe"
    store_root = reader.string(m, path, "store-root")
    for key, value in (("workspace-root", workspace_root), ("store-root", store_root)):
        # Checked here so the mistake is placed; `~` and `%tmp` are expanded at startup.
        if value and len(clean_path(value)) < 2:
            reader.error((*path, key), "path too short")
    log_lines = reader.integer(m, path, "log-lines", DEFAULT_LOG_LINES)
    if log_lines < 1:
        reader.error((*path, "log-lines"), "must be at least 1")
    return Common(
        log_lines=max(log_lines, 1),
        hosts=reader.strings(m, path, "hosts"), base_url=reader.string(m, path, "base-url"),
        workspace_root=workspace_root, store_type=store_type, store_root=store_root,
        store_url=store_url,
        git_key=reader.string(m, path, "git-key"), users=_users(m, path, reader),
        absolute_flow_files=reader.boolean(m, path, "absolute-flow-files"),
        retention=build_retention(m, path, reader) or Retention(),
        secrets_file=reader.string(m, path, "secrets-file"),
        notify=build_notify(m, path, reader) or (),
        cluster=build_cluster(m, path, reader),
    )


def build_cluster(m: Mapping[str, Any], path: KeyPath, reader: Reader) -> ClusterTiming:
    """`cluster: {heartbeat: S, lease: S, poll: S, pooler: none|transaction}` (store-type
    postgres)."""
    default = ClusterTiming()
    if m.get("cluster") is None:
        return default
    cpath = (*path, "cluster")
    c = reader.mapping(m.get("cluster"), cpath, "cluster")
    if not c:
        return default
    reader.known_keys(c, cpath, (*CLUSTER_KEYS, "pooler"))
    pooler = c.get("pooler", default.pooler)
    if pooler not in POOLERS:
        reader.error((*cpath, "pooler"), f"expected one of {', '.join(POOLERS)}")
        pooler = default.pooler
    got: dict[str, float] = {}
    for key in CLUSTER_KEYS:
        value = c.get(key, getattr(default, key))
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            reader.error((*cpath, key), "expected a number of seconds above 0")
            value = getattr(default, key)
        got[key] = float(value)
    if got["lease"] <= got["heartbeat"]:
        # A lease renewed less often than it lasts would be lost by a live host.
        reader.error((*cpath, "lease"), "must be longer than heartbeat")
        got["lease"] = got["heartbeat"] * 5
    return ClusterTiming(**got, pooler=pooler)


def build_retention(m: Mapping[str, Any], path: KeyPath, reader: Reader) -> Retention | None:
    """`retention: {keep: N, days: D, workspaces: W}` (None when absent)."""
    if m.get("retention") is None:
        return None
    rpath = (*path, "retention")
    r = reader.mapping(m.get("retention"), rpath, "retention")
    if not r:
        return Retention()
    reader.known_keys(r, rpath, RETENTION_KEYS)
    keep = reader.integer(r, rpath, "keep")
    days = r.get("days", 0)
    if isinstance(days, bool) or not isinstance(days, int | float):
        reader.error((*rpath, "days"), "expected a number of days")
        days = 0
    workspaces = reader.integer(r, rpath, "workspaces")
    for key, value in (("keep", keep), ("days", days), ("workspaces", workspaces)):
        if value < 0:
            reader.error((*rpath, key), "must be 0 (no limit) or more")
    return Retention(keep=max(keep, 0), days=max(float(days), 0.0),
                     workspaces=max(workspaces, 0))


def build_notify(m: Mapping[str, Any], path: KeyPath,
                 reader: Reader) -> tuple[Notify, ...] | None:
    """`notify: [{url, on: [good, bad], timeout, retries}]` (None when absent)."""
    if m.get("notify") is None:
        return None
    hooks = []
    for k, raw in enumerate(reader.items(m, path, "notify", "a list of webhooks")):
        npath = (*path, "notify", k)
        h = reader.mapping(raw, npath, "a webhook") if raw is not None else None
        if not h:
            reader.error(npath, "expected a webhook (a mapping with a url)")
            continue
        reader.known_keys(h, npath, NOTIFY_KEYS)
        url = reader.string(h, npath, "url")
        if not url.startswith(("http://", "https://")):
            reader.error((*npath, "url"), "a webhook needs an http:// or https:// url")
        on = reader.strings(h, npath, "on") or NOTIFY_RESULTS
        for i, result in enumerate(on):
            if result not in NOTIFY_RESULTS:
                reader.error((*npath, "on", i), f"'{result}' is not good or bad")
        timeout = h.get("timeout", 10)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            reader.error((*npath, "timeout"), "expected a number of seconds above 0")
            timeout = 10
        retries = reader.integer(h, npath, "retries", 2)
        if not 0 <= retries <= 10:
            reader.error((*npath, "retries"), "must be from 0 to 10")
        hooks.append(Notify(url=url, on=tuple(on), timeout=float(timeout),
                            retries=min(max(retries, 0), 10)))
    return tuple(hooks)


def _secret_names(m: Mapping[str, Any], path: KeyPath, reader: Reader) -> tuple[str, ...]:
    names = reader.strings(m, path, "secrets")
    for k, name in enumerate(names):
        if not SECRET_NAME.fullmatch(name):
            reader.error((*path, "secrets", k), f"'{name}' is not a secret name "
                                                "(letters, digits and _)")
    return names


def _users(m: Mapping[str, Any], path: KeyPath, reader: Reader) -> tuple[User, ...]:
    users: list[User] = []
    for k, raw in enumerate(reader.items(m, path, "users", "a list of users")):
        upath = (*path, "users", k)
        um = reader.mapping(raw, upath, "a user") if raw is not None else None
        if raw is None:
            reader.error(upath, "expected a user (a mapping), not nothing")
        if um is None:
            continue
        reader.known_keys(um, upath, USER_KEYS)
        name = reader.string(um, upath, "name")
        role = reader.string(um, upath, "role") or "admin"
        password_hash = reader.string(um, upath, "password-hash")
        if not name:
            reader.error(upath, "a user needs a name")
        elif any(u.name == name for u in users):
            reader.error((*upath, "name"), f"user {name} is listed twice")
        if role not in ROLES:
            reader.error((*upath, "role"), f"role must be admin or viewer, not '{role}'")
        if name and not password_hash:
            reader.warn(upath, f"user {name} has no password-hash, so they can not log in")
        users.append(User(name=name, role=role, password_hash=password_hash))
    return tuple(users)


def build_flow(raw: Any, path: KeyPath, index: int, reader: Reader,
               types: TypeCatalog | None = None) -> Flow | None:
    """A flow (§1.3) zeroed and checked; None only when it is not even a mapping."""
    m = reader.mapping(raw, path, "a flow")
    if m is None:
        return None
    reader.known_keys(m, path, FLOW_KEYS)
    name, flow_id = _zero(m, path, f"flow {index}", reader)
    triggers = _nodes(m, path, "triggers", index, reader, types)
    tasks = _nodes(m, path, "tasks", index, reader, types)
    _check_node_ids([*triggers, *tasks], index, reader)
    _check_tags(tasks, reader)
    flow_file = reader.string(m, path, "flow-file")
    if not flow_file and not tasks:
        reader.warn(path, "the flow has no tasks")
    env = reader.strings(m, path, "env")
    _check_env(env, (*path, "env"), reader)
    artifacts = reader.strings(m, path, "artifacts")
    for a in artifacts:
        if a.startswith("/") or ".." in a.split("/"):
            reader.error((*path, "artifacts"), f"artifact {a!r} must be a path inside the "
                                                "workspace")
    return Flow(
        id=flow_id, name=name, ver=reader.integer(m, path, "ver"), flow_file=flow_file,
        reuse_space=reader.boolean(m, path, "reuse-space"),
        host_tags=reader.strings(m, path, "host-tags"),
        resource_tags=reader.strings(m, path, "resource-tags"), env=env,
        triggers=tuple(p.node for p in triggers), tasks=tuple(p.node for p in tasks),
        secrets=_secret_names(m, path, reader), retention=build_retention(m, path, reader),
        notify=build_notify(m, path, reader), artifacts=artifacts,
    )


def _zero(m: Mapping[str, Any], path: KeyPath, context: str, reader: Reader) -> tuple[str, str]:
    name = reader.string(m, path, "name")
    given_id = reader.string(m, path, "id")
    try:
        name, node_id = zero_nid(name, given_id)
        check_safe_id(node_id)
    except ValueError as e:
        reader.error(_id_path(m, path), f"{context} - {e}")
        return name, given_id
    return name, node_id


def _id_path(m: Mapping[str, Any], path: KeyPath) -> KeyPath:
    for key in ("id", "name"):
        if key in m:
            return (*path, key)
    return path


def _nodes(m: Mapping[str, Any], path: KeyPath, key: str, flow_index: int, reader: Reader,
           types: TypeCatalog | None) -> list[_Placed]:
    # §1.6 names the list, not the class: a merge in tasks is still `task <j>`.
    label, default_class = ("trigger", CLASS_TRIGGER) if key == "triggers" else ("task", CLASS_TASK)
    placed = []
    for j, raw in enumerate(reader.items(m, path, key, f"a list of {key}")):
        npath = (*path, key, j)
        if raw is None:
            reader.error(npath, "expected a node (a mapping), not nothing")
            continue
        nm = reader.mapping(raw, npath, "a node")
        if nm is None:
            continue
        node = build_node(nm, npath, f"flow {flow_index} - {label} {j}", default_class, reader,
                          types)
        placed.append(_Placed(node, npath, _id_path(nm, npath)))
    return placed


def build_node(nm: Mapping[str, Any], path: KeyPath, context: str, default_class: str,
               reader: Reader, types: TypeCatalog | None) -> Node:
    """One trigger, task or merge (§1.4), with the checks that need only the node itself."""
    reader.known_keys(nm, path, NODE_KEYS)
    name, node_id = _zero(nm, path, context, reader)
    class_ = reader.string(nm, path, "class") or default_class
    type_ = reader.string(nm, path, "type")
    listen = reader.string(nm, path, "listen")
    wait = reader.strings(nm, path, "wait")
    ignore_fail = reader.boolean(nm, path, "ignore-fail")
    use_status = reader.boolean(nm, path, "use-status")
    opts = reader.mapping(nm.get("opts"), (*path, "opts"), "opts") or {}

    def at(key: str) -> KeyPath:
        return (*path, key) if key in nm else path

    if class_ == CLASS_MERGE:
        type_ = type_ or "all"
        if type_ not in MERGE_TYPES:
            reader.error(at("type"), f"merge type '{type_}' is not all or any")
        if listen:
            reader.error(at("listen"), f"{context} - merge nodes can not have listen set")
        if not wait:
            reader.error(at("wait"), "a merge node needs a wait list of tags")
    elif class_ == CLASS_TASK:
        if wait:
            reader.error(at("wait"), f"{context} - task nodes can not have waits")
        if not listen:
            # Nothing can ever fire it: a step that silently never runs (issue 22).
            reader.error(path, "the task has no listen tag, so it can never run")
    elif class_ != CLASS_TRIGGER:
        reader.warn(at("class"), f"unknown class '{class_}': only trigger, task and merge "
                                 "nodes ever run")
    if default_class == CLASS_TRIGGER and class_ in (CLASS_TASK, CLASS_MERGE):
        reader.warn(at("class"), f"a {class_} node in triggers never runs")
    elif default_class == CLASS_TASK and class_ == CLASS_TRIGGER:
        reader.warn(at("class"), "a trigger node in tasks never fires")
    if ignore_fail and use_status:
        reader.error(at("use-status"), "ignore-fail and use-status can not both be set")
    if types is not None and class_ in (CLASS_TASK, CLASS_TRIGGER):
        _check_type(class_, type_, opts, path, at("type"), reader, types)
    return Node(id=node_id, name=name, class_=class_, type=type_, listen=listen, wait=wait,
                good=reader.integers(nm, path, "good"), ignore_fail=ignore_fail,
                use_status=use_status, opts=opts)


# Opts the engine itself reads from any task (hub/tasks.py, hub/resume.py): checked here and
# left out of the contribution's own schema check.
ENGINE_TASK_OPTS: dict[str, Mapping[str, Any]] = {
    "timeout": {"type": "number", "exclusiveMinimum": 0, "format": "finite"},
    "restart": {"enum": ["interrupt", "rerun"]},
}


def _check_engine_opts(opts: Mapping[str, Any], path: KeyPath,
                       reader: Reader) -> Mapping[str, Any]:
    """Check the engine's own task opts; the rest, for the contribution's schema."""
    rest = {}
    for key, value in opts.items():
        schema = ENGINE_TASK_OPTS.get(str(key).lower())
        if schema is None:
            rest[key] = value
        else:
            check_opts({key: value}, {"type": "object", "properties": {str(key).lower(): schema}},
                       path, reader)
    return rest


def _check_type(class_: str, type_: str, opts: Mapping[str, Any], path: KeyPath,
                type_path: KeyPath, reader: Reader, types: TypeCatalog) -> None:
    known = types.tasks if class_ == CLASS_TASK else types.triggers
    if type_ in known:
        if class_ == CLASS_TASK:
            opts = _check_engine_opts(opts, (*path, "opts"), reader)
        check_opts(opts, known[type_], (*path, "opts"), reader)
        return
    names = ", ".join(sorted(known)) or "none"
    what = f"unknown {class_} type '{type_}'" if type_ else f"the {class_} has no type"
    if class_ == CLASS_TASK:
        reader.error(type_path, f"{what} (known: {names})")
    else:
        # Triggers of unknown types load in the reference (nothing fires them): a warning.
        reader.warn(type_path, f"{what} (known: {names}); nothing will fire it")


def _check_node_ids(placed: Sequence[_Placed], flow_index: int, reader: Reader) -> None:
    groups: dict[str, list[_Placed]] = {}
    for p in placed:
        if p.node.id:
            groups.setdefault(p.node.id, []).append(p)
    for node_id, group in groups.items():
        if len(group) > 1:
            reader.error(group[1].id_path, f"flow {flow_index} - {len(group)} nodes have id: "
                                           f"{node_id}")


def _check_tags(tasks: Sequence[_Placed], reader: Reader) -> None:
    nodes = {(p.node.class_, p.node.id): p.node for p in tasks}
    for p in tasks:
        # A merge's listen and a task's wait are errors already; their tags are not checked.
        if p.node.listen and p.node.class_ != CLASS_MERGE:
            _check_tag("listen", p.node.listen, (*p.path, "listen"), nodes, reader)
        if p.node.class_ == CLASS_TASK:
            continue
        for k, tag in enumerate(p.node.wait):
            _check_tag("wait", tag, (*p.path, "wait", k), nodes, reader)


def _check_tag(kind: str, tag: str, path: KeyPath, nodes: Mapping[tuple[str, str], Node],
               reader: Reader) -> None:
    if tag == TRIGGER_GOOD:
        return
    class_, _, rest = tag.partition(".")
    if class_ not in (CLASS_TASK, CLASS_MERGE):
        # Configs written for the reference listen to such tags (`sub.git-push.good`) and
        # load there, so this is a warning rather than an error.
        reader.warn(path, f"{kind} tag {tag} is never published: use trigger.good, "
                          "task.<id>.<result> or merge.<id>.good")
        return
    node_id, dot, suffix = rest.partition(".")
    source = nodes.get((class_, node_id)) if dot else None
    if source is None:
        # The reference accepts it (its own repository's flow-file has one): the node simply
        # never fires (DECISIONS §2).
        reader.warn(path, f"{kind} tag {tag} names no node, so it is never published")
    elif class_ == CLASS_MERGE and suffix != "good":
        reader.warn(path, f"{kind} tag {tag} is never published: a merge only ends good")
    elif class_ == CLASS_TASK and not _task_publishes(source, suffix):
        reader.warn(path, f"{kind} tag {tag} is never published by task {node_id}")


def _task_publishes(task: Node, suffix: str) -> bool:
    # §2.4: ignore-fail always gives good; use-status gives the number instead of good/bad.
    if suffix == "error":
        return True
    if task.ignore_fail:
        return suffix == "good"
    if task.use_status:
        return suffix.isdigit()
    return suffix in ("good", "bad")


def _check_env(entries: Sequence[str], path: KeyPath, reader: Reader) -> None:
    for k, entry in enumerate(entries):
        key, sep, _ = entry.partition("=")
        if not sep or not key:
            reader.warn((*path, k), f"env entry '{entry}' is not KEY=value")


def _check_flow_refs(flows: Sequence[_PlacedFlow], reader: Reader) -> None:
    seen: dict[tuple[str, int], KeyPath] = {}
    for p in flows:
        key = (p.flow.id, p.flow.ver)
        if not p.flow.id:
            continue
        if key in seen:
            reader.error(p.id_path, f"flow {p.path[-1]} - flow {p.flow.id} ver {p.flow.ver} is "
                                    f"already defined by flow {seen[key][-1]}")
        else:
            seen[key] = p.path


def _check_flow_files(flows: Sequence[_PlacedFlow], base_dir: Path, reader: Reader,
                      absolute_ok: bool) -> None:
    from ..errors import ConfigError
    from .flowfile import LOCAL, flow_file_kind, local_path  # here: flowfile imports us

    for p in flows:
        ref = p.flow.flow_file
        if not ref or flow_file_kind(ref) != LOCAL:
            continue
        try:
            found = local_path(ref, base_dir, absolute_ok).exists()
        except ConfigError as e:
            reader.error((*p.path, "flow-file"), e.problems[0].message)
            continue
        except (OSError, ValueError) as e:  # a name too long, a NUL
            reader.error((*p.path, "flow-file"), f"flow-file {ref!r} is not a usable path: {e}")
            continue
        if not found:
            reader.warn((*p.path, "flow-file"), f"flow-file {ref} not found")
