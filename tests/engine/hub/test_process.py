"""Task processes: started off the loop, in the order asked, read and reaped on the loop."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from pathlib import Path

import pytest

from floecli.engine.errors import StoreError
from floecli.engine.hub import process
from floecli.engine.hub.process import Lines, ProcessGroup, child_env

WAIT_S = 10.0
REAL_POPEN = subprocess.Popen


class HeldStarts:
    """subprocess.Popen as the process module sees it, each start held until released."""

    def __init__(self) -> None:
        self.asked = threading.Event()  # a start is waiting to be released
        self.release = threading.Event()
        self.started: list[subprocess.Popen[bytes]] = []
        self.order: list[str] = []

    def __call__(self, argv: list[str], **kw: object) -> subprocess.Popen[bytes]:
        self.asked.set()
        if not self.release.wait(WAIT_S):
            raise OSError("the test never released this start")
        self.order.append(argv[-1])
        proc = REAL_POPEN(argv, **kw)
        self.started.append(proc)
        return proc


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> HeldStarts:
    starts = HeldStarts()
    monkeypatch.setattr(subprocess, "Popen", starts)
    return starts


class RecordingSpawner:
    """The spawner thread's executor, noting each start submitted to it."""

    def __init__(self, real: object) -> None:
        self._real = real
        self._asked: list[str] = []
        self._changed = asyncio.Event()

    def submit(self, fn: object, *args: object, **kw: object) -> object:
        self._asked.append(repr((fn, args, kw)))
        self._changed.set()
        return self._real.submit(fn, *args, **kw)  # type: ignore[attr-defined]

    async def asked_for(self, word: str) -> None:
        while not any(repr(word) in asked for asked in self._asked):
            self._changed.clear()
            await self._changed.wait()


@pytest.fixture
def spawns(monkeypatch: pytest.MonkeyPatch) -> RecordingSpawner:
    recording = RecordingSpawner(process.spawner())
    monkeypatch.setattr(process, "spawner", lambda: recording)
    return recording


async def _asked(held: HeldStarts) -> None:
    assert await asyncio.to_thread(held.asked.wait, WAIT_S), "no process start was asked for"


async def test_the_loop_keeps_running_while_a_process_is_started(held: HeldStarts,
                                                                  tmp_path: Path):
    lines: list[str] = []
    running = asyncio.ensure_future(ProcessGroup().run(
        ["echo", "hello"], cwd=tmp_path, env=child_env({}), sink=Lines(lines.append)))
    # The start is blocked (as an exec on a slow filesystem blocks), yet the loop runs: it
    # hears from the thread that the start was asked for.
    await _asked(held)
    assert not running.done()
    held.release.set()
    assert await asyncio.wait_for(running, WAIT_S) == 0
    assert lines == ["hello"]


async def test_processes_start_in_the_order_they_were_asked_for(held: HeldStarts,
                                                                 tmp_path: Path):
    group = ProcessGroup()
    runs = []
    for n in range(6):
        runs.append(asyncio.ensure_future(group.run(
            ["echo", str(n)], cwd=tmp_path, env=child_env({}), sink=Lines(lambda _: None))))
    await _asked(held)  # the tasks ran their first steps in the order they were made
    held.release.set()
    assert await asyncio.wait_for(asyncio.gather(*runs), WAIT_S) == [0] * 6
    assert held.order == [str(n) for n in range(6)]


async def test_a_task_stopped_while_its_process_starts_kills_that_process(held: HeldStarts,
                                                                          tmp_path: Path):
    running = asyncio.ensure_future(ProcessGroup().run(
        ["sleep", "30"], cwd=tmp_path, env=child_env({}), sink=Lines(lambda _: None)))
    await _asked(held)
    running.cancel()
    held.release.set()  # the process starts after its task was stopped
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(running, WAIT_S)
    [proc] = held.started
    assert proc.returncode is not None and proc.returncode < 0  # reaped, killed by a signal


async def test_a_task_stopped_while_its_start_is_queued_never_starts(
        held: HeldStarts, spawns: RecordingSpawner, tmp_path: Path):
    group = ProcessGroup()
    first = asyncio.ensure_future(group.run(
        ["echo", "first"], cwd=tmp_path, env=child_env({}), sink=Lines(lambda _: None)))
    await _asked(held)  # the first start holds the spawner's thread
    queued = asyncio.ensure_future(group.run(
        ["echo", "queued"], cwd=tmp_path, env=child_env({}), sink=Lines(lambda _: None)))
    await asyncio.wait_for(spawns.asked_for("queued"), WAIT_S)  # queued behind it
    queued.cancel()
    # Done at once: the stop does not wait for the starts ahead of it.
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(queued, WAIT_S)
    assert not first.done()
    held.release.set()
    assert await asyncio.wait_for(first, WAIT_S) == 0
    assert held.order == ["first"]


