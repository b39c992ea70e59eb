"""What the PostgreSQL store does beyond the shared contract (test_stores.py): its schema
migrations, its configuration, and writes that outlive a server crash — on a real server
(tests/pgserver.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from pgserver import PgServer
from records import pend, record

from floecli.engine.config.loader import parse_app
from floecli.engine.errors import ConfigError, StoreError
from floecli.engine.store import make_store
from floecli.engine.store.postgres import ClusterSettings, PostgresStore
from floecli.engine.store.postgres.migrations import LATEST, MIGRATIONS, VERSION_TABLE, migrate_url


def test_an_empty_database_is_migrated_on_open(pg_empty_url: str) -> None:
    async def body() -> None:
        store = PostgresStore(pg_empty_url, host="h1")
        assert store.open().counter == 0
        store.add_pend(pend(1), 1)
        await store.close()
        assert migrate_url(pg_empty_url) == LATEST  # already there: nothing to do
        again = PostgresStore(pg_empty_url, host="h1")
        assert [p.run_id for p in again.open().pends] == ["h1-1"]
        await again.close()

    asyncio.run(body())


def test_hosts_starting_together_migrate_once(pg_empty_url: str) -> None:
    async def body() -> list[int]:
        return list(await asyncio.gather(*(asyncio.to_thread(migrate_url, pg_empty_url)
                                           for _ in range(4))))

    found = asyncio.run(body())
    assert sorted(found) == [0, LATEST, LATEST, LATEST]  # one migrated, three found it done


def test_a_database_an_older_floe_migrated_is_brought_up_to_date_keeping_its_rows(
        pg_empty_url: str) -> None:
    with psycopg.connect(pg_empty_url, autocommit=True) as conn:  # as floe at version 1 left it
        conn.execute(MIGRATIONS[1])
        conn.execute(VERSION_TABLE)
        conn.execute("INSERT INTO schema_version (version) VALUES (1)")
        conn.execute("INSERT INTO hosts (name) VALUES ('h9')")
    assert migrate_url(pg_empty_url) == 1
    with psycopg.connect(pg_empty_url, autocommit=True) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone() == (LATEST,)
        assert conn.execute("SELECT name, presence, quiet FROM hosts").fetchall() == [
            ("h9", None, None)]


def test_a_schema_newer_than_this_floe_is_refused_untouched(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = %s", (LATEST + 1,))
    with pytest.raises(StoreError, match=rf"schema version {LATEST + 1}, newer than this "
                                         rf"floe knows \({LATEST}\)") as caught:
        PostgresStore(pg_url, host="h1").open()
    assert "never downgrades" in caught.value.hint
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone() == (LATEST + 1,)


def test_a_server_that_does_not_answer_is_a_store_error_naming_it(pg_server: PgServer) -> None:
    url = f"postgresql://floe:sesame@127.0.0.1:{pg_server.port}/no_such_db"
    with pytest.raises(StoreError, match="cannot open the run store") as caught:
        PostgresStore(url).open()
    assert "sesame" not in str(caught.value)  # the password is never shown
    assert "postgresql://floe@127.0.0.1" in str(caught.value)


def test_the_url_comes_from_the_environment_first(monkeypatch: pytest.MonkeyPatch,
                                                 pg_url: str, tmp_path: Path) -> None:
    monkeypatch.setenv("FLOE_STORE_URL", pg_url)
    store = make_store("postgres", tmp_path, url="postgresql://nobody@nowhere/x", host="h2")
    assert isinstance(store, PostgresStore) and store.url == pg_url and store.host == "h2"
    monkeypatch.delenv("FLOE_STORE_URL")
    with pytest.raises(StoreError, match="needs the database's URL") as caught:
        make_store("postgres", tmp_path)
    assert "FLOE_STORE_URL" in caught.value.hint


def test_the_app_document_takes_a_store_url_but_never_a_password() -> None:
    config = parse_app("common:\n  store-type: postgres\n"
                           "  store-url: postgresql://floe@db:5432/floe\nflows: []\n")
    assert (config.common.store_type, config.common.store_url) == (
        "postgres", "postgresql://floe@db:5432/floe")
    for url in ("postgresql://floe:hunter2@db/floe", "host=db password=hunter2"):
        with pytest.raises(ConfigError, match="must not hold a password"):
            parse_app(f"common:\n  store-type: postgres\n  store-url: '{url}'\n"
                          "flows: []\n")


def test_cluster_pooler_is_none_or_transaction() -> None:
    direct = make_store("postgres", ".", url="postgresql://floe@db/floe",
                        timing=parse_app("flows: []\n").common.cluster)
    assert isinstance(direct, PostgresStore)
    assert direct.settings.listen and direct.settings.prepared  # LISTEN, prepared statements
    with pytest.raises(ConfigError) as caught:
        parse_app("common:\n  store-type: postgres\n  cluster:\n    pooler: session\n"
                  "flows: []\n")
    assert str(caught.value) == (
        "<string>:4: common.cluster.pooler: expected one of none, transaction")


def test_the_default_install_never_imports_psycopg(tmp_path: Path) -> None:
    code = ("import sys; from floecli.engine.store import make_store; "
            f"make_store('local', {str(tmp_path)!r}); make_store('memory', '.'); "
            "import floecli.engine.engine; "
            "print(sorted(m for m in sys.modules if m.startswith('psycopg')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "[]"


def test_an_activation_the_database_refuses_is_refused_alone(pg_url: str) -> None:
    async def body() -> None:
        store = PostgresStore(pg_url, host="h1")
        store.open()
        await store.activate(record(1))
        store.put("before", 1)
        again = store.activate(record(1))  # a known run id: refused, and only this write
        store.put("after", 2)
        with pytest.raises(StoreError, match="refused activate h1-1"):
            await again
        assert (await store.get("before"), await store.get("after")) == (1, 2)
        assert store.problem == ""
        await store.close()

    asyncio.run(body())


def test_a_statement_the_server_fails_is_refused_alone(pg_url: str) -> None:
    # The batch's statements and its COMMIT go out in one round trip; a statement that fails
    # takes the transaction with it, and the batch is applied again write by write.
    from floecli.engine.store.postgres.store import _Stmt

    async def body() -> None:
        store = PostgresStore(pg_url, host="h1")
        store.open()
        store.put("before", 1)
        failed = asyncio.get_running_loop().create_future()
        store._write(_Stmt("SELECT 1 / 0", ()), reply=failed.set_result, what="a bad write")
        store.put("after", 2)
        assert isinstance(await failed, StoreError)
        assert (await store.get("before"), await store.get("after")) == (1, 2)
        assert store.problem == ""
        await store.close()

    asyncio.run(body())


@pytest.mark.parametrize("prepared", [True, False], ids=["direct", "behind-a-pooler"])
def test_writes_run_prepared_on_each_connection_or_as_text_behind_a_pooler(
        pg_url: str, prepared: bool, caplog: pytest.LogCaptureFixture) -> None:
    # Every kind of write lands the same either way; directly, each pooled connection has
    # every write statement prepared (the server accepted each one), behind a transaction-mode
    # pooler none is (a statement prepared on one server connection would not be on another).
    from floecli.engine.store.postgres.store import HOT

    async def body() -> None:
        store = PostgresStore(pg_url, host="h1", settings=ClusterSettings(prepared=prepared))
        store.open()
        await store.activate(record(1))
        store.append_log("h1-1", "build", "a line")
        store.save_run(record(1))
        store.put("k", {"v": 1})
        ended = record(1)
        ended.ended = True
        store.finish(ended)
        store.add_pend(pend(2), 2)
        await store.flush()
        assert await store.node_logs("h1-1") == {"build": ["a line"]}
        assert await store.get("k") == {"v": 1}
        assert [p.run_id for p in (await store.live("f"))[1]] == ["h1-2"]
        names = await store._run(lambda conn: _prepared_names(conn))
        assert names == ({f"floe_{i}" for i in range(len(HOT))} if prepared else set())
        await store.close()

    asyncio.run(body())
    assert "cannot prepare" not in caplog.text


async def _prepared_names(conn: psycopg.AsyncConnection) -> set[str]:
    cur = await conn.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'floe%'")
    return {name for (name,) in await cur.fetchall()}


def test_log_lines_that_postgres_text_cannot_hold_are_kept_replaced(pg_url: str) -> None:
    async def body() -> None:
        store = PostgresStore(pg_url, host="h1")
        store.open()
        store.activate(record(1))
        for line in ("nul \x00 here", "lone \udcff surrogate", "ünïcødé ✓"):
            store.append_log("h1-1", "build", line)
        assert await store.node_logs("h1-1") == {
            "build": ["nul \ufffd here", "lone ? surrogate", "ünïcødé ✓"]}
        await store.close()

    asyncio.run(body())


def test_writes_made_while_the_server_restarts_are_kept_and_land_once(
        pg_server: PgServer, pg_url: str) -> None:
    """pg_ctl restart -m immediate in the middle of a stream of writes: the store keeps
    them, retries, and every line lands exactly once."""
    async def body() -> None:
        store = PostgresStore(pg_url, host="h1")
        store.open()
        await store.activate(record(1))
        for i in range(500):
            store.append_log("h1-1", "build", f"before {i}")
        await store.flush()
        restart = asyncio.create_task(asyncio.to_thread(pg_server.restart_immediate))
        i = 0
        while not restart.done() or i < 1000:  # writes keep coming through the restart
            store.append_log("h1-1", "build", f"during {i}")
            store.put("progress", i)
            i += 1
            await asyncio.sleep(0.001)  # a stream of writes, paced: not a wait for state
        await restart
        store.finish(record(1))
        await asyncio.wait_for(store.flush(), timeout=60)
        assert store.problem == ""
        logs = (await store.node_logs("h1-1"))["build"]
        assert logs == [f"before {n}" for n in range(500)] + [f"during {n}" for n in range(i)]
        assert await store.get("progress") == i - 1
        await store.close()

    asyncio.run(body())
    pg_server.wait_ready()


def test_a_reader_waits_for_the_writes_before_it_while_the_server_is_away(
        pg_server: PgServer, pg_url: str) -> None:
    async def body() -> None:
        store = PostgresStore(pg_url, host="h1")
        store.open()
        store.put("k", "v0")
        await store.flush()
        restart = asyncio.create_task(asyncio.to_thread(pg_server.restart_immediate))
        store.put("k", "v1")
        started = time.monotonic()
        assert await asyncio.wait_for(store.get("k"), timeout=90) == "v1"
        await restart
        assert time.monotonic() - started < 90
        await store.close()

    asyncio.run(body())


def test_a_lease_a_late_heartbeat_would_lose_is_refused() -> None:
    with pytest.raises(StoreError, match="a lease of 4 s is too short for a heartbeat every "
                                         "3 s") as caught:
        ClusterSettings(heartbeat=3, lease=4)
    assert "twice the heartbeat" in caught.value.hint
    assert ClusterSettings().lease == 15 and ClusterSettings().heartbeat == 3
