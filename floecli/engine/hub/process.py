"""Child processes in their own process groups: spawn, stream lines, kill the whole group."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
import sys
import warnings
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024  # longer lines are split, never allowed to stall the reader
READ_CHUNK = 64 * 1024
LINES_PER_TURN = 500  # lines handled between two yields to the loop
KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL
SPAWNS_PER_TURN = 1  # 2 here: burst 3% faster, a request under load twice as slow


def use_pidfd_child_watcher() -> Callable[[], None] | None:
    """On Linux with Python 3.11, wait for children through pidfds on the loop instead of
    asyncio's default of one thread per child (Python 3.12 does this by itself): a task start
    then costs no thread, which is most of the engine's per-task overhead. The watcher is
    process-wide, so this returns how to put the previous one back (None when nothing was
    changed), for whatever else in the process spawns children after the engine stops."""
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return None
    policy = asyncio.get_event_loop_policy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        previous = policy.get_child_watcher()
        if isinstance(previous, asyncio.PidfdChildWatcher):
            return None  # another engine (the tester's hub) on this loop installed it
        try:
            os.close(os.pidfd_open(os.getpid()))  # the kernel may lack pidfds (before 5.3)
        except OSError:
            return None
        watcher = asyncio.PidfdChildWatcher()
        watcher.attach_loop(asyncio.get_running_loop())
        policy.set_child_watcher(watcher)

    def restore() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            policy.set_child_watcher(previous)
            watcher.close()
    return restore


class LineSink(Protocol):
    """Where a process's output goes: line by line while `accepting`, else raw chunks."""

    @property
    def accepting(self) -> bool: ...

    def line(self, text: str) -> None: ...

    def raw(self, data: bytes) -> None: ...


class Lines:
    """A LineSink that wants every line."""

    accepting = True

    def __init__(self, on_line: Callable[[str], None]) -> None:
        self.line = on_line

    def raw(self, data: bytes) -> None:
        for text in data.decode("utf-8", "replace").splitlines():
            self.line(text)


Pace = Callable[[], Awaitable[None]]


async def no_pace() -> None:
    return None


