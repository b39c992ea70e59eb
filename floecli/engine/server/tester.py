"""The tester listener (DECISIONS §3): run one posted flow in a throw-away workspace."""

from __future__ import annotations

import asyncio
import json
import math
import tempfile
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import httpx
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..config.loader import parse_app
from ..config.yamlpos import load_text
from ..engine import Engine
from ..errors import ConfigError, RequestError
from ..events import SYS_END_ALL, Event
from ..flow import AppConfig, Common, Flow, Node
from ..hub import Hub
from ..runs import REASON_STOPPED, RunRecord
from ..store.memory import MemoryStore
from .envelope import JSONReply, endpoint, object_body, read_json, reply
from .runview import node_view

DEFAULT_TIMEOUT = 300.0
MAX_TIMEOUT = 24 * 3600.0  # a design-time run; longer is a mistake (and inf never fires)
KEEP_RESULTS = 100  # replies kept for GET /flow/runs/<id>, oldest dropped first
FETCH_TIMEOUT = 10.0
PARSE_TIMEOUT = 10.0  # loading a posted flow may take this long
MAX_FLOW_TEXT = 1 << 20  # a flow file or URL body; flows are kilobytes


def _read_capped(path: Path) -> str:
    with path.open("rb") as f:
        data = f.read(MAX_FLOW_TEXT + 1)
    if len(data) > MAX_FLOW_TEXT:
        raise OSError(f"over {MAX_FLOW_TEXT} bytes")
    return data.decode("utf-8")


class Tester:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.count = 0
        self.results: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def app(self) -> Starlette:
        routes = [Route("/status", endpoint(self.status), methods=["GET"]),
                  Route("/flow/start", endpoint(self.start), methods=["POST"]),
                  Route("/flow/runs/{run_id}", endpoint(self.get_run), methods=["GET"])]
        # No CORS middleware: no web page may read a reply, and none may send a JSON POST
        # (that takes a preflight, which nothing here answers).
        return Starlette(routes=routes, middleware=[Middleware(Unforgeable)],
                         exception_handlers={HTTPException: _http_error})

    async def status(self, request: Request) -> Response:
        return JSONReply({"status": "ok"})

    async def get_run(self, request: Request) -> Response:
        result = self.results.get(request.path_params["run_id"])
        if result is None:
            raise RequestError(404, "run not found")
        return JSONReply(result)

    async def start(self, request: Request) -> Response:
        body = object_body(await read_json(request))
        try:
            # Off the loop and on a clock: the loader's own limits bound the work, and the
            # engine keeps serving everything else meanwhile.
            flow = await asyncio.wait_for(self._flow(body), PARSE_TIMEOUT)
        except TimeoutError:
            raise RequestError(400, f"the flow took over {PARSE_TIMEOUT:g} s to load: "
                                    "refused") from None
        data = body.get("data") or body.get("attrs") or {}
        if not isinstance(data, dict):
            raise RequestError(400, "data must be a JSON object")
        timeout = _timeout(body.get("timeout"))
        return JSONReply(await self.run_once(flow, data, timeout))

    async def _flow(self, body: dict[str, Any]) -> Flow:
        inline = body.get("flow")
        uri = str(body.get("flowuri") or "")
        if isinstance(inline, dict):
            # problems are placed on the lines of the flow as JSON with two-space indents
            return await asyncio.to_thread(self._parse_text, json.dumps(inline, indent=2),
                                           "<posted flow>")
        if uri.startswith("res://flow:"):
            flow = self.engine.config.latest_flow(uri[len("res://flow:"):])
            if flow is None:
                raise RequestError(404, f"{uri}: no such flow in the app")
            return flow
        if uri.startswith("file://"):
            path = Path(unquote(urlparse(uri).path))
            try:
                text = await asyncio.to_thread(_read_capped, path)
            except (OSError, UnicodeDecodeError) as e:
                raise RequestError(400, f"{uri}: {e}") from None
            return await asyncio.to_thread(self._parse_text, text, uri)
        if uri.startswith(("http://", "https://")):
            try:
                async with httpx.AsyncClient(timeout=FETCH_TIMEOUT) as client:
                    r = await client.get(uri)
                    r.raise_for_status()
            except httpx.HTTPError as e:
                raise RequestError(400, f"{uri}: {e}") from None
            if len(r.content) > MAX_FLOW_TEXT:
                raise RequestError(400, f"{uri}: over {MAX_FLOW_TEXT} bytes")
            return await asyncio.to_thread(self._parse_text, r.text, uri)
        raise RequestError(400, "give flowUri (res://flow:ID, file://PATH, http://URL) "
                                "or an inline flow")

    def _parse_text(self, text: str, source: str) -> Flow:
        """A flow in the app document's format, or a whole app document (its first flow);
        problems carry the lines of `text` itself."""
        try:
            doc = load_text(text, source).data  # bounded: nesting and alias expansion
        except ConfigError as e:
            raise RequestError(400, f"{source}: {e}") from None
        if not isinstance(doc, dict):
            raise RequestError(400, f"{source}: expected a flow or an app document")
        if "flows" in doc:
            app_text, shift = text, 0
        elif _is_json(text):  # one flow: the only item of `flows`, one line down
            app_text, shift = '{"common": {"store-type": "memory"}, "flows": [\n' + text \
                + "\n]}\n", 1
        else:  # the same in YAML, four lines down
            body = "\n".join("    " + line for line in text.splitlines())
            app_text, shift = f"common:\n  store-type: memory\nflows:\n  -\n{body}\n", 4
        try:
            config = parse_app(app_text, source, self.engine.registry.catalog())
        except ConfigError as e:
            problems = [p for p in e.problems if p.severity == "error"]
            lines = [str(replace(p, line=max(p.line - shift, 0),
                                 path=p.path.removeprefix("flows[0].") if shift else p.path))
                     for p in problems]
            raise RequestError(400, f"{source}: invalid flow", "\n".join(lines)) from None
        if not config.flows:
            raise RequestError(400, f"{source}: no flow in it")
        return config.flows[0]

    async def run_once(self, flow: Flow, data: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.count += 1
        with tempfile.TemporaryDirectory(prefix="floe-tester-") as root:
            config = AppConfig(common=Common(store_type="memory", workspace_root=root),
                               flows=(flow,), source="<tester>")
            # run ids tester-1, tester-2, ... per engine process
            hub = Hub(config, MemoryStore(), self.engine.registry, workspace_root=Path(root),
                      host_id="tester", tags=flow.host_tags, triggers=False,
                      counter_floor=self.count - 1)
            ended = asyncio.Event()

            def on_event(event: Event) -> None:
                if event.tag == SYS_END_ALL:
                    ended.set()

            hub.queue.subscribe(on_event)
            await hub.start()
            trigger = next((t for t in flow.triggers if t.type == "data"),
                           flow.triggers[0] if flow.triggers else
                           Node("start", "start", "trigger", "data"))
            pend = await hub.start_run(flow, trigger, data, user="tester")
            if pend is None:
                await hub.stop()
                raise RequestError(400, f"flow {flow.id}: its flow-file could not be loaded")
            timed_out = False
            try:
                await asyncio.wait_for(ended.wait(), timeout)
            except TimeoutError:
                timed_out = True
                await hub.stop_run(flow.id, pend.run_id)
            found = await hub.find_run(flow.id, pend.run_id)
            await hub.stop()
        result = self._result(flow, pend.run_id, found if isinstance(found, RunRecord) else None,
                              timed_out=timed_out)
        self.results[pend.run_id] = result
        while len(self.results) > KEEP_RESULTS:
            self.results.popitem(last=False)
        return result

    def _result(self, flow: Flow, run_id: str, record: RunRecord | None,
                timed_out: bool) -> dict[str, Any]:
        nodes = []
        for node in flow.tasks:
            view = node_view(node, record, node.type == "data")
            status, result = view["Status"], view["Result"]
            if node.class_ == "merge" and status == "finished" and not result:
                result = "success"
            elif timed_out and result == REASON_STOPPED:  # killed by the tester's own clock
                result = "timed out"
            nodes.append({"id": node.id, "name": node.name, "type": node.type,
                          "status": status, "result": result,
                          "logs": view["Logs"] or []})
        reason = record.reason if record is not None else ""
        if timed_out and reason in (REASON_STOPPED, ""):
            reason = "timed out"
        return {"id": run_id, "flow": flow.id,
                "result": record.status if record is not None else "unknown",
                "good": bool(record and record.good), "reason": reason, "nodes": nodes}

    async def close(self) -> None:
        pass


def _timeout(value: Any) -> float:
    """A finite positive number of seconds (a number, or a string of one); none: the default.
    NaN or infinity would never fire, so the run would never be stopped."""
    if value is None:
        return DEFAULT_TIMEOUT
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError
        seconds = float(value)
    except (ValueError, OverflowError):
        seconds = math.nan
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_TIMEOUT):
        raise RequestError(400, f"timeout must be a number of seconds above 0 and at most "
                                f"{MAX_TIMEOUT:g}, not {str(value)[:40]!r}")
    return seconds


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return reply(None, "not found" if status == 404 else
                 f"method not allowed: {request.method}" if status == 405 else "error", status)


