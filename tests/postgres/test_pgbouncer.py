"""Hosts behind PgBouncer in transaction mode: no server-side prepared statement, no session
setting, no LISTEN; the store migrates, writes, reads and claims as it does directly."""

from __future__ import annotations

import psycopg
from pgrecords import a_pend, ended, started, tagged_flow
from pgserver import PgBouncer

from floecli.engine.config.loader import parse_app
from floecli.engine.store import make_store
from floecli.engine.store.postgres import PostgresStore

# What an operator writes for hosts behind PgBouncer in transaction mode.
BEHIND_PGBOUNCER = """\
common:
  store-type: postgres
  cluster: {heartbeat: 0.25, lease: 1, poll: 0.2, pooler: transaction}
flows: []
"""


def behind_pgbouncer(url: str, host: str) -> PostgresStore:
    cluster = parse_app(BEHIND_PGBOUNCER).common.cluster
    store = make_store("postgres", ".", url=url, host=host, timing=cluster)
    assert isinstance(store, PostgresStore)
    assert not store.settings.listen and not store.settings.prepared
    return store


async def test_the_store_works_behind_pgbouncer_in_transaction_mode(
        pgbouncer: PgBouncer, pg_empty_url: str) -> None:
    db = pg_empty_url.rsplit("/", 1)[1]
    url = pgbouncer.url(db)
    a, b = behind_pgbouncer(url, "a"), behind_pgbouncer(url, "b")
    assert a.open().counter == 0  # migrated through the pooler
    b.open()
    try:
        for n in range(1, 41):
            a.add_pend(a_pend(n, tagged_flow("f", ["db"] if n % 2 else [])), n)
        await a.flush()
        waker = await b.listen()
        assert await waker.wait(0.01) is False  # polling only
        done = 0
        for store in (a, b) * 40:
            p = await store.claim_next()
            if p is None:
                continue
            record = started(p)
            await store.activate(record)
            store.append_log(p.run_id, "build", f"ran on {store.host}")
            assert await store.renew() == set()
            assert await store.send_command(p.run_id, "stop") == store.host
            assert [c.kind for c in await store.take_commands()] == ["stop"]
            store.finish(ended(record))
            await store.flush()
            done += 1
        assert done == 40
        page, total = await a.archive_page("f", 0, 5)
        assert total == 40 and len(page) == 5
        assert (await b.node_logs("h1-7"))["build"][0].startswith("ran on ")
        assert not await a.reap_expired()
    finally:
        await a.close()
        await b.close()
    # the same rows, read directly from the server
    with psycopg.connect(pg_empty_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM runs WHERE state = 'archive'").fetchone() \
            == (40,)

