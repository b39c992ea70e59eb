"""The layout, kept true: the module each concept of the specs lives in, and the layering
rules of DESIGN.md that import statements can show.

ROOMS is the map a newcomer reads (docs/architecture.md prints the same table). Moving or
renaming a module, or a concept's class or function, without updating both fails here."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "floecli"
ARCHITECTURE = REPO / "docs" / "architecture.md"

# (concept as the specs name it, where the specs describe it, module, a name the module
# defines). "floe" is spec/floe-reference.md, "toolchain" spec/toolchain-reference.md,
# "DECISIONS" spec/DECISIONS.md.
ROOMS: list[tuple[str, str, str, str]] = [
    # -- the app document, as the engine loads it
    ("flow", "floe §1.3", "floecli.engine.flow", "Flow"),
    ("node (trigger, task, merge)", "floe §1.4", "floecli.engine.flow", "Node"),
    ("loading the app config, every problem with its line", "floe §1.1, DECISIONS §2",
     "floecli.engine.config.loader", "load_app"),
    ("id / name derivation", "floe §1.5", "floecli.engine.config.ids", "zero_nid"),
    ("host paths and {{ws}} expansion", "floe §1.9", "floecli.engine.config.expand",
     "expand_ws"),
    ("flow-file", "floe §1.8", "floecli.engine.config.flowfile", "load_flow_file"),
    ("app document JSON Schema", "DECISIONS §4", "floecli.engine.config.schema",
     "app_schema"),
    # -- events
    ("event", "floe §2.1", "floecli.engine.events", "Event"),
    ("tag catalogue, exit status to tag", "floe §2.3, §2.4", "floecli.engine.events",
     "status_tag"),
    ("event queue (fan-out)", "floe §2.2", "floecli.engine.events", "EventQueue"),
    # -- runs and the hub
    ("pend", "floe §3.2", "floecli.engine.pend", "Pend"),
    ("run record", "floe §3.7", "floecli.engine.runs", "RunRecord"),
    ("run life cycle owner (pending, active, archive)", "floe §3.3, DESIGN",
     "floecli.engine.hub.state", "RunState"),
    ("hub", "floe §3", "floecli.engine.hub.hub", "Hub"),
    ("dispatch", "floe §3.4, §3.5, DECISIONS §2", "floecli.engine.hub.dispatch",
     "Dispatcher"),
    ("claiming work from a store the hosts share (postgres)", "DECISIONS §4",
     "floecli.engine.hub.claiming", "Claimer"),
    ("host tags, resource tags", "floe §1.3, §3.4", "floecli.engine.hub.dispatch",
     "Dispatcher"),
    ("routing an event", "floe §2.5", "floecli.engine.hub.routing", "Router"),
    ("merge (all, any)", "floe §2.6", "floecli.engine.hub.merge", "fires"),
    ("a run is over (settle: end node, unhandled failure, nothing left)", "floe §2.5",
     "floecli.engine.hub.state", "Verdict"),
    ("task execution, data node forms", "floe §3.6, §2.7", "floecli.engine.hub.tasks",
     "TaskRunner"),
    ("task processes (process groups)", "floe §3.6", "floecli.engine.hub.process", "Child"),
    ("trigger context", "floe §3.8", "floecli.engine.hub.triggers", "HubTriggerContext"),
    ("workspace", "floe §3.5", "floecli.engine.hub.workspace", "workspace_path"),
    ("node log", "floe §3.6", "floecli.engine.hub.logs", "NodeLog"),
    ("resuming runs after a restart", "DECISIONS §2", "floecli.engine.hub.resume",
     "resume_run"),
    ("re-run", "DECISIONS §4", "floecli.engine.hub.rerun", "seed"),
    ("run outcome (state, why)", "floe §2.8, §3.7", "floecli.engine.outcome", "why"),
    ("host (its name, its tags, which flows it may run)", "floe §3.1, §3.4",
     "floecli.engine.host", "Host"),
    ("engine (one host's config, store, registry, hub)", "floe §3.1",
     "floecli.engine.engine", "Engine"),
    ("engine command line flags", "floe §6.9", "floecli.engine.main", "build_parser"),
    # -- contributions, as the engine sees them
    ("task (contribution interface)", "DESIGN, DECISIONS §3", "floecli.engine.nodes.api",
     "Task"),
    ("trigger (contribution interface)", "DESIGN, DECISIONS §3", "floecli.engine.nodes.api",
     "Trigger"),
    ("contribution descriptor", "toolchain §6, DECISIONS §3",
     "floecli.engine.contributions.descriptor", "Descriptor"),
    ("contribution registry", "DECISIONS §3", "floecli.engine.contributions.registry",
     "Registry"),
    ("fake task context (testing a contribution)", "DESIGN", "floecli.engine.testing",
     "FakeTaskContext"),
    # -- the run store
    ("run store", "floe §4.1", "floecli.engine.store.base", "RunStore"),
    ("store-type", "floe §1.2", "floecli.engine.store", "make_store"),
    ("memory store", "floe §4", "floecli.engine.store.memory", "MemoryStore"),
    ("SQLite store", "DESIGN", "floecli.engine.store.sqlite.store", "SqliteStore"),
    ("SQLite writer thread (group commit, retry)", "DESIGN",
     "floecli.engine.store.sqlite.writer", "Writer"),
    ("intake journal", "DESIGN", "floecli.engine.store.sqlite.journal", "Journal"),
    ("SQLite schema and statements", "DESIGN", "floecli.engine.store.sqlite.sql", "connect"),
    ("store backup, prune", "DECISIONS §4", "floecli.engine.store.maintenance", "backup"),
    ("retention", "DECISIONS §4", "floecli.engine.retention", "Pruner"),
    ("secrets", "DECISIONS §4", "floecli.engine.secrets", "Secrets"),
    ("run-end webhooks", "DECISIONS §4", "floecli.engine.notify", "Notifier"),
    # -- other hosts
    ("p2p peers", "floe §5.1", "floecli.engine.cluster.peers", "Peers"),
    ("a host in a cluster (membership, hand-off, announcements)", "floe §5, DECISIONS §2",
     "floecli.engine.cluster.cluster", "Cluster"),
    ("heartbeat, peer states, the leader", "floe §5.1", "floecli.engine.cluster.membership",
     "Membership"),
    ("hand-off (exactly once)", "floe §5.2, DECISIONS §2", "floecli.engine.cluster.handoff",
     "Handoff"),
    ("resource tags across hosts", "floe §3.5", "floecli.engine.cluster.resources",
     "Resources"),
    ("one view (forwarding, ?cluster=1)", "floe §5.3", "floecli.engine.cluster.views",
     "forward"),
    ("default root per host", "DECISIONS §2", "floecli.engine.config.roots", "default_root"),
    # -- the engine as a service
    ("REST API (and the p2p routes)", "floe §6.4, §5.2", "floecli.engine.server.api", "Api"),
    ("run view", "floe §6.5", "floecli.engine.server.runview", "run_view"),
    ("users and sessions", "floe §6.3", "floecli.engine.server.auth", "Sessions"),
    ("websocket", "floe §6.7", "floecli.engine.server.ws", "EventStream"),
    ("dashboard", "DECISIONS §1", "floecli.engine.server.webapp", "web_routes"),
    ("OpenAPI document", "DECISIONS §4", "floecli.engine.server.openapi", "document"),
    ("tester", "DECISIONS §3, toolchain §7", "floecli.engine.server.tester", "Tester"),
    ("flow graph (floe graph, the dashboard's layout)", "DECISIONS §4",
     "floecli.engine.graph", "levels"),
    # -- the engine project and the toolchain
    ("engine project", "toolchain §2", "floecli.project.layout", "EngineProject"),
    ("app document (app.json, lossless)", "DECISIONS §3", "floecli.project.appdoc",
     "AppDocument"),
    ("contribution ref", "toolchain §1.5, DECISIONS §3", "floecli.project.refs", "parse_ref"),
    ("lock file (floe.lock)", "DECISIONS §3", "floecli.project.lockfile", "Lock"),
    ("bundle file, bundled contributions", "toolchain §4.1", "floecli.project.bundles",
     "read_bundle"),
    ("contribution install, update, uninstall", "toolchain §3.3 to §3.5",
     "floecli.project.contributions.installer", "Installer"),
    ("staged vendor/", "DECISIONS §3", "floecli.project.contributions.staging", "Staging"),
    ("installing a contribution directory", "DECISIONS §3",
     "floecli.project.contributions.directory", "install_dir"),
    ("installing a git ref", "DECISIONS §3", "floecli.project.contributions.gitfetch",
     "clone"),
    ("the one pip resolution", "toolchain §1.6, DECISIONS §3",
     "floecli.project.contributions.pipresolve", "PipResolver"),
    ("dependency graph", "toolchain §1.6", "floecli.project.contributions.depgraph",
     "DependencyGraph"),
    ("project lock", "DESIGN", "floecli.project.projectlock", "project_lock"),
    ("create", "toolchain §3.1", "floecli.project.create", "create_project"),
    ("build", "toolchain §3.2", "floecli.project.build", "build"),
    ("build target", "DECISIONS §3", "floecli.project.targets", "parse_target"),
    ("list", "toolchain §3.6, §5", "floecli.project.listing", "list_contributions"),
    ("validate", "DECISIONS §4", "floecli.project.validation", "check_text"),
    ("CLI application object (all output)", "DESIGN, toolchain §1.4",
     "floecli.cli.application", "Application"),
    ("CLI verbs", "toolchain §1.2", "floecli.cli.main", "COMMANDS"),
]


@pytest.mark.parametrize(("concept", "spec", "module", "name"), ROOMS,
                         ids=[row[0] for row in ROOMS])
def test_each_concept_lives_where_the_table_says(concept: str, spec: str, module: str,
                                                 name: str) -> None:
    mod = importlib.import_module(module)
    assert hasattr(mod, name), f"{concept} ({spec}): {module} has no {name}"
    defined_in = getattr(getattr(mod, name), "__module__", module)
    # A class or function must be defined there, not imported from where it really lives.
    assert defined_in == module, f"{concept}: {module}.{name} is {defined_in}.{name}"


def test_the_architecture_page_prints_the_same_table() -> None:
    """docs/architecture.md's table "where each spec concept lives" is ROOMS, row for row."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split("## Where each spec concept lives", 1)[1].split("\n## ", 1)[0]
    printed = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[2].startswith("`floecli/"):
            printed.append((cells[0], cells[1], cells[2].strip("`"), cells[3].strip("`")))
    assert printed == [(concept, spec, _path_of(module), name)
                       for concept, spec, module, name in ROOMS]


