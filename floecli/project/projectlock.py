"""The project lock: every command that changes a project holds it, so two at once never
lose each other's work; a second one waits, saying for whom, or gives up after a timeout."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import ProjectError

LOCK_NAME = ".floe-project.lock"
DEFAULT_TIMEOUT = 600.0  # seconds; FLOE_LOCK_TIMEOUT overrides
_POLL = 0.05

Notify = Callable[[str], None]


class LockTimeout(ProjectError):
    ref = "project-locked"
    hint = "wait for the other floe command in this project to finish, then try again"


def lock_timeout() -> float:
    raw = os.environ.get("FLOE_LOCK_TIMEOUT", "")
    try:
        return float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        return DEFAULT_TIMEOUT


@contextmanager
def project_lock(path: Path, *, notify: Notify | None = None,
                 timeout: float | None = None, remove: bool = False) -> Iterator[None]:
    """Hold the lock file `path` (an flock, released by the kernel if the holder dies). When
    another process holds it, `notify` hears `waiting for the project lock held by PID N`
    once, and after `timeout` seconds LockTimeout is raised. With `remove`, the file is
    deleted as the lock is let go (a lock for one `floe create`, not a project's)."""
    timeout = lock_timeout() if timeout is None else timeout
    fd = _acquire(path, notify, timeout)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            if remove:
                path.unlink(missing_ok=True)  # still held: a waiter sees its file is gone
            else:
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(path: Path, notify: Notify | None, timeout: float) -> int:
    """An fd of `path` holding its lock. A holder that removes the file as it lets go leaves
    its waiters locking a file nobody else will see, while a newcomer locks the new file at
    that path: so the lock counts only while the path still names the file locked."""
    deadline = time.monotonic() + timeout
    told = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while not _try(fd):
                if notify and not told:
                    told = True
                    notify(f"waiting for the project lock held by PID {_holder(fd) or '?'} "
                           f"({path})")
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"the project lock {path} is still held by PID {_holder(fd) or '?'} "
                        f"after {timeout:g} s",
                        hint="wait for that floe command to finish, or raise "
                             "FLOE_LOCK_TIMEOUT (seconds)")
                time.sleep(_POLL)
            if _names(path, fd):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the file was removed (or replaced) while we waited: lock the new one


def _names(path: Path, fd: int) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _try(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _holder(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