class Unforgeable:
    """Only requests a web page cannot make (DECISIONS §3, tester): the listener runs any
    posted command, with no login, for the developer on this machine.

    - a Host that is not the listener's own address is refused (421), so a page of a domain
      rebound to 127.0.0.1 cannot reach it;
    - a POST must say `Content-Type: application/json` (415 otherwise): a cross-site form or
      `fetch` without a preflight can only send text/plain, form or multipart bodies;
    - OPTIONS (a preflight) is refused and no reply carries CORS headers.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def refusal(scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        host = headers.get("host", "").lower()
        if host not in own_hosts(scope.get("server")):
            return reply(None, f"this is the tester listener: Host {host[:100]!r} is not its "
                               "own address (use 127.0.0.1 or localhost and its port)", 421)
        method = scope["method"]
        if method == "OPTIONS":
            return reply(None, "the tester answers no preflight (no cross-origin use)", 405,
                         headers={"Allow": "GET, HEAD, POST"})
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if method == "POST" and media != "application/json":
            return reply(None, "the tester takes POST bodies with Content-Type: "
                               f"application/json only, not {media or 'none'!r}", 415)
        return None


def own_hosts(server: Any) -> frozenset[str]:
    """The Host values that name this listener: loopback names and the bound address, with
    its port (an HTTP/1.1 client always sends the port of a non-default one)."""
    if not server:
        return frozenset()
    bound, port = str(server[0]).lower(), server[1]
    names = {"127.0.0.1", "localhost", "[::1]", f"[{bound}]" if ":" in bound else bound}
    names.discard("0.0.0.0")
    names.discard("[::]")
    return frozenset(f"{n}:{port}" for n in names)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
