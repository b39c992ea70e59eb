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

Nothing is prepared on the server (a simple query cannot be), so it works behind PgBouncer
in transaction mode; a setting made with set_config(..., true) ends with the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

Params = Sequence[Any] | Mapping[str, Any]
Statement = tuple[str, Params]


async def run(conn: psycopg.AsyncConnection[Any], statements: Sequence[Statement]
              ) -> psycopg.AsyncClientCursor[Any]:
    """Run `statements` on `conn` (in autocommit mode: one transaction of their own; inside
    an open transaction: part of it) in one round trip. The cursor is left on the first
    statement's result; `rowcounts` reads every statement's row count."""
    cur = psycopg.AsyncClientCursor(conn)
    text = ";\n".join(cur.mogrify(sql, params) for sql, params in statements)
    await cur.execute(text)
    return cur


def rowcounts(cur: psycopg.AsyncClientCursor[Any], statements: int) -> list[int]:
    """The row count of each of the `statements` results, in order (the cursor moves to the
    last result)."""
    counts = [cur.rowcount]
    while cur.nextset():
        counts.append(cur.rowcount)
    if len(counts) != statements:  # one result per statement, or the text was not ours
        raise psycopg.ProgrammingError(f"{len(counts)} results for {statements} statements")
    return counts
