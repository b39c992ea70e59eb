"""Child processes in their own process groups: spawn, stream lines, kill the whole group."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import subprocess
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .. import platform

if TYPE_CHECKING:
    from ..store.base import Gate

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024  # longer lines are cut here as they arrive: memory stays bounded
READ_CHUNK = 64 * 1024
LINES_PER_TURN = 500  # lines handled between two yields to the loop
KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL


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


class Readable(Protocol):
    """What read_lines reads from: a Child, or an asyncio.StreamReader."""

    async def read(self, n: int) -> bytes: ...


async def no_pace() -> None:
    return None


class SpawnJob:
    """One start asked of the spawner's thread: run there once, in its turn, unless it was
    cancelled while still queued. Its outcome reaches the loop by one call_soon_threadsafe
    into `future`: no concurrent.futures.Future to chain to an asyncio one, and no shield
    around it (together a tenth of the loop's own time in a burst)."""

    _QUEUED, _RUNNING, _CANCELLED = "queued", "running", "cancelled"

    def __init__(self, loop: asyncio.AbstractEventLoop, fn: Callable[..., Any],
                 args: tuple[Any, ...], kw: dict[str, Any]) -> None:
        self._loop = loop
        self._call = (fn, args, kw)
        self._lock = threading.Lock()  # the state, which the loop and the thread both change
        self._state = self._QUEUED
        self.future: asyncio.Future[Any] = loop.create_future()  # what the asker awaits
        self._outcome: tuple[Any, BaseException | None] | None = None  # set on the loop
        self._after: asyncio.Future[Any] | None = None  # for an asker whose await was stopped

    def cancel(self) -> bool:
        """Whether it was still queued: then it never runs."""
        with self._lock:
            if self._state is self._QUEUED:
                self._state = self._CANCELLED
                return True
            return False

    def run(self) -> None:
        """The spawner's thread: the call, unless cancelled; its outcome to the loop."""
        with self._lock:
            if self._state is self._CANCELLED:
                return
            self._state = self._RUNNING
        fn, args, kw = self._call
        try:
            outcome: tuple[Any, BaseException | None] = (fn(*args, **kw), None)
        except BaseException as e:  # the asker's, to raise: the thread goes on
            outcome = (None, e)
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            self._loop.call_soon_threadsafe(self._settle, outcome)

    def _settle(self, outcome: tuple[Any, BaseException | None]) -> None:
        self._outcome = outcome
        for waiting in (self.future, self._after):
            if waiting is not None and not waiting.done():
                _set_outcome(waiting, outcome)

    async def outcome(self) -> Any:
        """Its result once run, for an asker whose await of `future` was cancelled (which
        cancelled `future`) while the thread was already running it."""
        if self._outcome is None:
            self._after = self._loop.create_future()
            return await self._after
        result, error = self._outcome
        if error is not None:
            raise error
        return result


def _set_outcome(future: asyncio.Future[Any], outcome: tuple[Any, BaseException | None]
                 ) -> None:
    result, error = outcome
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class Spawner:
    """One thread that starts every process, in the order asked. Starting one blocks its
    caller until the child has exec'd (half a millisecond here, far more for a binary on a
    slow filesystem); CPython lets go of the GIL for that wait, so on this thread it costs
    the loop nothing. One thread, not a pool: a second one doubled a request's latency during
    a burst (GIL contention) for no gain in throughput."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[SpawnJob] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="floe-spawn_0", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> SpawnJob:
        """`fn(*args, **kw)` on the thread, after every start asked before it (the loop's
        thread asks)."""
        job = SpawnJob(asyncio.get_running_loop(), fn, args, kw)
        self._jobs.put(job)
        return job

    def _serve(self) -> None:
        while True:
            self._jobs.get().run()


_spawner: Spawner | None = None
_spawner_lock = threading.Lock()


def spawner() -> Spawner:
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            _spawner = Spawner()
        return _spawner


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


class Child:
    """One started process, its output read and its exit awaited straight on the loop.

    asyncio's subprocess transports cost a dozen callbacks per process (pipe protocols,
    connection_made and _lost, a shielded start, the watcher's result): during a burst that
    was most of the loop's work per task, and every request waited behind it. Here a process
    is one pipe read when it is readable and one waitpid when its pidfd says it exited."""

    def __init__(self, loop: asyncio.AbstractEventLoop, argv: Sequence[str], *,
                 cwd: Path | None, env: ChildEnv) -> None:
        self._loop = loop  # whose thread reads and waits; this runs on the spawner's
        read_end, write_end = os.pipe()  # both close on exec (PEP 446)
        try:
            self._popen = subprocess.Popen(
                argv, cwd=cwd, env=env, stdin=devnull(), stdout=write_end, stderr=write_end,
                **platform.new_process_group())
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        self._out: int | None = read_end
        self.pid = self._popen.pid
        # A loop that cannot watch a pipe (Windows' proactor; set_blocking on a pipe before
        # Python 3.12 there) reads it with blocking reads on a worker thread instead.
        self._threaded = not _nonblocking(read_end)

    async def read(self, n: int) -> bytes:
        """Up to n bytes of the output, b"" at its end (StreamReader.read's contract)."""
        while self._out is not None:
            if self._threaded:
                data = await self._loop.run_in_executor(None, os.read, self._out, n)
            else:
                try:
                    data = os.read(self._out, n)
                except BlockingIOError:
                    try:
                        await _readable(self._loop, self._out)
                    except NotImplementedError:
                        os.set_blocking(self._out, True)
                        self._threaded = True
                    continue
            if not data:
                self.close()
            return data
        return b""

    async def wait(self) -> int:
        """Its exit status; minus the signal's number when a signal ended it."""
        while self._popen.poll() is None:
            pidfd = _pidfd(self.pid)
            if pidfd is None:  # no pidfds (not Linux, or before 5.3): a thread waits
                await self._loop.run_in_executor(None, self._popen.wait)
                continue
            try:
                # Exited since the poll, it is a zombie until reaped: its pidfd is readable.
                await _readable(self._loop, pidfd)
            except NotImplementedError:  # a loop that cannot watch descriptors: a thread waits
                await self._loop.run_in_executor(None, self._popen.wait)
            finally:
                os.close(pidfd)
        return self._popen.returncode

    def close(self) -> None:
        """Close the output pipe (the process is waited for apart)."""
        if self._out is not None:
            os.close(self._out)
            self._out = None


def _nonblocking(fd: int) -> bool:
    try:
        os.set_blocking(fd, False)
    except (AttributeError, OSError):
        return False
    return True


def _spawn(gate: Gate | None, on_spawn: Callable[[], None] | None,
           loop: asyncio.AbstractEventLoop, argv: Sequence[str], *, cwd: Path | None,
           env: ChildEnv) -> Child:
    if gate is not None:
        gate.wait()  # write ahead: nothing is forked before its start is committed
    if on_spawn is not None:
        on_spawn()
    return Child(loop, argv, cwd=cwd, env=env)


async def _readable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    ready = loop.create_future()
    loop.add_reader(fd, _set_done, ready)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # ProcessLookupError: reaped already, poll() says so
        return None


class ProcessGroup:
    """The processes one task started, so a stop or timeout can kill all of them.
    `on_spawn` is called on the spawner thread just before each process is forked, and
    before that the spawner waits for `gate` (the commit that recorded the task's start)."""

    def __init__(self, on_spawn: Callable[[], None] | None = None, *,
                 gate: Gate | None = None) -> None:
        self._on_spawn = on_spawn
        self._gate = gate

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
        loop = asyncio.get_running_loop()
        job = spawner().submit(_spawn, self._gate, self._on_spawn, loop, argv, cwd=cwd,
                               env=env)
        try:
            proc = await job.future
        except asyncio.CancelledError:
            if job.cancel():
                raise  # stopped while still queued behind other starts: it never runs
            if self._gate is not None:
                self._gate.cancel()  # waiting for its commit: it never forks now
            # Stopped while the process was being started: it runs now (and may have started
            # children), so wait for it and kill its whole group.
            with contextlib.suppress(Exception):
                started = await job.outcome()
                await self._kill(started)
                started.close()
            raise
        except OSError as e:
            # The reference reports a start failure as output plus status 1.
            sink.line(start_error(argv[0] if argv else "", e))
            sink.line("")
            return 1
        try:
            await read_lines(proc, sink, pace)
            status = await proc.wait()
        except asyncio.CancelledError:
            await asyncio.shield(self._kill(proc))
            raise
        finally:
            proc.close()
        return status if status >= 0 else -1

    @staticmethod
    async def _kill(proc: Child) -> None:
        _signal_group(proc.pid, platform.TERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), KILL_GRACE)
        # whatever is left of the group, the leader's children included
        _signal_group(proc.pid, platform.KILL)
        await proc.wait()


def _signal_group(pgid: int, sig: int) -> None:
    platform.signal_group(pgid, sig)


async def read_lines(stream: Readable, sink: LineSink, pace: Pace = no_pace
                     ) -> None:
    """Feed each line (newline stripped) to the sink. A line over MAX_LINE is cut there as
    it arrives: its first MAX_LINE bytes go on at once, the rest is only counted, and a note
    line says how much was cut when the line ends, so memory stays bounded whatever a task
    prints. After each chunk it waits for `pace` (the store's room: backpressure on the
    pipe, so the process blocks, not the engine) and yields, so a task printing as fast as
    it can never starves the rest of the engine. A chunk of short lines can hold thousands:
    it yields every LINES_PER_TURN of them too, and once the sink stops accepting lines the
    rest of the chunk goes to it raw, in one piece."""
    buf = b""
    cut = -1  # bytes of the current line dropped past MAX_LINE; -1 when not cutting one
    while True:
        chunk = await stream.read(READ_CHUNK)
        if not chunk:
            break
        if cut >= 0:
            end = chunk.find(b"\n")
            cut += len(chunk) if end < 0 else end
            if end < 0:
                await pace()
                await asyncio.sleep(0)
                continue
            _note_cut(cut, sink)
            cut, chunk = -1, chunk[end + 1:]
        buf += chunk
        if sink.accepting:
            *lines, buf = buf.split(b"\n")
            for n, line in enumerate(lines):
                if not sink.accepting:
                    buf = b"\n".join([*lines[n:], buf])
                    break
                # A line can end in a chunk that arrives after MAX_LINE bytes were buffered.
                _emit_cut(line, sink)
                if n % LINES_PER_TURN == LINES_PER_TURN - 1:
                    await asyncio.sleep(0)
            if sink.accepting and len(buf) > MAX_LINE:
                _emit(buf[:MAX_LINE], sink.line)
                cut, buf = len(buf) - MAX_LINE, b""
        if not sink.accepting:
            sink.raw(buf)  # past the node's log cap: no per-line work
            buf = b""
        await pace()
        await asyncio.sleep(0)
    if cut >= 0:
        _note_cut(cut, sink)
    elif buf:
        _emit_cut(buf, sink)


def _emit_cut(raw: bytes, sink: LineSink) -> None:
    _emit(raw[:MAX_LINE], sink.line)
    if len(raw) > MAX_LINE:
        _note_cut(len(raw) - MAX_LINE, sink)


def _note_cut(dropped: int, sink: LineSink) -> None:
    sink.line(f"[line cut at {MAX_LINE} bytes: {dropped} more bytes not kept]")


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
