"""The binary goes into bin/ all at once: a write that fails half way (a full disk) leaves
the binary that was there, or none, and no temporary file (what the CLI test of a full disk
cannot show: there the builder fails first, in its own temporary directory)."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import pytest

from floecli.project import build


def fail_half_way(monkeypatch: pytest.MonkeyPatch) -> None:
    def full(src, dst, length=0):  # type: ignore[no-untyped-def]
        dst.write(src.read(1 << 20))
        dst.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(build.shutil, "copyfileobj", full)


@pytest.mark.parametrize("old", [b"#!/usr/bin/env python3\nthe old binary", None])
def test_a_failed_write_leaves_bin_as_it_was(tmp_path: Path, monkeypatch, old):
    staged = tmp_path / "staged"
    staged.write_bytes(b"z" * (3 << 20))
    output = tmp_path / "bin" / "demo"
    output.parent.mkdir()
    if old is not None:
        output.write_bytes(old)
    fail_half_way(monkeypatch)
    with pytest.raises(OSError) as caught:
        build._install_output(staged, output)
    assert caught.value.errno == errno.ENOSPC
    left = sorted(p.name for p in output.parent.iterdir())
    if old is None:
        assert left == []
    else:
        assert left == ["demo"]
        assert output.read_bytes() == old


def test_the_binary_replaces_the_old_one_whole(tmp_path: Path):
    staged = tmp_path / "staged"
    staged.write_bytes(b"new" * 1000)
    output = tmp_path / "bin" / "demo"
    output.parent.mkdir()
    output.write_bytes(b"old")
    build._install_output(staged, output)
    assert output.read_bytes() == staged.read_bytes()
    assert output.stat().st_mode & 0o777 == 0o755
    assert sorted(p.name for p in output.parent.iterdir()) == ["demo"]
    assert shutil.which("demo", path=str(output.parent))
