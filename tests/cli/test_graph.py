"""`floe graph`: the default app's flow as DOT (parsed by a real DOT parser) and Mermaid,
byte for byte as checked in, from an app document or a project directory."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydot
import pytest

# pydot's parser calls pyparsing's old spellings
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"


def test_dot_of_the_default_app(script_runner):
    r = script_runner.run(["floe", "graph", "-f", str(ROOT / "default-app.json"),
                           "--format", "dot"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == (DATA / "default-app.dot").read_text()
    (graph,) = pydot.graph_from_dot_data(r.stdout)
    assert graph.get_name().strip('"') == "build-project"
    edges = {(e.get_source().strip('"'), e.get_destination().strip('"'))
             for e in graph.get_edges()}
    assert edges == {("start", "prepare"), ("prepare", "lint"), ("prepare", "unit-tests"),
                     ("lint", "checks"), ("unit-tests", "checks"), ("checks", "package"),
                     ("package", "done")}
    nodes = {n.get_name().strip('"'): n for n in graph.get_nodes()}
    assert nodes["checks"].get_shape() == "diamond"
    assert nodes["start"].get_shape() == "oval"
    # levels are ranks, as the dashboard lays them out
    ranks = [sorted(n.get_name().strip('"') for n in sub.get_nodes())
             for sub in graph.get_subgraphs()]
    assert ranks == [["start"], ["prepare"], ["lint", "unit-tests"], ["checks"],
                     ["package"], ["done"]]


def test_mermaid_is_the_default_and_works_in_a_project(script_runner, tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    shutil.copy(ROOT / "default-app.json", project / "app.json")
    r = script_runner.run(["floe", "graph", "build-project"], cwd=project)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (DATA / "default-app.mmd").read_text()
    assert r.stdout.splitlines()[1] == "flowchart LR"
    r = script_runner.run(["floe", "graph", "-f", str(project), "nope"])
    assert r.returncode == 1
    assert "has no flow 'nope' (flows: build-project)" in r.stderr
    r = script_runner.run(["floe", "graph", "-f", str(project), "--format", "svg"])
    assert r.returncode == 2 and "use one of mermaid, dot" in r.stderr