def _path_of(module: str) -> str:
    """floecli.engine.hub.state → floecli/engine/hub/state.py; a package → its directory."""
    path = module.replace(".", "/")
    return f"{path}/" if (REPO / path).is_dir() else f"{path}.py"


# ---- layering (DESIGN.md: cli → project → engine; bundles see only the contribution API) -----

def _module_of(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[0] == "bundles":  # mapped into the package at import (pyproject's force-include)
        parts.insert(0, "floecli")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> Iterator[tuple[str, ast.AST, list[ast.AST]]]:
    """Every module an import statement of `path` names, made absolute, with the statement
    and its enclosing nodes: top level, inside a function, or under TYPE_CHECKING alike.
    `from a import b` names a.b as well, since b may be a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    module = _module_of(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def walk(node: ast.AST, parents: list[ast.AST]) -> Iterator[tuple[str, ast.AST,
                                                                     list[ast.AST]]]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node, parents
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            yield base, node, parents
            for alias in node.names:
                yield f"{base}.{alias.name}", node, parents
        for child in ast.iter_child_nodes(node):
            yield from walk(child, [*parents, node])

    yield from walk(tree, [])


def _sources(*roots: str) -> list[Path]:
    """The Python files of each root, a directory (searched through) or one file."""
    files: list[Path] = []
    for root in roots:
        path = REPO / root
        assert path.exists(), f"{root} is gone: update the layering tests"
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return files


def _under(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_the_engine_imports_nothing_above_it() -> None:
    """engine/ is what every built binary holds: it never reaches up to the toolchain."""
    found = [f"{p.relative_to(REPO)}:{node.lineno}: {name}"
             for p in _sources("floecli/engine")
             for name, node, _ in _imports(p) if _under(name, "floecli.cli", "floecli.project")]
    assert found == []


def test_the_project_layer_never_imports_the_cli() -> None:
    """project/ is usable from Python without the command line."""
    found = [f"{p.relative_to(REPO)}:{node.lineno}: {name}"
             for p in _sources("floecli/project")
             for name, node, _ in _imports(p) if _under(name, "floecli.cli")]
    assert found == []


BELOW_THE_HUB = ("floecli/engine/config", "floecli/engine/events.py", "floecli/engine/runs.py",
                 "floecli/engine/pend.py",
                 "floecli/engine/store")
ABOVE_THE_HUB = ("floecli.engine.server", "floecli.engine.engine", "floecli.engine.main")


def test_the_model_and_the_store_sit_below_the_hub() -> None:
    """The app model, events, run records and the run store know nothing of who runs them:
    no hub, no server, no cluster, no engine assembly."""
    found = [f"{p.relative_to(REPO)}:{node.lineno}: {name}"
             for p in _sources(*BELOW_THE_HUB)
             for name, node, _ in _imports(p)
             if _under(name, "floecli.engine.hub", "floecli.engine.cluster", *ABOVE_THE_HUB)]
    assert found == []


def test_the_hub_never_imports_the_service_around_it() -> None:
    """The hub is driven by the server and assembled by the engine, never the reverse."""
    found = [f"{p.relative_to(REPO)}:{node.lineno}: {name}"
             for p in _sources("floecli/engine/hub")
             for name, node, _ in _imports(p) if _under(name, *ABOVE_THE_HUB)]
    assert found == []


TOOLCHAIN_ONLY = ("typer", "rich", "git", "platformdirs")  # git: GitPython's import name


def test_the_engine_imports_without_the_toolchains_libraries() -> None:
    """engine/ must import with typer, rich, GitPython and platformdirs missing: an import of
    one is allowed only where an ImportError is caught (engine/git.py uses GitPython when the
    toolchain has it)."""
    found = [f"{p.relative_to(REPO)}:{node.lineno}: {name}"
             for p in _sources("floecli/engine")
             for name, node, parents in _imports(p)
             if _under(name, *TOOLCHAIN_ONLY) and not _guarded(node, parents)]
    assert found == []


def _guarded(node: ast.AST, parents: list[ast.AST]) -> bool:
    """Whether `node` sits in the body of a try that catches ImportError."""
    for parent, child in zip(parents, [*parents[1:], node], strict=True):
        if isinstance(parent, ast.Try) and child in parent.body and any(
                _catches_import_error(h) for h in parent.handlers):
            return True
    return False


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(k, ast.Name) and k.id in ("ImportError", "ModuleNotFoundError")
               for k in kinds)


def test_bundles_import_only_the_contribution_api() -> None:
    """A built-in contribution is a contribution like any other: of floe, it sees only
    floecli.engine.nodes (and its own package)."""
    found = []
    for p in _sources("bundles"):
        own = ".".join(_module_of(p).split(".")[:3])  # floecli.bundles.<contribution>
        for name, node, _ in _imports(p):
            if _under(name, "floecli") and not _under(name, "floecli.engine.nodes", own):
                found.append(f"{p.relative_to(REPO)}:{node.lineno}: {name}")
    assert found == []


def test_the_import_scan_sees_relative_and_lazy_imports() -> None:
    """The scanner itself: a relative import is made absolute, and one inside a function
    counts as much as one at the top."""
    names = [name for name, _, _ in _imports(PACKAGE / "project" / "contributions"
                                             / "gitfetch.py")]
    assert "floecli.project.errors" in names  # from ..errors import InstallError
    assert "floecli.engine.git" in names  # from floecli.engine import git, inside clone()
    assert _module_of(REPO / "bundles" / "exec" / "__init__.py") == "floecli.bundles.exec"
