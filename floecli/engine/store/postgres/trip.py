"""Several statements in one round trip, as one transaction.

psycopg's pipeline mode sends a transaction's statements together too, but it pays for
every statement in Python (its protocol messages, a result per step and the COMMIT as a
second exchange): on this project's machine a two-statement commit cost 0.7 ms pipelined
against 0.3 ms as one simple query (docs/performance.md). Here the statements are bound by
psycopg's client-side binding (`ClientCursor.mogrify`: the driver's own quoting of each
value as a literal, with the connection's encoding and string rules; floe never pastes a
value into SQL text itself) and sent as one simple query. PostgreSQL runs a simple query of
several statements as one implicit transaction: all of them commit, or, at the first
failure, none does and the error is raised here.

A statement sent as text is parsed and planned by the server every time. Where no pooler in
transaction mode stands between (it would run a statement prepared on one server connection
on another), the hot statements are prepared on each pooled connection as it is made
(`Prepared.configure`, a `PREPARE`) and run by name in the query (`EXECUTE name(values)`):
an activation's round trip took 0.34 ms so against 0.48 ms as text. A setting made with
set_config(..., true) ends with the transaction.
"""

from __future__ import annotations

import logging
import re
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

log = logging.getLogger(__name__)

Params = Sequence[Any] | Mapping[str, Any]
Statement = tuple[str, Params]
Conn = psycopg.AsyncConnection[Any]

# psycopg's placeholders, as floe's statements use them (no literal % in them)
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%s")


def numbered(sql: str) -> tuple[str, list[str | int]]:
    """`sql` with $1, $2, ... for its placeholders (a name used twice is one parameter), and
    which value each number takes: a name, or a position in a sequence of values."""
    order: list[str | int] = []

    def number(match: re.Match[str]) -> str:
        key: str | int = match.group(1) if match.group(1) else len(order)
        if key not in order or isinstance(key, int):
            order.append(key)
        return f"${order.index(key) + 1}"

    return _PLACEHOLDER.sub(number, sql), order


class Prepared:
    """The statements prepared on each connection, run by name (see the module's text)."""

    def __init__(self, statements: Sequence[str]) -> None:
        self._named = {sql: (f"floe_{i}", *numbered(sql)) for i, sql in enumerate(statements)}
        self._ready: weakref.WeakKeyDictionary[Conn, frozenset[str]] = (
            weakref.WeakKeyDictionary())

    async def configure(self, conn: Conn) -> None:
        """The pool's hook for a new connection: PREPARE every statement on it. One the
        server refuses is logged and sent as text on this connection."""
        ready = set()
        for sql, (name, text, _) in self._named.items():
            try:
                await conn.execute(f"PREPARE {name} AS {text}".encode())
                ready.add(sql)
            except psycopg.Error as e:
                log.warning("cannot prepare %s (sent as text instead): %s", name, e)
        self._ready[conn] = frozenset(ready)

    def text(self, cur: psycopg.AsyncClientCursor[Any], sql: str, params: Params) -> str:
        """`sql` with `params` bound: EXECUTE by name where `cur`'s connection has it."""
        entry = self._named.get(sql)
        if entry is None or sql not in self._ready.get(cur.connection, ()):
            return cur.mogrify(sql, params)
        name, _, order = entry
        values = [params[k] for k in order]  # type: ignore[index]
        return cur.mogrify(f"EXECUTE {name}({', '.join(['%s'] * len(values))})", values)


async def run(conn: Conn, statements: Sequence[Statement], prepared: Prepared | None = None
              ) -> psycopg.AsyncClientCursor[Any]:
    """Run `statements` on `conn` (in autocommit mode: one transaction of their own; inside
    an open transaction: part of it) in one round trip; by name those `prepared` has on it.
    The cursor is left on the first statement's result (`rowcounts` reads every statement's
    row count)."""
    cur = psycopg.AsyncClientCursor(conn)
    if prepared is None:
        text = ";\n".join(cur.mogrify(sql, params) for sql, params in statements)
    else:
        text = ";\n".join(prepared.text(cur, sql, params) for sql, params in statements)
    await cur.execute(text)
    return cur


async def rowcounts(conn: Conn, statements: Sequence[Statement],
                    prepared: Prepared | None = None) -> list[int]:
    """`run`, then the row count of each statement, in order."""
    cur = await run(conn, statements, prepared)
    counts = [cur.rowcount]
    while cur.nextset():
        counts.append(cur.rowcount)
    if len(counts) != len(statements):  # one result per statement, or the text was not ours
        raise psycopg.ProgrammingError(f"{len(counts)} results for {len(statements)} "
                                       "statements")
    return counts
