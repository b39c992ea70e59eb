"""Reading request bodies within bounds: per request, engine-wide, and in JSON values."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request

from ..errors import RequestError

MAX_BODY = 4 << 20  # a push or a p2p pend is kilobytes; anything near this is a mistake
LOGIN_BODY = 16 << 10  # a user name and a password: read before anyone is authenticated
BUFFERED_MAX = 64 << 20  # bytes of unfinished request bodies held at once, engine-wide
# A pend carries its flow: as deep as an app document may be (config.safeyaml.MAX_DEPTH).
MAX_JSON_DEPTH = 128
# JSON values (keys included) in one body. Parsing and checking cost per value, not per
# byte: a 4 MiB `[{},{},...]` is 1.4 million dicts and held the loop for seconds. 20,000 is
# a few milliseconds of work and far more than a push, a pend or a posted flow holds.
MAX_JSON_VALUES = 20_000

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class BodyBudget:
    """The bytes request bodies hold while they are read, across every listener of the
    process. Many slow bodies, each under its own cap, could otherwise add up to gigabytes;
    past the budget a new chunk is refused (503) instead of waited for."""

    def __init__(self, limit: int = BUFFERED_MAX) -> None:
        self.limit = limit
        self.held = 0
        self.peak = 0

    def take(self, size: int) -> bool:
        if self.held + size > self.limit:
            return False
        self.held += size
        self.peak = max(self.peak, self.held)
        return True

    def give_back(self, size: int) -> None:
        self.held -= size


BUDGET = BodyBudget()  # one engine per process: the process's budget is the engine's


async def read_body(request: Request, limit: int = MAX_BODY,
                    budget: BodyBudget = BUDGET) -> bytes:
    """The whole body, or a RequestError: 413 past `limit` (from Content-Length before a
    byte is read), 503 when the engine holds too many bodies already. A refused body is not
    read further: the server drops the rest as it arrives, and the client reads the reply."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and len(declared) < 20 and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    held = 0
    try:
        async for chunk in request.stream():
            if held + len(chunk) > limit:
                raise _too_large(limit)
            if not budget.take(len(chunk)):
                raise RequestError(503, "the engine is holding as many request bodies as it "
                                        "may: try again shortly", headers={"Retry-After": "1"})
            held += len(chunk)
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        budget.give_back(held)


def _too_large(limit: int) -> RequestError:
    return RequestError(413, f"request body too large: over {limit} bytes")


def check_shape(body: bytes) -> None:
    """ValueError unless `body` holds at most MAX_JSON_VALUES values, found from bytes
    counts (C speed) before anything is parsed. Commas and brackets inside strings do not
    count: a form value holding CSV text is one value."""
    if _structure(body) <= MAX_JSON_VALUES:
        return
    if b'"' in body:
        # Escapes first (left to right, as JSON pairs them), then every `"` opens or closes
        # a string and the even pieces are what lies outside strings.
        plain = body.replace(b"\\\\", b"").replace(b'\\"', b"") if b"\\" in body else body
        if (plain.count(b'"') // 2 <= MAX_JSON_VALUES  # else too many strings already
                and _structure(b"".join(plain.split(b'"')[::2])) <= MAX_JSON_VALUES):
            return
    raise ValueError(f"over {MAX_JSON_VALUES} JSON values")


def _structure(text: bytes) -> int:
    """Commas and opening brackets: one more than the values they separate or open."""
    return text.count(b",") + text.count(b"[") + text.count(b"{")


def walk_needed(body: bytes) -> tuple[bool, bool]:
    """(depth, strings): whether the parsed value must be walked for its depth (more
    brackets than MAX_JSON_DEPTH) or for a surrogate escape (`\\ud800`: nothing else can
    carry one past the strict UTF-8 decode)."""
    depth = body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH
    return depth, _SURROGATE_ESCAPE.search(body) is not None


def check_json(value: Any, *, depth: bool = True, strings: bool = True) -> None:
    """ValueError for a string (or key) with an unpaired surrogate, which nothing can store
    or send; RecursionError past MAX_JSON_DEPTH. Iterative, so depth costs no stack."""
    if not (depth or strings):
        return
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, str):
            if strings and not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError as e:
                    raise ValueError(f"unpaired surrogate {item[e.start]!r} in a string: "
                                     "not valid Unicode") from None
        elif isinstance(item, dict | list):
            if level >= MAX_JSON_DEPTH:
                raise RecursionError
            if isinstance(item, dict):
                if strings:
                    stack.extend((k, level) for k in item)
                stack.extend((v, level + 1) for v in item.values())
            else:
                stack.extend((v, level + 1) for v in item)
