"""pytest fixtures over tests/pgserver.py: one PostgreSQL server per session, a template
database holding floe's schema, and a fresh database cloned from it for each test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from pgserver import PgBouncer, PgServer

TEMPLATE = "floe_template"
_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer().start()
    try:
        server.sql(f"CREATE DATABASE {TEMPLATE}")
        from floecli.engine.store.postgres.migrations import migrate_url

        migrate_url(server.url(TEMPLATE))  # cloning a migrated template is cheaper per test
        server.sql(f"ALTER DATABASE {TEMPLATE} WITH is_template true")
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """The URL of a database of this test's own, with floe's schema already in it."""
    name = f"t_{next(_numbers)}"
    pg_server.sql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    yield pg_server.url(name)
    pg_server.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pg_empty_url(pg_server: PgServer) -> Iterator[str]:
    """A database with nothing in it (migrations start from scratch)."""
    name = f"e_{next(_numbers)}"
    pg_server.sql(f"CREATE DATABASE {name}")
    yield pg_server.url(name)
    pg_server.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pgbouncer(pg_server: PgServer) -> Iterator[PgBouncer]:
    bouncer = PgBouncer(pg_server).start()
    yield bouncer
    bouncer.stop()
