"""A run's workspace as its activation makes it: fresh ones start empty, reused ones keep
their files, and nothing but a directory is ever removed in a workspace's place."""

from __future__ import annotations

from pathlib import Path

import pytest

from floecli.engine.hub.workspace import prepare_workspace


async def test_a_fresh_workspace_starts_empty_even_where_a_tree_was_left(tmp_path: Path):
    space = tmp_path / "spaces" / "f" / "ws" / "h1-7"
    (space / "sub").mkdir(parents=True)
    (space / "sub" / "left.txt").write_text("from an earlier run of that id")
    await prepare_workspace(space, reuse=False)
    assert space.is_dir() and list(space.iterdir()) == []
    assert space.stat().st_mode & 0o777 == 0o700


async def test_a_new_fresh_workspace_is_made_with_its_parents(tmp_path: Path):
    space = tmp_path / "spaces" / "f" / "ws" / "h1-1"
    await prepare_workspace(space, reuse=False)
    assert space.is_dir() and list(space.iterdir()) == []


async def test_a_reused_workspace_keeps_its_files(tmp_path: Path):
    space = tmp_path / "spaces" / "f" / "ws" / "single"
    space.mkdir(parents=True)
    (space / "cache.txt").write_text("kept")
    await prepare_workspace(space, reuse=True)
    assert (space / "cache.txt").read_text() == "kept"


@pytest.mark.parametrize("reuse", [True, False])
async def test_a_file_in_a_workspace_s_place_is_refused_and_left_alone(tmp_path: Path,
                                                                       reuse: bool):
    space = tmp_path / "single"
    space.write_text("not a workspace")
    with pytest.raises(OSError):
        await prepare_workspace(space, reuse=reuse)
    assert space.read_text() == "not a workspace"
