"""The OpenAPI 3 document of the REST API, served at `<base-url>/openapi.json`."""

from __future__ import annotations

import re
from typing import Any


def _envelope(payload: dict[str, Any] | None = None) -> dict[str, Any]:
    schema = {"type": "object", "required": ["Message", "Payload"],
              "properties": {"Message": {"type": "string"}, "Payload": payload or {}}}
    return {"content": {"application/json": {"schema": schema}}}


def _resp(description: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, **_envelope(payload)}


BUSY = "the engine holds 64 MiB of unfinished request bodies: retry after Retry-After"
ERRORS = {"401": _resp("missing session / invalid session"),
          "403": _resp("a viewer asked to change something, or a session cookie was sent "
                       "from another origin")}
FLOW_ID = {"name": "flow_id", "in": "path", "required": True, "schema": {"type": "string"}}
RUN_ID = {"name": "run_id", "in": "path", "required": True,
          "schema": {"type": "string", "example": "h1-3"}, "description": "`<host>-<n>`"}
RUN_PATTERN = "^[^\\x00-\\x1f\\x7f]{1,255}-[1-9][0-9]{0,18}$"  # `<host>-<n>`: api.RUN_ID
SUMMARIES = {"type": "object", "properties": {
    **{k: {"type": "array", "items": {"$ref": "#/components/schemas/RunSummary"}}
       for k in ("Active", "Pending", "Archive")},
    "ArchiveTotal": {"type": "integer", "minimum": 0}}}
PAGE = [{"name": "offset", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 0, "maximum": 10**9}},
        {"name": "limit", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 0, "maximum": 10**9}, "description": "0: all"}]


def _op(summary: str, ok: str, *, payload: dict[str, Any] | None = None,
        params: list[dict[str, Any]] | None = None, body: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None, auth: bool = True) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {"200": _resp(ok, payload)}}
    if auth:
        op["responses"].update(ERRORS)
    else:
        op["security"] = []
    for code, text in (errors or {}).items():
        op["responses"][code] = _resp(text)
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": body}}}
    return op