class SpawnGate:
    """At most SPAWNS_PER_TURN process starts per turn of the loop, first come first served.

    Starting a process blocks the loop until the child has exec'd (half a millisecond here).
    When a hundred runs each start their next task in the same turn, that turn would take
    50 ms, and every request and event waits for it; a start per turn lets the loop poll its
    sockets between starts, for the same total work. Waiters sleep on a future each, woken
    in order, so waiting costs nothing per turn."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._used = 0  # starts counted against the current turn
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._reset_queued = False

    async def turn(self) -> None:
        if self._used < SPAWNS_PER_TURN and not self._waiters:
            self._used += 1
            self._queue_reset()
            return
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        await waiter  # a start of a later turn, already counted by _reset

    def _queue_reset(self) -> None:
        if not self._reset_queued:
            self._reset_queued = True
            self._loop.call_soon(self._reset)  # runs next turn, after this turn's starts

    def _reset(self) -> None:
        self._reset_queued = False
        self._used = 0
        while self._waiters and self._used < SPAWNS_PER_TURN:
            waiter = self._waiters.popleft()
            if not waiter.done():  # a cancelled waiter gives its place up
                waiter.set_result(None)
                self._used += 1
        if self._used:
            self._queue_reset()  # queued after the woken: it frees their turn once they ran


_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SpawnGate] = (
    weakref.WeakKeyDictionary())


def spawn_gate() -> SpawnGate:
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = SpawnGate(loop)
    return gate


ChildEnv = Mapping[bytes, bytes] | Mapping[str, str]


def child_env(extra: Mapping[str, str]) -> ChildEnv:
    """The engine's environment overlaid with `extra`, for a child process. On POSIX it is
    made from the bytes os.environ keeps (a C-level copy), so no variable is decoded here and
    encoded again by subprocess, as a copy of os.environ would, at every task start."""
    data = getattr(os.environ, "_data", None)
    if os.name != "posix" or not isinstance(data, dict):
        return {**os.environ, **extra}
    env = dict(data)
    env.update((os.fsencode(k), os.fsencode(v)) for k, v in extra.items())
    return env


_devnull: int | None = None


def devnull() -> int:
    """One /dev/null for every child's stdin, opened once (subprocess opens one per child)."""
    global _devnull
    if _devnull is None:
        _devnull = os.open(os.devnull, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    return _devnull


class ProcessGroup:
    """The processes one task started, so a stop or timeout can kill all of them."""

    def __init__(self) -> None:
        self._procs: set[asyncio.subprocess.Process] = set()

    async def run(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | None,
        env: ChildEnv,
        sink: LineSink,
        pace: Pace = no_pace,
    ) -> int:
        """Run argv to its end, its output to `sink`; `env` is the child's whole environment
        (child_env)."""
        await spawn_gate().turn()
        spawn = asyncio.ensure_future(asyncio.create_subprocess_exec(
            *argv, cwd=cwd, env=env, stdin=devnull(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True))
        try:
            proc = await asyncio.shield(spawn)
        except asyncio.CancelledError:
            # Stopped while asyncio was still wiring the pipes: the process already runs (and
            # may have started children), so finish starting it and kill its whole group.
            # Left alone, asyncio would kill only the leader and orphan the rest.
            with contextlib.suppress(Exception):
                await self._kill(await spawn)
            raise
        except OSError as e:
            # The reference reports a start failure as output plus status 1.
            sink.line(start_error(argv[0] if argv else "", e))
            sink.line("")
            return 1
        self._procs.add(proc)
        try:
            assert proc.stdout is not None
            await read_lines(proc.stdout, sink, pace)
            status = await proc.wait()
        except asyncio.CancelledError:
            await asyncio.shield(self._kill(proc))
            raise
        finally:
            self._procs.discard(proc)
        return status if status >= 0 else -1

    async def kill_all(self) -> None:
        await asyncio.gather(*(self._kill(p) for p in list(self._procs)))

    @staticmethod
    async def _kill(proc: asyncio.subprocess.Process) -> None:
        _signal_group(proc.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), KILL_GRACE)
        # whatever is left of the group, the leader's children included
        _signal_group(proc.pid, signal.SIGKILL)
        await proc.wait()


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def read_lines(stream: asyncio.StreamReader, sink: LineSink, pace: Pace = no_pace
                     ) -> None:
    """Feed each line (newline stripped) to the sink; lines over MAX_LINE are split. After
    each chunk it waits for `pace` (the store's room: backpressure on the pipe, so the
    process blocks, not the engine) and yields, so a task printing as fast as it can never
    starves the rest of the engine. A chunk of short lines can hold thousands: it yields
    every LINES_PER_TURN of them too, and once the sink stops accepting lines the rest of the
    chunk goes to it raw, in one piece."""
    buf = b""
    while True:
        chunk = await stream.read(READ_CHUNK)
        if not chunk:
            break
        buf += chunk
        if sink.accepting:
            *lines, buf = buf.split(b"\n")
            for n, line in enumerate(lines):
                if not sink.accepting:
                    buf = b"\n".join([*lines[n:], buf])
                    break
                # A line can end in a chunk that arrives after MAX_LINE bytes were buffered.
                _emit_split(line, sink.line)
                if n % LINES_PER_TURN == LINES_PER_TURN - 1:
                    await asyncio.sleep(0)
            while sink.accepting and len(buf) > MAX_LINE:
                _emit_split(buf[:MAX_LINE], sink.line)
                buf = buf[MAX_LINE:]
        if not sink.accepting:
            sink.raw(buf)  # past the node's log cap: no per-line work
            buf = b""
        await pace()
        await asyncio.sleep(0)
    if buf:
        _emit_split(buf, sink.line)


def _emit_split(raw: bytes, on_line: Callable[[str], None]) -> None:
    if len(raw) > MAX_LINE:
        log.warning("output line longer than %d bytes split", MAX_LINE)
    for start in range(0, max(len(raw), 1), MAX_LINE):
        _emit(raw[start:start + MAX_LINE], on_line)


def _emit(raw: bytes, on_line: Callable[[str], None]) -> None:
    text = raw.decode("utf-8", errors="replace")
    if text.endswith("\r"):
        text = text[:-1]
    on_line(text)


def start_error(command: str, e: OSError) -> str:
    if isinstance(e, FileNotFoundError):
        return f'exec: "{command}": executable file not found in $PATH'
    if isinstance(e, PermissionError):
        return f'exec: "{command}": permission denied'
    return f'exec: "{command}": {e.strerror or e}'
