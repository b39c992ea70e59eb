"""What the engine asks of the operating system, written once for POSIX and once for Windows,
so no other module calls a POSIX-only function (`resource`, `os.killpg`, `os.setsid`,
`loop.add_signal_handler`, `signal.SIGKILL`).

Each function finds out what the system offers by looking for it, not by reading
`sys.platform`: a POSIX call that is missing takes the portable path, which is also how the
test suite runs the engine's start-up on Linux with those calls taken away.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Callable
from typing import Any

# POSIX's kill signal; Windows has no SIGKILL, and there the number only means "kill for good".
KILL = int(getattr(signal, "SIGKILL", 9))
TERM = int(signal.SIGTERM)


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (the default 1024 is soon reached by
    connections, subprocess pipes and the store); the new soft limit, 0 where the system has
    no such limit (Windows)."""
    try:
        import resource
    except ImportError:
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            return hard
    return soft


def new_process_group() -> dict[str, Any]:
    """Popen keyword arguments that start a child as the leader of a process group of its
    own, so a stop can reach everything it starts: a new session on POSIX,
    CREATE_NEW_PROCESS_GROUP on Windows."""
    if hasattr(os, "setsid"):
        return {"start_new_session": True}
    return {"creationflags": int(getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0))}


def signal_group(pid: int, sig: int) -> None:
    """Send `sig` (TERM or KILL) to the process group `pid` leads; nothing if it is gone.
    Without process-group signals (Windows), TERM is a Ctrl+Break to the group and KILL ends
    the whole process tree."""
    killpg = getattr(os, "killpg", None)
    if killpg is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            killpg(pid, sig)
        return
    if sig != KILL and hasattr(signal, "CTRL_BREAK_EVENT"):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.CTRL_BREAK_EVENT)
        return
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(["taskkill", "/F", "/T", "/PID", str(pid)],
                              capture_output=True, check=False)
        if done.returncode == 0:
            return
    with contextlib.suppress(OSError):
        os.kill(pid, sig)  # the leader at least


def kill_process(pid: int) -> bool:
    """Kill one process for good; False if it is gone or not ours."""
    try:
        os.kill(pid, KILL)
    except OSError:
        return False
    return True


def stop_signals() -> list[int]:
    """The signals that ask the engine to stop: SIGINT, SIGTERM, and Ctrl+Break on Windows."""
    sigs = [int(signal.SIGINT), int(signal.SIGTERM)]
    if hasattr(signal, "SIGBREAK"):
        sigs.append(int(signal.SIGBREAK))
    return sigs


def on_stop_signals(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    """Call `callback` on `loop` when a stop signal arrives: through the loop's own signal
    handling where it has one (POSIX), else through a plain handler that hands the call to the
    loop (Windows' proactor loop has no add_signal_handler)."""
    for sig in stop_signals():
        try:
            loop.add_signal_handler(sig, callback)
        except (NotImplementedError, AttributeError, RuntimeError, ValueError):
            signal.signal(sig, lambda _signum, _frame: loop.call_soon_threadsafe(callback))