class HeldGate:
    """A store's commit as the spawner thread waits for it (RunStore.gate), held until the
    test commits it."""

    def __init__(self) -> None:
        self.waiting = threading.Event()
        self.cancelled = False
        self._opened = threading.Event()  # committed, or cancelled

    def wait(self) -> None:
        self.waiting.set()
        if not self._opened.wait(WAIT_S) or self.cancelled:
            raise StoreError("stopped while waiting for the run store's commit")

    def commit(self) -> None:
        self._opened.set()

    def cancel(self) -> None:
        self.cancelled = True
        self._opened.set()


async def test_a_process_is_forked_only_once_its_gate_opens(held: HeldStarts, tmp_path: Path):
    # Write ahead without the loop: the spawner thread waits for the commit of the task's
    # start, then forks.
    gate = HeldGate()
    started: list[str] = []
    running = asyncio.ensure_future(ProcessGroup(lambda: started.append("journal"),
                                                 gate=gate).run(
        ["echo", "hello"], cwd=tmp_path, env=child_env({}), sink=Lines(lambda _: None)))
    assert await asyncio.to_thread(gate.waiting.wait, WAIT_S)
    # Not even the spawn journal's line (a restart would call the task started) nor Popen.
    assert not held.asked.is_set() and started == []
    gate.commit()
    held.release.set()
    assert await asyncio.wait_for(running, WAIT_S) == 0
    assert started == ["journal"] and held.order == ["hello"]


async def test_a_task_stopped_while_its_gate_is_closed_never_forks(held: HeldStarts,
                                                                  tmp_path: Path):
    gate = HeldGate()
    running = asyncio.ensure_future(ProcessGroup(gate=gate).run(
        ["echo", "never"], cwd=tmp_path, env=child_env({}), sink=Lines(lambda _: None)))
    assert await asyncio.to_thread(gate.waiting.wait, WAIT_S)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(running, WAIT_S)
    assert gate.cancelled and not held.asked.is_set() and held.started == []


async def test_exit_status_signal_and_start_failure(tmp_path: Path):
    lines: list[str] = []
    env = child_env({})
    group = ProcessGroup()
    assert await group.run(["sh", "-c", "echo out; echo err >&2; exit 3"], cwd=tmp_path,
                           env=env, sink=Lines(lines.append)) == 3
    assert lines == ["out", "err"]  # stderr joins stdout, as the reference shows it
    assert await group.run(["sh", "-c", "kill -9 $$"], cwd=tmp_path, env=env,
                           sink=Lines(lines.append)) == -1
    lines.clear()
    assert await group.run(["no-such-command-here"], cwd=tmp_path, env=env,
                           sink=Lines(lines.append)) == 1
    assert lines[0] == 'exec: "no-such-command-here": executable file not found in $PATH'


async def test_a_process_that_closes_its_output_early_is_still_waited_for(tmp_path: Path):
    # Its output ends long before it does: the status is its exit, not the pipe's end.
    status = await asyncio.wait_for(ProcessGroup().run(
        ["sh", "-c", "exec >&- 2>&-; sleep 0.2; exit 4"], cwd=tmp_path, env=child_env({}),
        sink=Lines(lambda _: None)), WAIT_S)
    assert status == 4


async def test_no_descriptor_is_left_open_after_a_run(tmp_path: Path):
    before = set(os.listdir("/proc/self/fd"))
    for _ in range(5):
        await ProcessGroup().run(["true"], cwd=tmp_path, env=child_env({}),
                                 sink=Lines(lambda _: None))
    after = set(os.listdir("/proc/self/fd"))
    assert after - before <= {str(process.devnull())}  # the one shared /dev/null


@pytest.mark.parametrize("missing", ["add_reader", "set_blocking"])
async def test_output_is_read_where_the_loop_cannot_watch_a_pipe(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                missing: str):
    # Windows: the proactor loop has no add_reader, and before Python 3.12 a pipe cannot be
    # made non-blocking. The output is then read on a worker thread, every line of it.
    if missing == "add_reader":
        def no_readers(*_: object) -> None:
            raise NotImplementedError
        monkeypatch.setattr(asyncio.get_running_loop(), "add_reader", no_readers)
    else:
        monkeypatch.delattr(os, "set_blocking")
    lines: list[str] = []
    status = await asyncio.wait_for(ProcessGroup().run(
        ["sh", "-c", "sleep 0.1; seq 3; exit 2"], cwd=tmp_path, env=child_env({}),
        sink=Lines(lines.append)), WAIT_S)
    assert (status, lines) == (2, ["1", "2", "3"])


async def test_exit_is_awaited_where_the_loop_cannot_watch_a_descriptor(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # The process outlives its output (it closes it first), so its exit is waited for after
    # the last read: on a loop with no add_reader, by a thread, not by watching its pidfd.
    def no_readers(*_: object) -> None:
        raise NotImplementedError
    monkeypatch.setattr(asyncio.get_running_loop(), "add_reader", no_readers)
    status = await asyncio.wait_for(ProcessGroup().run(
        ["sh", "-c", "exec >&- 2>&-; sleep 0.3; exit 5"], cwd=tmp_path, env=child_env({}),
        sink=Lines(lambda _: None)), WAIT_S)
    assert status == 5
