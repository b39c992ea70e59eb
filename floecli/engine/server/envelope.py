"""The API's reply shape (`{"Message", "Payload"}`, pretty JSON) and reading JSON request bodies."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from ..errors import RequestError, RunError, RunLimit, RunNotFound, StoreError
from ..secrets import mask
from .bodies import (  # noqa: F401 (MAX_BODY, LOGIN_BODY: the limits, named here too)
    LOGIN_BODY,
    MAX_BODY,
    MAX_JSON_DEPTH,
    check_json,
    check_shape,
    read_body,
    walk_needed,
)

log = logging.getLogger(__name__)

class JSONReply(Response):
    """Go's `json.MarshalIndent(v, "", "  ")`: two-space indent, keys as given."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        text = mask(json.dumps(content, indent=2, ensure_ascii=False))  # secrets: ***
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate from somewhere we did not guard: \ud800 escapes, still JSON,
            # rather than a plain-text 500 on every later read of it.
            return mask(json.dumps(content, indent=2)).encode("ascii")


def reply(payload: Any = None, message: str = "OK", status: int = 200,
          headers: dict[str, str] | None = None) -> JSONReply:
    return JSONReply({"Message": message, "Payload": payload}, status_code=status,
                     headers=headers)


def error_reply(exc: RequestError) -> JSONReply:
    return reply(exc.payload, exc.message, exc.status, headers=exc.headers or None)


async def read_json(request: Request, *, failed: str = "", limit: int = MAX_BODY) -> Any:
    """The decoded body. Undecodable → 400 whose Message is the decoder's message (or
    `failed`, with the decoder's message as Payload, as the reference's push/data does).
    Its size and number of values are bounded before it is parsed (bodies.py), so no body
    keeps the event loop busy for long."""
    body = await read_body(request, limit)
    try:
        check_shape(body)
    except ValueError as e:
        raise RequestError(413, f"request body too large: {e}") from None
    try:
        # Decoded strictly first: json.loads(bytes) lets CESU-encoded surrogates through.
        value = json.loads(body.decode("utf-8"))
        depth, strings = walk_needed(body)
        check_json(value, depth=depth, strings=strings)
    except UnicodeDecodeError as e:
        detail = f"invalid UTF-8 at byte {e.start}"
    except RecursionError:
        detail = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    except ValueError as e:
        detail = "empty request body, expected JSON" if not body.strip() else str(e)
    else:
        return value
    if failed:
        raise RequestError(400, failed, detail) from None
    raise RequestError(400, detail) from None


def fields(value: Any) -> dict[str, Any]:
    """A JSON object with lower-cased keys: Go decodes keys case-insensitively, so do we."""
    if not isinstance(value, dict):
        return {}
    return {str(k).lower(): v for k, v in value.items()}


_JSON_KINDS = ((bool, "bool"), (str, "string"), ((int, float), "number"), (list, "array"),
               (dict, "object"))
_GO_TYPES = {str: "string", int: "int", dict: "object"}


def check_types(struct: str, checks: Iterable[tuple[str, Any, type]]) -> None:
    """Go's decoder refuses a JSON value of the wrong type for a field (null is fine); so do
    we, in its words, as a 400 `decoding json failed`."""
    for name, value, kind in checks:
        if value is None or (isinstance(value, kind) and not
                             (kind is int and isinstance(value, bool))):
            continue
        got = next(n for t, n in _JSON_KINDS if isinstance(value, t))
        raise RequestError(400, "decoding json failed",
                           f"json: cannot unmarshal {got} into Go struct field "
                           f"{struct}.{name} of type {_GO_TYPES[kind]}")


def object_body(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RequestError(400, f"expected a JSON object, got {type(value).__name__}")
    return fields(value)


def endpoint(handler: Callable[[Request], Awaitable[Response]]) -> Callable[
        [Request], Awaitable[Response]]:
    """Every refusal becomes its JSON reply; an unexpected error is logged with its trace and
    answered 500 without one (the reference sent the Go stack to the client)."""

    @functools.wraps(handler)
    async def handle(request: Request) -> Response:
        try:
            return await handler(request)
        except RequestError as e:
            return error_reply(e)
        except RunNotFound as e:
            return reply(None, str(e), 404)
        except RunLimit as e:
            return reply(None, str(e), 413)
        except RunError as e:
            return reply(None, str(e), 409)
        except StoreError as e:
            # The run store cannot take the request now (a full disk, say): nothing was done.
            # The reply names no file of the host: the log has the store's own words.
            log.error("%s %s: %s", request.method, request.url.path, e)
            return reply(None, "the run store cannot take this request now (the engine log "
                               "says why): nothing was done", 503)
        except ClientDisconnect:
            # The client went away (or was dropped for a body too slow): nobody reads this.
            log.debug("%s %s: the client disconnected", request.method, request.url.path)
            return reply(None, "client disconnected", 400)
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            return reply(None, "internal error: the engine log has the details", 500)

    return handle
