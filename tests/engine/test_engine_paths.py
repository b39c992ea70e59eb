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
