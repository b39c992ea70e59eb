"""A chatty task cannot take the engine down: its log is capped, the rest goes to a file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from flows import app, flow, one_task, task

from floecli.engine.hub.process import LINES_PER_TURN, read_lines


async def test_lines_past_the_cap_go_to_the_node_log_file(engine_factory):
    h = await engine_factory(app(one_task("chatty", "seq 50000", task_id="talk"),
                                 store_type="local", log_lines=100))
    end = await h.run_to_end("chatty", timeout=120)
    assert end.good
    run = end.run_ref.run_id
    record = await h.hub.find_run("chatty", run)
    node = record.exec_nodes["talk"]
    assert len(node.logs) == 101 and node.logs[-1].startswith("[log cap reached (100 lines")
    kept = [line for line in node.logs[:-1] if line.isdigit()]
    in_file = Path(node.log_file).read_text().split()
    # every line is somewhere, in order, once
    assert kept + in_file == [str(n) for n in range(1, 50001)]
    assert node.spilled == len(in_file)
    assert len(await h.hub.store.node_logs(run, "talk")) == 1
    assert len((await h.hub.store.node_logs(run, "talk"))["talk"]) == 101


async def test_a_firehose_task_is_paced_and_the_engine_goes_on(engine_factory):
    h = await engine_factory(app(flow("firehose", task("yes", shell="yes | head -c 20000000"),
                                      task("other", "echo meanwhile")),
                                 store_type="local", log_lines=1000))
    end = await h.run_to_end("firehose", timeout=120)
    run = end.run_ref.run_id
    record = await h.hub.find_run("firehose", run)
    assert end.good and "meanwhile" in record.exec_nodes["other"].logs
    node = record.exec_nodes["yes"]
    assert len(node.logs) == 1001
    assert node.spilled + sum(1 for line in node.logs if line == "y") == 10_000_000


class CappedSink:
    """A LineSink that takes `cap` lines one by one, then only raw chunks."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.lines: list[str] = []
        self.raws: list[bytes] = []

    @property
    def accepting(self) -> bool:
        return len(self.lines) < self.cap

    def line(self, text: str) -> None:
        self.lines.append(text)

    def raw(self, data: bytes) -> None:
        self.raws.append(data)


async def test_a_chunk_of_many_short_lines_goes_raw_once_the_cap_is_reached():
    stream = asyncio.StreamReader()
    stream.feed_data(b"y\n" * 30_000 + b"tail")  # one read: 30,000 lines and a partial one
    stream.feed_eof()
    sink = CappedSink(cap=100)
    await read_lines(stream, sink)
    # The 29,900 lines past the cap are one raw piece, not 29,900 calls of line().
    assert sink.lines == ["y"] * 100
    assert b"".join(sink.raws) == b"y\n" * 29_900 + b"tail"
    assert len(sink.raws) == 1


async def test_reading_a_chunk_of_many_lines_lets_the_loop_run_between():
    stream = asyncio.StreamReader()
    stream.feed_data(b"y\n" * (LINES_PER_TURN * 4))
    stream.feed_eof()
    sink = CappedSink(cap=10**9)
    seen: list[int] = []
    loop = asyncio.get_running_loop()

    def sample() -> None:  # once a loop turn, until the chunk is read
        seen.append(len(sink.lines))
        if len(sink.lines) < LINES_PER_TURN * 4:
            loop.call_soon(sample)

    loop.call_soon(sample)
    await read_lines(stream, sink)
    # The watcher ran while the chunk was read, not only before and after it.
    assert any(0 < n < LINES_PER_TURN * 4 for n in seen)
