"""Child processes in their own process groups: spawn, stream lines, kill the whole group."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024  # longer lines are split, never allowed to stall the reader
READ_CHUNK = 64 * 1024
KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL


class ProcessGroup:
    """The processes one task started, so a stop or timeout can kill all of them."""

    def __init__(self) -> None:
        self._procs: set[asyncio.subprocess.Process] = set()

    async def run(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | None,
        env: Mapping[str, str],
        on_line: Callable[[str], None],
    ) -> int:
        spawn = asyncio.ensure_future(asyncio.create_subprocess_exec(
            *argv, cwd=cwd, env=dict(env), stdin=asyncio.subprocess.DEVNULL,
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
            on_line(start_error(argv[0] if argv else "", e))
            on_line("")
            return 1
        self._procs.add(proc)
        try:
            assert proc.stdout is not None
            await read_lines(proc.stdout, on_line)
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


async def read_lines(stream: asyncio.StreamReader, on_line: Callable[[str], None]) -> None:
    """Feed each line (newline stripped) to on_line; lines over MAX_LINE are split."""
    buf = b""
    while True:
        chunk = await stream.read(READ_CHUNK)
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            # A line can end in a chunk that arrives after MAX_LINE bytes of it were buffered.
            _emit_split(line, on_line)
        while len(buf) > MAX_LINE:
            _emit_split(buf[:MAX_LINE], on_line)
            buf = buf[MAX_LINE:]
    if buf:
        _emit_split(buf, on_line)


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
