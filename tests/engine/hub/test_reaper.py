"""Finding a run's processes by the FLOE_TASK marker in their environment."""

from __future__ import annotations

import os
import subprocess

import pytest

from floecli.engine.hub.reaper import Markers, kill_marked


def environ(*variables: bytes) -> bytes:
    """As /proc/<pid>/environ holds it."""
    return b"".join(v + b"\0" for v in variables)


@pytest.mark.parametrize(("variables", "found"), [
    ((b"HOME=/root", b"FLOE_TASK=r:h1-1:build"), True),  # a run's prefix
    ((b"FLOE_TASK=r:h1-2:test",), True),  # an exact marker, as the first variable
    ((b"FLOE_TASK=r:h1-2:test2",), False),  # not a prefix marker: exact only
    ((b"FLOE_TASK=s:anything:at:all", b"PATH=/bin"), True),  # an engine's prefix
    ((b"FLOE_TASK=r:h1-10:build",), False),  # h1-1: is no prefix of h1-10:
    ((b"MY_FLOE_TASK=r:h1-1:build",), False),  # another variable's name
    ((b"X=FLOE_TASK=r:h1-1:build",), False),  # in another variable's value
    ((b"FLOE_TASK=other", b"FLOE_TASK=r:h1-1:x"), True),  # any of them, as before
    ((), False),
])
def test_a_marker_is_the_whole_value_or_a_prefix_ending_in_a_colon(
        variables: tuple[bytes, ...], found: bool) -> None:
    wanted = Markers(["r:h1-1:", "r:h1-2:test", "s:"])
    assert wanted.match(environ(*variables)) is found


def test_kill_marked_kills_a_marked_process_and_spares_others() -> None:
    marked = subprocess.Popen(["sleep", "300"], env={**os.environ, "FLOE_TASK": "t:h1-7:a"},
                              start_new_session=True)
    # Another engine's (workspace root's) run of the same id.
    spared = subprocess.Popen(["sleep", "300"], env={**os.environ, "FLOE_TASK": "u:h1-7:a"},
                              start_new_session=True)
    try:
        markers = [f"t:h1-{n}:" for n in range(100)]  # a burst's run ends, in one walk
        assert kill_marked(*markers) == [marked.pid]
        assert marked.wait(30) < 0
        assert spared.poll() is None
    finally:
        for proc in (marked, spared):
            proc.kill()
            proc.wait()
