"""Test helpers: a real engine in-process, with its events recorded."""

from __future__ import annotations

import asyncio
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from floecli.engine.config.loader import parse_app
from floecli.engine.contributions.registry import Registry
from floecli.engine.engine import Engine, EngineOptions
from floecli.engine.events import SYS_END_ALL, Event, FlowRef


class EngineHarness:
    """A started engine plus every event it published, in order."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.hub = engine.hub
        self.events: list[Event] = []
        self._changed = asyncio.Event()
        engine.queue.subscribe(self._record)

    def _record(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait_for(self, pred: Callable[[Event], bool], timeout: float = 30.0) -> Event:
        """The first event (already seen or still to come) matching `pred`."""
        async def scan() -> Event:
            seen = 0
            while True:
                for e in self.events[seen:]:
                    if pred(e):
                        return e
                seen = len(self.events)
                self._changed.clear()
                await self._changed.wait()
        return await asyncio.wait_for(scan(), timeout)

    async def wait_tag(self, tag: str, run_id: str | None = None, timeout: float = 30.0) -> Event:
        return await self.wait_for(
            lambda e: e.tag == tag and (run_id is None or e.run_ref.run_id == run_id), timeout)

    async def start_run(self, flow_id: str, values: dict[str, Any] | None = None,
                        trigger: str = "") -> str:
        """Push data to the flow's data trigger; return the new run's id."""
        flow = self.hub.config.latest_flow(flow_id)
        assert flow is not None, flow_id
        started = await self.hub.submit(FlowRef(flow.id, flow.ver), trigger, values or {})
        assert len(started) == 1, started
        return started[0]

    async def run_to_end(self, flow_id: str, values: dict[str, Any] | None = None,
                         timeout: float = 30.0) -> Event:
        run_id = await self.start_run(flow_id, values)
        return await self.wait_tag(SYS_END_ALL, run_id, timeout)

    def count(self, tag: str, run_id: str | None = None) -> int:
        return sum(1 for e in self.events
                   if e.tag == tag and (run_id is None or e.run_ref.run_id == run_id))

    def lines(self, run_id: str, node_id: str) -> list[str]:
        return [e.opts["update"] for e in self.events if e.tag == "sys.node.update"
                and e.run_ref.run_id == run_id and e.source_node.id == node_id]


def wait_until(check: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Poll an observable condition (a file, a row, a process) until it holds, with a bound;
    for state another process owns, where there is no event to wait on."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or check}")
        time.sleep(0.02)


def make_engine(tmp_path: Path, app_yaml: str, *, host: str = "h1",
                tags: tuple[str, ...] = ("master",), store: str = "memory",
                vendor: tuple[Path, ...] = ()) -> Engine:
    """An engine on `app_yaml` (common.store-type forced to `store`) rooted in tmp_path, with
    the built-in node types plus the contributions in each `vendor` directory."""
    registry = Registry.discover(vendor)
    text = textwrap.dedent(app_yaml)
    if "common:" not in text:
        text = f"common:\n  store-type: {store}\n" + text
    config = parse_app(text, str(tmp_path / "app.yml"), registry.catalog())
    opts = EngineOptions(host_name=host, tags=tags, root=str(tmp_path / "root"))
    return Engine(opts, registry=registry, config=config)
