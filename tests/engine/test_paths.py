"""Paths floe resolves for a user stay in their directory: `..`, absolute and symlinks refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from floecli.engine.errors import PathOutside
from floecli.engine.paths import inside, make_inside


@pytest.mark.parametrize("rel", ["../../..", "..", "/etc", "/tmp/x", "a/../../b", "a\x00b"])
def test_escapes_are_refused(tmp_path: Path, rel: str) -> None:
    with pytest.raises(PathOutside):
        inside(tmp_path / "ws", rel)


@pytest.mark.parametrize("rel", ["", ".", "src", "src/deep", "a/../b", "./x"])
def test_inside_is_fine(tmp_path: Path, rel: str) -> None:
    ws = tmp_path / "ws"
    got = inside(ws, rel)
    assert got == ws.resolve() or ws.resolve() in got.parents


def test_a_symlink_out_is_refused_and_a_symlink_in_is_fine(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    os.symlink("/", ws / "root")
    os.symlink("sub", ws / "alias")
    with pytest.raises(PathOutside):
        inside(ws, "root/etc")
    with pytest.raises(PathOutside):
        make_inside(ws, "root/tmp/made")
    assert not Path("/tmp/made").exists()
    assert make_inside(ws, "alias/x") == (ws / "sub" / "x").resolve()


def test_a_symlink_loop_is_refused_not_raised(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    os.symlink("a", ws / "b")
    os.symlink("b", ws / "a")
    with pytest.raises(PathOutside, match="cannot be resolved"):
        make_inside(ws, "a/x")


def test_the_root_itself_is_made_when_missing(tmp_path: Path) -> None:
    # A task may remove its own workspace; the next one still gets it as its cwd.
    ws = tmp_path / "ws"
    assert make_inside(ws, "") == ws.resolve()
    assert ws.is_dir()
