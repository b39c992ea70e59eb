"""The run owner (hub/state.py) is the only code that changes what a run contains, and
`settle` the only place that decides a run is over; nothing under the hub imports the Hub back.
Read from the source, so a change that breaks one of these fails here and names the line."""

from __future__ import annotations

import ast
from pathlib import Path

import floecli.engine as engine_pkg

ENGINE = Path(engine_pkg.__file__).parent
HUB = ENGINE / "hub"
OWNER = HUB / "state.py"
# What a run contains: its queued events, node records, form submissions and inputs.
CONTENTS = {"queued", "exec_nodes", "data_nodes", "merge_nodes", "submissions", "inputs",
            "waits"}
MUTATORS = {"append", "extend", "update", "setdefault", "pop", "popitem", "clear", "remove",
            "insert", "add_inputs"}
# The model (runs.py) and the stores build records from rows; they change no live run.
EXEMPT = {ENGINE / "runs.py", OWNER}


def _sources(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if p not in EXEMPT and "store" not in p.parts)


def _changes_contents(node: ast.AST) -> bool:
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return any(isinstance(t, ast.Attribute) and t.attr in CONTENTS for t in targets)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        owner = node.func.value
        if node.func.attr == "add_inputs":
            return True
        return (node.func.attr in MUTATORS and isinstance(owner, ast.Attribute)
                and owner.attr in CONTENTS)
    return False


def test_only_the_owner_changes_what_a_run_contains():
    found = []
    for path in _sources(ENGINE):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if _changes_contents(node):
                found.append(f"{path.relative_to(ENGINE)}:{node.lineno}: "
                             f"{ast.unparse(node)[:80]}")
    assert found == [], "run contents changed outside hub/state.py:\n" + "\n".join(found)


def test_the_check_sees_a_change_of_contents():
    # The scan above is only worth something if it catches what it looks for.
    for code in ("run.record.queued = []", "rec.submissions.append(x)",
                 "run.record.exec_nodes.setdefault('a', b)", "record.add_inputs(v)"):
        assert any(_changes_contents(n) for n in ast.walk(ast.parse(code))), code
    assert not any(_changes_contents(n) for n in ast.walk(ast.parse("x = rec.exec_nodes.get(1)")))


def test_only_settle_ends_a_run():
    tree = ast.parse(OWNER.read_text())
    callers = []
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "_archive"):
                    callers.append(fn.name)
    assert callers == ["settle"]
    # and nobody outside the owner reaches for the archive transition
    for path in _sources(ENGINE):
        assert "._archive(" not in path.read_text(), path


def test_nothing_under_the_hub_imports_it_back():
    importers = []
    for path in sorted(HUB.glob("*.py")):
        if path.name in ("hub.py", "__init__.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if (node.level == 1 and module == "hub") or module.endswith("hub.hub") or any(
                        a.name == "Hub" for a in node.names):
                    importers.append(f"{path.name}:{node.lineno}")
    assert importers == []
