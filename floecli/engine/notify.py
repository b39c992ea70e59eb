"""Run-end webhooks (`common.notify`, or a flow's own `notify`): the run's summary JSON POSTed
when a run ends with a result the hook asks for.

Deliveries happen beside the engine, never in its way: the end of a run only queues one; each
hook has its own queue and a few senders, each delivery its timeout and a bounded number of
retries, and a hook that still fails is one warning in the engine's log. Past MAX_QUEUED
waiting deliveries for a hook new ones are dropped (with a warning), never held without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .events import SYS_END_ALL, Event
from .flow import Notify
from .runs import RunRecord, fmt_time, now
from .secrets import mask

if TYPE_CHECKING:
    import httpx

    from .hub import Hub

log = logging.getLogger(__name__)

CONCURRENCY = 2  # senders per hook
MAX_QUEUED = 1000  # per hook
STOP_GRACE = 5.0  # seconds the engine's stop waits for queued deliveries
BACKOFF = 1.0  # seconds before the first retry, doubled for each next one


def payload(event: Event, record: RunRecord | None) -> dict[str, Any]:
    """What a hook receives: the run's summary plus, when it failed, which nodes failed."""
    ref = event.run_ref
    body: dict[str, Any] = {
        "Flow": ref.flow_ref.to_json(), "Run": ref.run_id, "Result": "good" if event.good
        else "bad", "Good": event.good, "Host": ref.exec_host or ref.run.host_id,
        "Sent": fmt_time(now()),
    }
    if record is not None:
        body["Summary"] = record.summary()
        body["FailedNodes"] = sorted(n for n, rec in record.exec_nodes.items()
                                     if rec.stopped and not rec.good)
    return body


def shown(url: str) -> str:
    """A hook's URL as the log shows it: scheme, host and port. Its path, query and user info
    often are its secret (a chat service's webhook URL is its own credential)."""
    parts = urlsplit(url)
    where = parts.hostname or ""
    if ":" in where:
        where = f"[{where}]"
    if parts.port is not None:
        where += f":{parts.port}"
    rest = "/…" if parts.path.strip("/") or parts.query or parts.fragment else ""
    return f"{parts.scheme}://{where}{rest}"


class Notifier:
    """Watches the engine's events for run ends and delivers them to the hooks. Each hook has
    its own queue and senders, so a hook that hangs delays only its own deliveries."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._lanes: dict[Notify, tuple[asyncio.Queue[Event], list[asyncio.Task[None]]]] = {}
        self._client: httpx.AsyncClient | None = None
        self._started = False
        self.delivered = 0  # counts, for tests and the curious
        self.failed = 0

    @property
    def wanted(self) -> bool:
        config = self._hub.config
        return bool(config.common.notify) or any(f.notify for f in config.flows)

    def start(self) -> None:
        if not self.wanted:
            return
        import httpx

        self._client = httpx.AsyncClient(follow_redirects=False)
        self._hub.queue.subscribe(self._on_event)
        self._started = True

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Give what is queued (a `-once` run that just ended) a short while, then stop."""
        if not self._started:
            return
        self._started = False
        self._hub.queue.unsubscribe(self._on_event)
        queues = [q for q, _ in self._lanes.values()]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(q.join() for q in queues)), grace)
        workers = [w for _, ws in self._lanes.values() for w in ws]
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._lanes.clear()
        if self._client is not None:
            await self._client.aclose()

    def _on_event(self, event: Event) -> None:
        if event.tag != SYS_END_ALL or not event.run_ref.adopted:
            return
        result = "good" if event.good else "bad"
        for hook in self._hub.config.notify(event.run_ref.flow_ref.id):
            if result not in hook.on:
                continue
            queue = self._lane(hook)
            if queue.qsize() >= MAX_QUEUED:
                log.warning("notify %s: %d deliveries waiting, run %s not sent", shown(hook.url),
                            MAX_QUEUED, event.run_ref.run_id)
                continue
            queue.put_nowait(event)

    def _lane(self, hook: Notify) -> asyncio.Queue[Event]:
        lane = self._lanes.get(hook)
        if lane is None:
            queue: asyncio.Queue[Event] = asyncio.Queue()
            name = f"notify {shown(hook.url)}"
            workers = [asyncio.create_task(self._serve(hook, queue), name=name)
                       for _ in range(CONCURRENCY)]
            lane = self._lanes[hook] = (queue, workers)
        return lane[0]

    async def _serve(self, hook: Notify, queue: asyncio.Queue[Event]) -> None:
        while True:
            event = await queue.get()
            try:
                await self._deliver(hook, event)
            except asyncio.CancelledError:
                raise
            except Exception:  # a hook must never stop the notifier
                log.exception("notify %s: run %s", shown(hook.url), event.run_ref.run_id)
            finally:
                queue.task_done()

    async def _deliver(self, hook: Notify, event: Event) -> None:
        assert self._client is not None
        run_id = event.run_ref.run_id
        record = await self._hub.find_run(event.run_ref.flow_ref.id, run_id)
        body = mask(json.dumps(payload(event, record if isinstance(record, RunRecord)
                                       else None)))
        last = ""
        for attempt in range(hook.retries + 1):
            if attempt:
                await asyncio.sleep(BACKOFF * 2 ** (attempt - 1))
            try:
                r = await self._client.post(hook.url, content=body, timeout=hook.timeout,
                                            headers={"Content-Type": "application/json",
                                                     "User-Agent": "floe-notify"})
            except Exception as e:  # httpx.HTTPError, a bad URL, ...
                last = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                continue
            if r.status_code < 300:
                self.delivered += 1
                return
            last = f"HTTP {r.status_code}"
            if 400 <= r.status_code < 500 and r.status_code not in (408, 429):
                break  # the hook refuses this body: sending it again will not help
        self.failed += 1
        log.warning("notify %s: run %s of flow %s not delivered after %d attempt(s): %s",
                    shown(hook.url), run_id, event.run_ref.flow_ref.id, attempt + 1, mask(last))
