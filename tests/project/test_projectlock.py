"""The project lock holds across a holder that removes its lock file as it lets go."""

from __future__ import annotations

import threading
from pathlib import Path

from floecli.project.projectlock import _POLL, project_lock


def test_a_waiter_does_not_share_the_lock_with_a_newcomer_after_the_file_is_removed(
        tmp_path: Path) -> None:
    path = tmp_path / ".floe-create-app.lock"
    waiting, inside, leave = threading.Event(), threading.Event(), threading.Event()

    def waiter() -> None:
        with project_lock(path, notify=lambda _: waiting.set(), timeout=30):
            inside.set()
            leave.wait(30)

    with project_lock(path, remove=True):  # a `floe create` that is done
        thread = threading.Thread(target=waiter)
        thread.start()
        assert waiting.wait(30)  # the waiter has the old file open and waits on it
    # A newcomer arrives as the file goes: it makes and locks a new file at the same path.
    with project_lock(path, timeout=30):
        # The waiter wakes on the old file, which nobody else will see: it must not count
        # that as the lock while the newcomer holds the one at the path. (Bounded: twenty
        # of its polls.)
        assert not inside.wait(_POLL * 20)
    assert inside.wait(30)  # and it gets the lock once the newcomer lets go
    leave.set()
    thread.join(30)
