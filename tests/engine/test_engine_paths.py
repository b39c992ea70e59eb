"""Where an engine puts its workspaces and run store (floe-reference §1.9.1)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from floecli.engine.config.loader import parse_app
from floecli.engine.contributions.registry import Registry
from floecli.engine.engine import Engine, EngineOptions

APP = "common: {workspace-root: '%tmp/floe-ws', store-type: local}\nflows: []\n"


def test_one_tmp_dir_holds_workspaces_and_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    registry = Registry.discover()
    engine = Engine(EngineOptions(), registry=registry,
                    config=parse_app(APP, "app.yml", registry.catalog()))
    made = list(tmp_path.glob("floe*"))
    assert len(made) == 1  # `%tmp` expanded once, not once for workspaces and once for the store
    assert engine.workspace_root == (made[0] / "floe-ws").resolve()


def engine_root(app: str, home: Path, monkeypatch: pytest.MonkeyPatch, **opts) -> Path:
    monkeypatch.setenv("HOME", str(home))
    registry = Registry.discover()
    engine = Engine(EngineOptions(**opts), registry=registry,
                    config=parse_app(app, "app.yml", registry.catalog()))
    return engine.workspace_root


DEFAULT_APP = "common: {store-type: memory}\nflows: []\n"


def test_the_default_root_is_per_host_name_and_per_project(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch):
    home = tmp_path.resolve()
    assert engine_root(DEFAULT_APP, home, monkeypatch, host_name="h2") == home / ".floe/hosts/h2"
    # `~/.floe` written out (as default-app.json does) is the default too
    app = "common: {workspace-root: ~/.floe, store-type: memory}\nflows: []\n"
    assert engine_root(app, home, monkeypatch, host_name="h1") == home / ".floe/hosts/h1"
    assert engine_root(DEFAULT_APP, home, monkeypatch, host_name="h1",
                       project="myengine") == home / ".floe/projects/myengine/h1"
    chosen = "common: {workspace-root: ~/ci, store-type: memory}\nflows: []\n"
    assert engine_root(chosen, home, monkeypatch, host_name="h2") == home / "ci"


def test_h1_keeps_the_store_of_a_floe_before_per_host_roots(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch):
    home = tmp_path.resolve()
    (home / ".floe" / "store").mkdir(parents=True)
    (home / ".floe" / "store" / "floe.db").write_bytes(b"")
    assert engine_root(DEFAULT_APP, home, monkeypatch, host_name="h1") == home / ".floe"
    assert engine_root(DEFAULT_APP, home, monkeypatch, host_name="h2") == home / ".floe/hosts/h2"
