"""The REST routes under `base-url` (floe-reference §6.4) plus stop, logs and openapi.json."""

from __future__ import annotations

import gzip
import hmac
import json
import re
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from ..errors import RequestError, RunNotFound
from ..events import FlowRef
from ..pend import Pend
from ..runs import RunRecord
from ..store.base import KEPT_PREFIX
from .appcookie import CLEAR_MARKER
from .auth import COOKIE, ROLE_ADMIN, app_marker, is_secure, require
from .context import ARCHIVE_PAGE, ServerContext
from .effects import OPEN, READ, SESSION, WRITE, Operation, routes_of
from .envelope import (
    LOGIN_BODY,
    JSONReply,
    check_types,
    fields,
    object_body,
    read_body,
    read_json,
    reply,
)
from .files import file_path, serve
from .runview import run_view

FORWARDED = "X-Floe-Forwarded"  # set on a request one host forwards to another
FORWARDED_USER = "X-Floe-User"  # ... with the user it forwards it for
LOG_PAGE = 1000  # lines per node in a logs reply unless ?limit= says otherwise
HOST_ID = re.compile(r"[A-Za-z0-9_.-]+")
# `<host>-<n>` as the engine makes them: a printable host id and a counter that fits Go's
# int (the store's too), in ASCII digits (str.isdigit takes "²", which int() refuses)
RUN_ID = re.compile(r"([^\x00-\x1f\x7f]{1,255})-([1-9][0-9]{0,18})")
MAX_INT = 2**63 - 1
MAX_PAGE = 10**9  # offset and limit: far past any archive, far below any store's integer
PAGE_NUMBER = re.compile(r"-?[0-9]{1,10}")