def document(base: str, effects: dict[tuple[str, str], str] | None = None
             ) -> dict[str, Any]:
    """`effects`: (METHOD, path under base) -> the operation's effect (effects.py), shown as
    `x-floe-effect` so clients (and the route x method x role test) know what each does."""
    b = base.rstrip("/")
    obj = {"type": "object"}
    paths: dict[str, Any] = {
        f"{b}/login": {"post": _op(
            "Log in; the token is also set as the floe-sesh cookie", "OK",
            payload={"type": "object", "properties": {"User": {"type": "string"},
                                                      "Role": {"type": "string"},
                                                      "Token": {"type": "string"}}},
            body={"type": "object", "properties": {"User": {"type": "string"},
                                                   "Password": {"type": "string"}}},
            errors={"400": "the body is not JSON", "401": "username or password were wrong",
                    "429": "too many failed logins from this address: wait Retry-After "
                           "seconds",
                    "413": "body over 16 KiB", "503": BUSY},
            auth=False)},
        f"{b}/logout": {"post": _op("End this session", "logged out")},
        f"{b}/flows": {"get": _op("The whole config: {Common, Flows}", "OK", payload=obj)},
        f"{b}/flows/{{flow_id}}": {"get": _op(
            "The flow's highest ver and its runs on every host", "OK",
            payload={"type": "object", "properties": {"Config": obj, "Runs": SUMMARIES}},
            params=[FLOW_ID, *PAGE],
            errors={"400": "offset or limit is not a non-negative integer",
                    "404": "not found"})},
        f"{b}/flows/{{flow_id}}/triggers": {"get": _op(
            "The flow's triggers on this host: last error and its time, last success",
            "OK", payload={"type": "object", "properties": {"Triggers": {
                "type": "array", "items": {"$ref": "#/components/schemas/TriggerStatus"}}}},
            params=[FLOW_ID], errors={"404": "not found"})},
        f"{b}/flows/{{flow_id}}/runs/{{run_id}}": {"get": _op(
            "The run view: graph levels, node states, problems; ?export=1 adds the record",
            "OK", payload={"$ref": "#/components/schemas/RunView"},
            params=[FLOW_ID, RUN_ID, {"name": "export", "in": "query", "required": False,
                                      "schema": {"type": "string", "enum": ["1"]}}],
            errors={"404": "run not found"})},
        f"{b}/flows/{{flow_id}}/runs/{{run_id}}/stop": {"post": _op(
            "Stop a pending or active run: archived bad with reason stopped", "stopped",
            params=[FLOW_ID, RUN_ID],
            errors={"404": "run not found", "409": "the run has already ended"})},
        f"{b}/flows/{{flow_id}}/runs/{{run_id}}/keep": {
            "post": _op("Keep an archived run: retention never removes it (admin)", "kept",
                        params=[FLOW_ID, RUN_ID], errors={"404": "run not found"}),
            "delete": _op("Let retention remove the run again (admin)", "not kept",
                          params=[FLOW_ID, RUN_ID], errors={"404": "run not found"})},
        f"{b}/flows/{{flow_id}}/runs/{{run_id}}/rerun": {"post": {**_op(
            "A new run of an ended run with the same inputs, linked to it; with From, "
            "from that node: the nodes it does not lead to are carried over (results, logs "
            "by reference, merge state), the workspace copied, only From and what follows "
            "it run. Admin only", "re-run",
            payload={"type": "object", "properties": {
                "Run": {"type": "string"}, "Rerun": {"type": "object", "properties": {
                    "Of": {"type": "string"}, "From": {"type": "string"},
                    "User": {"type": "string"}}}}},
            params=[FLOW_ID, RUN_ID],
            errors={"400": "the body is not JSON, or From is not a string",
                    "404": "run not found",
                    "409": "the run has not ended; From names no task that ran; or the "
                           "original's workspace is gone and From needs it"}),
            "requestBody": {"required": False, "content": {"application/json": {"schema": {
                "type": "object", "properties": {"From": {"type": "string"}}}}}}}},
        f"{b}/flows/{{flow_id}}/runs/{{run_id}}/files": {"get": _op(
            "The root of the run's workspace: its entries and the flow's artifacts", "OK",
            payload={"$ref": "#/components/schemas/FileListing"}, params=[FLOW_ID, RUN_ID],
            errors={"404": "run not found, or its workspace is gone"})},
        f"{b}/flows/{{flow_id}}/runs/{{run_id}}/files/{{path}}": {"get": {**_op(
            "A directory of the run's workspace as a listing, or a file as a streamed "
            "download; a path leaving the workspace (symlinks included) is not found", "OK",
            payload={"$ref": "#/components/schemas/FileListing"},
            params=[FLOW_ID, RUN_ID, {"name": "path", "in": "path", "required": True,
                                      "schema": {"type": "string"}}],
            errors={"404": "run, workspace or file not found, or outside the workspace"}),
            }},
        f"{b}/flows/{{flow_id}}/runs/{{run_id}}/logs": {"get": _op(
            "The run's log lines per node: the last 1000 unless offset/limit say", "OK",
            payload={"type": "object", "additionalProperties": {
                "type": "array", "items": {"type": "string"}}},
            params=[FLOW_ID, RUN_ID, {"name": "node", "in": "query", "required": False,
                                      "schema": {"type": "string"}}, *PAGE],
            errors={"400": "offset or limit is not a non-negative integer",
                    "404": "run or node not found"})},
        f"{b}/push/data": {
            "get": _op("No-op (kept from the reference)", "OK"),
            "post": _op(
                "Start a run through a data trigger, or (with Run) feed a waiting data node",
                "OK", payload={"type": "object", "nullable": True, "properties": {
                    "Runs": {"type": "array", "items": {"type": "string"}}}},
                body={"$ref": "#/components/schemas/DataPush"},
                errors={"400": "decoding json failed, or a bad Run id",
                        "404": "unknown flow or run",
                        "409": "the node is not waiting for data",
                        "413": "body over 4 MiB or 20,000 JSON values",
                        "503": "the run store cannot make the run durable now (nothing was "
                               "started), or " + BUSY}),
        },
        f"{b}/openapi.json": {"get": {
            "summary": "This document", "security": [],
            "responses": {"200": {"description": "OpenAPI 3 document",
                                  "content": {"application/json": {"schema": obj}}}}}},
        f"{b}/p2p/flows/exec": {"post": _op(
            "Run a pend another host adopted", "started",
            body={"$ref": "#/components/schemas/Pend"},
            errors={"400": "not a pend", "409": "host has resource conflicting active flows",
                    "413": "body over 4 MiB or 20,000 JSON values", "503": BUSY,
                    "500": "the run could not start"})},
        f"{b}/p2p/flows/{{flow_id}}/runs": {"get": _op(
            "This host's run summaries of a flow", "OK", payload=SUMMARIES,
            params=[FLOW_ID], errors={"404": "not found"})},
        f"{b}/p2p/flows/{{flow_id}}/runs/{{run_id}}": {"get": _op(
            "This host's raw run record", "OK", payload=obj, params=[FLOW_ID, RUN_ID],
            errors={"404": "not found"})},
        f"{b}/p2p/config": {"get": _op("This host and the hosts it knows", "OK",
                                       payload=obj)},
        f"{b}/p2p/announce": {"post": _op(
            "A peer came online or a run ended there: what waits for it is offered again",
            "OK", body={"type": "object", "properties": {
                "HostID": {"type": "string"}, "Event": {"type": "string"},
                "Run": {"type": "string"}}},
            errors={"400": "not a JSON object", "413": "body over 4 KiB"})},
        f"{b}/p2p/resources/claim": {"post": _op(
            "Grant a run the resource tags it names (the cluster's grantor only)", "granted",
            body={"type": "object", "properties": {
                "Run": {"type": "string"}, "Host": {"type": "string"},
                "Flow": {"type": "string"},
                "Tags": {"type": "array", "items": {"type": "string"}}}},
            errors={"400": "a bad Run id or Tags", "409": "a tag is held by another run, "
                    "or this host is not the grantor"})},
        f"{b}/p2p/events": {"get": {**_op(
            "This host's own events as JSON lines, streamed until the caller leaves (what a "
            "?cluster=1 websocket on another host relays)", "OK",
            params=[{"name": k, "in": "query", "required": False, "schema": {"type": "string"}}
                    for k in ("flow", "run", "tag")]),
            "x-stream": True}},
        f"{b}/hosts": {"get": _op("This host and the hosts it knows, as p2p/config, for any "
                                  "logged-in user", "OK", payload=obj)},
        f"{b}/health": {"get": _op(
            "Whether this host's run store takes writes", "OK",
            payload={"type": "object", "properties": {
                "HostID": {"type": "string"}, "Healthy": {"type": "boolean"},
                "Store": {"type": "string"}}},
            errors={"503": "the run store cannot take writes now (a full disk): they are "
                           "kept and retried, new runs are refused"})},
        "/ws": {"get": {
            "x-floe-effect": "read",
            "summary": "Websocket: every event of this host as JSON text frames; "
                       "?flow=ID, ?run=RID and ?tag=PREFIX filter",
            "parameters": [{"name": n, "in": "query", "required": False,
                            "schema": {"type": "string"}} for n in ("flow", "run", "tag")],
            "responses": {"101": {"description": "switching protocols"},
                          "401": _resp("missing session / invalid session"),
                          "404": _resp("not a websocket upgrade request")}}},
    }
    for (method, path), effect in (effects or {}).items():
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", path)  # Starlette's {path:path}: {path}
        op = paths.get(b + path, {}).get(method.lower())
        if op is not None:
            op["x-floe-effect"] = effect
    return {
        "openapi": "3.0.3",
        "info": {"title": "floe engine API", "version": "1",
                 "description": "Wire-compatible with the Floe engine: replies are "
                                "{Message, Payload}; OPTIONS on any path answers CORS. "
                                "x-floe-effect says what an operation does (open, read, "
                                "session, write): a viewer may read and log out only; a "
                                "method a path does not take is 405 with Allow."},
        "paths": paths,
        "security": [{"header": []}, {"cookie": []}],
        "components": {
            "securitySchemes": {
                "header": {"type": "apiKey", "in": "header", "name": "X-Floe-Auth"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "floe-sesh"}},
            "schemas": {
                "TriggerStatus": {"type": "object", "properties": {
                    "ID": {"type": "string"}, "Type": {"type": "string"},
                    "LastError": {"type": "string"},
                    "LastErrorTime": {"type": "string", "nullable": True},
                    "LastOK": {"type": "string", "nullable": True},
                    "Failures": {"type": "integer"}}},
                "RunSummary": {"type": "object", "properties": {
                    "Ref": obj, "ExecHost": {"type": "string"}, "Status": {"type": "string"},
                    "StartTime": {"type": "string"}, "EndTime": {"type": "string"},
                    "Ended": {"type": "boolean"}, "Good": {"type": "boolean"},
                    "Reason": {"type": "string"},
                    "State": {"type": "string", "description": "good, bad, stopped, "
                              "interrupted, host lost; pending or running before it ends"},
                    "Why": {"type": "string", "description": "the reason in words: "
                            "`test failed (exit 1)`, `stopped by admin`"},
                    "StoppedBy": {"type": "string"},
                    "Inputs": {"type": "object", "nullable": True},
                    "Rerun": {"type": "object", "nullable": True, "properties": {
                        "Of": {"type": "string"}, "From": {"type": "string"},
                        "User": {"type": "string"}}},
                    "Waiting": {"type": "array", "nullable": True, "items": {
                        "type": "object", "properties": {"Node": {"type": "string"},
                                                         "Title": {"type": "string"}}}}}},
                "FileListing": {"type": "object", "properties": {
                    "Path": {"type": "string"},
                    "Entries": {"type": "array", "items": {"type": "object", "properties": {
                        "Name": {"type": "string"}, "Path": {"type": "string"},
                        "Dir": {"type": "boolean"}, "Size": {"type": "integer"},
                        "Modified": {"type": "string"}}}},
                    "Artifacts": {"type": "array", "nullable": True,
                                  "items": {"type": "string"}},
                    "KeptOnly": {"type": "boolean", "description": "the workspace is gone: "
                                 "these are the artifacts kept when the run ended"}}},
                "RunView": {"type": "object", "properties": {
                    "FlowName": {"type": "string"}, "Name": {"type": "string"},
                    "Triggers": {"type": "array", "items": obj},
                    "Graph": {"type": "array", "items": {"type": "array", "items": obj}},
                    "Summary": {"$ref": "#/components/schemas/RunSummary"},
                    "Problems": {"type": "array", "nullable": True,
                                 "items": {"type": "string"}}}},
                "Pend": {"type": "object", "required": ["Ref", "Flow"], "properties": {
                    "Ref": {"type": "object", "required": ["Run"], "properties": {
                        "FlowRef": obj, "Run": {
                            "type": "object", "required": ["HostID", "ID"], "properties": {
                                "HostID": {"type": "string", "minLength": 1},
                                "ID": {"type": "integer", "minimum": 1}}}}},
                    "Flow": {"type": "object", "required": ["ID"],
                             "properties": {"ID": {"type": "string", "minLength": 1}}},
                    "TriggeredNode": obj, "Opts": obj}},
                "DataPush": {"type": "object", "properties": {
                    "Ref": {"type": "object", "properties": {"ID": {"type": "string"},
                                                             "Ver": {"type": "integer"}}},
                    "Run": {"type": "string", "pattern": RUN_PATTERN},
                    "Form": {"type": "object", "properties": {
                        "ID": {"type": "string"}, "Values": obj}}}},
            },
        },
    }