class Api:
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx

    def operations(self) -> list[Operation]:
        """Every (path, method) served under `base-url`, with what it does: the effect, not
        the method's name, decides who may call it (auth.require)."""
        return [
            Operation("/login", "POST", self.login, OPEN),
            Operation("/logout", "POST", self.logout, SESSION),
            Operation("/flows", "GET", self.flows, READ),
            Operation("/flows/{flow_id}", "GET", self.flow, READ),
            Operation("/flows/{flow_id}/triggers", "GET", self.triggers, READ),
            Operation("/flows/{flow_id}/runs/{run_id}", "GET", self.run, READ),
            Operation("/flows/{flow_id}/runs/{run_id}/stop", "POST", self.stop, WRITE),
            Operation("/flows/{flow_id}/runs/{run_id}/logs", "GET", self.logs, READ),
            Operation("/flows/{flow_id}/runs/{run_id}/rerun", "POST", self.rerun, WRITE),
            Operation("/flows/{flow_id}/runs/{run_id}/files", "GET", self.files, READ),
            Operation("/flows/{flow_id}/runs/{run_id}/files/{path:path}", "GET", self.files,
                      READ),
            Operation("/flows/{flow_id}/runs/{run_id}/keep", "POST", self.keep, WRITE),
            Operation("/flows/{flow_id}/runs/{run_id}/keep", "DELETE", self.keep, WRITE),
            # GET is the reference's no-op; only POST pushes (a HEAD is the GET's, so a
            # viewer's HEAD with a body does nothing).
            Operation("/push/data", "GET", self.push_data_noop, READ),
            Operation("/push/data", "POST", self.push_data, WRITE),
            Operation("/openapi.json", "GET", self.openapi, OPEN),
            Operation("/p2p/flows/exec", "POST", self.p2p_exec, WRITE),
            Operation("/p2p/flows/{flow_id}/runs", "GET", self.p2p_runs, READ),
            Operation("/p2p/flows/{flow_id}/runs/{run_id}", "GET", self.p2p_run, READ),
            Operation("/p2p/config", "GET", self.p2p_config, READ),
            Operation("/p2p/announce", "POST", self.p2p_announce, WRITE),
            Operation("/p2p/resources/claim", "POST", self.p2p_claim, WRITE),
            Operation("/p2p/events", "GET", self.p2p_events, READ),
            Operation("/hosts", "GET", self.hosts, READ),
            Operation("/health", "GET", self.health, READ),
        ]

    def routes(self) -> list[BaseRoute]:
        return routes_of(self.operations())

    # ---- sessions -----------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        # Nobody is authenticated yet: a small body only (a name and a password).
        body = object_body(await read_json(request, limit=LOGIN_BODY))
        address = request.client.host if request.client else ""
        principal = await self.ctx.sessions.login(str(body.get("user") or ""),
                                                  str(body.get("password") or ""), address)
        state = request.scope.setdefault("state", {})
        state["floe_cookie"] = self.ctx.sessions.cookie(principal.token,
                                                        secure=is_secure(request))
        state["floe_marker"] = app_marker(principal, self.ctx.sessions)
        return reply({"User": principal.user, "Role": principal.wire_role,
                      "Token": principal.token})

    async def logout(self, request: Request) -> Response:
        principal = await require(request, self.ctx.sessions)
        self.ctx.sessions.logout(principal)
        request.scope["state"]["floe_cookie"] = f"{COOKIE}=; Path=/; Max-Age=0"
        request.scope["state"]["floe_marker"] = CLEAR_MARKER
        return reply(None, "logged out")

    # ---- flows and runs ------------------------------------------------------------------

    async def flows(self, request: Request) -> Response:
        await require(request, self.ctx.sessions)
        return reply(self.ctx.config.to_json())

    async def flow(self, request: Request) -> Response:
        await require(request, self.ctx.sessions)
        flow_id = request.path_params["flow_id"]
        flow = self.ctx.config.latest_flow(flow_id)
        if flow is None:
            raise RequestError(404, "not found")
        offset, limit = page(request, ARCHIVE_PAGE)
        if self.ctx.peers.roots:
            runs = merge_summaries([await self.ctx.run_summaries(flow_id, offset, limit),
                                    *await self.ctx.peers.run_summaries(flow_id)])
            return reply({"Config": flow.to_json(), "Runs": runs})
        if (offset, limit) != (0, ARCHIVE_PAGE):
            runs = await self.ctx.run_summaries(flow_id, offset, limit)
            return reply({"Config": flow.to_json(), "Runs": runs})
        # Dashboards poll this; with a long archive, rendering is the cost, so the rendered
        # reply is kept until a run of the flow changes.
        hit = self.ctx.cached_reply(flow_id)
        if hit is None:
            key = self.ctx.reply_key(flow_id)
            runs = await self.ctx.run_summaries(flow_id)
            body = reply({"Config": flow.to_json(), "Runs": runs}).body
            hit = (bytes(body), gzip.compress(body, compresslevel=5))
            self.ctx.cache_reply(flow_id, hit[0], hit[1], key)
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(hit[1], media_type="application/json",
                            headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
        return Response(hit[0], media_type="application/json")

    async def triggers(self, request: Request) -> Response:
        """Each trigger of the flow's highest ver on this host, with its last error (a
        poll-git whose ls-remote fails, a flow-file that does not load)."""
        await require(request, self.ctx.sessions)
        flow = self.ctx.config.latest_flow(request.path_params["flow_id"])
        if flow is None:
            raise RequestError(404, "not found")
        contexts = self.ctx.hub.trigger_contexts
        out = []
        for node in flow.triggers:
            ctx = contexts.get((flow.id, node.id))
            out.append(ctx.status() if ctx is not None else
                       {"ID": node.id, "Type": node.type, "LastError": "",
                        "LastErrorTime": None, "LastOK": None, "Failures": 0})
        return reply({"Triggers": out})

    async def _find(self, request: Request, *, remote: bool = True) -> RunRecord | Pend:
        flow_id = request.path_params["flow_id"]
        run_id = checked_run_id(request.path_params["run_id"], 404)
        found = await self.ctx.hub.find_run(flow_id, run_id)
        if found is None and remote and self.ctx.peers.roots:
            raw = await self.ctx.peers.find_run(flow_id, run_id)
            if raw is not None:
                found = RunRecord.from_json(raw)
        if found is None:
            raise RequestError(404, "run not found")
        return found

    async def run(self, request: Request) -> Response:
        await require(request, self.ctx.sessions)
        found = await self._find(request)
        run_id = request.path_params["run_id"]
        view = run_view(found, run_id, self.ctx.data_types())
        if isinstance(found, RunRecord) and found.ended:
            # whether retention leaves it alone (POST/DELETE .../keep)
            view = {**view, "Kept": bool(await self.ctx.hub.store.get(KEPT_PREFIX + run_id))}
        if request.query_params.get("export") in ("1", "true", "yes"):
            name = f"{found.flow.id}-{run_id}.json"
            return reply({"Run": found.to_json(), "View": view},
                         headers={"Content-Disposition": f'attachment; filename="{name}"'})
        return reply(view)

    def _user(self, request: Request, principal: Any) -> str:
        """Who asked: the user a peer forwarded the request for (host token only), else the
        caller."""
        forwarded_for = request.headers.get(FORWARDED_USER, "")
        token = self.ctx.admin_token
        if (forwarded_for and request.headers.get(FORWARDED) and token
                and hmac.compare_digest(principal.token.encode(), token.encode())):
            return forwarded_for[:200]
        return str(principal.user)

    async def _forwarded(self, request: Request, body: bytes = b"",
                         run_id: str = "", flow_id: str = "", *, user: str = ""
                         ) -> Response | None:
        """The answer of the host executing the run, when that is another host of the
        cluster (cluster/views.py); None when no other host has it."""
        cluster = self.ctx.cluster
        if cluster is None or request.headers.get(FORWARDED):
            return None  # a forwarded request is answered where it lands: never a loop
        from ..cluster.views import executing_peer, forward

        flow_id = flow_id or request.path_params["flow_id"]
        run_id = run_id or request.path_params["run_id"]
        peer = await executing_peer(cluster.membership, flow_id, run_id)
        if peer is None:
            return None
        path = request.url.path[len(self.ctx.base):]
        if not user:
            principal = await require(request, self.ctx.sessions)
            user = str(principal.user)
        r = await forward(cluster.membership, peer, request.method, path, request.url.query,
                          body, headers={FORWARDED: self.ctx.hub.host_id,
                                         FORWARDED_USER: user})
        return Response(r.content, r.status_code,
                        media_type=r.headers.get("content-type", "application/json"))

    async def _local_or_forwarded(self, request: Request, body: bytes = b""
                                  ) -> RunRecord | Pend | Response:
        """The run if this host has it, else the answer of the host executing it."""
        try:
            return await self._find(request, remote=False)
        except RequestError as e:
            if e.status != 404:
                raise
            forwarded = await self._forwarded(request, body)
            if forwarded is None:
                raise
            return forwarded

    async def stop(self, request: Request) -> Response:
        principal = await require(request, self.ctx.sessions)
        found = await self._local_or_forwarded(request)
        if isinstance(found, Response):
            return found
        if isinstance(found, RunRecord) and found.ended:
            raise RequestError(409, f"run {found.run_id} has already ended ({found.status})")
        await self.ctx.hub.stop_run(found.flow.id, found.run_id, self._user(request, principal))
        return reply(None, "stopped")

    async def keep(self, request: Request) -> Response:
        """POST marks the run kept (retention never removes it), DELETE unmarks it."""
        await require(request, self.ctx.sessions)  # a write: admins only
        found = await self._local_or_forwarded(request)
        if isinstance(found, Response):
            return found
        key = KEPT_PREFIX + found.run_id
        if request.method == "DELETE":
            self.ctx.hub.store.delete(key)
            await self.ctx.hub.store.flush()
            return reply({"Kept": False}, "not kept")
        self.ctx.hub.store.put(key, True)
        await self.ctx.hub.store.flush()
        return reply({"Kept": True}, "kept")

    async def rerun(self, request: Request) -> Response:
        """A new run with the same inputs, or from `{"From": node}` (hub/rerun.py)."""
        principal = await require(request, self.ctx.sessions)
        if principal.role != ROLE_ADMIN:
            raise RequestError(403, f"user {principal.user} has role {principal.role}: "
                                    "only an admin may re-run")
        text = await read_body(request, 64 * 1024)
        body = object_body(json_body(text) if text.strip() else {})
        check_types("Rerun", [("From", body.get("from"), str)])  # keys come lower-cased
        found = await self._local_or_forwarded(request, text)
        if isinstance(found, Response):
            return found  # re-run by the host that ran it, where its workspace is
        pend = await self.ctx.hub.rerun(request.path_params["flow_id"],
                                        request.path_params["run_id"],
                                        str(body.get("from") or ""),
                                        user=self._user(request, principal))
        await self.ctx.hub.store.pends_durable()
        return reply({"Run": pend.run_id, "Rerun": {k: pend.rerun.get(k)
                                                    for k in ("Of", "From", "User")}},
                     "re-run")

    async def files(self, request: Request) -> Response:
        """The run's workspace: a directory as JSON, a file as a streamed download."""
        await require(request, self.ctx.sessions)
        found = await self._find(request, remote=False)
        await self._files_here(found)
        return await serve(found, self.ctx.hub.workspace_root, file_path(request))

    async def _files_here(self, found: RunRecord | Pend) -> None:
        """On a store hosts share, a run's workspace is on the disk of the host that executed
        it, which no other host reaches (no HTTP between hosts): say which host to ask."""
        hub = self.ctx.hub
        host = found.ref.exec_host if isinstance(found, RunRecord) else ""
        if not hub.store.shared or not host or host == hub.host_id:
            return
        address = next((h.address for h in await hub.store.hosts() if h.name == host), "")
        where = f" ({address})" if address else ""
        raise RequestError(404, f"the workspace of run {found.run_id} is on host {host}{where}, "
                                "which executed it: ask that host for its files")

    async def logs(self, request: Request) -> Response:
        await require(request, self.ctx.sessions)
        found = await self._local_or_forwarded(request)
        if isinstance(found, Response):
            return found
        node = request.query_params.get("node") or None
        if node is not None and found.flow.node(node) is None:
            raise RequestError(404, f"flow {found.flow.id} has no node {node}")
        offset, limit = page(request, LOG_PAGE, tail=True)
        logs = await self.ctx.hub.node_logs(found.run_id, node)
        if isinstance(found, RunRecord):
            # A re-run's carried nodes keep their logs in the run they came from.
            for nid, rec in found.exec_nodes.items():
                if rec.carried and node in (None, nid):
                    logs.update(await self.ctx.hub.node_logs(rec.carried, nid))
        return reply({n: page_of(lines, offset, limit) for n, lines in logs.items()})

    async def push_data_noop(self, request: Request) -> Response:
        await require(request, self.ctx.sessions)
        return reply(None)  # the reference answers GET with a no-op; the body is never read

    async def push_data(self, request: Request) -> Response:
        principal = await require(request, self.ctx.sessions)
        body = object_body(await read_json(request, failed="decoding json failed"))
        raw_ref, form = fields(body.get("ref")), fields(body.get("form"))
        check_types("PushData", [
            ("Ref", body.get("ref"), dict), ("Ref.ID", raw_ref.get("id"), str),
            ("Ref.Ver", raw_ref.get("ver"), int), ("Run", body.get("run"), str),
            ("Form", body.get("form"), dict), ("Form.ID", form.get("id"), str),
            ("Form.Values", form.get("values"), dict)])
        ref = FlowRef.from_json(body.get("ref") if isinstance(body.get("ref"), dict) else {})
        node_id = str(form.get("id") or "")
        values = form.get("values") or {}
        run = str(body.get("run") or "")
        hub = self.ctx.hub
        if not 0 <= ref.ver <= MAX_INT:
            raise RequestError(400, f"Ref.Ver must be an integer from 0 to {MAX_INT}")
        if run:
            checked_run_id(run, 400)
            try:
                await hub.push_data(ref, run, node_id, values, self._user(request, principal))
            except RunNotFound:
                # A run executing on another host is fed there.
                text = json.dumps({"Ref": ref.to_json(), "Run": run,
                                   "Form": {"ID": node_id, "Values": values}}).encode()
                forwarded = await self._forwarded(request, text, run, ref.id,
                                                  user=principal.user)
                if forwarded is None:
                    raise
                return forwarded
            return reply(None)
        if ref.id and self.ctx.config.latest_flow(ref.id) is None:
            raise RequestError(404, f"flow {ref.id} not found")
        started = await hub.submit(ref, node_id, values, user=principal.user)
        if ref.id and not started:
            flow = self.ctx.config.latest_flow(ref.id)
            if flow is not None and not any(t.type == "data" for t in flow.triggers):
                raise RequestError(400, f"flow {ref.id} has no data trigger to start it")
            raise RequestError(409, f"no run of flow {ref.id} started: the engine log says why")
        return reply({"Runs": started})

    async def openapi(self, request: Request) -> Response:
        # The bare document (no envelope, no auth) so OpenAPI tools can read it directly.
        from .openapi import document

        return JSONReply(document(self.ctx.base, {(op.method, op.path): op.effect
                                                  for op in self.operations()}))

    # ---- p2p (floe-reference §5) -----------------------------------------------------------

    async def _require_host(self, request: Request) -> None:
        """p2p routes are for other hosts of the cluster: the shared host token only, never
        a user's session (an admin user could otherwise post a pend that runs code)."""
        principal = await require(request, self.ctx.sessions)
        token = self.ctx.admin_token
        if not token or not hmac.compare_digest(principal.token.encode(), token.encode()):
            raise RequestError(403, "p2p routes take the host token (-admin) only")

    async def p2p_exec(self, request: Request) -> Response:
        await self._require_host(request)
        raw = await read_json(request)
        if not isinstance(raw, dict):
            raise RequestError(400, "expected a pend JSON object")
        run_number = fields(fields(fields(raw).get("ref")).get("run")).get("id")
        if (isinstance(run_number, bool) or not isinstance(run_number, int)
                or not 0 < run_number < 2**63):  # Go's int, as the reference's ids are
            raise RequestError(400, f"not a pend: Ref.Run.ID {run_number!r} is not a positive "
                                    f"integer")
        try:
            pend = Pend.from_json(raw)
        except (TypeError, ValueError, AttributeError) as e:
            raise RequestError(400, f"not a pend: {e}") from None
        if not pend.ref.adopted or not pend.flow.id:
            raise RequestError(400, "not a pend: Ref.Run and Flow.ID are required")
        if not HOST_ID.fullmatch(pend.ref.run.host_id):
            raise RequestError(400, f"not a pend: {pend.ref.run.host_id!r} is not a host id")
        # This host runs its own configured flow of that id and version, never a posted body.
        own = self.ctx.config.flow(pend.flow.ref)
        if own is None or pend.ref.flow_ref != own.ref:
            raise RequestError(400, f"not a pend: flow {pend.flow.id!r} ver {pend.flow.ver} "
                                    f"is not configured on this host")
        pend = replace(pend, flow=self.ctx.hub.run_flow(own, pend.triggered_node.id))
        reason = await self.ctx.hub.execute_pend(pend)
        if reason and await self._has(pend.run_id):
            # Offered again (the adopter crashed, or our reply was lost): it runs here
            # already, once; the 200 lets the adopter drop its pend.
            return reply(None, "already started")
        if reason:
            raise RequestError(409, "host has resource conflicting active flows", reason)
        return reply(None, "started")

    async def _has(self, run_id: str) -> bool:
        hub = self.ctx.hub
        return (hub.state.active(run_id) is not None
                or (hub.state.pend(run_id) is None and await hub.store.has_run(run_id)))

    async def p2p_runs(self, request: Request) -> Response:
        await self._require_host(request)
        return reply(await self.ctx.run_summaries(request.path_params["flow_id"]))

    async def p2p_run(self, request: Request) -> Response:
        await self._require_host(request)
        found = await self.ctx.hub.find_run(
            request.path_params["flow_id"], checked_run_id(request.path_params["run_id"], 404))
        if found is None:
            raise RequestError(404, "not found")
        return reply(found.to_json())

    async def p2p_config(self, request: Request) -> Response:
        await self._require_host(request)
        return reply(await self._hosts())

    async def p2p_announce(self, request: Request) -> Response:
        """A peer came online or a run ended there: what waits for it is offered again."""
        await self._require_host(request)
        body = object_body(await read_json(request, limit=4096))
        cluster = self.ctx.cluster
        if cluster is not None:
            cluster.heard(str(body.get("hostid") or ""), str(body.get("event") or ""),
                          str(body.get("run") or ""))
        return reply(None)

    async def p2p_claim(self, request: Request) -> Response:
        """Grant a run the resource tags it names (this host is the cluster's grantor:
        cluster/resources.py)."""
        await self._require_host(request)
        body = object_body(await read_json(request, limit=64 * 1024))
        cluster = self.ctx.cluster
        if cluster is None:
            raise RequestError(409, "this host is not in a cluster")
        run_id = checked_run_id(str(body.get("run") or ""), 400)
        tags = body.get("tags")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise RequestError(400, "Tags must be a list of strings")
        grantor, why = cluster.resources.grantor()
        if grantor != self.ctx.hub.host_id:
            raise RequestError(409, "not the grantor", why or f"{grantor} grants resource tags")
        why = await cluster.resources.grant(run_id, str(body.get("host") or ""),
                                            str(body.get("flow") or ""), tags)
        if why:
            raise RequestError(409, "resource tag held", why)
        return reply(None, "granted")

    async def p2p_events(self, request: Request) -> Response:
        """This host's own events as JSON lines, for a `?cluster=1` websocket elsewhere."""
        await self._require_host(request)
        from starlette.responses import StreamingResponse

        from ..cluster.views import event_lines
        from ..secrets import mask

        params = request.query_params
        flow, run, tag = params.get("flow", ""), params.get("run", ""), params.get("tag", "")

        def wants(event: Any) -> bool:
            ref = event.run_ref
            return ((not flow or ref.flow_ref.id == flow) and (not run or ref.run_id == run)
                    and (not tag or event.tag.startswith(tag)))

        queue = self.ctx.engine.queue
        cluster = self.ctx.cluster
        lines = event_lines(queue.subscribe, queue.unsubscribe, wants,
                            lambda e: mask(json.dumps(e.to_json())),
                            cluster.closing if cluster is not None else None)
        return StreamingResponse(lines, media_type="application/x-ndjson")

    async def hosts(self, request: Request) -> Response:
        # What p2p/config tells hosts, for people too (the dashboard's settings page): it
        # holds no secret, and p2p routes take only the host token.
        await require(request, self.ctx.sessions)
        return reply(await self._hosts())

    async def health(self, request: Request) -> Response:
        """Whether this host can keep what it is given: 503 with the store's problem while
        its writes fail (a full disk); the writes are kept and retried meanwhile."""
        await require(request, self.ctx.sessions)
        problem = self.ctx.hub.store.problem
        body = {"HostID": self.ctx.hub.host_id, "Healthy": not problem, "Store": problem or "ok"}
        if problem:
            return reply(body, f"the run store cannot take writes now: {problem}", 503)
        return reply(body)

    async def _hosts(self) -> dict[str, Any]:
        hub = self.ctx.hub
        me = {"HostID": hub.host_id, "BaseURL": "", "Online": True, "Tags": list(hub.tags)}
        cluster = self.ctx.cluster
        if hub.store.shared:  # the hosts on one database: their heartbeat rows
            from ..cluster.membership import shared_hosts

            peers = shared_hosts(await hub.store.hosts(), hub.host_id, hub.store.lease)
        else:
            peers = cluster.membership.to_json() if cluster is not None else {}
        return {"Config": me, "AllHosts": peers}



def checked_run_id(text: str, status: int) -> str:
    """`text` if it is a run id the engine could have made, else a RequestError with
    `status` (404 for a path, 400 for a body) that echoes only a short, quoted prefix."""
    match = RUN_ID.fullmatch(text)
    if match is None or int(match[2]) > MAX_INT:
        shown = repr(text[:40]) + ("..." if len(text) > 40 else "")
        raise RequestError(status, f"{'run not found: ' if status == 404 else 'Run '}"
                                   f"{shown} is not a run id such as h1-3")
    return text

def json_body(text: bytes) -> object:
    import json

    try:
        return json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise RequestError(400, "decoding json failed", str(e)) from None


def page(request: Request, default_limit: int, *, tail: bool = False) -> tuple[int, int]:
    """`?offset=&limit=` as integers; without an offset a `tail` page is the last lines
    (offset -1). limit 0 means all. Checked here, at the edge: the store never sees a
    number it cannot take."""
    params = request.query_params
    numbers = []
    for name, default in (("offset", -1 if tail else 0), ("limit", default_limit)):
        text = params.get(name)
        if text is None:
            numbers.append(default)
        elif PAGE_NUMBER.fullmatch(text) and -1 <= int(text) <= MAX_PAGE:
            numbers.append(int(text))
        else:
            raise RequestError(400, f"{name} must be an integer from 0 to {MAX_PAGE}")
    offset, limit = numbers
    if limit < 0 or offset < -1 or (offset == -1 and not tail):
        raise RequestError(400, "offset and limit must not be negative")
    return offset, limit


def page_of(lines: list[str], offset: int, limit: int) -> list[str]:
    if offset == -1:  # the tail
        return lines[-limit:] if limit else lines
    return lines[offset:offset + limit] if limit else lines[offset:]


def merge_summaries(per_host: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Concatenate hosts' summaries in order (as the reference), each run once: a host listed
    in `hosts` may be this one."""
    out: dict[str, list[dict[str, Any]]] = {"Active": [], "Pending": [], "Archive": []}
    seen: set[tuple[str, int]] = set()
    for runs in per_host:
        for key, rows in out.items():
            for row in runs.get(key) or []:
                run = (row.get("Ref") or {}).get("Run") or {}
                ident = (str(run.get("HostID", "")), int(run.get("ID") or 0))
                if ident in seen:
                    continue
                seen.add(ident)
                rows.append(row)
    return out
